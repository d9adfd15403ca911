package spd

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
)

// naiveLookup is the specification the index must agree with: scan every policy in
// priority order, ties by position, and return the first whose selector matches.
func naiveLookup(ps []Policy, dir Direction, f Flow) *Policy {
	return newNaive(ps).lookup(dir, f)
}

// naiveSPD is naiveLookup with the priority order computed once.
type naiveSPD struct {
	ps    []Policy
	order []int
}

func newNaive(ps []Policy) *naiveSPD {
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case ps[a].Priority < ps[b].Priority:
			return -1
		case ps[a].Priority > ps[b].Priority:
			return 1
		}
		return 0
	})
	return &naiveSPD{ps, order}
}

func (n *naiveSPD) lookup(dir Direction, f Flow) *Policy {
	for _, i := range n.order {
		if n.ps[i].Direction != dir {
			continue
		}
		for _, s := range n.ps[i].Selectors {
			if naiveMatch(s, dir, f) {
				return &n.ps[i]
			}
		}
	}
	return nil
}

func naiveMatch(s TrafficSelector, dir Direction, f Flow) bool {
	local, remote, lport, rport := f.Src, f.Dst, f.SrcPort, f.DstPort
	if dir != Out {
		local, remote, lport, rport = f.Dst, f.Src, f.DstPort, f.SrcPort
	}
	if !s.Local.Contains(local) || !s.Remote.Contains(remote) || f.Src.Is4() != f.Dst.Is4() {
		return false
	}
	if s.Proto != 0 && s.Proto != f.Proto {
		return false
	}
	lp, rp := s.LocalPorts, s.RemotePorts
	if !hasPorts(s.Proto) {
		return true
	}
	if lp == AnyPort && rp == AnyPort {
		return true
	}
	if f.PortsOpaque {
		return false
	}
	if (s.Proto == ProtoICMP && f.Src.Is4()) || (s.Proto == ProtoICMPv6 && !f.Src.Is4()) {
		return lp.Contains(f.SrcPort) && rp.Contains(f.DstPort)
	}
	return lp.Contains(lport) && rp.Contains(rport)
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// randGen draws policies and flows from a deliberately small space so that ranges
// overlap, priorities tie and some selectors are wide on one or both axes.
type randGen struct {
	r   *rand.Rand
	is6 bool
}

func (g randGen) addr() netip.Addr {
	// Mostly 10.0.0.0/20 (or 2001:db8::/116), sometimes anywhere near the edges.
	var v uint32
	switch g.r.IntN(8) {
	case 0:
		v = g.r.Uint32()
	case 1:
		v = uint32(g.r.IntN(4))
	case 2:
		v = ^uint32(g.r.IntN(4))
	default:
		v = 10<<24 | uint32(g.r.IntN(1<<12))
	}
	if !g.is6 {
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	var b [16]byte
	if v>>24 == 10 {
		copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8})
	} else if v>>31 == 1 {
		for i := range 12 {
			b[i] = 0xff
		}
	}
	b[12], b[13], b[14], b[15] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return netip.AddrFrom16(b)
}

func (g randGen) addrRange() AddrRange {
	switch g.r.IntN(10) {
	case 0:
		if g.is6 {
			return AnyIPv6()
		}
		return AnyIPv4()
	case 1, 2, 3:
		a, b := g.addr(), g.addr()
		if b.Less(a) {
			a, b = b, a
		}
		return AddrRange{a, b}
	}
	bitsMax := 32
	if g.is6 {
		bitsMax = 128
	}
	l := bitsMax - g.r.IntN(14)
	if g.r.IntN(6) == 0 {
		l = g.r.IntN(bitsMax + 1)
	}
	return PrefixRange(netip.PrefixFrom(g.addr(), l))
}

func (g randGen) ports(icmp bool) PortRange {
	switch g.r.IntN(4) {
	case 0, 1:
		return AnyPort
	case 2:
		return Port(uint16(g.r.IntN(6)))
	}
	max := 12
	if icmp {
		max = 256
	}
	a, b := uint16(g.r.IntN(max)), uint16(g.r.IntN(max))
	return PortRange{min(a, b), max16(a, b)}
}

func max16(a, b uint16) uint16 { return max(a, b) }

func (g randGen) proto() uint8 {
	icmp := ProtoICMP
	if g.is6 {
		icmp = ProtoICMPv6
	}
	return []uint8{0, 0, ProtoTCP, ProtoUDP, icmp, 47}[g.r.IntN(6)]
}

func (g randGen) selector() TrafficSelector {
	s := TrafficSelector{Local: g.addrRange(), Remote: g.addrRange(), Proto: g.proto()}
	if hasPorts(s.Proto) {
		s.LocalPorts, s.RemotePorts = g.ports(s.IsICMP()), g.ports(s.IsICMP())
	}
	return s
}

func (g randGen) policies(n int) []Policy {
	ps := make([]Policy, n)
	for i := range ps {
		p := Policy{
			ID:        uint64(i + 1),
			Direction: Direction(1 + g.r.IntN(3)),
			Action:    Action(g.r.IntN(3)),
			Priority:  uint32(g.r.IntN(6)),
		}
		for range 1 + g.r.IntN(3) {
			p.Selectors = append(p.Selectors, g.selector())
		}
		if p.Action == Protect {
			p.Handle = i
		}
		ps[i] = p
	}
	return ps
}

func (g randGen) flow() Flow {
	f := Flow{Src: g.addr(), Dst: g.addr(), Proto: g.proto()}
	if hasPorts(f.Proto) {
		f.SrcPort, f.DstPort = uint16(g.r.IntN(14)), uint16(g.r.IntN(14))
	}
	f.PortsOpaque = g.r.IntN(10) == 0
	return f
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// list returns all ranks listed for k on the axis, for tests.
func (a *axis) list(k u128) []uint32 {
	if a.ivs == nil {
		return nil
	}
	iv := &a.ivs[a.interval(k)]
	if iv.first == math.MaxUint32 {
		return nil
	}
	return append([]uint32{iv.first}, a.ents[iv.off:iv.end]...)
}
