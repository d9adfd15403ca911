package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/daemon"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// natKeepalive is the NAT-keepalive interval of both implementations in the
// NAT tests (20 s by default), so a short test sees several.
const natKeepalive = 2 * time.Second

// natCase is a client behind the NAT router (namespace A) and a server
// outside it (B).
type natCase struct{ client, server string }

func (c natCase) name() string { return c.client + "_behind_NAT_to_" + c.server }

// natFigures is what one NAT case measured, for the closing summary.
type natFigures struct {
	setup                      time.Duration
	pingRecovery, tcpRecovery  time.Duration
	pingLost                   int
	tcpBase, tcpFlushed        time.Duration
	ports                      []uint16 // A's public IKE port as B saw it: at setup, after each flush
	keepalivesA, keepalivesB   int
	icmpErrors                 int
	ikeOn500, ikeOn4500, espIn int
}

// TestNATTraversal runs a tunnel through a masquerading NAT router ("nft
// masquerade random": new mappings get random public ports) with cygnet
// and strongSwan on either side, checks that both ends see the NAT, that
// IKE floats to 4500 and ESP is UDP-encapsulated, that keepalives flow, and
// that the tunnel recovers when the router forgets its mappings (conntrack
// -F) in the middle of a ping series and of a TCP transfer.
func TestNATTraversal(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireTools(t, "nft", "conntrack", "tcpdump")
	t.Setenv(daemon.NATKeepaliveEnv, natKeepalive.String())
	cases := []natCase{
		{implCygnet, implCygnet},
		{implCygnet, implStrongSwan},
		{implStrongSwan, implCygnet},
	}
	results := map[string]natFigures{}
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			if c.client == implStrongSwan || c.server == implStrongSwan {
				testnet.RequireStrongSwan(t)
			}
			results[c.name()] = runNAT(t, c)
		})
	}
	for _, c := range cases {
		if f, ok := results[c.name()]; ok {
			t.Logf("%-40s setup %v; flush during pings: recovered in %v (%d lost); flush during TCP: %v (undisturbed %v, stalled about %v); A's public port %v; keepalives A->B %d, B->A %d; on B's veth IKE/500 %d, IKE/4500 %d, ESP-in-UDP %d, ICMP errors %d",
				c.name(), f.setup.Round(time.Millisecond), f.pingRecovery.Round(time.Millisecond), f.pingLost,
				f.tcpFlushed.Round(time.Millisecond), f.tcpBase.Round(time.Millisecond), f.tcpRecovery.Round(time.Millisecond),
				f.ports, f.keepalivesA, f.keepalivesB, f.ikeOn500, f.ikeOn4500, f.espIn, f.icmpErrors)
		}
	}
}

// startNATEnd starts impl with the short keepalive interval.
func startNATEnd(t *testing.T, impl, ns, conf string) tunnelEnd {
	t.Helper()
	if impl == implCygnet {
		return cygnetEnd{startCygnet(t, ns, conf, nil, "")}
	}
	sw := testnet.StartStrongSwan(t, ns, &testnet.StrongSwanOptions{
		ExtraConf: fmt.Sprintf("charon {\n  keep_alive = %ds\n}\n", int(natKeepalive/time.Second)),
	})
	if err := sw.Load(conf); err != nil {
		t.Fatal(err)
	}
	return swanEnd{sw}
}

// natView is what the NAT checks need of an end's IKE SA and its Child
// SA "net" (child fields are zero while the Child SA is being rekeyed:
// strongSwan with kernel-libipsec cannot update an SA's addresses, so it
// rekeys its Child SAs when it follows a peer to a new port).
type natView struct {
	natLocal, natRemote bool
	local, remote       netip.AddrPort
	childUp, encap      bool
}

