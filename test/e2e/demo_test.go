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
