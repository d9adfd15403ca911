//go:build race

package sad

// raceEnabled shrinks the scale tests under the race detector, which makes
// a million SAs take minutes.
const raceEnabled = true
