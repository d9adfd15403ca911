package testnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Paths of Debian's FreeRADIUS 3 package.
const (
	FreeRADIUSPath      = "/usr/sbin/freeradius"
	FreeRADIUSConfigDir = "/etc/freeradius/3.0"
)

// FreeRADIUSOptions configure StartFreeRADIUS.
type FreeRADIUSOptions struct {
	// Secret is the shared secret of every client (any source address).
	Secret string
	// Users maps user names to their Cleartext-Password in the files
	// module; these users can authenticate with PAP, EAP-MD5 and
	// EAP-MSCHAPv2.
	Users map[string]string
	// StartTimeout bounds the wait for "Ready to process requests"
	// (default 20 s).
	StartTimeout time.Duration
}

// FreeRADIUS is a private FreeRADIUS server (`freeradius -X`: foreground,
// one thread, debug log to stdout) in one network namespace, listening on
// every address of the namespace on ports 1812 (authentication) and 1813
// (accounting; records go to detail files under Dir/log/radacct). Its configuration is a copy of Debian's in Dir, with the
// test's clients, users and an EAP module restricted to MD5 and MSCHAPv2
// (the TLS-based methods need certificates the harness does not make).
type FreeRADIUS struct {
	NS   string
	Dir  string
	Proc *Process
}

// RequireFreeRADIUS is RequireRoot plus Debian's freeradius package.
func RequireFreeRADIUS(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	if _, err := os.Stat(FreeRADIUSPath); err != nil {
		skipOrFail(t, "testnet: needs %s (run scripts/install-deps.sh)", FreeRADIUSPath)
	}
	if _, err := os.Stat(filepath.Join(FreeRADIUSConfigDir, "radiusd.conf")); err != nil {
		skipOrFail(t, "testnet: needs %s (run scripts/install-deps.sh)", FreeRADIUSConfigDir)
	}
}

var radiusUserRE = regexp.MustCompile(`^[A-Za-z0-9@._-]+$`)

// StartFreeRADIUS starts FreeRADIUS in namespace ns and waits until it is
// ready. It is stopped at test cleanup, with its log tail in the test output
// if the test failed.
func StartFreeRADIUS(t testing.TB, ns string, opts FreeRADIUSOptions) *FreeRADIUS {
	t.Helper()
	RequireFreeRADIUS(t)
	dir := filepath.Join(t.TempDir(), "raddb")
	if err := writeFreeRADIUSConfig(dir, opts); err != nil {
		t.Fatalf("testnet: FreeRADIUS configuration: %v", err)
	}
	fr := &FreeRADIUS{NS: ns, Dir: dir}
	fr.Proc = StartProcess(t, ns, FreeRADIUSPath, "-X", "-d", dir)
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(fr.Proc.Output(), "Ready to process requests") {
		if fr.Proc.Exited() {
			t.Fatalf("testnet: freeradius exited during start-up:\n%s", tail(fr.Proc.LogPath, 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("testnet: freeradius not ready after %v:\n%s", timeout, tail(fr.Proc.LogPath, 30))
		}
		<-tick.C
	}
	return fr
}

// AccountingRecords returns the accounting detail files the server wrote,
// concatenated: one block of "Attribute = value" lines per record.
func (fr *FreeRADIUS) AccountingRecords() (string, error) {
	files, err := filepath.Glob(filepath.Join(fr.Dir, "log", "radacct", "*", "detail-*"))
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		out.Write(b)
	}
	return out.String(), nil
}

// writeFreeRADIUSConfig copies Debian's configuration to dir and replaces
// the parts a test controls.
func writeFreeRADIUSConfig(dir string, opts FreeRADIUSOptions) error {
	if strings.ContainsAny(opts.Secret, "\"\\\n") || opts.Secret == "" {
		return fmt.Errorf("secret %q: want a non-empty secret without quotes, backslashes or newlines", opts.Secret)
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCommandTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "cp", "-a", FreeRADIUSConfigDir, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %v: %s", FreeRADIUSConfigDir, err, out)
	}
	// root keeps running it: dropping to freerad would lose access to the
	// test's private temporary directory
	conf := filepath.Join(dir, "radiusd.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	b = regexp.MustCompile(`(?m)^\s*(user|group)\s*=\s*freerad\s*$`).ReplaceAll(b, nil)
	// logs, accounting records (detail files, radwtmp) and the pid file
	// stay in the test's directory, not in the host's /var
	b = regexp.MustCompile(`(?m)^logdir = .*$`).ReplaceAllLiteral(b, []byte("logdir = "+filepath.Join(dir, "log")))
	b = regexp.MustCompile(`(?m)^run_dir = .*$`).ReplaceAllLiteral(b, []byte("run_dir = "+filepath.Join(dir, "run")))
	if !bytes.Contains(b, []byte("logdir = "+filepath.Join(dir, "log"))) || !bytes.Contains(b, []byte("run_dir = "+dir)) {
		return fmt.Errorf("%s: cannot move logdir and run_dir into the test directory", conf)
	}
	for _, sub := range []string{"log", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	files := map[string]string{
		"radiusd.conf": string(b),
		"clients.conf": fmt.Sprintf("client any4 {\n\tipaddr = 0.0.0.0/0\n\tsecret = \"%s\"\n}\n"+
			"client any6 {\n\tipv6addr = ::/0\n\tsecret = \"%s\"\n}\n", opts.Secret, opts.Secret),
		"mods-enabled/eap": "eap {\n\tdefault_eap_type = md5\n\ttimer_expire = 60\n\tignore_unknown_eap_types = no\n" +
			"\tmax_sessions = ${max_requests}\n\tmd5 {\n\t}\n\tmschapv2 {\n\t}\n}\n",
	}
	names := make([]string, 0, len(opts.Users))
	for u := range opts.Users {
		names = append(names, u)
	}
	sort.Strings(names)
	var users strings.Builder
	for _, u := range names {
		pw := opts.Users[u]
		if !radiusUserRE.MatchString(u) || strings.ContainsAny(pw, "\"\\\n") {
			return fmt.Errorf("user %q: want [A-Za-z0-9@._-] names and passwords without quotes, backslashes or newlines", u)
		}
		fmt.Fprintf(&users, "%s\tCleartext-Password := \"%s\"\n", u, pw)
	}
	files["mods-config/files/authorize"] = users.String()
	// the inner-tunnel server serves PEAP and TTLS, which are not enabled
	for _, rm := range []string{"mods-enabled/eap", "sites-enabled/inner-tunnel"} {
		if err := os.Remove(filepath.Join(dir, rm)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			return err
		}
	}
	return nil
}
