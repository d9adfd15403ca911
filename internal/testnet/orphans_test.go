package testnet

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// orphanHelperEnv makes TestOrphanHelper run: it is the child test process
// that TestKilledTestLeavesNoDaemonsOrNamespaces kills.
const orphanHelperEnv = "CYGNET_TESTNET_ORPHAN_HELPER"

// TestOrphanHelper sets up what a namespace test does (a pair, a daemon,
// charon), prints the namespaces and pids, and waits to be killed.
func TestOrphanHelper(t *testing.T) {
	if os.Getenv(orphanHelperEnv) != "1" {
		t.Skip("helper process of TestKilledTestLeavesNoDaemonsOrNamespaces")
	}
	p := NewPair(t, PairOptions{})
	daemon := p.Start(p.A, "sleep", "600")
	ss := StartStrongSwan(t, p.B, nil)
	fmt.Printf("ORPHAN %s %s %d %d\n", p.A, p.B, daemon.Pid(), ss.Pid())
	time.Sleep(2 * time.Minute) // killed long before
	t.Error("helper was not killed")
}

// pidGone reports whether a process has ended (zombies count as ended).
func pidGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// A test process killed without running its cleanups (go test -timeout,
// SIGKILL) takes its daemons and charon along, and the next harness start
// removes its namespaces, but never those of a test process still running.
func TestKilledTestLeavesNoDaemonsOrNamespaces(t *testing.T) {
	RequireStrongSwan(t)
	// This process's own pair: alive, so the sweep must leave it alone.
	mine := NewPair(t, PairOptions{})

	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), orphanHelperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ORPHAN ") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(60 * time.Second):
		t.Fatal("helper did not set up within 60 s")
	}
	f := strings.Fields(line)
	if len(f) != 5 {
		t.Fatalf("helper said %q", line)
	}
	namespaces := f[1:3]
	t.Cleanup(func() {
		for _, ns := range namespaces {
			if NamespaceExists(ns) {
				_ = killNamespaceProcesses(ns)
				_, _ = ip("netns", "del", ns)
			}
			unmarkNamespace(ns)
		}
	})
	var pids []int
	for _, s := range f[3:] {
		pid, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("helper said %q", line)
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if pidGone(pid) {
			t.Fatalf("process %d not running before the kill", pid)
		}
	}

	// As go test -timeout or the OOM killer would: no cleanup runs.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for i, pid := range pids {
		what := []string{"daemon", "charon"}[i]
		if err := pollUntil(5*time.Second, 20*time.Millisecond, func() (bool, error) { return pidGone(pid), nil }); err != nil {
			t.Errorf("the %s (pid %d) outlived its killed test process", what, pid)
		}
	}
	for _, ns := range namespaces {
		if !NamespaceExists(ns) {
			t.Fatalf("namespace %s gone before any sweep: the test proves nothing", ns)
		}
	}

	removed, err := sweepStale()
	if err != nil {
		t.Errorf("sweep: %v", err)
	}
	for _, ns := range namespaces {
		if NamespaceExists(ns) || !slices.Contains(removed, ns) {
			t.Errorf("stale namespace %s not removed (removed %v)", ns, removed)
		}
		if _, err := os.Stat(markerPath(ns)); err == nil {
			t.Errorf("marker of %s left", ns)
		}
	}
	for _, ns := range mine.Namespaces() {
		if !NamespaceExists(ns) || slices.Contains(removed, ns) {
			t.Errorf("the sweep removed %s, which belongs to a live test process", ns)
		}
		if _, err := os.Stat(markerPath(ns)); err != nil {
			t.Errorf("marker of live namespace %s: %v", ns, err)
		}
	}
}

// The parent-death signal fires when the thread that forked the child
// exits. A goroutine that ends while locked to its thread ends the thread:
// a process started from such a goroutine must still outlive it.
func TestProcessOutlivesTheThreadThatStartedIt(t *testing.T) {
	p := NewPair(t, PairOptions{})
	started := make(chan *Process)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		started <- p.Start(p.A, "sleep", "600")
	}()
	pr := <-started
	// The thread's exit is not observable directly; give the runtime
	// time to end it, then check the child is still there.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) && !pr.Exited() {
		runtime.Gosched()
		time.Sleep(20 * time.Millisecond)
	}
	if pr.Exited() {
		t.Fatalf("the process died with the thread that started it: %v", pr.Wait(0))
	}
}
