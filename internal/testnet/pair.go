package testnet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PairOptions configure NewPair. The zero value gives a plain pair with a
// random prefix.
type PairOptions struct {
	// Prefix names the namespaces (Prefix-a, Prefix-b, Prefix-r) and the
	// interfaces; 1-8 characters [a-z0-9]. Empty picks a unique one.
	Prefix string
	// NAT puts a router namespace between A and B that masquerades A's
	// traffic (B sees A as UnderlayA).
	NAT bool
	// NATKeepPorts makes the router keep source ports where it can; by
	// default it translates them to random ones, the harder NAT-T case.
	NATKeepPorts bool
}

// Pair is two network namespaces A and B joined by veth (directly, or
// through the NAT router R), each with its protected subnet on lo.
type Pair struct {
	t testing.TB
	// Prefix is the name prefix shared by the namespaces and interfaces.
	Prefix string
	// A, B and R are the namespace names; R is empty without NAT.
	A, B, R string
	// IfA and IfB are the underlay interfaces in A and B.
	IfA, IfB string
	// LocalA and LocalA6 are A's own underlay addresses (behind the NAT in
	// a NAT pair); B reaches A at UnderlayA.
	LocalA, LocalA6 netip.Addr
	// NAT reports whether R exists.
	NAT bool
}

var prefixRE = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// NewPair creates the namespaces, ready for traffic between the underlay
// addresses. They are removed at test cleanup, after killing any process
// still running inside them. It fails the test when setup fails.
func NewPair(t testing.TB, opts PairOptions) *Pair {
	t.Helper()
	RequireRoot(t)
	if opts.NAT {
		RequireTools(t, "nft")
	}
	prefix := opts.Prefix
	if prefix == "" {
		var err error
		if prefix, err = uniquePrefix(); err != nil {
			t.Fatalf("testnet: %v", err)
		}
	}
	if !prefixRE.MatchString(prefix) {
		t.Fatalf("testnet: prefix %q must be 1-8 characters [a-z0-9]", prefix)
	}
	p := &Pair{
		t:      t,
		Prefix: prefix,
		A:      prefix + "-a",
		B:      prefix + "-b",
		IfA:    prefix + "a0",
		IfB:    prefix + "b0",
		LocalA: UnderlayA, LocalA6: UnderlayA6,
		NAT: opts.NAT,
	}
	if opts.NAT {
		p.R = prefix + "-r"
		p.LocalA, p.LocalA6 = NATInsideA, NATInsideA6
	}
	if removed, err := sweepOnceStale(); err != nil {
		t.Logf("testnet: removing stale namespaces: %v", err)
	} else if len(removed) > 0 {
		t.Logf("testnet: removed namespaces left by dead test processes: %s", strings.Join(removed, " "))
	}
	for _, ns := range p.Namespaces() {
		if NamespaceExists(ns) {
			t.Fatalf("testnet: namespace %s already exists", ns)
		}
	}
	t.Cleanup(func() {
		if err := p.remove(); err != nil {
			t.Errorf("testnet: remove pair %s: %v", p.Prefix, err)
		}
	})
	if err := p.setup(opts); err != nil {
		t.Fatalf("testnet: set up pair %s: %v", p.Prefix, err)
	}
	return p
}

// uniquePrefix returns "cy" and six random base-36 characters whose
// namespaces do not exist yet.
func uniquePrefix() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	for range 20 {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("random prefix: %w", err)
		}
		s := []byte("cy")
		for _, c := range b {
			s = append(s, alphabet[int(c)%len(alphabet)])
		}
		prefix := string(s)
		if !NamespaceExists(prefix+"-a") && !NamespaceExists(prefix+"-b") && !NamespaceExists(prefix+"-r") {
			return prefix, nil
		}
	}
	return "", errors.New("no free namespace prefix after 20 tries")
}

// NamespaceExists reports whether a named network namespace exists.
func NamespaceExists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

// Namespaces returns the names of the pair's namespaces (A, B and R if any).
func (p *Pair) Namespaces() []string {
	if p.R != "" {
		return []string{p.A, p.B, p.R}
	}
	return []string{p.A, p.B}
}

