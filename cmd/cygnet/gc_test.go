package main

import (
	"runtime/debug"
	"testing"
)

// TestDaemonGC: the daemon runs the collector at daemonGCPercent unless
// GOGC is set, which wins.
func TestDaemonGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	debug.SetGCPercent(100)
	if got := setDaemonGC(getenv); got != daemonGCPercent || debug.SetGCPercent(100) != daemonGCPercent {
		t.Errorf("without GOGC: target %d, want %d", got, daemonGCPercent)
	}
	env["GOGC"] = "200"
	debug.SetGCPercent(200) // what the runtime read from GOGC=200 at start
	if got := setDaemonGC(getenv); got != 200 || debug.SetGCPercent(100) != 200 {
		t.Errorf("with GOGC=200: target %d, want 200 kept", got)
	}
}
