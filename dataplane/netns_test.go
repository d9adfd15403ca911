package dataplane

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/netcfg"
	"github.com/cygnet-ipsec/cygnet/sad"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// nsSite is a running data plane inside one namespace of a pair.
type nsSite struct {
	ns   string
	dp   *DataPlane
	site *site
}

// startSite creates the TUN, sockets and routes in ns and starts the data
// plane. remote are the prefixes routed into the TUN (with src as the
// preferred source); mtu 0 derives the TUN MTU from the SAs.
func startSite(t *testing.T, ns string, st *site, remote []netip.Prefix, src4, src6 netip.Addr, mtu int, cfg Config) *nsSite {
	t.Helper()
	cfg.TUNName = "cy0"
	cfg.SPD = st.db
	cfg.FwMark = netcfg.DefaultFwMark
	cfg.Keepalive = 500 * time.Millisecond
	var dp *DataPlane
	err := testnet.InNamespace(ns, func() error {
		var err error
		dp, err = New(cfg)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", ns, err)
	}
	t.Cleanup(func() { dp.Close() })
	for _, sa := range []*SA{st.out, st.in} {
		if err := dp.AddSA(sa, sad.Lifetime{}); err != nil {
			t.Fatal(err)
		}
	}
	if mtu == 0 {
		mtu = InnerMTU(st.out, dp.UnderlayMTU())
	}
	if err := dp.SetMTU(mtu); err != nil {
		t.Fatal(err)
	}
	nc, err := netcfg.New(netcfg.Config{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.LinkUp(dp.TUNName()); err != nil {
		t.Fatal(err)
	}
	if err := nc.AddRule(); err != nil {
		t.Fatal(err)
	}
	var r4, r6 []netip.Prefix
	for _, p := range remote {
		if p.Addr().Is4() {
			r4 = append(r4, p)
		} else {
			r6 = append(r6, p)
		}
	}
	if err := nc.AddRoutes(dp.TUNName(), r4, src4); err != nil {
		t.Fatal(err)
	}
	if err := nc.AddRoutes(dp.TUNName(), r6, src6); err != nil {
		t.Fatal(err)
	}
	if err := nc.Protect(remote); err != nil {
		t.Fatal(err)
	}
	dp.Start()
	return &nsSite{ns: ns, dp: dp, site: st}
}

// tunnelPair runs a tunnel-mode pair over the IPv4 (or IPv6) underlay.
func tunnelPair(t *testing.T, encap, outer6 bool, mtuA int) (*testnet.Pair, *nsSite, *nsSite) {
	t.Helper()
	p := testnet.NewPair(t, testnet.PairOptions{})
	ua, ub := testnet.UnderlayA, testnet.UnderlayB
	if outer6 {
		ua, ub = testnet.UnderlayA6, testnet.UnderlayB6
	}
	spec := linkSpec{mode: ipsec.ModeTunnel, encap: encap, outerA: ua, outerB: ub, spiBase: 0x100,
		netsA: []netip.Prefix{testnet.SubnetA, testnet.SubnetA6}, netsB: []netip.Prefix{testnet.SubnetB, testnet.SubnetB6}}
	a, b := makeLink(t, spec)
	sa := startSite(t, p.A, a, spec.netsB, testnet.HostA, testnet.HostA6, mtuA, Config{})
	sb := startSite(t, p.B, b, spec.netsA, testnet.HostB, testnet.HostB6, 0, Config{})
	return p, sa, sb
}

func TestNetnsTunnel(t *testing.T) {
	testnet.RequireRoot(t)
	for _, c := range []struct {
		name          string
		encap, outer6 bool
	}{
		{"raw-ipv4", false, false},
		{"udp-ipv4", true, false},
		{"raw-ipv6", false, true},
		{"udp-ipv6", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, sa, sb := tunnelPair(t, c.encap, c.outer6, 0)
			capt := p.Capture(p.A)
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
			testnet.PingFrom(t, p.A, testnet.HostA6, testnet.HostB6, 3)
			size := int64(10 << 20)
			if c.outer6 {
				size = 2 << 20
			}
			res := testnet.TCPTransfer(t, p.A, p.B, testnet.HostB, size)
			t.Logf("%s: %.0f Mbit/s", c.name, res.Mbps())
			path, err := capt.Stop()
			if err != nil {
				t.Fatal(err)
			}
			sum := testnet.AssertOnlyEncrypted(t, path)
			if c.encap && sum.ESPInUDP == 0 || !c.encap && sum.ESP == 0 {
				t.Errorf("capture: %s", sum)
			}
			for _, s := range []*nsSite{sa, sb} {
				st := s.dp.Stats()
				t.Logf("%s: %+v", s.ns, st)
				if st.AuthFailed+st.Replay+st.Malformed+st.PolicyMismatch+st.SendErrors != 0 {
					t.Errorf("%s: unexpected drops %+v", s.ns, st)
				}
				c := s.dp.inbound(ipsec.ProtoESP, s.site.in.SPI()).Counters()
				if c.Packets == 0 {
					t.Errorf("%s: inbound SA counted nothing", s.ns)
				}
			}
			if c.encap {
				// Keepalives flow every 500 ms in this test.
				deadline := time.Now().Add(3 * time.Second)
				for sb.dp.Stats().Keepalives == 0 && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if sb.dp.Stats().Keepalives == 0 {
					t.Error("no NAT-keepalive received")
				}
			}
		})
	}
}

func TestNetnsTransport(t *testing.T) {
	testnet.RequireRoot(t)
	for _, c := range []struct {
		name         string
		encap, six   bool
		ua, ub       netip.Addr
		wantESPInUDP bool
	}{
		{"raw-ipv4", false, false, testnet.UnderlayA, testnet.UnderlayB, false},
		{"udp-ipv4", true, false, testnet.UnderlayA, testnet.UnderlayB, true},
		{"raw-ipv6", false, true, testnet.UnderlayA6, testnet.UnderlayB6, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			spec := linkSpec{mode: ipsec.ModeTransport, encap: c.encap, outerA: c.ua, outerB: c.ub, spiBase: 0x300,
				netsA: []netip.Prefix{netip.PrefixFrom(c.ua, c.ua.BitLen())}, netsB: []netip.Prefix{netip.PrefixFrom(c.ub, c.ub.BitLen())}}
			a, b := makeLink(t, spec)
			startSite(t, p.A, a, spec.netsB, c.ua, c.ua, 0, Config{})
			startSite(t, p.B, b, spec.netsA, c.ub, c.ub, 0, Config{})
			capt := p.Capture(p.A)
			testnet.Ping(t, p.A, c.ub, 3)
			testnet.TCPTransfer(t, p.A, p.B, c.ub, 1<<20)
			path, err := capt.Stop()
			if err != nil {
				t.Fatal(err)
			}
			sum := testnet.AssertOnlyEncrypted(t, path, spec.netsA[0], spec.netsB[0])
			if c.wantESPInUDP != (sum.ESPInUDP > 0) {
				t.Errorf("capture: %s", sum)
			}
		})
	}
}

func TestNetnsTooBig(t *testing.T) {
	testnet.RequireRoot(t)
	// A's TUN takes 1500-octet packets; the SA carries fewer, so the data plane answers DF packets with ICMP.
	p, sa, _ := tunnelPair(t, false, false, 1500)
	// Without DF the packet is fragmented before encryption and crosses
	// (first, before the ICMP below teaches the kernel the path MTU).
	out, err := testnet.ExecIn(p.A, 10*time.Second, "ping", "-n", "-c", "2", "-W", "2", "-M", "dont", "-s", "1472", "-I", testnet.HostA.String(), testnet.HostB.String())
	if err != nil {
		t.Errorf("ping -M dont -s 1472: %v\n%s", err, out)
	}
	if st := sa.dp.Stats(); st.Fragmented == 0 {
		t.Errorf("nothing fragmented: %+v", st)
	}
	out, _ = testnet.ExecIn(p.A, 10*time.Second, "ping", "-n", "-c", "2", "-W", "1", "-M", "do", "-s", "1472", "-I", testnet.HostA.String(), testnet.HostB.String())
	limit := InnerMTU(sa.site.out, DefaultUnderlayMTU) // 1443 for raw IPv4 and AES-GCM
	if !strings.Contains(out, fmt.Sprintf("mtu = %d", limit)) {
		t.Errorf("ping -M do -s 1472 did not get fragmentation needed with MTU %d:\n%s", limit, out)
	}
	t.Logf("ping -M do -s 1472:\n%s", out)
	if st := sa.dp.Stats(); st.TooBig == 0 {
		t.Errorf("no too-big count: %+v", st)
	}
	// IPv6: packet too big.
	out, _ = testnet.ExecIn(p.A, 10*time.Second, "ping", "-n", "-c", "2", "-W", "1", "-s", "1452", "-I", testnet.HostA6.String(), testnet.HostB6.String())
	if !strings.Contains(out, fmt.Sprintf("mtu=%d", limit)) {
		t.Errorf("IPv6 ping -s 1452 did not get packet too big with MTU %d:\n%s", limit, out)
	}
}

func TestNetnsDiscardAndTamper(t *testing.T) {
	testnet.RequireRoot(t)
	p, sa, sb := tunnelPair(t, true, false, 0)
	// Discard HostB from A: the policy outranks the protect policy.
	pol := append(sa.site.db.Table().Policies(), spd.Policy{ID: 9, Direction: spd.Out, Action: spd.Discard, Priority: 1,
		Selectors: []spd.TrafficSelector{spd.NewSelector(testnet.SubnetA, netip.PrefixFrom(testnet.HostB, 32))}})
	if err := sa.site.db.Replace(pol); err != nil {
		t.Fatal(err)
	}
	if r, _ := testnet.TryPing(p.A, testnet.HostA, testnet.HostB, 2); r.Received != 0 {
		t.Errorf("discarded traffic answered: %+v", r)
	}
	if st := sa.dp.Stats(); st.Discarded < 2 {
		t.Errorf("discards not counted: %+v", st)
	}

	// A forged ESP-in-UDP packet with B's SPI fails authentication.
	forged := make([]byte, 120)
	binary.BigEndian.PutUint32(forged[0:], sb.site.in.SPI())
	binary.BigEndian.PutUint32(forged[4:], 1)
	err := testnet.InNamespace(p.A, func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(testnet.UnderlayB, 4500)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(forged)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for sb.dp.Stats().AuthFailed == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := sb.dp.Stats(); st.AuthFailed != 1 {
		t.Errorf("forged packet: %+v", st)
	}
}

func TestNetnsIKETransport(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	type msg struct {
		b             []byte
		local, remote netip.AddrPort
	}
	got := make(chan msg, 4)
	start := func(ns string) *DataPlane {
		var dp *DataPlane
		err := testnet.InNamespace(ns, func() error {
			var err error
			dp, err = New(Config{TUNName: "cy0", SPD: &spd.DB{}, IKE: func(b []byte, l, r netip.AddrPort) {
				got <- msg{append([]byte(nil), b...), l, r}
			}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dp.Close() })
		dp.Start()
		return dp
	}
	dpA := start(p.A)
	start(p.B)
	for _, remote := range []netip.AddrPort{
		netip.AddrPortFrom(testnet.UnderlayB, 500), netip.AddrPortFrom(testnet.UnderlayB, 4500),
		netip.AddrPortFrom(testnet.UnderlayB6, 500), netip.AddrPortFrom(testnet.UnderlayB6, 4500),
	} {
		local, err := dpA.Source(remote)
		if err != nil {
			t.Fatal(err)
		}
		wantLocal := testnet.UnderlayA
		if remote.Addr().Is6() {
			wantLocal = testnet.UnderlayA6
		}
		if local != netip.AddrPortFrom(wantLocal, remote.Port()) {
			t.Errorf("Source(%v) = %v", remote, local)
		}
		m := []byte("IKE message to " + remote.String())
		if err := dpA.SendIKE(m, local, remote); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-got:
			if string(g.b) != string(m) || g.local != remote || g.remote != local {
				t.Errorf("B got %q from %v on %v", g.b, g.remote, g.local)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("B got nothing for %v", remote)
		}
	}
}

// TestNetnsStopped: after the data plane on A stops (its TUN disappears,
// as when the daemon is killed), traffic to B's protected subnet fails
// locally and nothing leaves A in clear, although a default route toward
// B would carry it.
func TestNetnsStopped(t *testing.T) {
	testnet.RequireRoot(t)
	p, sa, _ := tunnelPair(t, false, false, 0)
	p.Exec(p.A, "ip", "route", "add", "default", "via", testnet.UnderlayB.String())
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 1)
	if err := sa.dp.Close(); err != nil {
		t.Fatal(err)
	}
	capt := p.Capture(p.A)
	if r, _ := testnet.TryPing(p.A, netip.Addr{}, testnet.HostB, 2); r.Received != 0 {
		t.Errorf("ping answered after stop: %s", r.Output)
	}
	sum, err := capt.Summary(testnet.ProtectedSubnets()...)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Plaintext != 0 {
		t.Errorf("plaintext left A after stop: %s", sum)
	}
}