func (p *Pair) setup(opts PairOptions) error {
	steps := [][]string{}
	add := func(args ...string) { steps = append(steps, args) }
	end := func(ns, ifn string, a4, a6 netip.Addr, host4, host6 netip.Addr) {
		add("-n", ns, "link", "set", "lo", "up")
		add("-n", ns, "addr", "add", a4.String()+"/24", "dev", ifn)
		add("-n", ns, "addr", "add", a6.String()+"/64", "dev", ifn, "nodad")
		add("-n", ns, "link", "set", ifn, "up")
		add("-n", ns, "addr", "add", host4.String()+"/32", "dev", "lo")
		// nodad: an address is tentative until the kernel's DAD work runs,
		// even on lo, and a route with a tentative src is refused
		// (EINVAL); on a loaded machine that work can lag behind us.
		add("-n", ns, "addr", "add", host6.String()+"/128", "dev", "lo", "nodad")
	}
	for _, ns := range p.Namespaces() {
		if err := markNamespace(ns); err != nil {
			return err
		}
		add("netns", "add", ns)
	}
	if !p.NAT {
		add("-n", p.A, "link", "add", p.IfA, "type", "veth", "peer", "name", p.IfB, "netns", p.B)
	} else {
		ra, rb := p.Prefix+"ra", p.Prefix+"rb"
		add("-n", p.A, "link", "add", p.IfA, "type", "veth", "peer", "name", ra, "netns", p.R)
		add("-n", p.B, "link", "add", p.IfB, "type", "veth", "peer", "name", rb, "netns", p.R)
		add("-n", p.R, "link", "set", "lo", "up")
		add("-n", p.R, "addr", "add", NATRouterInside.String()+"/24", "dev", ra)
		add("-n", p.R, "addr", "add", "fd00:99:10::1/64", "dev", ra, "nodad")
		add("-n", p.R, "addr", "add", UnderlayA.String()+"/24", "dev", rb)
		add("-n", p.R, "addr", "add", UnderlayA6.String()+"/64", "dev", rb, "nodad")
		add("-n", p.R, "link", "set", ra, "up")
		add("-n", p.R, "link", "set", rb, "up")
	}
	end(p.A, p.IfA, p.LocalA, p.LocalA6, HostA, HostA6)
	end(p.B, p.IfB, UnderlayB, UnderlayB6, HostB, HostB6)
	if p.NAT {
		add("-n", p.A, "route", "add", "default", "via", NATRouterInside.String())
		add("-n", p.A, "-6", "route", "add", "default", "via", "fd00:99:10::1")
	}
	for _, s := range steps {
		if _, err := ip(s...); err != nil {
			return err
		}
	}
	for _, ns := range p.Namespaces() {
		if _, err := ip("netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"); err != nil {
			return err
		}
	}
	if p.NAT {
		masq := "masquerade random"
		if opts.NATKeepPorts {
			masq = "masquerade"
		}
		rules := fmt.Sprintf(`table ip nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "%[1]s" %[2]s; }
}
table ip6 nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "%[1]s" %[2]s; }
}
`, p.Prefix+"rb", masq)
		if _, err := runCmd(context.Background(), DefaultCommandTimeout, strings.NewReader(rules), "ip", "netns", "exec", p.R, "nft", "-f", "-"); err != nil {
			return fmt.Errorf("nat rules: %w", err)
		}
	}
	return nil
}

// remove kills what still runs in the namespaces and deletes them.
func (p *Pair) remove() error {
	var errs []error
	for _, ns := range p.Namespaces() {
		if !NamespaceExists(ns) {
			unmarkNamespace(ns)
			continue
		}
		if err := killNamespaceProcesses(ns); err != nil {
			errs = append(errs, err)
		}
		if _, err := ip("netns", "del", ns); err != nil {
			errs = append(errs, err)
			continue
		}
		unmarkNamespace(ns)
	}
	return errors.Join(errs...)
}

// namespacePids lists the processes whose network namespace is ns.
func namespacePids(ns string) ([]int, error) {
	out, err := ip("netns", "pids", ns)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killNamespaceProcesses stops the processes left in a namespace the harness
// made (a charon or tcpdump of a failed test): SIGTERM, then SIGKILL.
func killNamespaceProcesses(ns string) error {
	pids, err := namespacePids(ns)
	if err != nil || len(pids) == 0 {
		return err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	err = pollUntil(3*time.Second, 50*time.Millisecond, func() (bool, error) {
		pids, err = namespacePids(ns)
		return err == nil && len(pids) == 0, nil
	})
	if err == nil {
		return nil
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return pollUntil(3*time.Second, 50*time.Millisecond, func() (bool, error) {
		pids, err = namespacePids(ns)
		return err == nil && len(pids) == 0, nil
	})
}

// Exec runs a command inside namespace ns and returns its combined output;
// it fails the test on error. Call it from the test goroutine only.
func (p *Pair) Exec(ns string, args ...string) string {
	p.t.Helper()
	out, err := p.TryExec(ns, args...)
	if err != nil {
		p.t.Fatalf("testnet: %v", err)
	}
	return out
}

// TryExec runs a command inside namespace ns with DefaultCommandTimeout and
// returns its combined output and error.
func (p *Pair) TryExec(ns string, args ...string) (string, error) {
	return ExecIn(ns, DefaultCommandTimeout, args...)
}

// ExecIn runs a command inside any named network namespace with a timeout.
func ExecIn(ns string, timeout time.Duration, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("exec: no command")
	}
	return runCmd(context.Background(), timeout, nil, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// Start runs a command in the background inside namespace ns; see
// StartProcess.
func (p *Pair) Start(ns string, args ...string) *Process {
	p.t.Helper()
	return StartProcess(p.t, ns, args...)
}
