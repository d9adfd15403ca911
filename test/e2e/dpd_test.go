package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// Short liveness timers for the DPD tests: a check after 2 s without
// traffic, the peer dead when it does not answer within 3 s (or after the
// lowered retransmissions: 1 s, 1.4 s, 1.96 s).
const (
	dpdDelay   = 2 * time.Second
	dpdTimeout = 3 * time.Second
	// fastRetransmit is the charon section both implementations read.
	fastRetransmit = "charon {\n  retransmit_timeout = 1.0\n  retransmit_base = 1.4\n  retransmit_tries = 2\n}\n"
)

// startCygnetFiles is startCygnet with extra files (e.g. strongswan.conf)
// written next to swanctl.conf before the daemon starts.
func startCygnetFiles(t *testing.T, ns, conf string, files map[string]string) *cygnet {
	t.Helper()
	dir, err := os.MkdirTemp("", "cyg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	files["swanctl.conf"] = conf
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := &cygnet{t: t, ns: ns, dir: dir, socket: filepath.Join(dir, "cygnet.sock")}
	c.proc = testnet.StartProcess(t, ns, cygnetBin, "--socket", c.socket, "daemon", "--debug", "--config", filepath.Join(dir, "swanctl.conf"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := control.Call(c.socket, control.Request{Command: control.CmdListConns}, time.Second); err == nil {
			return c
		}
		if c.proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("cygnet in %s did not start:\n%s", ns, c.proc.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dpdPeer is the far end of a DPD test: strongSwan or cygnet, which the
// test kills without a chance to say goodbye and starts again.
type dpdPeer struct {
	t    *testing.T
	impl string
	ns   string
	conf string
	sw   *testnet.StrongSwan
	cyg  *cygnet
}

func (p *dpdPeer) start() {
	p.t.Helper()
	switch p.impl {
	case implStrongSwan:
		p.sw = testnet.StartStrongSwan(p.t, p.ns, &testnet.StrongSwanOptions{ExtraConf: fastRetransmit})
		if err := p.sw.Load(p.conf); err != nil {
			p.t.Fatal(err)
		}
	default:
		p.cyg = startCygnetFiles(p.t, p.ns, p.conf, map[string]string{"strongswan.conf": fastRetransmit})
	}
}

// kill ends the peer with SIGKILL: no DELETE reaches us.
func (p *dpdPeer) kill() {
	p.t.Helper()
	if p.sw != nil {
		if err := syscall.Kill(-p.sw.Pid(), syscall.SIGKILL); err != nil {
			p.t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for p.sw.Running() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		return
	}
	if err := syscall.Kill(p.cyg.proc.Pid(), syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	if err := p.cyg.proc.Wait(5 * time.Second); err == nil {
		p.t.Log("peer daemon exited")
	}
}

func (p *dpdPeer) logText() string {
	if p.sw != nil {
		return p.sw.LogTail(1 << 20)
	}
	return p.cyg.logText()
}

// waitLog polls a log until re matches it, returning when it did.
func waitLog(t *testing.T, log func() string, re *regexp.Regexp, timeout time.Duration) (time.Time, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if re.MatchString(log()) {
			return time.Now(), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}, false
}

var (
	dpdSentRE = regexp.MustCompile(`msg="sending DPD request"`)
	deadRE    = regexp.MustCompile(`msg="peer is dead, deleting IKE SA".*dpd_action="net=restart"`)
	// childInstalledRE matches the line of a Child SA named net going in.
	childInstalledRE = regexp.MustCompile(`msg="Child SA installed".* child=net `)
	logTimeRE        = regexp.MustCompile(`^time=(\S+) `)
)

// logTimes returns the time stamps of the daemon log lines re matches.
func logTimes(log string, re *regexp.Regexp) []time.Time {
	var out []time.Time
	for _, line := range strings.Split(log, "\n") {
		if !re.MatchString(line) {
			continue
		}
		if m := logTimeRE.FindStringSubmatch(line); m != nil {
			if ts, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				out = append(out, ts)
			}
		}
	}
	return out
}

// Cygnet checks liveness only when the peer is idle, declares a killed
// peer dead within dpd_delay + dpd_timeout, and dpd_action = restart
// brings the tunnel back once the peer is up again.
func TestDPDRestartAfterPeerKilled(t *testing.T) {
	testnet.RequireRoot(t)
	for _, impl := range []string{implStrongSwan, implCygnet} {
		t.Run(impl, func(t *testing.T) {
			if impl == implStrongSwan {
				testnet.RequireStrongSwan(t)
			}
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := dpdConfigs()
			confA.Extra = "dpd_delay = 2s\n    dpd_timeout = 3s\n    keyingtries = 0"
			confA.Children[0].Extra = "dpd_action = restart"
			// The peer checks far less often, so the idle phase below sees
			// cygnet's own checks: any IKE message from the peer would
			// restart cygnet's dpd_delay, as RFC 7296 2.4 wants.
			confB.Extra = "dpd_delay = 30s"
			peer := &dpdPeer{t: t, impl: impl, ns: p.B, conf: confB.Swanctl()}
			peer.start()
			a := startCygnetFiles(t, p.A, confA.Swanctl(), map[string]string{"strongswan.conf": fastRetransmit})
			a.initiate("tun", "net")
			if !regexp.MustCompile(`msg="IKE retransmission settings".* timeout=1s base=1.4 tries=2`).MatchString(a.logText()) {
				t.Error("cygnet did not take the retransmission settings from strongswan.conf")
			}

			// Busy: a ping every 200 ms for 4 s, twice dpd_delay: no DPD.
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 20)
			if n := len(dpdSentRE.FindAllString(a.logText(), -1)); n != 0 {
				t.Errorf("cygnet sent %d DPD requests while ESP kept arriving", n)
			}
			// Idle: liveness checks go out, and the peer answers them.
			idleStart := time.Now()
			if _, ok := waitLog(t, a.logText, dpdSentRE, 3*dpdDelay); !ok {
				t.Fatal("no DPD request after the tunnel went idle")
			}
			firstDPD := time.Since(idleStart)
			time.Sleep(2 * dpdDelay)
			a.waitChild("net", time.Second)
			// The peer may send none: our checks reach it as IKE traffic,
			// which restarts its own dpd_delay (RFC 7296 2.4), so whoever
			// fires first keeps the other quiet.
			peerDPD := len(regexp.MustCompile(`sending DPD request`).FindAllString(peer.logText(), -1))
			t.Logf("%s: cygnet's first DPD %v after the traffic stopped; in %v idle cygnet sent %d and the peer %d liveness checks, all answered", impl,
				firstDPD.Round(10*time.Millisecond), time.Since(idleStart).Round(10*time.Millisecond), len(dpdSentRE.FindAllString(a.logText(), -1)), peerDPD)

			// The peer dies and comes back without its state.
			killed := time.Now()
			peer.kill()
			peer.start()
			restarted := time.Now()
			deadAt, ok := waitLog(t, a.logText, deadRE, dpdDelay+dpdTimeout+5*time.Second)
			if !ok {
				t.Fatalf("peer not declared dead within %v", dpdDelay+dpdTimeout+5*time.Second)
			}
			detect := deadAt.Sub(killed)
			// The last ESP or DPD answer may predate the kill by up to
			// dpd_delay; the SAD's last-use clock ticks once a second.
			if detect > dpdDelay+dpdTimeout+time.Second {
				t.Errorf("dead peer detected after %v, want at most dpd_delay + dpd_timeout (%v) + 1 s", detect, dpdDelay+dpdTimeout)
			}
			a.waitChild("net", 40*time.Second)
			// From the daemon's own time stamps: the dead verdict and the
			// Child SA installed after it.
			back := time.Duration(-1)
			if dead := logTimes(a.logText(), deadRE); len(dead) == 1 {
				for _, up := range logTimes(a.logText(), childInstalledRE) {
					if up.After(dead[0]) {
						back = up.Sub(dead[0])
						break
					}
				}
			}
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
			t.Logf("%s: peer killed and restarted (up again after %v); dead after %v (dpd_delay %v, dpd_timeout %v); tunnel re-established by dpd_action = restart %v after the verdict",
				impl, restarted.Sub(killed).Round(10*time.Millisecond), detect.Round(10*time.Millisecond), dpdDelay, dpdTimeout, back.Round(time.Millisecond))
			if !strings.Contains(a.logText(), "restarting Child SA (dpd_action)") {
				t.Error("no restart logged")
			}
		})
	}
}

// A child with start_action = trap comes up on the first packet, and
// comes back the same way after the peer deleted it.
func TestTrapChildOnFirstPing(t *testing.T) {
	testnet.RequireRoot(t)
	for _, impl := range []string{implStrongSwan, implCygnet} {
		t.Run(impl, func(t *testing.T) {
			if impl == implStrongSwan {
				testnet.RequireStrongSwan(t)
			}
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := dpdConfigs()
			confA.Children[0].Extra = "start_action = trap"
			peer := &dpdPeer{t: t, impl: impl, ns: p.B, conf: confB.Swanctl()}
			peer.start()
			a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
			if len(a.listSAs()) != 0 {
				t.Fatal("a trapped child came up without traffic")
			}
			for round := 1; round <= 2; round++ {
				start := time.Now()
				upc := make(chan time.Duration, 1)
				go func() { upc <- childUpAfter(a.socket, "net", start, 5*time.Second) }()
				r, _ := testnet.TryPing(p.A, testnet.HostA, testnet.HostB, 10)
				if r.Received == 0 {
					t.Fatalf("round %d: no ping answered through the trapped child:\n%s", round, r.Output)
				}
				up := <-upc
				_, ch := a.waitChild("net", 5*time.Second)
				testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
				t.Logf("%s round %d: Child SA %s{%d} installed %v after the first ping, %d of 10 pings (every 200 ms) answered",
					impl, round, ch.Name, ch.UniqueID, up.Round(10*time.Millisecond), r.Received)
				if round == 2 {
					break
				}
				// The peer deletes the IKE SA; the trap stays.
				var err error
				if peer.sw != nil {
					err = peer.sw.Terminate("tun")
				} else {
					err = peer.cyg.terminate("tun")
				}
				if err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(5 * time.Second)
				for len(a.listSAs()) != 0 && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if len(a.listSAs()) != 0 {
					t.Fatal("IKE SA still listed after the peer deleted it")
				}
			}
			if n := strings.Count(a.logText(), "acquire: initiating Child SA for trapped traffic"); n != 2 {
				t.Errorf("%d acquires started a negotiation, want 2 (one per round)", n)
			}
		})
	}
}

// dpdConfigs is one IPv4 child between A's and B's subnets, PSK.
func dpdConfigs() (a, b testnet.TunnelConfig) {
	a, b = pairConfigs("psk")
	a.Children = a.Children[:1]
	b.Children = b.Children[:1]
	a.Children[0].LocalTS = []netip.Prefix{testnet.SubnetA}
	return a, b
}

// childUpAfter polls the daemon until the named Child SA is installed and
// returns how long after start that was (-1 on timeout).
func childUpAfter(socket, child string, start time.Time, timeout time.Duration) time.Duration {
	for time.Since(start) < timeout {
		resp, err := control.Call(socket, control.Request{Command: control.CmdListSAs}, time.Second)
		if err == nil {
			for _, sa := range resp.IKESAs {
				for _, ch := range sa.ChildSAs {
					if ch.Name == child && ch.State == "INSTALLED" {
						return time.Since(start)
					}
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return -1
}

// DELETE of Child and IKE SAs works both ways with strongSwan, and
// close_action = start brings back what strongSwan deleted.
func TestDeleteBothWaysAndCloseActionWithStrongSwan(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := dpdConfigs()
	confA.Children[0].Extra = "close_action = start"
	sw := testnet.StartStrongSwan(t, p.B, nil)
	if err := sw.Load(confB.Swanctl()); err != nil {
		t.Fatal(err)
	}
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	a.initiate("tun", "net")
	swChildren := func() int {
		sas, err := sw.ListSAs()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, sa := range sas {
			n += len(sa.ChildSAs)
		}
		return n
	}
	waitFor := func(what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 10*time.Second {
			if cond() {
				return time.Since(start)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: not within 10 s", what)
		return 0
	}

	// cygnet deletes the Child SA: strongSwan drops its side, the IKE SA stays.
	if _, err := control.Call(a.socket, control.Request{Command: control.CmdTerminate, Child: "net"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	d := waitFor("strongSwan deleting its Child SA", func() bool { return swChildren() == 0 })
	if sas, _ := sw.ListSAs(); len(sas) != 1 {
		t.Fatalf("strongSwan has %d IKE SAs after the Child SA delete", len(sas))
	}
	t.Logf("Child SA deleted by cygnet: gone on strongSwan after %v", d.Round(time.Millisecond))

	// strongSwan deletes the Child SA: close_action = start re-creates it.
	a.initiate("tun", "net")
	_, before := a.waitChild("net", 5*time.Second)
	if _, err := sw.Swanctl("--terminate", "--child", "net", "--timeout", "10"); err != nil {
		t.Fatal(err)
	}
	d = waitFor("cygnet re-creating the Child SA", func() bool {
		for _, sa := range a.listSAs() {
			for _, ch := range sa.ChildSAs {
				if ch.Name == "net" && ch.State == "INSTALLED" && ch.UniqueID != before.UniqueID {
					return true
				}
			}
		}
		return false
	})
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
	t.Logf("Child SA deleted by strongSwan: re-created by close_action = start after %v", d.Round(time.Millisecond))

	// strongSwan deletes the IKE SA: close_action = start re-establishes it.
	ikeBefore, _ := a.waitChild("net", time.Second)
	if err := sw.Terminate("tun"); err != nil {
		t.Fatal(err)
	}
	d = waitFor("cygnet re-establishing the IKE SA", func() bool {
		for _, sa := range a.listSAs() {
			if sa.UniqueID != ikeBefore.UniqueID && sa.State == "ESTABLISHED" && len(sa.ChildSAs) == 1 {
				return true
			}
		}
		return false
	})
	t.Logf("IKE SA deleted by strongSwan: re-established by close_action = start after %v", d.Round(time.Millisecond))

	// cygnet deletes the IKE SA: strongSwan drops it, nothing comes back.
	if err := a.terminate("tun"); err != nil {
		t.Fatal(err)
	}
	d = waitFor("strongSwan deleting its IKE SA", func() bool {
		sas, err := sw.ListSAs()
		return err == nil && len(sas) == 0
	})
	time.Sleep(time.Second)
	if n := len(a.listSAs()); n != 0 {
		t.Fatalf("cygnet has %d IKE SAs after terminating its own", n)
	}
	t.Logf("IKE SA deleted by cygnet: gone on strongSwan after %v", d.Round(time.Millisecond))
}
