package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// A test process that dies without running its cleanups (killed by
// `go test -timeout`, SIGKILL, a crash) must not leave daemons and
// namespaces behind. Two mechanisms see to that:
//
//   - Every background process the harness starts (cygnet daemons, charon,
//     tcpdump) has SIGKILL as its parent-death signal, so it dies with the
//     test process.
//   - Every namespace the harness creates has a marker file in markerDir
//     naming the creating process (pid and start time). The first NewPair of
//     a test process removes the namespaces whose creator is gone. Other
//     test processes run namespace tests on the same machine at the same
//     time: a namespace whose creator is alive, or which has no marker, is
//     never touched.

// markerDir holds one file per namespace the harness created.
var markerDir = "/run/cygnet-testnet"

// spawn carries start requests to the spawner goroutine.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	errc chan error
}

// startWithParent starts cmd so that the kernel kills it (SIGKILL) when the
// test process ends. The parent-death signal fires when the *thread* that
// forked the child exits, and the Go runtime ends threads now and then (a
// goroutine that exits while locked to its thread takes the thread along,
// as InNamespace does when it cannot switch back), so every child is forked
// from one goroutine locked to its thread for the life of the process. The
// signal survives exec, so `ip netns exec`, `unshare` and `sh -c 'exec ...'`
// pass it on to the command they become.
func startWithParent(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go spawner()
	})
	errc := make(chan error, 1)
	spawnReqs <- spawnReq{cmd, errc}
	return <-errc
}

// spawner forks every background child. It never returns and never
// unlocks its thread, so the thread lives as long as the process.
func spawner() {
	runtime.LockOSThread()
	for r := range spawnReqs {
		r.errc <- r.cmd.Start()
	}
}

// processStart returns the start time of a process (field 22 of
// /proc/PID/stat, in clock ticks since boot): with the pid it names one
// process even after the pid is reused.
func processStart(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return f[19], nil
}

// markerPath is the marker file of namespace ns.
func markerPath(ns string) string { return filepath.Join(markerDir, ns) }

// markNamespace records that this process is creating namespace ns. It is
// written before the namespace exists, so no namespace of the harness is
// ever without one.
func markNamespace(ns string) error {
	start, err := processStart(os.Getpid())
	if err != nil {
		return fmt.Errorf("marker for %s: %w", ns, err)
	}
	if err := os.MkdirAll(markerDir, 0o755); err != nil {
		return fmt.Errorf("marker for %s: %w", ns, err)
	}
	if err := os.WriteFile(markerPath(ns), fmt.Appendf(nil, "%d %s\n", os.Getpid(), start), 0o644); err != nil {
		return fmt.Errorf("marker for %s: %w", ns, err)
	}
	return nil
}

// unmarkNamespace removes the marker of a namespace that is gone.
func unmarkNamespace(ns string) {
	_ = os.Remove(markerPath(ns))
}

// creatorAlive reports whether the process a marker names still runs. A
// marker it cannot read counts as alive: removing a live test's namespace
// would be worse than leaving a dead one.
func creatorAlive(marker []byte) bool {
	f := strings.Fields(string(marker))
	if len(f) != 2 {
		return true
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return true
	}
	start, err := processStart(pid)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	return start == f[1]
}

var (
	sweepOnce    sync.Once
	sweepRemoved []string
	sweepErr     error
)

// sweepOnceStale runs sweepStale once per test process.
func sweepOnceStale() ([]string, error) {
	sweepOnce.Do(func() { sweepRemoved, sweepErr = sweepStale() })
	return sweepRemoved, sweepErr
}

// sweepStale removes the namespaces (and what still runs in them) whose
// creating test process is gone, and their markers. It returns the
// namespaces it removed.
func sweepStale() ([]string, error) {
	entries, err := os.ReadDir(markerDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stale namespaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		ns := e.Name()
		b, err := os.ReadFile(markerPath(ns))
		if err != nil || creatorAlive(b) {
			continue
		}
		if NamespaceExists(ns) {
			if err := killNamespaceProcesses(ns); err != nil {
				errs = append(errs, fmt.Errorf("stale namespace %s: %w", ns, err))
			}
			// Another test process may be sweeping the same namespace.
			if _, err := ip("netns", "del", ns); err != nil && NamespaceExists(ns) {
				errs = append(errs, fmt.Errorf("stale namespace %s: %w", ns, err))
				continue
			}
			removed = append(removed, ns)
		}
		unmarkNamespace(ns)
	}
	return removed, errors.Join(errs...)
}
