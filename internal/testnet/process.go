package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a command running in the background inside a namespace, with
// its output going to a file in the test's temporary directory.
type Process struct {
	// NS is the namespace the process runs in.
	NS string
	// Args is the command line.
	Args []string
	// LogPath is the file that receives its stdout and stderr.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done is closed
}

// StartProcess starts `ip netns exec ns args...` in its own process group.
// The process is stopped at test cleanup (SIGTERM, SIGKILL after 3 s) and
// its output is logged when the test failed; it dies with the test process
// if that ends without cleaning up.
func StartProcess(t testing.TB, ns string, args ...string) *Process {
	t.Helper()
	if len(args) == 0 {
		t.Fatal("testnet: StartProcess without a command")
	}
	f, err := os.CreateTemp(t.TempDir(), filepath.Base(args[0])+"-*.log")
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	defer f.Close()
	// ip netns exec execs the command, so the pid is the command's own.
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr := &Process{NS: ns, Args: args, LogPath: f.Name(), cmd: cmd, done: make(chan struct{})}
	if err := startWithParent(cmd); err != nil {
		t.Fatalf("testnet: start %s in %s: %v", strings.Join(args, " "), ns, err)
	}
	go func() {
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	t.Cleanup(func() {
		if err := pr.Stop(); err != nil {
			t.Errorf("testnet: %v", err)
		}
		if t.Failed() {
			t.Logf("testnet: output of %s (in %s), last lines:\n%s", strings.Join(args, " "), ns, tail(pr.LogPath, 30))
		}
	})
	return pr
}

// Pid returns the process id.
func (pr *Process) Pid() int { return pr.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (pr *Process) Exited() bool {
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

// Output returns what the process has written so far.
func (pr *Process) Output() string {
	b, err := os.ReadFile(pr.LogPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// Wait waits up to timeout for the process to end by itself and returns its
// exit error.
func (pr *Process) Wait(timeout time.Duration) error {
	select {
	case <-pr.done:
		return pr.err
	case <-time.After(timeout):
		return fmt.Errorf("%s: still running after %v", strings.Join(pr.Args, " "), timeout)
	}
}

// Stop ends the process group (SIGTERM, then SIGKILL after 3 s) and waits
// for it. Stopping an ended process is a no-op; the exit status of a
// process that had to be signalled is not reported as an error.
func (pr *Process) Stop() error {
	if pr.Exited() {
		return nil
	}
	pgid := pr.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-pr.done:
		return nil
	case <-time.After(3 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-pr.done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("process " + fmt.Sprint(pgid) + " survived SIGKILL")
	}
}
