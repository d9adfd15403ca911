//go:build race

package ike

// raceEnabled: the race detector makes values escape that otherwise stay
// on the stack, so allocation counts do not hold.
const raceEnabled = true