// tryViewNAT returns the ESTABLISHED IKE SA's view, false when there is none.
func tryViewNAT(e tunnelEnd) (natView, bool) {
	switch e := e.(type) {
	case cygnetEnd:
		resp, err := control.Call(e.socket, control.Request{Command: control.CmdListSAs}, 5*time.Second)
		if err != nil {
			return natView{}, false
		}
		for _, sa := range resp.IKESAs {
			if sa.State != "ESTABLISHED" {
				continue
			}
			l, _ := netip.ParseAddr(sa.LocalHost)
			r, _ := netip.ParseAddr(sa.RemoteHost)
			v := natView{natLocal: sa.NATLocal, natRemote: sa.NATRemote, local: netip.AddrPortFrom(l, sa.LocalPort), remote: netip.AddrPortFrom(r, sa.RemotePort)}
			for _, ch := range sa.ChildSAs {
				if ch.Name == "net" && ch.State == "INSTALLED" {
					v.childUp, v.encap = true, ch.Encap
				}
			}
			return v, true
		}
	case swanEnd:
		sas, err := e.ListSAs()
		if err != nil {
			return natView{}, false
		}
		for _, sa := range sas {
			if sa.State != "ESTABLISHED" {
				continue
			}
			v := natView{natLocal: sa.NATLocal, natRemote: sa.NATRemote, local: netip.AddrPortFrom(sa.LocalHost, sa.LocalPort), remote: netip.AddrPortFrom(sa.RemoteHost, sa.RemotePort)}
			for _, ch := range sa.ChildSAs {
				if ch.Name == "net" && ch.State == "INSTALLED" {
					v.childUp, v.encap = true, ch.Encap
				}
			}
			return v, true
		}
	}
	return natView{}, false
}

func viewNAT(t *testing.T, e tunnelEnd) natView {
	t.Helper()
	v, ok := tryViewNAT(e)
	if !ok || !v.childUp {
		t.Fatalf("%s: no ESTABLISHED IKE SA with an INSTALLED Child SA net", e.impl())
	}
	return v
}

