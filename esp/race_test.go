//go:build race

package esp

const raceEnabled = true
