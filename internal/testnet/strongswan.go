package testnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DefaultStrongSwanPlugins is the charon plugin list. kernel-libipsec must
// come before kernel-netlink: the first kernel-ipsec backend registered
// wins, and this kernel has no XFRM ESP. kernel-netlink is still needed for
// addresses and routes, and kdf for IKE key derivation.
var DefaultStrongSwanPlugins = []string{
	"random", "nonce", "openssl", "pem", "pkcs1", "pkcs8", "x509", "pubkey", "revocation", "constraints",
	"aes", "sha1", "sha2", "hmac", "gcm", "kdf", "kernel-libipsec", "kernel-netlink", "socket-default", "vici",
}

var swanctlPlugins = "pem pkcs1 pkcs8 x509 pubkey openssl random nonce aes sha1 sha2 hmac gcm"

// credentialDirs are the directories swanctl --load-all reads next to
// swanctl.conf; missing ones make it complain.
var credentialDirs = []string{"x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12"}

// StrongSwanOptions configure StartStrongSwan. The zero value is usable.
type StrongSwanOptions struct {
	// Plugins replaces DefaultStrongSwanPlugins.
	Plugins []string
	// ExtraConf is appended to the private strongswan.conf, e.g.
	// "charon { retransmit_tries = 1 }".
	ExtraConf string
	// LogLevel is the charon.log level of IKE, CFG and KNL (default 2).
	LogLevel int
	// StartTimeout bounds the wait for VICI to answer (default 15 s).
	StartTimeout time.Duration
}

// StrongSwan is a private charon (kernel-libipsec, userspace ESP over a
// TUN device) running in one network namespace, controlled through its own
// VICI socket with swanctl. Its files live in Dir: strongswan.conf,
// swanctl.conf and credentials, charon.vici, charon.log, charon.out.
type StrongSwan struct {
	NS  string
	Dir string

	t    testing.TB
	conf string
	uri  string
	cmd  *exec.Cmd
	done chan struct{}
	// root is the Debian 13 root file system charon runs from (strongSwan
	// 6, StartStrongSwan6); empty for the host's strongSwan 5.9.8.
	root string
}

// StartStrongSwan starts charon in namespace ns and waits until it answers
// on VICI. At cleanup charon is stopped, its log tail is written to the
// test output if the test failed, and its directory is removed.
func StartStrongSwan(t testing.TB, ns string, opts *StrongSwanOptions) *StrongSwan {
	t.Helper()
	RequireStrongSwan(t)
	return startStrongSwan(t, ns, opts, "")
}

// startStrongSwan starts the host's charon (root "") or strongSwan 6 from
// the root file system root.
func startStrongSwan(t testing.TB, ns string, opts *StrongSwanOptions, root string) *StrongSwan {
	t.Helper()
	if opts == nil {
		opts = &StrongSwanOptions{}
	}
	// A short directory: the VICI socket path must fit in sun_path.
	dir, err := os.MkdirTemp("", "cyss-")
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	s := &StrongSwan{NS: ns, Dir: dir, t: t, conf: filepath.Join(dir, "strongswan.conf"), uri: "unix://" + filepath.Join(dir, "charon.vici"), done: make(chan struct{}), root: root}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("testnet: %v", err)
		}
		if t.Failed() {
			t.Logf("testnet: charon.log of %s, last lines:\n%s", ns, tail(filepath.Join(dir, "charon.log"), 40))
			if out := tail(filepath.Join(dir, "charon.out"), 10); strings.TrimSpace(out) != "" {
				t.Logf("testnet: charon.out of %s:\n%s", ns, out)
			}
		}
		os.RemoveAll(dir)
	})
	if err := s.start(opts); err != nil {
		t.Fatalf("testnet: strongSwan in %s: %v", ns, err)
	}
	return s
}