func runNAT(t *testing.T, c natCase) natFigures {
	var f natFigures
	p := testnet.NewPair(t, testnet.PairOptions{NAT: true})
	a, b := pairConfigs("psk")
	a.LocalAddrs = "" // A's own address is behind the NAT
	a.Children, b.Children = a.Children[:1], b.Children[:1]
	server := startNATEnd(t, c.server, p.B, b.Swanctl())
	client := startNATEnd(t, c.client, p.A, a.Swanctl())
	capture := p.Capture(p.B)

	var err error
	if f.setup, err = client.initiate("tun", "net"); err != nil {
		t.Fatalf("initiate through the NAT: %v", err)
	}
	if _, err := server.view("net", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	cv, sv := viewNAT(t, client), viewNAT(t, server)
	t.Logf("client %s: nat_local %v nat_remote %v, IKE %v -> %v; server %s: nat_local %v nat_remote %v, IKE %v -> %v",
		c.client, cv.natLocal, cv.natRemote, cv.local, cv.remote, c.server, sv.natLocal, sv.natRemote, sv.local, sv.remote)
	// strongSwan with kernel-libipsec fakes its NAT-D source hash to force
	// UDP encapsulation, so the far end of a strongSwan also reports
	// nat_remote; the real NAT is in front of the client either way.
	if !cv.natLocal || !sv.natRemote || sv.natLocal {
		t.Errorf("NAT detection: client nat_local %v (want true), server nat_remote %v (want true), server nat_local %v (want false)", cv.natLocal, sv.natRemote, sv.natLocal)
	}
	if cv.local.Port() != 4500 || cv.remote.Port() != 4500 || sv.local.Port() != 4500 || sv.remote.Addr() != testnet.UnderlayA {
		t.Errorf("IKE endpoints: client %v -> %v, server %v -> %v; want 4500 both ways, the server seeing %s", cv.local, cv.remote, sv.local, sv.remote, testnet.UnderlayA)
	}
	if !cv.encap || !sv.encap {
		t.Errorf("Child SA encap: client %v server %v", cv.encap, sv.encap)
	}
	f.ports = append(f.ports, sv.remote.Port())

	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
	testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
	base := testnet.TCPTransfer(t, p.A, p.B, testnet.HostB, 8<<20)
	f.tcpBase = base.Duration

	// The router forgets every mapping in the middle of a ping series.
	var port uint16
	f.pingRecovery, f.pingLost, port = flushDuringPings(t, p, server, f.ports[0])
	f.ports = append(f.ports, port)

	// ... and in the middle of a TCP transfer.
	f.tcpFlushed, f.tcpRecovery, port = flushDuringTransfer(t, p, client, server, port, f.tcpBase)
	f.ports = append(f.ports, port)
	testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
	if err := poll(10*time.Second, func() bool {
		cv, ok1 := tryViewNAT(client)
		sv, ok2 := tryViewNAT(server)
		return ok1 && ok2 && cv.childUp && sv.childUp && sv.remote.Port() == port
	}); err != nil {
		t.Errorf("after the flushes: no INSTALLED Child SA on both ends with the server at A's port %d", port)
	}

	// Idle: keepalives hold the (new) mapping.
	f.keepalivesA, f.keepalivesB = waitKeepalives(t, capture.Path, 2, 4*natKeepalive)
	for _, e := range []tunnelEnd{client, server} {
		re := natLog
		if e.impl() == implStrongSwan {
			re = swanNATLog
		}
		t.Logf("%s log on NAT mapping changes:\n%s", e.impl(), grepLines(e.logText(), re))
	}
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	testnet.AssertOnlyEncrypted(t, path)
	onlyNATT(t, path, &f)
	if f.keepalivesA < 2 {
		t.Errorf("%d NAT-keepalives from A on B's veth, want at least 2 (interval %v)", f.keepalivesA, natKeepalive)
	}
	return f
}

// pingLine is one echo reply of `ping -D`.
var pingLine = regexp.MustCompile(`^\[(\d+)\.(\d+)\] .*icmp_seq=(\d+)`)

// flushDuringPings runs pings from A to B every 200 ms, flushes the
// router's conntrack table once replies flow, and returns how long after
// the flush the first reply came and how many pings were lost.
func flushDuringPings(t *testing.T, p *testnet.Pair, server tunnelEnd, oldPort uint16) (time.Duration, int, uint16) {
	t.Helper()
	const count = 60
	ping := p.Start(p.A, "ping", "-n", "-D", "-i", "0.2", "-W", "1", "-c", strconv.Itoa(count), "-I", testnet.HostA.String(), testnet.HostB.String())
	replies := func() int { return len(replyTimes(ping.Output())) }
	if err := poll(5*time.Second, func() bool { return replies() >= 5 }); err != nil {
		t.Fatalf("no ping replies before the flush:\n%s", ping.Output())
	}
	flushed := time.Now()
	p.Exec(p.R, "conntrack", "-F")
	followed := waitServerMoved(t, server, oldPort)
	t.Logf("flush during pings: the server followed A's new mapping %v after the flush", time.Since(flushed).Round(time.Millisecond))
	if err := ping.Wait(time.Duration(count)*200*time.Millisecond + 15*time.Second); err != nil && !strings.Contains(ping.Output(), "received") {
		t.Fatalf("ping: %v\n%s", err, ping.Output())
	}
	times := replyTimes(ping.Output())
	var recovered time.Duration
	for _, at := range times {
		if at.After(flushed) {
			recovered = at.Sub(flushed)
			break
		}
	}
	lost := count - len(times)
	t.Logf("flush during pings: first reply %v after the flush, %d of %d pings lost", recovered.Round(time.Millisecond), lost, count)
	if recovered == 0 {
		t.Fatalf("no ping reply after the flush:\n%s", ping.Output())
	}
	if recovered > 10*time.Second {
		t.Errorf("tunnel took %v to recover from the NAT flush", recovered)
	}
	// Pings are lost while the tunnel recovers, none after.
	if maxLost := int(recovered/(200*time.Millisecond)) + 3; lost > maxLost {
		t.Errorf("%d pings lost, want at most %d for a %v outage", lost, maxLost, recovered.Round(time.Millisecond))
	}
	return recovered, lost, followed
}

// replyTimes returns the arrival times of the echo replies in ping -D output.
func replyTimes(out string) []time.Time {
	var ts []time.Time
	for _, l := range strings.Split(out, "\n") {
		m := pingLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		frac := m[2]
		for len(frac) < 9 {
			frac += "0"
		}
		ns, _ := strconv.ParseInt(frac[:9], 10, 64)
		ts = append(ts, time.Unix(sec, ns))
	}
	return ts
}

// flushDuringTransfer sends 32 MiB from A to B over TCP and flushes the
// router's mappings once the client's Child SA has sent a few hundred
// packets of it. It returns the transfer's duration and its stall: the
// duration less what the same amount takes undisturbed (base for 8 MiB).
func flushDuringTransfer(t *testing.T, p *testnet.Pair, client, server tunnelEnd, oldPort uint16, base time.Duration) (time.Duration, time.Duration, uint16) {
	t.Helper()
	const size = 32 << 20
	start, err := client.view("net", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		r   testnet.TransferResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := testnet.TryTCPTransfer(p.A, p.B, testnet.HostB, size, 90*time.Second)
		done <- result{r, err}
	}()
	var res *result
	err = poll(20*time.Second, func() bool {
		select {
		case r := <-done:
			res = &r
			return true
		default:
		}
		v, err := client.view("net", time.Second)
		return err == nil && v.PacketsOut > start.PacketsOut+300
	})
	if res != nil {
		t.Fatalf("the transfer ended before the flush: %+v", res)
	}
	if err != nil {
		t.Fatalf("the transfer does not start: %v", err)
	}
	flushed := time.Now()
	p.Exec(p.R, "conntrack", "-F")
	port := waitServerMoved(t, server, oldPort)
	t.Logf("flush during TCP: the server followed A's new mapping %v after the flush", time.Since(flushed).Round(time.Millisecond))
	r := <-done
	if r.err != nil {
		t.Fatalf("TCP transfer across the NAT flush: %v", r.err)
	}
	stall := r.r.Duration - base*4
	t.Logf("flush during a 32 MiB TCP transfer: done in %v (%.1f Mbit/s), about %v more than undisturbed", r.r.Duration.Round(time.Millisecond), r.r.Mbps(), stall.Round(time.Millisecond))
	return r.r.Duration, max(stall, 0), port
}

// waitServerMoved waits until the server's IKE SA follows A to a public
// port other than old and returns it.
func waitServerMoved(t *testing.T, server tunnelEnd, old uint16) uint16 {
	t.Helper()
	var now uint16
	err := poll(15*time.Second, func() bool {
		v, ok := tryViewNAT(server)
		now = v.remote.Port()
		return ok && now != old
	})
	if err != nil {
		// masquerade random may, rarely, hand out the same port again.
		t.Logf("the server still sends to A's public port %d after the flush", old)
	} else {
		t.Logf("the server follows A from public port %d to %d", old, now)
	}
	return now
}

// waitKeepalives polls the running capture until want NAT-keepalives from
// A (at most timeout) and returns those from A and from B.
func waitKeepalives(t *testing.T, path string, want int, timeout time.Duration) (fromA, fromB int) {
	t.Helper()
	_ = poll(timeout, func() bool {
		fromA, fromB = countKeepalives(path)
		return fromA >= want
	})
	t.Logf("NAT-keepalives on B's veth: %d from A, %d from B (interval %v)", fromA, fromB, natKeepalive)
	return fromA, fromB
}

func countKeepalives(path string) (fromA, fromB int) {
	pc, err := testnet.ReadPcapFile(path)
	if pc == nil || (err != nil && !errors.Is(err, testnet.ErrTruncatedPcap)) {
		return 0, 0
	}
	for _, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, nil)
		if d.Class != testnet.ClassNATKeepalive {
			continue
		}
		if d.Src == testnet.UnderlayA {
			fromA++
		} else {
			fromB++
		}
	}
	return fromA, fromB
}

