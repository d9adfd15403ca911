package updown

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a log sink the runner's goroutines write to.
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

func newTestRunner(t *testing.T, cfg RunnerConfig) (*Runner, *syncBuffer) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	logs := &syncBuffer{}
	cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewRunner(cfg), logs
}

func TestExecEnvironmentAndArguments(t *testing.T) {
	r, logs := newTestRunner(t, RunnerConfig{})
	dir := t.TempDir()
	script := filepath.Join(dir, "updown.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$PLUTO_VERB $1 $#\"\necho to-stderr >&2\nenv > \"$(dirname \"$0\")/env\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Like strongSwan, the updown setting is a shell command line: the
	// argument after the path reaches the script as $1.
	res := r.Exec(script+" iptables", []string{"PATH=/usr/bin:/bin", "PLUTO_VERB=up-client"}, "child", "net")
	if res.Err != nil || res.ExitCode != 0 {
		t.Fatalf("Exec: %v (status %d)", res.Err, res.ExitCode)
	}
	if want := []string{"up-client iptables 1", "to-stderr"}; strings.Join(res.Output, "\n") != strings.Join(want, "\n") {
		t.Errorf("output %q, want %q", res.Output, want)
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "PLUTO_VERB", "PWD", "SHLVL", "_": // the last three are the shell's own
		default:
			t.Errorf("script saw %q: only PATH and PLUTO_* are passed", kv)
		}
	}
	if l := logs.String(); !strings.Contains(l, `msg="updown: up-client iptables 1" child=net`) || strings.Contains(l, "level=WARN") {
		t.Errorf("log does not report the output as strongSwan does:\n%s", l)
	}
}

func TestExecExitStatusLogged(t *testing.T) {
	r, logs := newTestRunner(t, RunnerConfig{OutputLines: 3})
	res := r.Exec("for i in 1 2 3 4 5; do echo line$i; done; exit 3", nil, "child", "net", "verb", "up-client")
	if res.Err == nil || res.ExitCode != 3 || res.TimedOut {
		t.Fatalf("result %+v, want exit status 3", res)
	}
	if res.Err.Error() != "updown script exited with status 3" {
		t.Errorf("error %q", res.Err)
	}
	if strings.Join(res.Output, ",") != "line1,line2,line3" || res.MoreLines != 2 {
		t.Errorf("output %q + %d more, want the first 3 lines + 2 more", res.Output, res.MoreLines)
	}
	l := logs.String()
	for _, want := range []string{
		`level=WARN msg="updown script failed" err="updown script exited with status 3" exit_status=3`,
		`child=net verb=up-client output="line1 | line2 | line3"`,
		`msg="updown: (2 more lines)"`,
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}

	res = r.Exec("kill -TERM $$", nil)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "killed by signal terminated") {
		t.Errorf("self-killed script: %v", res.Err)
	}
	res = r.Exec("", nil)
	if res.Err != nil {
		t.Errorf("empty command: %v", res.Err)
	}
	r2, _ := newTestRunner(t, RunnerConfig{Shell: "/nonexistent/sh"})
	if res := r2.Exec("true", nil); res.Err == nil || res.ExitCode != -1 {
		t.Errorf("missing shell: %+v", res)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	r, logs := newTestRunner(t, RunnerConfig{Timeout: 300 * time.Millisecond})
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The script starts a grandchild that ignores SIGTERM and holds the
	// output pipe; the whole group must go.
	start := time.Now()
	res := r.Exec(fmt.Sprintf("sh -c 'trap \"\" TERM; echo $$ > %s; exec sleep 60' & echo started; sleep 60", pidFile), nil, "child", "hang")
	took := time.Since(start)
	if !res.TimedOut || !errors.Is(res.Err, ErrTimeout) {
		t.Fatalf("result %+v, want a timeout", res)
	}
	if took > 5*time.Second {
		t.Errorf("Exec returned after %v with a 300ms timeout", took)
	}
	t.Logf("hanging script stopped after %v (timeout 300ms)", took.Round(time.Millisecond))
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still alive after the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "updown script timed out after 300ms, process group killed") || !strings.Contains(l, `output=started`) {
		t.Errorf("log:\n%s", l)
	}
}

