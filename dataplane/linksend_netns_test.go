package dataplane

import (
	"encoding/binary"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/netcfg"
	"github.com/cygnet-ipsec/cygnet/packet"
	"golang.org/x/sys/unix"
)

// rawPair is tunnelPair for raw ESP with each end's Config.
func rawPair(t *testing.T, outer6 bool, cfgA, cfgB Config) (*testnet.Pair, *nsSite, *nsSite) {
	t.Helper()
	p := testnet.NewPair(t, testnet.PairOptions{})
	ua, ub := testnet.UnderlayA, testnet.UnderlayB
	if outer6 {
		ua, ub = testnet.UnderlayA6, testnet.UnderlayB6
	}
	spec := linkSpec{mode: ipsec.ModeTunnel, outerA: ua, outerB: ub, spiBase: 0x300,
		netsA: []netip.Prefix{testnet.SubnetA, testnet.SubnetA6}, netsB: []netip.Prefix{testnet.SubnetB, testnet.SubnetB6}}
	a, b := makeLink(t, spec)
	sa := startSite(t, p.A, a, spec.netsB, testnet.HostA, testnet.HostA6, 0, cfgA)
	sb := startSite(t, p.B, b, spec.netsA, testnet.HostB, testnet.HostB6, 0, cfgB)
	return p, sa, sb
}

// espCounter counts, in ns, the ESP packets that pass one of netfilter's
// hooks: output (what the IP stack sent; the link socket's packets do not
// pass it) or input (what it received; AF_XDP's packets do not).
type espCounter struct {
	p     *testnet.Pair
	ns    string
	chain string
}

func countESP(t *testing.T, p *testnet.Pair, ns, hook string) *espCounter {
	t.Helper()
	testnet.RequireTools(t, "nft")
	chain := "esp" + hook
	p.Exec(ns, "nft", "add table inet cylink")
	p.Exec(ns, "nft", "add chain inet cylink "+chain+" { type filter hook "+hook+" priority 0 ; }")
	p.Exec(ns, "nft", "add rule inet cylink "+chain+" meta l4proto esp counter")
	return &espCounter{p: p, ns: ns, chain: chain}
}

var nftPackets = regexp.MustCompile(`counter packets (\d+)`)

func (e *espCounter) packets(t *testing.T) uint64 {
	t.Helper()
	out := e.p.Exec(e.ns, "nft", "list chain inet cylink "+e.chain)
	m := nftPackets.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no counter in %q", out)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Raw ESP goes through the link socket once the peer's MAC is known:
// pings both ways and a TCP transfer over IPv4 and IPv6 outer headers,
// the receiver's capture shows only ESP, and what the IP stack sent
// (netfilter's OUTPUT hook) plus what the link socket sent is every sealed
// packet.
func TestNetnsLinkSend(t *testing.T) {
	testnet.RequireRoot(t)
	for _, outer6 := range []bool{false, true} {
		name := "ipv4"
		if outer6 {
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			p, sa, sb := rawPair(t, outer6, Config{LinkSend: true}, Config{LinkSend: true})
			ipA := countESP(t, p, p.A, "output")
			ipB := countESP(t, p, p.B, "output")
			capt := p.Capture(p.B)
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
			testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
			testnet.PingFrom(t, p.A, testnet.HostA6, testnet.HostB6, 3)
			testnet.PingFrom(t, p.B, testnet.HostB6, testnet.HostA6, 3)
			res := testnet.TCPTransfer(t, p.A, p.B, testnet.HostB, 4<<20)
			t.Logf("%s: %.0f Mbit/s", name, res.Mbps())
			path, err := capt.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if sum := testnet.AssertOnlyEncrypted(t, path); sum.ESP == 0 {
				t.Errorf("capture at B: %s", sum)
			}
			for _, c := range []struct {
				s  *nsSite
				ip *espCounter
			}{{sa, ipA}, {sb, ipB}} {
				st := c.s.dp.Stats()
				viaIP := c.ip.packets(t)
				t.Logf("%s: %d sealed, %d through the link socket, %d through the IP stack", c.s.ns, st.OutPackets, st.LinkSent, viaIP)
				if st.AuthFailed+st.Replay+st.Malformed+st.PolicyMismatch+st.SendErrors != 0 {
					t.Errorf("%s: unexpected drops %+v", c.s.ns, st)
				}
				// The first packets may take the IP path (the neighbour
				// entry is made by it); the bulk must not.
				if st.LinkSent == 0 || st.LinkSent < st.OutPackets/2 {
					t.Errorf("%s: %d of %d sealed packets through the link socket", c.s.ns, st.LinkSent, st.OutPackets)
				}
				if st.LinkSent+viaIP != st.OutPackets {
					t.Errorf("%s: link %d + IP stack %d != sealed %d", c.s.ns, st.LinkSent, viaIP, st.OutPackets)
				}
			}
		})
	}
}

