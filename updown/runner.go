package updown

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RunnerConfig tunes a Runner; zero values take the defaults.
type RunnerConfig struct {
	// Shell runs the script as Shell -c "<updown>", so "_updown iptables"
	// passes its argument as with strongSwan. Default /bin/sh.
	Shell string
	// Timeout bounds one run; then the script's process group is killed.
	// Default 30s.
	Timeout time.Duration
	// Parallel bounds how many scripts run at once (across keys). Default 16,
	// strongSwan's default number of worker threads.
	Parallel int
	// OutputLines is how many lines of a script's output are logged; the
	// rest is counted. Default 10.
	OutputLines int
	// Log receives one record per run (Warn when it failed) and the
	// script's output lines. Default: discarded.
	Log *slog.Logger
}

// maxOutput bounds how much of a script's output is kept in memory.
const maxOutput = 64 << 10

// Runner runs scripts off its caller's goroutine. Work queued with Do under
// one key runs in order, one at a time; different keys run in parallel.
// The zero Runner is not usable; call NewRunner.
type Runner struct {
	cfg RunnerConfig
	sem chan struct{}

	mu      sync.Mutex
	queues  map[uint64][]func() // a key is present while a worker drains it
	pending int
	idle    chan struct{} // closed while pending == 0
}

// NewRunner returns a Runner with cfg's settings.
func NewRunner(cfg RunnerConfig) *Runner {
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 16
	}
	if cfg.OutputLines <= 0 {
		cfg.OutputLines = 10
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	idle := make(chan struct{})
	close(idle)
	return &Runner{cfg: cfg, sem: make(chan struct{}, cfg.Parallel), queues: map[uint64][]func(){}, idle: idle}
}

// Do queues f to run on another goroutine after everything queued earlier
// under the same key. It never blocks on running scripts.
func (r *Runner) Do(key uint64, f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == 0 {
		r.idle = make(chan struct{})
	}
	r.pending++
	q, busy := r.queues[key]
	r.queues[key] = append(q, f)
	if !busy {
		go r.drain(key)
	}
}

func (r *Runner) drain(key uint64) {
	for {
		r.mu.Lock()
		q := r.queues[key]
		if len(q) == 0 {
			delete(r.queues, key)
			r.mu.Unlock()
			return
		}
		f := q[0]
		q[0] = nil
		r.queues[key] = q[1:]
		r.mu.Unlock()

		f()

		r.mu.Lock()
		r.pending--
		if r.pending == 0 {
			close(r.idle)
		}
		r.mu.Unlock()
	}
}

// Wait returns once all queued work has run, or with ctx's error when ctx
// ends first (the daemon bounds its shutdown this way).
func (r *Runner) Wait(ctx context.Context) error {
	r.mu.Lock()
	idle := r.idle
	r.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Result is how one script run ended.
type Result struct {
	// Err is nil when the script exited with status 0.
	Err error
	// ExitCode is the exit status, -1 when the script was killed by a
	// signal or never started.
	ExitCode int
	// TimedOut says the run hit the timeout and its process group was killed.
	TimedOut bool
	// Output holds the first lines of the script's stdout and stderr;
	// MoreLines counts the lines left out.
	Output    []string
	MoreLines int
	Took      time.Duration
}

// ErrTimeout is wrapped by Result.Err when a script ran past the timeout.
var ErrTimeout = errors.New("updown script timed out")

// Exec runs command with /bin/sh -c (Shell) in env, waits for it (at most the
// timeout, then kills its process group) and logs the outcome with attrs:
// the output lines at Info as strongSwan does ("updown: ..."), a failure at
// Warn with the exit status and the first lines. It blocks; call it from a
// function queued with Do.
func (r *Runner) Exec(command string, env []string, attrs ...any) Result {
	r.sem <- struct{}{}
	defer func() { <-r.sem }()

	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.cfg.Shell, "-c", command)
	cmd.Env = env
	cmd.Dir = "/"
	// Its own process group, so a timeout kills whatever the script started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A background child that keeps the output pipe open must not hold us.
	cmd.WaitDelay = time.Second
	out := &capped{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out

	start := time.Now()
	err := cmd.Run()
	res := Result{Took: time.Since(start), ExitCode: -1}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	res.Output, res.MoreLines = out.lines(r.cfg.OutputLines)
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.TimedOut = true
		res.Err = fmt.Errorf("%w after %v, process group killed", ErrTimeout, r.cfg.Timeout)
	case errors.Is(err, exec.ErrWaitDelay) && res.ExitCode == 0:
		// The script exited 0; something it left behind holds its output.
	case err != nil:
		res.Err = describeExit(err, cmd)
	}

	log := r.cfg.Log
	for _, l := range res.Output {
		log.Info("updown: "+l, attrs...)
	}
	if res.MoreLines > 0 {
		log.Info(fmt.Sprintf("updown: (%d more lines)", res.MoreLines), attrs...)
	}
	if res.Err != nil {
		a := append([]any{"err", res.Err, "exit_status", res.ExitCode, "took", res.Took.Round(time.Millisecond), "command", command}, attrs...)
		if len(res.Output) > 0 {
			a = append(a, "output", strings.Join(res.Output, " | "))
		}
		log.Warn("updown script failed", a...)
	} else {
		log.Debug("updown script ran", append([]any{"took", res.Took.Round(time.Millisecond)}, attrs...)...)
	}
	return res
}

// describeExit says how a script ended: its exit status or the signal that
// killed it.
func describeExit(err error, cmd *exec.Cmd) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("updown script killed by signal %v", ws.Signal())
		}
		return fmt.Errorf("updown script exited with status %d", ee.ExitCode())
	}
	return fmt.Errorf("run updown script %q: %w", cmd.Args, err)
}

// capped is an io.Writer that keeps the first max bytes written to it.
type capped struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	max     int
	dropped bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room < len(p) {
		c.buf.Write(p[:max(room, 0)])
		c.dropped = true
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}

// lines returns the first n non-empty lines and how many more there were
// (at least one more when output was cut at the byte limit).
func (c *capped) lines(n int) ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	more := 0
	for l := range strings.SplitSeq(c.buf.String(), "\n") {
		l = strings.TrimRight(l, "\r")
		if l == "" {
			continue
		}
		if len(out) < n {
			out = append(out, l)
		} else {
			more++
		}
	}
	if c.dropped && more == 0 {
		more = 1
	}
	return out, more
}