// onlyNATT checks that B's veth carried nothing but IKE on 500/4500,
// ESP-in-UDP and keepalives on 4500, link housekeeping, and ICMP errors
// from the router (B's packets to a public port the flush unmapped).
func onlyNATT(t *testing.T, path string, f *natFigures) {
	t.Helper()
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, testnet.ProtectedSubnets())
		switch {
		case d.Class == testnet.ClassLinkControl, d.Class == testnet.ClassNATKeepalive:
		case d.Class == testnet.ClassIKE && (d.SrcPort == 500 || d.DstPort == 500):
			f.ikeOn500++
		case d.Class == testnet.ClassIKE:
			f.ikeOn4500++
		case d.Class == testnet.ClassESPInUDP:
			f.espIn++
		case d.Proto == 1 && d.Src == testnet.UnderlayA && d.Dst == testnet.UnderlayB:
			f.icmpErrors++
		default:
			others = append(others, d.String())
		}
	}
	if len(others) > 0 {
		t.Errorf("B's veth carried %d packets that are not IKE, ESP-in-UDP or keepalives, e.g. %s", len(others), strings.Join(others[:min(5, len(others))], "; "))
	}
	if f.ikeOn4500 == 0 || f.espIn == 0 {
		t.Errorf("capture: %d IKE messages on 4500, %d ESP-in-UDP", f.ikeOn4500, f.espIn)
	}
	t.Logf("on B's veth: IKE on 500 %d, IKE on 4500 %d, ESP-in-UDP %d, keepalives %d/%d, ICMP errors from the router %d",
		f.ikeOn500, f.ikeOn4500, f.espIn, f.keepalivesA, f.keepalivesB, f.icmpErrors)
}

var (
	natLog     = regexp.MustCompile(`liveness|peer moved|new source`)
	swanNATLog = regexp.MustCompile(`endpoint changed|INFORMATIONAL|DPD|liveness`)
)

// grepLines returns the lines of text that match re.
func grepLines(text string, re *regexp.Regexp) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if re.MatchString(l) {
			out = append(out, "  "+l)
		}
	}
	return strings.Join(out, "\n")
}

// poll calls cond every 20 ms until it is true or timeout passes.
func poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