// Without a neighbour entry the IP stack sends (and resolves the peer),
// and the link socket takes over once the entry is there; without LinkSend,
// everything on the IP socket.
func TestNetnsLinkSendFallback(t *testing.T) {
	testnet.RequireRoot(t)
	t.Run("no-neighbour", func(t *testing.T) {
		p, sa, _ := rawPair(t, false, Config{LinkSend: true}, Config{LinkSend: true})
		ipA := countESP(t, p, p.A, "output")
		// Nothing has been sealed yet, so the data plane has not looked
		// the peer up: forget what the kernel knows of it.
		p.Exec(p.A, "ip", "neigh", "flush", "dev", p.IfA)
		testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 1)
		if n := ipA.packets(t); n == 0 {
			t.Fatalf("first ESP packet did not take the IP path (link sent %d)", sa.dp.Stats().LinkSent)
		}
		if out := p.Exec(p.A, "ip", "neigh", "show", "dev", p.IfA); !strings.Contains(out, testnet.UnderlayB.String()) {
			t.Fatalf("the IP path did not resolve the peer: %q", out)
		}
		time.Sleep(2 * linkNoNeighTTL) // the negative answer's TTL, not a synchronisation
		before := sa.dp.Stats().LinkSent
		testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 4)
		// The first run after the lookup takes the IP path (linkSender).
		if sa.dp.Stats().LinkSent-before < 3 {
			t.Errorf("after the neighbour appeared: %d packets through the link socket", sa.dp.Stats().LinkSent-before)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		p, sa, sb := rawPair(t, false, Config{}, Config{})
		ipA := countESP(t, p, p.A, "output")
		testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
		testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
		for _, s := range []*nsSite{sa, sb} {
			if st := s.dp.Stats(); st.LinkSent != 0 {
				t.Errorf("%s: %d through the link socket without LinkSend", s.ns, st.LinkSent)
			}
		}
		if n, out := ipA.packets(t), sa.dp.Stats().OutPackets; n != out {
			t.Errorf("IP stack sent %d of %d", n, out)
		}
	})
	t.Run("mac-change", func(t *testing.T) {
		// A wrong MAC (a peer replaced behind the same address) is
		// followed within the hop's TTL once the neighbour table is
		// right again.
		p, sa, _ := rawPair(t, false, Config{LinkSend: true}, Config{LinkSend: true})
		p.Exec(p.A, "ip", "neigh", "replace", testnet.UnderlayB.String(), "lladdr", "02:00:00:00:00:99", "dev", p.IfA, "nud", "permanent")
		// The first echo after the lookup goes through the IP stack (and
		// so to the wrong MAC too, from the neighbour table); the others
		// through the link socket.
		if r, err := testnet.TryPing(p.A, testnet.HostA, testnet.HostB, 3); err != nil || r.Received == 3 {
			t.Fatalf("ping with the peer's MAC wrong: %+v, %v", r, err)
		}
		if sa.dp.Stats().LinkSent == 0 {
			t.Fatal("the link socket was not used")
		}
		mac := strings.TrimSpace(p.Exec(p.B, "cat", "/sys/class/net/"+p.IfB+"/address"))
		p.Exec(p.A, "ip", "neigh", "replace", testnet.UnderlayB.String(), "lladdr", mac, "dev", p.IfA, "nud", "permanent")
		// linkHopTTL (1 s) and slack for a loaded machine.
		const within = 8 * time.Second
		deadline := time.Now().Add(within)
		for {
			r, err := testnet.TryPing(p.A, testnet.HostA, testnet.HostB, 3)
			if err == nil && r.Received == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pings still lost %v after the MAC was corrected: %+v, %v", within, r, err)
			}
		}
	})
}