func (s *StrongSwan) start(opts *StrongSwanOptions) error {
	for _, d := range append([]string{"run"}, credentialDirs...) {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o700); err != nil {
			return err
		}
	}
	plugins := opts.Plugins
	if len(plugins) == 0 {
		plugins = DefaultStrongSwanPlugins
		if s.root != "" {
			plugins = DefaultStrongSwan6Plugins
		}
	}
	extra := opts.ExtraConf
	if s.root != "" {
		// charon-systemd reads section charon-systemd (falling back to
		// charon); the chroot has no journald.
		extra = "charon-systemd {\n  journal { default = -1 }\n}\n" + extra
	}
	level := opts.LogLevel
	if level == 0 {
		level = 2
	}
	conf := fmt.Sprintf(`# private strongswan.conf written by cygnet's testnet (namespace %s)
charon {
  load_modular = no
  load = %s
  port = 500
  port_nat_t = 4500
  retransmit_tries = 3
  retransmit_timeout = 2.0
  install_routes = yes
  plugins {
    vici { socket = %s }
    kernel-libipsec { allow_peer_ts = no }
  }
  filelog {
    cygnet {
      path = %s
      time_format = %%H:%%M:%%S
      time_add_ms = yes
      default = 1
      ike = %d
      cfg = %d
      knl = %d
      flush_line = yes
      append = yes
    }
  }
  syslog { }
}
swanctl {
  load = %s
  socket = %s
}
%s
`, s.NS, strings.Join(plugins, " "), s.uri, filepath.Join(s.Dir, "charon.log"), level, level, level, swanctlPlugins, s.uri, extra)
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, "charon.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	// charon insists on /run/charon.pid, which would clash between
	// instances: give it a private mount namespace with Dir/run on /run.
	// Every step exec()s, so the pid is charon's own.
	s.cmd = exec.Command("ip", "netns", "exec", s.NS, "unshare", "--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", `mount --bind "$1" /run && exec "$2"`, "cygnet-charon", filepath.Join(s.Dir, "run"), CharonPath)
	if s.root != "" {
		s.cmd = strongSwan6Command(s.NS, s.root, s.Dir)
	}
	s.cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+s.conf)
	s.cmd.Stdout = out
	s.cmd.Stderr = out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// charon dies with the test process, also one killed by go test
	// -timeout.
	if err := startWithParent(s.cmd); err != nil {
		return fmt.Errorf("start charon: %w", err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	err = pollUntil(timeout, 50*time.Millisecond, func() (bool, error) {
		select {
		case <-s.done:
			return false, fmt.Errorf("charon exited during startup: %s", tail(filepath.Join(s.Dir, "charon.out"), 10))
		default:
		}
		if _, err := os.Stat(filepath.Join(s.Dir, "charon.vici")); err != nil {
			return false, nil
		}
		_, err := s.swanctl(5*time.Second, "--stats")
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("charon did not answer on %s: %w", s.uri, err)
	}
	return nil
}

// Pid returns charon's process id.
func (s *StrongSwan) Pid() int { return s.cmd.Process.Pid }

// Running reports whether charon is still alive.
func (s *StrongSwan) Running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop terminates charon (SIGTERM, SIGKILL after 5 s) and waits for it.
func (s *StrongSwan) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil || !s.Running() {
		return nil
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-s.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("charon %d in %s survived SIGKILL", pgid, s.NS)
	}
}

func (s *StrongSwan) swanctl(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swanctl", append(args, "--uri", s.uri)...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+s.conf)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() == context.DeadlineExceeded {
		return string(out), fmt.Errorf("swanctl %s: timed out after %v", strings.Join(args, " "), timeout)
	}
	if err != nil {
		return string(out), fmt.Errorf("swanctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Swanctl runs any swanctl command against this charon (the socket is
// added) with DefaultCommandTimeout.
func (s *StrongSwan) Swanctl(args ...string) (string, error) {
	return s.swanctl(DefaultCommandTimeout, args...)
}

// WriteFile writes a file below Dir (e.g. "x509/extra.crt").
func (s *StrongSwan) WriteFile(rel string, data []byte, perm os.FileMode) error {
	p := filepath.Join(s.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, data, perm)
}

// InstallCerts writes the CA and host name's certificate and key into Dir
// (see PKI.WriteSwanctl); call Load afterwards.
func (s *StrongSwan) InstallCerts(p *PKI, name string) error {
	return p.WriteSwanctl(s.Dir, name)
}

// Load writes swanctlConf to Dir/swanctl.conf and loads it with every
// credential below Dir (swanctl --load-all).
func (s *StrongSwan) Load(swanctlConf string) error {
	file := filepath.Join(s.Dir, "swanctl.conf")
	if err := os.WriteFile(file, []byte(swanctlConf), 0o600); err != nil {
		return err
	}
	if _, err := s.swanctl(DefaultCommandTimeout, "--load-all", "--noprompt", "--file", file); err != nil {
		return fmt.Errorf("load %s: %w", s.NS, err)
	}
	return nil
}

// Initiate brings up CHILD_SA child of connection ike (IKE_SA first if
// needed) and waits for the result, at most 20 s.
func (s *StrongSwan) Initiate(ike, child string) error {
	_, err := s.swanctl(25*time.Second, "--initiate", "--ike", ike, "--child", child, "--timeout", "20")
	return err
}

// Terminate deletes the IKE_SA of connection ike with its CHILD_SAs.
func (s *StrongSwan) Terminate(ike string) error {
	_, err := s.swanctl(15*time.Second, "--terminate", "--ike", ike, "--timeout", "10")
	return err
}

// ListSAs returns the IKE_SAs with their CHILD_SAs.
func (s *StrongSwan) ListSAs() ([]IKESA, error) {
	out, err := s.swanctl(DefaultCommandTimeout, "--list-sas", "--raw")
	if err != nil {
		return nil, err
	}
	return ParseListSAs(out)
}

// WaitChildSA polls until a CHILD_SA named child is INSTALLED and returns
// it with its IKE_SA.
func (s *StrongSwan) WaitChildSA(child string, timeout time.Duration) (IKESA, ChildSA, error) {
	var ike IKESA
	var c ChildSA
	var last error
	err := pollUntil(timeout, 100*time.Millisecond, func() (bool, error) {
		if !s.Running() {
			return false, errors.New("charon is not running")
		}
		sas, err := s.ListSAs()
		if err != nil {
			last = err
			return false, nil
		}
		var ok bool
		ike, c, ok = FindChildSA(sas, child, "INSTALLED")
		return ok, nil
	})
	if err != nil {
		if last != nil {
			err = fmt.Errorf("%w (last error: %v)", err, last)
		}
		return IKESA{}, ChildSA{}, fmt.Errorf("CHILD_SA %s in %s not INSTALLED: %w", child, s.NS, err)
	}
	return ike, c, nil
}

// ChildSA returns the INSTALLED CHILD_SA named child (counters included).
func (s *StrongSwan) ChildSA(child string) (ChildSA, error) {
	sas, err := s.ListSAs()
	if err != nil {
		return ChildSA{}, err
	}
	_, c, ok := FindChildSA(sas, child, "INSTALLED")
	if !ok {
		return ChildSA{}, fmt.Errorf("no INSTALLED CHILD_SA %s in %s", child, s.NS)
	}
	return c, nil
}

// LogTail returns the last n lines of charon.log.
func (s *StrongSwan) LogTail(n int) string { return tail(filepath.Join(s.Dir, "charon.log"), n) }

// PSK is the pre-shared key TunnelConfig uses when none is set.
const PSK = "cygnet-interop-test-psk-0123456789"

// TunnelConfig describes one swanctl connection with tunnel-mode children,
// enough for the usual interop cases.
type TunnelConfig struct {
	Name        string // connection name, e.g. "tun"
	LocalAddrs  string // e.g. "10.99.0.1"; empty means %any
	RemoteAddrs string // empty means %any
	LocalID     string
	RemoteID    string
	// Auth is "psk" (default) or "pubkey".
	Auth string
	PSK  string // default PSK
	// LocalCert and CACert are file names below x509/ and x509ca/ for pubkey.
	LocalCert, CACert string
	Proposals         string // IKE; default aes128gcm16-prfsha256-x25519
	Encap             bool   // force UDP encapsulation
	Children          []ChildConfig
	// Extra is inserted verbatim into the connection section.
	Extra string
}

// ChildConfig is a tunnel-mode CHILD_SA of a TunnelConfig.
type ChildConfig struct {
	Name         string
	LocalTS      []netip.Prefix
	RemoteTS     []netip.Prefix
	ESPProposals string // default aes128gcm16
	// AHProposals, if set, makes the child AH (ah_proposals) instead of
	// ESP; ESPProposals is then ignored.
	AHProposals string
	// Mode is "tunnel" (default) or "transport".
	Mode  string
	Extra string
}

// Swanctl renders the connection (and its PSK secret) as swanctl.conf text.
func (c TunnelConfig) Swanctl() string {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "connections {\n  %s {\n    version = 2\n", c.Name)
	fmt.Fprintf(&b, "    local_addrs = %s\n    remote_addrs = %s\n", def(c.LocalAddrs, "%any"), def(c.RemoteAddrs, "%any"))
	fmt.Fprintf(&b, "    proposals = %s\n", def(c.Proposals, "aes128gcm16-prfsha256-x25519"))
	if c.Encap {
		b.WriteString("    encap = yes\n")
	}
	auth := def(c.Auth, "psk")
	if auth == "pubkey" {
		b.WriteString("    send_cert = always\n")
	}
	if c.Extra != "" {
		b.WriteString("    " + c.Extra + "\n")
	}
	fmt.Fprintf(&b, "    local {\n      auth = %s\n      id = %s\n", auth, c.LocalID)
	if auth == "pubkey" && c.LocalCert != "" {
		fmt.Fprintf(&b, "      certs = %s\n", c.LocalCert)
	}
	fmt.Fprintf(&b, "    }\n    remote {\n      auth = %s\n      id = %s\n", auth, c.RemoteID)
	if auth == "pubkey" && c.CACert != "" {
		fmt.Fprintf(&b, "      cacerts = %s\n", c.CACert)
	}
	b.WriteString("    }\n    children {\n")
	for _, ch := range c.Children {
		fmt.Fprintf(&b, "      %s {\n        mode = %s\n", ch.Name, def(ch.Mode, "tunnel"))
		fmt.Fprintf(&b, "        local_ts = %s\n        remote_ts = %s\n", joinPrefixes(ch.LocalTS), joinPrefixes(ch.RemoteTS))
		if ch.AHProposals != "" {
			fmt.Fprintf(&b, "        ah_proposals = %s\n", ch.AHProposals)
		} else {
			fmt.Fprintf(&b, "        esp_proposals = %s\n", def(ch.ESPProposals, "aes128gcm16"))
		}
		if ch.Extra != "" {
			b.WriteString("        " + ch.Extra + "\n")
		}
		b.WriteString("      }\n")
	}
	b.WriteString("    }\n  }\n}\n")
	if auth == "psk" {
		fmt.Fprintf(&b, "secrets {\n  ike-%s {\n    id-1 = %s\n    id-2 = %s\n    secret = \"%s\"\n  }\n}\n", c.Name, c.LocalID, c.RemoteID, def(c.PSK, PSK))
	}
	return b.String()
}

func joinPrefixes(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "dynamic"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// PoolConfig is one swanctl.conf address pool (pools.<name>), in the syntax
// strongSwan and cygnet both read.
type PoolConfig struct {
	Name  string
	Addrs string // a subnet or a range a-b
	// DNS servers and split-tunnel Subnets sent with the addresses.
	DNS, Subnets []string
}

// PoolsSwanctl renders a pools section.
func PoolsSwanctl(pools ...PoolConfig) string {
	var b strings.Builder
	b.WriteString("pools {\n")
	for _, p := range pools {
		fmt.Fprintf(&b, "  %s {\n    addrs = %s\n", p.Name, p.Addrs)
		if len(p.DNS) > 0 {
			fmt.Fprintf(&b, "    dns = %s\n", strings.Join(p.DNS, ", "))
		}
		if len(p.Subnets) > 0 {
			fmt.Fprintf(&b, "    subnet = %s\n", strings.Join(p.Subnets, ", "))
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}
