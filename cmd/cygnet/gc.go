package main

import "runtime/debug"

// daemonGCPercent is the daemon's garbage collection target, Go's GOGC:
// the heap may grow this many percent beyond the live data before the
// collector runs. A gateway's heap is almost all long-lived SA state (the
// per-packet paths do not allocate; handshakes make the garbage), and
// with Go's default of 100 its resident memory settles near twice that
// state. At 50 it is about one and a half times, for one extra collection
// every few thousand handshakes: on the 10,000-client benchmark, resident
// memory per client fell from 20 to about 16 KiB (docs/PERFORMANCE.md).
const daemonGCPercent = 50

// setDaemonGC applies daemonGCPercent unless the GOGC environment variable
// chose a target already, which wins: operators tune it as for any Go
// program. It returns the target in force, -1 meaning GOGC=off.
func setDaemonGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		old := debug.SetGCPercent(100) // read the target, then put it back
		debug.SetGCPercent(old)
		return old
	}
	debug.SetGCPercent(daemonGCPercent)
	return daemonGCPercent
}