// The resolver finds the next hop the kernel would use, and refuses what
// the link socket cannot serve.
func TestNetnsLinkResolver(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	p.Exec(p.A, "ip", "tuntap", "add", "dev", "cyip0", "mode", "tun")
	p.Exec(p.A, "ip", "link", "set", "cyip0", "up")
	p.Exec(p.A, "ip", "route", "add", "10.99.77.0/24", "dev", "cyip0")
	p.Exec(p.A, "ip", "route", "add", "10.99.78.0/24", "via", testnet.UnderlayB.String())
	p.Exec(p.A, "ip", "neigh", "replace", testnet.UnderlayB.String(), "lladdr", "02:00:00:00:00:42", "dev", p.IfA, "nud", "permanent")
	var l4, l6 *linkSender
	err := testnet.InNamespace(p.A, func() error {
		var err error
		var n atomic.Uint64
		if l4, err = newLinkSender(false, netcfg.DefaultFwMark, 8, &n); err != nil {
			return err
		}
		l6, err = newLinkSender(true, netcfg.DefaultFwMark, 8, &n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l4.close()
	defer l6.close()
	src := testnet.UnderlayA
	for _, c := range []struct {
		dst     string
		ok      bool
		why     string
		wantMAC string
	}{
		{dst: testnet.UnderlayB.String(), ok: true, wantMAC: "02:00:00:00:00:42"},
		{dst: "10.99.78.5", ok: true, wantMAC: "02:00:00:00:00:42"}, // through the gateway
		{dst: "10.99.77.1", why: "not an Ethernet link"},
		{dst: testnet.UnderlayA.String(), why: "not a unicast route"},
		{dst: "10.99.0.77", why: whyNoNeighbour},
	} {
		h := l4.resolve(src, netip.MustParseAddr(c.dst))
		if h.ok != c.ok || !strings.Contains(h.why, c.why) {
			t.Errorf("%s: ok %v why %q, want ok %v why %q", c.dst, h.ok, h.why, c.ok, c.why)
			continue
		}
		if c.ok && net.HardwareAddr(h.mac[:]).String() != c.wantMAC {
			t.Errorf("%s: MAC %v, want %s", c.dst, net.HardwareAddr(h.mac[:]), c.wantMAC)
		}
		if c.ok && h.mtu != 1500 {
			t.Errorf("%s: MTU %d", c.dst, h.mtu)
		}
	}
	// Many peers behind one gateway share one neighbour table dump.
	dumps := l4.nlr.dumps
	for i := range 50 {
		if h := l4.resolve(src, netip.AddrFrom4([4]byte{10, 99, 78, byte(10 + i)})); !h.ok {
			t.Fatalf("peer %d behind the gateway: %s", i, h.why)
		}
	}
	if n := l4.nlr.dumps - dumps; n > 1 {
		t.Errorf("50 peers behind one gateway: %d neighbour table dumps", n)
	}
	// IPv6: the neighbour entry comes from neighbour discovery.
	testnet.PingFrom(t, p.A, testnet.UnderlayA6, testnet.UnderlayB6, 1)
	h := l6.resolve(testnet.UnderlayA6, testnet.UnderlayB6)
	mac := strings.TrimSpace(p.Exec(p.B, "cat", "/sys/class/net/"+p.IfB+"/address"))
	if !h.ok || net.HardwareAddr(h.mac[:]).String() != mac {
		t.Errorf("IPv6 peer: %+v, want MAC %s", h, mac)
	}
}

// Sending a batch through the link socket allocates nothing.
func TestNetnsLinkSendZeroAllocs(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	testnet.PingFrom(t, p.A, testnet.UnderlayA, testnet.UnderlayB, 1) // the neighbour entry
	var pc net.PacketConn
	var link *linkSender
	var sent atomic.Uint64
	err := testnet.InNamespace(p.A, func() error {
		var err error
		if pc, err = net.ListenPacket("ip4:50", testnet.UnderlayA.String()); err != nil {
			return err
		}
		link, err = newLinkSender(false, 0, 64, &sent)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer link.close()
	sc, err := pc.(*net.IPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := sc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_HDRINCL, 1) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	c := newBatchIO(sc, 64, false)
	c.link = link
	msgs := make([]txMsg, 64)
	for i := range msgs {
		m := outer4(testnet.UnderlayA.String(), testnet.UnderlayB.String(), 1400)
		binary.BigEndian.PutUint16(m.b[2:], 1400)
		m.b[8], m.b[9] = 64, 50
		packet.SetIPv4Checksum(m.b)
		msgs[i] = m
	}
	for range 2 { // the lookup, and the run through the IP stack after it
		if failed, err := c.send(msgs); failed != 0 {
			t.Fatalf("send: %d failed: %v", failed, err)
		}
	}
	before := sent.Load()
	allocs := testing.AllocsPerRun(50, func() {
		if failed, err := c.send(msgs); failed != 0 {
			t.Fatalf("send: %d failed: %v", failed, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch of %d", allocs, len(msgs))
	}
	if n := sent.Load() - before; n < 50*uint64(len(msgs)) {
		t.Errorf("%d datagrams through the link socket, want %d", n, 50*len(msgs))
	}
}
