package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// TestDemo runs `cygnet demo` as a new user would: it must exit 0, show
// the ping through the tunnel answered and counted by the Child SA, and
// leave no namespace and no daemon behind.
func TestDemo(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTools(t, "ping")
	before := rootNetState(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cygnetBin, "demo")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The demo names its namespaces after its own process id.
	prefix := fmt.Sprintf("cyd%d", cmd.Process.Pid%100000)
	err := cmd.Wait()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("cygnet demo: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Logf("cygnet demo took %v:\n%s", took.Round(time.Millisecond), text)
	if m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(text); m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("the demo's output shows no fully answered ping: %q", m)
	}
	if !strings.Contains(text, "the tunnel carried the ping") {
		t.Error("the demo does not say the tunnel carried the ping")
	}
	// An answered ping is not proof of a tunnel: the Child SA's counters
	// in the list-sas the demo prints must show ESP carrying the three
	// echo requests out and the three replies in.
	counted := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(in|out)\s+[0-9a-f]{8},\s+(\d+) bytes,\s+(\d+) packets$`).FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[3])
		counted[m[1]] += n
	}
	if counted["in"] < 3 || counted["out"] < 3 {
		t.Errorf("the Child SA counted %d packets out and %d in, want at least 3 each: the ping did not go through ESP", counted["out"], counted["in"])
	}
	if m := regexp.MustCompile(`tunnel up in (\S+)`).FindStringSubmatch(text); m != nil {
		t.Logf("demo tunnel up in %s", m[1])
	} else {
		t.Error("the demo does not report the tunnel coming up")
	}
	for _, ns := range []string{prefix + "-a", prefix + "-b"} {
		if testnet.NamespaceExists(ns) {
			t.Errorf("namespace %s left behind", ns)
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	}
	if left := demoNamespaces(); len(left) > 0 {
		// Names of this form are the demo's; other tests use random
		// letters, so report rather than fail on a stranger's.
		t.Logf("other cyd* namespaces present: %v", left)
	}
	if procs := processesWith(cygnetBin, "cygnet-demo-"); len(procs) > 0 {
		t.Errorf("demo daemons still running: %v", procs)
	}
	if m := regexp.MustCompile(`bulk transfer: 32 MiB in (\S+), (\d+) Mbit/s`).FindStringSubmatch(text); m == nil {
		t.Error("the demo does not report the bulk transfer's throughput")
	} else {
		t.Logf("demo bulk transfer: 32 MiB in %s, %s Mbit/s", m[1], m[2])
	}
	if !strings.Contains(text, " of 32 MiB ") {
		t.Error("the demo shows no progress line for the bulk transfer")
	}
	// list-sas from both ends: the bulk transfer's bytes out at A are B's in
	if n := strings.Count(text, "cygnet list-sas in "); n != 2 {
		t.Errorf("the demo shows list-sas %d times, want from both ends", n)
	}
	if counted["out"] < 32<<20/1500 {
		t.Errorf("the Child SAs counted %d packets out, too few for the bulk transfer", counted["out"])
	}
	checkNothingLeft(t, before, prefix)
}

// rootNetState is what the demo must not change in the root namespace:
// links, routes, policy rules (both families).
func rootNetState(t *testing.T) map[string]string {
	t.Helper()
	st := map[string]string{}
	for _, args := range [][]string{{"-o", "link", "show"}, {"route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"},
		{"rule", "show"}, {"-6", "rule", "show"}} {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		// link lines carry counters-free state only; strip the volatile
		// qdisc/state words would be overkill: links are compared by name
		key := strings.Join(args, " ")
		if args[1] == "link" {
			var names []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if f := strings.Fields(l); len(f) > 1 {
					names = append(names, f[1])
				}
			}
			out = []byte(strings.Join(names, "\n"))
		}
		st[key] = string(out)
	}
	return st
}

// checkNothingLeft fails the test for a namespace, link, route, rule or
// daemon process the demo (namespaces prefix-a/b) left behind.
func checkNothingLeft(t *testing.T, before map[string]string, prefix string) {
	t.Helper()
	for _, ns := range []string{prefix + "-a", prefix + "-b"} {
		if testnet.NamespaceExists(ns) {
			t.Errorf("namespace %s left behind", ns)
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	}
	// the daemons take a moment to be reaped by init after a kill
	deadline := time.Now().Add(5 * time.Second)
	for len(processesWith(cygnetBin, "cygnet-demo-")) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if procs := processesWith(cygnetBin, "cygnet-demo-"); len(procs) > 0 {
		t.Errorf("demo daemons still running: %v", procs)
	}
	after := rootNetState(t)
	for k, v := range before {
		old := map[string]bool{}
		for _, l := range strings.Split(v, "\n") {
			old[l] = true
		}
		for _, l := range strings.Split(after[k], "\n") {
			if !old[l] {
				t.Errorf("ip %s: the demo left %q behind", k, l)
			}
		}
	}
}

// TestDemoInterrupted: Ctrl-C (SIGINT) in the middle of the bulk transfer
// or while the demo is kept running removes everything it made.
func TestDemoInterrupted(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTools(t, "ping")
	for _, tc := range []struct {
		name, waitFor string
		args          []string
	}{
		{"during the bulk transfer", "pushing 4096 MiB", []string{"--bulk", "4096"}},
		{"while kept running", "running until Ctrl-C", []string{"--keep", "--bulk", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rootNetState(t)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, cygnetBin, append([]string{"demo"}, tc.args...)...)
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			prefix := fmt.Sprintf("cyd%d", cmd.Process.Pid%100000)
			deadline := time.Now().Add(60 * time.Second)
			for !strings.Contains(out.String(), tc.waitFor) {
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatalf("demo never reached %q:\n%s", tc.waitFor, out.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !testnet.NamespaceExists(prefix + "-a") {
				t.Fatalf("demo namespaces %s-a not found while running", prefix)
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			text := out.String()
			if !strings.Contains(text, "removed the namespaces") {
				t.Errorf("the demo did not say it cleaned up:\n%s", text)
			}
			checkNothingLeft(t, before, prefix)
		})
	}
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// demoNamespaces lists namespaces named like the demo's (cyd<digits>-a/b).
func demoNamespaces() []string {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	re := regexp.MustCompile(`^cyd\d+-[ab]$`)
	var out []string
	for _, e := range entries {
		if re.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// processesWith returns the command lines of processes whose arguments
// contain all the given strings.
func processesWith(parts ...string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		line := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			out = append(out, e.Name()+": "+line)
		}
	}
	return out
}
