package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/sad"
	"github.com/cygnet-ipsec/cygnet/spd"
)

var (
	ua4   = netip.MustParseAddr("192.0.2.1")
	ub4   = netip.MustParseAddr("198.51.100.2")
	ua6   = netip.MustParseAddr("2001:db8:a::1")
	ub6   = netip.MustParseAddr("2001:db8:b::2")
	netA4 = netip.MustParsePrefix("10.1.0.0/16")
	netB4 = netip.MustParsePrefix("10.2.0.0/16")
	netA6 = netip.MustParsePrefix("fd00:1::/64")
	netB6 = netip.MustParsePrefix("fd00:2::/64")
	hA4   = netip.MustParseAddr("10.1.0.1")
	hB4   = netip.MustParseAddr("10.2.0.1")
	hA6   = netip.MustParseAddr("fd00:1::1")
	hB6   = netip.MustParseAddr("fd00:2::1")
)

func tunnelSpec(outerA, outerB netip.Addr, encap bool) linkSpec {
	return linkSpec{mode: ipsec.ModeTunnel, encap: encap, outerA: outerA, outerB: outerB,
		netsA: []netip.Prefix{netA4, netA6}, netsB: []netip.Prefix{netB4, netB6}, spiBase: 0x1000}
}

func transportSpec(outerA, outerB netip.Addr, encap bool) linkSpec {
	return linkSpec{mode: ipsec.ModeTransport, encap: encap, outerA: outerA, outerB: outerB,
		netsA: []netip.Prefix{netip.PrefixFrom(outerA, outerA.BitLen())}, netsB: []netip.Prefix{netip.PrefixFrom(outerB, outerB.BitLen())}, spiBase: 0x2000}
}

