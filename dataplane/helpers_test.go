package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/sad"
	"github.com/cygnet-ipsec/cygnet/spd"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// linkSpec describes a hand-keyed Child SA between two sites A and B.
type linkSpec struct {
	mode         ipsec.Mode
	encap        bool
	outerA       netip.Addr // A's underlay address (as B sees it)
	outerB       netip.Addr
	netsA, netsB []netip.Prefix // protected on each side
	spiBase      uint32
	portA        uint16 // A's NAT-T port as B sees it (encap)
}

// site is one end: its SPD, route and SAs.
type site struct {
	db    *spd.DB
	route *Route
	out   *SA
	in    *SA
}

func newTransform(t testing.TB, seed byte) transform.ESP {
	t.Helper()
	n, err := transform.KeyLen(transform.EncrAESGCM16, 128, transform.IntegNone)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, n)
	for i := range key {
		key[i] = seed + byte(i)*7
	}
	x, err := transform.NewESP(transform.EncrAESGCM16, 128, transform.IntegNone, key, transform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func newESP(t testing.TB, dir ipsec.Direction, spi uint32, seed byte, s linkSpec, src, dst netip.Addr, sport, dport uint16) *esp.SA {
	t.Helper()
	cfg := esp.Config{SPI: spi, Mode: s.mode, Direction: dir, Transform: newTransform(t, seed), Src: src, Dst: dst, ReplayWindow: 128}
	if s.encap {
		cfg.UDP = &esp.UDPEncap{SrcPort: sport, DstPort: dport}
	}
	sa, err := esp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

// makeLink keys both directions and fills both SPDs.
func makeLink(t testing.TB, s linkSpec) (a, b *site) {
	t.Helper()
	a = &site{db: &spd.DB{}, route: &Route{Name: "a"}}
	b = &site{db: &spd.DB{}, route: &Route{Name: "b"}}
	portA := s.portA
	if portA == 0 {
		portA = DefaultNATTPort
	}
	peerB := netip.AddrPortFrom(s.outerB, DefaultNATTPort)
	peerA := netip.AddrPortFrom(s.outerA, portA)
	if !s.encap {
		peerA, peerB = netip.AddrPortFrom(s.outerA, 0), netip.AddrPortFrom(s.outerB, 0)
	}
	spiAB, spiBA := s.spiBase+1, s.spiBase+2
	a.out = &SA{ESP: newESP(t, ipsec.Outbound, spiAB, 1, s, s.outerA, s.outerB, DefaultNATTPort, DefaultNATTPort), Direction: ipsec.Outbound, Mode: s.mode, Peer: peerB, Encap: s.encap, Route: a.route}
	b.in = &SA{ESP: newESP(t, ipsec.Inbound, spiAB, 1, s, netip.Addr{}, netip.Addr{}, 0, 0), Direction: ipsec.Inbound, Mode: s.mode, Route: b.route}
	b.out = &SA{ESP: newESP(t, ipsec.Outbound, spiBA, 2, s, s.outerB, s.outerA, DefaultNATTPort, portA), Direction: ipsec.Outbound, Mode: s.mode, Peer: peerA, Encap: s.encap, Route: b.route}
	a.in = &SA{ESP: newESP(t, ipsec.Inbound, spiBA, 2, s, netip.Addr{}, netip.Addr{}, 0, 0), Direction: ipsec.Inbound, Mode: s.mode, Route: a.route}
	a.route.SetOutbound(a.out)
	b.route.SetOutbound(b.out)
	fill := func(st *site, local, remote []netip.Prefix) {
		var sels []spd.TrafficSelector
		for _, l := range local {
			for _, r := range remote {
				if l.Addr().Is4() == r.Addr().Is4() {
					sels = append(sels, spd.NewSelector(l, r))
				}
			}
		}
		err := st.db.Replace([]spd.Policy{
			{ID: 1, Direction: spd.Out, Action: spd.Protect, Priority: 10, Selectors: sels, Handle: st.route},
			{ID: 2, Direction: spd.In, Action: spd.Protect, Priority: 10, Selectors: sels, Handle: st.route},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fill(a, s.netsA, s.netsB)
	fill(b, s.netsB, s.netsA)
	return a, b
}

// memDP is a DataPlane without devices or sockets, for the pure packet
// path: the tests call outPath.process and inPath.process directly.
func memDP(t testing.TB, st *site) *DataPlane {
	t.Helper()
	dp := &DataPlane{
		cfg:  Config{UnderlayMTU: DefaultUnderlayMTU, IKEPort: DefaultIKEPort, NATTPort: DefaultNATTPort, Batch: 64},
		spd:  st.db,
		sad:  sad.New(sad.Config{}),
		ctl4: -1, ctl6: -1,
		done: make(chan struct{}),
	}
	for _, sa := range []*SA{st.out, st.in} {
		if sa == nil {
			continue
		}
		if err := dp.AddSA(sa, sad.Lifetime{}); err != nil {
			t.Fatal(err)
		}
	}
	return dp
}

// recorder captures what a memory path sends and writes.
type recorder struct {
	sent [numSocks][][]byte
	to   [numSocks][]netip.AddrPort
	tun  [][]byte
}

func (r *recorder) send(role int, msgs []txMsg) {
	for _, m := range msgs {
		r.sent[role] = append(r.sent[role], append([]byte(nil), m.b...))
		r.to[role] = append(r.to[role], m.to)
	}
}

func (r *recorder) writeTUN(bufs [][]byte) {
	for _, b := range bufs {
		r.tun = append(r.tun, append([]byte(nil), b[tunWriteOffset:]...))
	}
}

func (r *recorder) reset() { *r = recorder{} }

// memOut returns an outbound path that records into r.
func memOut(dp *DataPlane, r *recorder, batch int) *outPath {
	o := dp.newOutPath(batch)
	o.send, o.writeTUN = r.send, r.writeTUN
	return o
}

// memIn returns an inbound path of role that records into r.
func memIn(dp *DataPlane, role int, r *recorder, batch int) *inPath {
	p := dp.newInPath(role, batch)
	p.writeTUN = r.writeTUN
	return p
}

// pushOut runs packets through o.
func pushOut(o *outPath, pkts ...[]byte) {
	for i, p := range pkts {
		o.sizes[i] = copy(o.bufs[i][HeadRoom:], p)
	}
	o.process(len(pkts))
}

// pushIn delivers datagrams to p as its socket would.
func pushIn(p *inPath, ms []rxMeta, dgrams ...[]byte) {
	for i, d := range dgrams {
		copy(p.slots[i][HeadRoom:], d)
		p.meta[i] = ms[i]
		p.meta[i].N = len(d)
	}
	p.process(len(dgrams))
}

// udpPacket builds an IPv4 or IPv6 UDP packet with a valid checksum and
// size octets in all.
func udpPacket(src, dst netip.Addr, size int, df bool) []byte {
	hl := packet.IPv4HeaderLen
	if src.Is6() {
		hl = packet.IPv6HeaderLen
	}
	b := make([]byte, size)
	if src.Is6() {
		h := packet.IPv6Header{PayloadLen: size - hl, NextHeader: packet.ProtoUDP, HopLimit: 64, Src: src, Dst: dst}
		h.Put(b)
	} else {
		h := packet.IPv4Header{TotalLen: size, ID: 7, TTL: 64, Protocol: packet.ProtoUDP, Src: src, Dst: dst, DontFrag: df}
		h.Put(b)
	}
	u := b[hl:]
	binary.BigEndian.PutUint16(u[0:], 5000)
	binary.BigEndian.PutUint16(u[2:], 6000)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	for i := 8; i < len(u); i++ {
		u[i] = byte(i * 13)
	}
	c := ^packet.Fold(packet.Sum(u, packet.PseudoHeaderSum(src, dst, packet.ProtoUDP, len(u))))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return b
}