func TestExecBackgroundChildDoesNotHold(t *testing.T) {
	r, _ := newTestRunner(t, RunnerConfig{Timeout: 10 * time.Second})
	start := time.Now()
	res := r.Exec("sleep 30 & echo done", nil)
	if res.Err != nil {
		t.Errorf("script that left a child behind: %v", res.Err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Exec waited %v for a background child", took)
	}
}

func TestDoKeepsOrderPerKey(t *testing.T) {
	r, _ := newTestRunner(t, RunnerConfig{})
	var mu sync.Mutex
	got := map[uint64][]int{}
	const keys, per = 4, 50
	for i := range per {
		for k := range uint64(keys) {
			r.Do(k, func() {
				if i%10 == 0 {
					time.Sleep(time.Millisecond) // let the other keys overtake
				}
				mu.Lock()
				got[k] = append(got[k], i)
				mu.Unlock()
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for k := range uint64(keys) {
		if len(got[k]) != per {
			t.Fatalf("key %d ran %d of %d", k, len(got[k]), per)
		}
		for i, v := range got[k] {
			if v != i {
				t.Fatalf("key %d ran out of order: %v", k, got[k])
			}
		}
	}
}

func TestDoScriptsInOrder(t *testing.T) {
	r, _ := newTestRunner(t, RunnerConfig{})
	out := filepath.Join(t.TempDir(), "order")
	// The first (up) run is the slowest; the down run must still come after it.
	for i, verb := range []string{"up-client", "down-client", "up-client", "down-client"} {
		delay := "0"
		if i == 0 {
			delay = "0.2"
		}
		r.Do(1, func() { r.Exec(fmt.Sprintf("sleep %s; echo %s >> %s", delay, verb, out), nil) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if got := strings.Fields(string(b)); strings.Join(got, " ") != "up-client down-client up-client down-client" {
		t.Errorf("runs in order %q", got)
	}
}

func TestDoDoesNotBlockOtherKeys(t *testing.T) {
	r, _ := newTestRunner(t, RunnerConfig{})
	release := make(chan struct{})
	r.Do(1, func() { <-release })
	done := make(chan struct{})
	start := time.Now()
	r.Do(2, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a stuck key held up another key")
	}
	t.Logf("Do returned and the other key ran %v later", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if err := r.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with a stuck job: %v", err)
	}
	cancel()
	close(release)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Errorf("Wait after release: %v", err)
	}
	// Idle again: a new job makes Wait block until it has run.
	ran := false
	r.Do(1, func() { ran = true })
	if err := r.Wait(ctx); err != nil || !ran {
		t.Errorf("Wait = %v, ran = %v", err, ran)
	}
}

func TestParallelBound(t *testing.T) {
	r, _ := newTestRunner(t, RunnerConfig{Parallel: 2})
	start := time.Now()
	for k := range uint64(6) {
		r.Do(k, func() { r.Exec("sleep 0.2", nil) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	// Six 200ms scripts, two at a time, take at least three rounds.
	took := time.Since(start)
	if took < 590*time.Millisecond {
		t.Errorf("six 200ms scripts with Parallel 2 took %v: more than two ran at once", took)
	}
	t.Logf("six 200ms scripts, two at a time: %v", took.Round(time.Millisecond))
}

// BenchmarkExec is the cost of one script run (fork, /bin/sh, wait), what
// each Child SA pays per selector pair on up and on down.
func BenchmarkExec(b *testing.B) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		b.Skip("no /bin/sh")
	}
	r := NewRunner(RunnerConfig{})
	env := []string{"PATH=/usr/bin:/bin", "PLUTO_VERB=up-client"}
	for b.Loop() {
		if res := r.Exec("true", env); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}