// wire carries what A sent to B as B's socket would receive it and returns
// the number of datagrams B's TUN got.
func wire(t *testing.T, ra *recorder, dpB *DataPlane, rb *recorder, s linkSpec) {
	t.Helper()
	for role := range numSocks {
		for _, d := range ra.sent[role] {
			v6 := role%2 == 1
			in := memIn(dpB, role, rb, 8)
			m := rxMeta{Src: netip.AddrPortFrom(s.outerA, 0), Dst: s.outerB}
			switch role &^ 1 {
			case sockUDP4NATT:
				m.Src = netip.AddrPortFrom(s.outerA, DefaultNATTPort)
			case sockESP4, sockAH4:
				if v6 {
					m.TOS = packet.TrafficClass(d)
					d = d[packet.IPv6HeaderLen:]
				}
			default:
				t.Fatalf("sent on role %d", role)
			}
			pushIn(in, []rxMeta{m}, d)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name     string
		spec     linkSpec
		src, dst netip.Addr
		role     int
	}{
		{"tunnel 4in4 raw", tunnelSpec(ua4, ub4, false), hA4, hB4, sockESP4},
		{"tunnel 6in4 udp", tunnelSpec(ua4, ub4, true), hA6, hB6, sockUDP4NATT},
		{"tunnel 4in6 raw", tunnelSpec(ua6, ub6, false), hA4, hB4, sockESP6},
		{"tunnel 6in6 udp", tunnelSpec(ua6, ub6, true), hA6, hB6, sockUDP6NATT},
		{"transport 4 raw", transportSpec(ua4, ub4, false), ua4, ub4, sockESP4},
		{"transport 4 udp", transportSpec(ua4, ub4, true), ua4, ub4, sockUDP4NATT},
		{"transport 6 raw", transportSpec(ua6, ub6, false), ua6, ub6, sockESP6},
		{"transport 6 udp", transportSpec(ua6, ub6, true), ua6, ub6, sockUDP6NATT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := makeLink(t, c.spec)
			dpA, dpB := memDP(t, a), memDP(t, b)
			var ra, rb recorder
			out := memOut(dpA, &ra, 8)
			pkts := [][]byte{udpPacket(c.src, c.dst, 100, false), udpPacket(c.src, c.dst, 1200, true), udpPacket(c.src, c.dst, 60, false)}
			pushOut(out, pkts...)
			if got := len(ra.sent[c.role]); got != len(pkts) {
				t.Fatalf("sent %d packets on socket %d, want %d (stats %+v)", got, c.role, len(pkts), dpA.Stats())
			}
			for _, d := range ra.sent[c.role] {
				if bytes.Contains(d, pkts[1][packet.IPv6HeaderLen:200]) {
					t.Fatal("plaintext on the wire")
				}
			}
			if c.spec.encap && ra.to[c.role][0].Port() != DefaultNATTPort {
				t.Errorf("sent to %v, want port 4500", ra.to[c.role][0])
			}
			wire(t, &ra, dpB, &rb, c.spec)
			if len(rb.tun) != len(pkts) {
				t.Fatalf("B's TUN got %d packets, want %d (stats %+v)", len(rb.tun), len(pkts), dpB.Stats())
			}
			for i, got := range rb.tun {
				want := pkts[i]
				if c.spec.mode == ipsec.ModeTunnel {
					if !bytes.Equal(got, want) {
						t.Errorf("packet %d differs after the round trip", i)
					}
					continue
				}
				// Transport mode rebuilds the header; compare addresses
				// and the upper layer.
				gs, gd, _ := packet.Addrs(got)
				ul, _ := packet.ParseUpperLayer(got)
				wl, _ := packet.ParseUpperLayer(want)
				if gs != c.src || gd != c.dst || !bytes.Equal(got[ul.Offset:], want[wl.Offset:]) {
					t.Errorf("packet %d differs after the round trip", i)
				}
			}
			sa := dpB.inbound(ipsec.ProtoESP, b.in.SPI())
			var n uint64
			for _, p := range pkts {
				n += uint64(len(p))
			}
			if got := sa.Counters(); got.Packets != 3 || got.Bytes != n {
				t.Errorf("inbound SA counters %+v, want 3 packets, %d bytes", got, n)
			}
			if got := a.out.Counters(); got.Packets != 3 || got.Bytes != n {
				t.Errorf("outbound SA counters %+v, want 3 packets, %d bytes", got, n)
			}
			if st := dpB.Stats(); st.InPackets != 3 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestOutboundVerdicts(t *testing.T) {
	a, _ := makeLink(t, tunnelSpec(ua4, ub4, false))
	other := netip.MustParseAddr("10.3.0.1")
	err := a.db.Replace(append(a.db.Table().Policies(),
		spd.Policy{ID: 10, Direction: spd.Out, Action: spd.Discard, Priority: 1, Selectors: []spd.TrafficSelector{spd.NewSelector(netA4, netip.PrefixFrom(hB4, 32))}},
		spd.Policy{ID: 11, Direction: spd.Out, Action: spd.Bypass, Priority: 1, Selectors: []spd.TrafficSelector{spd.NewSelector(netA4, netip.MustParsePrefix("10.4.0.0/16"))}},
	))
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan Event, 4)
	dp := memDP(t, a)
	dp.cfg.Events = events
	var r recorder
	out := memOut(dp, &r, 8)
	pushOut(out,
		udpPacket(hA4, hB4, 100, false),                              // discard policy
		udpPacket(hA4, other, 100, false),                            // no policy
		udpPacket(hA4, netip.MustParseAddr("10.4.0.9"), 100, false),  // bypass
		[]byte{0x45, 0, 0},                                           // garbage
		udpPacket(hA4, netip.MustParseAddr("10.2.0.77"), 100, false), // protect
	)
	st := dp.Stats()
	if st.Discarded != 2 || st.Bypassed != 1 || st.Malformed != 1 || st.OutPackets != 1 {
		t.Errorf("stats %+v", st)
	}
	a.route.SetOutbound(nil)
	pushOut(out, udpPacket(hA4, netip.MustParseAddr("10.2.0.77"), 100, false))
	if st := dp.Stats(); st.NoSA != 1 {
		t.Errorf("no SA: stats %+v", st)
	}
	select {
	case e := <-events:
		if e.Kind != Acquire || e.Route != a.route || e.PolicyID != 1 {
			t.Errorf("event %+v", e)
		}
	default:
		t.Error("no acquire event")
	}
}

func TestInboundDrops(t *testing.T) {
	s := tunnelSpec(ua4, ub4, false)
	a, b := makeLink(t, s)
	dpA, dpB := memDP(t, a), memDP(t, b)
	var ra, rb recorder
	out := memOut(dpA, &ra, 8)
	pushOut(out, udpPacket(hA4, hB4, 200, false), udpPacket(hA4, hB4, 200, false))
	good := ra.sent[sockESP4][0]
	in := memIn(dpB, sockESP4, &rb, 8)
	m := []rxMeta{{Src: netip.AddrPortFrom(ua4, 0), Dst: ub4}}

	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-20] ^= 1
	pushIn(in, m, tampered)
	if st := dpB.Stats(); st.AuthFailed != 1 {
		t.Errorf("tampered: stats %+v", st)
	}
	pushIn(in, m, good)
	pushIn(in, m, good)
	if st := dpB.Stats(); st.Replay != 1 || st.InPackets != 1 {
		t.Errorf("replay: stats %+v", st)
	}
	unknown := append([]byte(nil), ra.sent[sockESP4][1]...)
	binary.BigEndian.PutUint32(unknown[20:], 0xdead)
	pushIn(in, m, unknown)
	if st := dpB.Stats(); st.NoSA != 1 {
		t.Errorf("unknown SPI: stats %+v", st)
	}
	pushIn(in, m, good[:30])
	if st := dpB.Stats(); st.Malformed != 1 {
		t.Errorf("truncated: stats %+v", st)
	}

	// A packet the SA decrypts but B's In policy does not cover.
	ra.reset()
	if err := a.db.Replace(append(a.db.Table().Policies(), spd.Policy{ID: 5, Direction: spd.Out, Action: spd.Protect, Priority: 1,
		Selectors: []spd.TrafficSelector{spd.NewSelector(netA4, netip.MustParsePrefix("10.9.0.0/16"))}, Handle: a.route})); err != nil {
		t.Fatal(err)
	}
	pushOut(out, udpPacket(hA4, netip.MustParseAddr("10.9.0.1"), 200, false))
	// Twice in one batch: both copies open before the replay window
	// moves, and the policy's verdict is found as they open, but only the
	// first counts as a mismatch; the second is a replay.
	pushIn(in, []rxMeta{m[0], m[0]}, ra.sent[sockESP4][0], ra.sent[sockESP4][0])
	if st := dpB.Stats(); st.PolicyMismatch != 1 || st.Replay != 2 || st.InPackets != 1 {
		t.Errorf("policy: stats %+v", st)
	}
}

func TestNATTDemux(t *testing.T) {
	s := tunnelSpec(ua4, ub4, true)
	_, b := makeLink(t, s)
	dp := memDP(t, b)
	var got []byte
	var gotLocal, gotRemote netip.AddrPort
	dp.cfg.IKE = func(msg []byte, local, remote netip.AddrPort) {
		got, gotLocal, gotRemote = append([]byte(nil), msg...), local, remote
	}
	var r recorder
	in := memIn(dp, sockUDP4NATT, &r, 8)
	src := netip.AddrPortFrom(ua4, 31000)
	ike := []byte{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	pushIn(in, []rxMeta{{Src: src, Dst: ub4}, {Src: src, Dst: ub4}, {Src: src, Dst: ub4}}, []byte{0xff}, ike, []byte{1, 2})
	if !bytes.Equal(got, ike[4:]) || gotLocal != netip.AddrPortFrom(ub4, 4500) || gotRemote != src {
		t.Errorf("IKE handler got %x from %v to %v", got, gotRemote, gotLocal)
	}
	if st := dp.Stats(); st.Keepalives != 1 || st.IKE != 1 || st.Malformed != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestTooBig(t *testing.T) {
	s := tunnelSpec(ua4, ub4, true)
	a, b := makeLink(t, s)
	dpA, dpB := memDP(t, a), memDP(t, b)
	limit := InnerMTU(a.out, DefaultUnderlayMTU)
	// 1500 - 20 - 8 - 8 - 8 (IV) - 3 - 2 - 16 = 1435
	if limit != 1435 {
		t.Errorf("InnerMTU = %d, want 1435", limit)
	}
	var ra, rb recorder
	out := memOut(dpA, &ra, 8)

	big4 := udpPacket(hA4, hB4, 1500, true)
	big6 := udpPacket(hA6, hB6, 1500, false)
	pushOut(out, big4, big6)
	if len(ra.tun) != 2 {
		t.Fatalf("%d ICMP errors, want 2", len(ra.tun))
	}
	e4, e6 := ra.tun[0], ra.tun[1]
	u4, _ := packet.ParseUpperLayer(e4)
	if u4.Proto != packet.ProtoICMP || e4[u4.Offset] != 3 || e4[u4.Offset+1] != 4 || int(binary.BigEndian.Uint16(e4[u4.Offset+6:])) != limit {
		t.Errorf("ICMP error % x", e4[:u4.Offset+8])
	}
	if s, d, _ := packet.Addrs(e4); s != hB4 || d != hA4 {
		t.Errorf("ICMP error from %v to %v", s, d)
	}
	if packet.Fold(packet.Sum(e4[u4.Offset:], 0)) != 0xffff || packet.Fold(packet.Sum(e4[:20], 0)) != 0xffff {
		t.Error("bad ICMP or IP checksum")
	}
	u6, _ := packet.ParseUpperLayer(e6)
	if u6.Proto != packet.ProtoICMPv6 || e6[u6.Offset] != 2 || binary.BigEndian.Uint32(e6[u6.Offset+4:]) != uint32(limit) {
		t.Errorf("ICMPv6 error % x", e6[:u6.Offset+8])
	}
	if packet.Fold(packet.Sum(e6[u6.Offset:], packet.PseudoHeaderSum(hB6, hA6, packet.ProtoICMPv6, len(e6)-u6.Offset))) != 0xffff {
		t.Error("bad ICMPv6 checksum")
	}
	if st := dpA.Stats(); st.TooBig != 2 || st.OutPackets != 0 {
		t.Errorf("stats %+v", st)
	}

	// Without DF the packet is fragmented, each fragment sealed.
	ra.reset()
	frag := udpPacket(hA4, hB4, 1500, false)
	pushOut(out, frag)
	if n := len(ra.sent[sockUDP4NATT]); n != 2 {
		t.Fatalf("%d fragments sent, want 2", n)
	}
	wire(t, &ra, dpB, &rb, s)
	if len(rb.tun) != 2 {
		t.Fatalf("B got %d fragments", len(rb.tun))
	}
	whole := make([]byte, len(frag)-20)
	covered := 0
	for _, f := range rb.tun {
		if len(f) > limit {
			t.Errorf("fragment of %d > %d", len(f), limit)
		}
		off := int(binary.BigEndian.Uint16(f[6:])&0x1fff) * 8
		covered += copy(whole[off:], f[20:])
	}
	if covered != len(whole) || !bytes.Equal(whole, frag[20:]) {
		t.Error("fragments do not reassemble to the original")
	}
	if st := dpA.Stats(); st.Fragmented != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestBuildTooBigRefusals(t *testing.T) {
	out := make([]byte, 2000)
	icmpErr := udpPacket(hA4, hB4, 100, true)
	icmpErr[9] = packet.ProtoICMP
	icmpErr[20] = 3
	if n := buildTooBig(out, icmpErr, 1400); n != 0 {
		t.Error("ICMP error answered with an ICMP error")
	}
	echo := udpPacket(hA4, hB4, 100, true)
	echo[9] = packet.ProtoICMP
	echo[20] = 8
	if n := buildTooBig(out, echo, 1400); n == 0 {
		t.Error("echo request not answered")
	}
	if n := buildTooBig(out, []byte{0x45}, 1400); n != 0 {
		t.Error("garbage answered")
	}
}

func TestFragmentOptions(t *testing.T) {
	// A 24-octet header with a copied option (0x83, loose source route)
	// and 4 payload blocks; later fragments keep only copied options.
	p := make([]byte, 24+64)
	h := packet.IPv4Header{TotalLen: len(p), TTL: 9, Protocol: 17, Src: hA4, Dst: hB4}
	h.Put(p)
	p[0] = 0x46
	copy(p[20:], []byte{0x83, 3, 4, 0})
	p[9] = 17
	packet.SetIPv4Checksum(p)
	n := fragmentCount(p, 48)
	if n != 3 {
		t.Fatalf("fragmentCount = %d, want 3", n)
	}
	buf := make([]byte, 100)
	total := 0
	for k := range n {
		l := fragment4(buf, p, 48, k)
		if l > 48 || buf[0]&0x0f != 6 || buf[20] != 0x83 {
			t.Errorf("fragment %d: len %d header % x", k, l, buf[:24])
		}
		total += l - 24
	}
	if total != 64 {
		t.Errorf("payload %d, want 64", total)
	}
	if copiedOptions(nil, []byte{0x07, 3, 4, 0}) != 0 {
		t.Error("record route copied")
	}
}

func TestAddSAValidation(t *testing.T) {
	dp := memDP(t, &site{db: &spd.DB{}})
	x, err := esp.New(esp.Config{SPI: 9, Mode: ipsec.ModeTunnel, Direction: ipsec.Inbound, Transform: newTransform(t, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.AddSA(&SA{ESP: x, Direction: ipsec.Inbound}, sad.Lifetime{}); err == nil {
		t.Error("inbound SA without route accepted")
	}
	sa := &SA{ESP: x, Direction: ipsec.Inbound, Route: &Route{}}
	if err := dp.AddSA(sa, sad.Lifetime{}); err != nil {
		t.Fatal(err)
	}
	if err := dp.AddSA(sa, sad.Lifetime{}); err == nil {
		t.Error("duplicate accepted")
	}
	dp.RemoveSA(sa)
	if dp.inbound(ipsec.ProtoESP, 9) != nil {
		t.Error("SA still there")
	}
	if _, err := x.Open(make([]byte, 64)); err == nil {
		t.Error("a removed SA still opens packets: its keys were not wiped")
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := tunnelSpec(ua4, ub4, true)
	a, b := makeLink(t, s)
	dpA, dpB := memDP(t, a), memDP(t, b)
	out := dpA.newOutPath(16)
	var last []byte
	out.send = func(role int, msgs []txMsg) { last = msgs[len(msgs)-1].b }
	out.writeTUN = func([][]byte) {}
	pkt := udpPacket(hA4, hB4, 1400, false)
	allocs := testing.AllocsPerRun(50, func() {
		for i := range 16 {
			out.sizes[i] = copy(out.bufs[i][HeadRoom:], pkt)
		}
		out.process(16)
	})
	if allocs != 0 {
		t.Errorf("outbound batch: %v allocations", allocs)
	}
	in := dpB.newInPath(sockUDP4NATT, 16)
	in.writeTUN = func([][]byte) {}
	m := rxMeta{Src: netip.AddrPortFrom(ua4, 4500), Dst: ub4}
	allocs = testing.AllocsPerRun(50, func() {
		pushOut(out, pkt)
		copy(in.slots[0][HeadRoom:], last)
		in.meta[0] = m
		in.meta[0].N = len(last)
		in.process(1)
	})
	// pushOut's own loop does not allocate; the whole round trip must not.
	if allocs != 0 {
		t.Errorf("inbound: %v allocations", allocs)
	}
	if st := dpB.Stats(); st.InPackets == 0 || st.AuthFailed != 0 {
		t.Errorf("stats %+v", st)
	}
}
