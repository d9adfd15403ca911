//go:build race

package logging

// raceEnabled: the race detector drops sync.Pool entries at random and
// makes values escape that otherwise stay on the stack, so allocation
// counts do not hold.
const raceEnabled = true
