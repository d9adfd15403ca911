package spd

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func FuzzExtractFlow(f *testing.F) {
	f.Add(ipv4(ProtoTCP, 0, nil, ports(40000, 443)))
	f.Add(ipv4(ProtoUDP, 0, []byte{1, 1, 1, 0}, ports(500, 4500)[:8]))
	f.Add(ipv4(ProtoICMP, 0, nil, []byte{3, 4, 0, 0, 0, 0, 5, 0xdc}))
	f.Add(ipv4(ProtoTCP, 185, nil, []byte{1, 2}))
	f.Add(ipv6(ProtoTCP, ports(1234, 22)))
	f.Add(ipv6(ipv6HopByHop, cat(ext(ipv6Routing, 1), ext(ipv6DestOpts, 3), ext(ProtoUDP, 2), ports(53, 5353)[:8])))
	f.Add(ipv6(ipv6HopByHop, cat(ext(ipv6Fragment, 1), fragHdr(ipv6DestOpts, 0, true), ext(ProtoTCP, 1), ports(80, 8080))))
	f.Add(ipv6(ipv6Fragment, cat(fragHdr(ProtoUDP, 181, true), []byte{9, 9})))
	f.Add(ipv6(ProtoICMPv6, []byte{128, 0, 0, 0}))
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		orig := bytes.Clone(pkt)
		fl, err := ExtractFlow(pkt)
		if !bytes.Equal(orig, pkt) {
			t.Fatal("ExtractFlow modified the packet")
		}
		if err != nil {
			return
		}
		switch pkt[0] >> 4 {
		case 4:
			if fl.Src != netip.AddrFrom4([4]byte(pkt[12:16])) || fl.Dst != netip.AddrFrom4([4]byte(pkt[16:20])) || fl.Proto != pkt[9] {
				t.Fatalf("IPv4 header fields misread: %+v", fl)
			}
			if fl.PortsOpaque != (binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0) {
				t.Fatalf("fragment offset misread: %+v", fl)
			}
		case 6:
			if fl.Src != netip.AddrFrom16([16]byte(pkt[8:24])) || fl.Dst != netip.AddrFrom16([16]byte(pkt[24:40])) {
				t.Fatalf("IPv6 addresses misread: %+v", fl)
			}
		default:
			t.Fatalf("accepted IP version %d", pkt[0]>>4)
		}
		if (fl.PortsOpaque || !hasPorts(fl.Proto)) && (fl.SrcPort != 0 || fl.DstPort != 0) {
			t.Fatalf("ports without a next-layer header: %+v", fl)
		}
		if fl.Proto == ProtoICMP || fl.Proto == ProtoICMPv6 {
			if fl.SrcPort > 255 || fl.DstPort > 255 {
				t.Fatalf("ICMP type/code out of range: %+v", fl)
			}
		}
		// A valid flow never makes a lookup misbehave.
		var db DB
		_ = db.Replace([]Policy{{ID: 1, Direction: Out, Action: Bypass, Selectors: []TrafficSelector{
			NewSelector(mustPrefix("0.0.0.0/0"), mustPrefix("0.0.0.0/0")), NewSelector(mustPrefix("::/0"), mustPrefix("::/0"))}}})
		if act, _ := db.Lookup(Out, fl); act != Bypass {
			t.Fatalf("catch-all did not match %+v", fl)
		}
	})
}

// fuzzReader hands out bytes of the fuzz input, then zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u16() uint16 { return uint16(r.byte())<<8 | uint16(r.byte()) }

// addr maps 16 bits into 10.0.0.0/16 or 2001:db8::/112, so that ranges collide.
func fuzzAddr(is6 bool, v uint16) netip.Addr {
	if is6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(v >> 8), 15: byte(v)})
	}
	return netip.AddrFrom4([4]byte{10, 0, byte(v >> 8), byte(v)})
}

func (r *fuzzReader) addrRange(is6 bool) AddrRange {
	switch m := r.byte(); m % 4 {
	case 0:
		if is6 {
			return AnyIPv6()
		}
		return AnyIPv4()
	case 1:
		a, b := fuzzAddr(is6, r.u16()), fuzzAddr(is6, r.u16())
		if b.Less(a) {
			a, b = b, a
		}
		return AddrRange{a, b}
	default:
		a := fuzzAddr(is6, r.u16())
		return PrefixRange(netip.PrefixFrom(a, a.BitLen()-int(m>>2)%17))
	}
}

func (r *fuzzReader) portRange(icmp bool) PortRange {
	m := r.byte()
	if m%3 == 0 {
		return AnyPort
	}
	a, b := uint16(r.byte()%16), uint16(r.byte()%16)
	if icmp {
		a, b = uint16(r.byte()), uint16(r.byte())
	}
	return PortRange{min(a, b), max(a, b)}
}

func FuzzIndex(f *testing.F) {
	f.Add([]byte{0, 5, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte{1, 9, 1, 1, 1, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 3, 3, 3, 3, 3, 3, 2, 2, 2, 200, 100})
	f.Add(bytes.Repeat([]byte{7, 3, 250, 1, 0, 0x55}, 40))
	f.Add(bytes.Repeat([]byte{2, 1, 0, 0xff, 4, 3, 9, 0x10, 0x20, 0x30}, 60))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzReader{b: data}
		is6 := r.byte()&1 == 1
		icmpProto := ProtoICMP
		if is6 {
			icmpProto = ProtoICMPv6
		}
		protos := []uint8{0, ProtoTCP, ProtoUDP, icmpProto, 47}
		n := 1 + int(r.byte()%48)
		ps := make([]Policy, n)
		for i := range ps {
			c := r.byte()
			p := Policy{ID: uint64(i), Direction: Direction(1 + c%3), Action: Action(c / 3 % 3), Priority: uint32(c / 9 % 4)}
			for range 1 + int(c>>6)%2 {
				s := TrafficSelector{Local: r.addrRange(is6), Remote: r.addrRange(is6), Proto: protos[r.byte()%5]}
				if hasPorts(s.Proto) {
					s.LocalPorts, s.RemotePorts = r.portRange(s.IsICMP()), r.portRange(s.IsICMP())
				}
				p.Selectors = append(p.Selectors, s)
			}
			ps[i] = p
		}
		tab, err := compile(ps, []int{maxSpan, 0, 1, 4}[r.byte()%4])
		if err != nil {
			t.Fatalf("generated policies refused: %v", err)
		}
		naive := newNaive(ps)
		// The same policies in a DB, then some deleted one Update at a
		// time: masked out of their part until most of it is dead, then
		// rebuilt from the rest.
		var db DB
		if err := db.Update(nil, ps); err != nil {
			t.Fatalf("generated policies refused by the DB: %v", err)
		}
		del := r.byte()
		var kept []Policy
		for i, p := range ps {
			if del>>(i%8)&1 == 0 {
				kept = append(kept, p)
			} else if err := db.Delete(p.ID); err != nil {
				t.Fatal(err)
			}
		}
		dbTab, dbNaive := db.Table(), newNaive(kept)
		check := func(fl Flow) {
			for dir := Out; dir <= Fwd; dir++ {
				got, want := tab.Lookup(dir, fl), naive.lookup(dir, fl)
				if (got == nil) != (want == nil) || (got != nil && got.ID != want.ID) {
					t.Fatalf("%s %+v: index chose %s, linear scan %s", dir, fl, describe(got), describe(want))
				}
				got, want = dbTab.Lookup(dir, fl), dbNaive.lookup(dir, fl)
				if (got == nil) != (want == nil) || (got != nil && got.ID != want.ID) {
					t.Fatalf("%s %+v after deletions (mask %08b): DB chose %s, linear scan %s", dir, fl, del, describe(got), describe(want))
				}
			}
		}
		// Flows at and next to every selector edge, where interval arithmetic breaks.
		for _, p := range ps {
			for _, s := range p.Selectors {
				for _, a := range []netip.Addr{s.Local.From, s.Local.To, s.Local.From.Prev(), s.Local.To.Next()} {
					for _, b := range []netip.Addr{s.Remote.From, s.Remote.To, s.Remote.From.Prev(), s.Remote.To.Next()} {
						if !a.IsValid() || !b.IsValid() {
							continue
						}
						fl := Flow{Src: a, Dst: b, Proto: s.Proto, SrcPort: s.LocalPorts.From, DstPort: s.RemotePorts.To}
						check(fl)
						fl.Src, fl.Dst = b, a
						check(fl)
					}
				}
			}
		}
		for len(r.b) > 0 {
			fl := Flow{Src: fuzzAddr(is6, r.u16()), Dst: fuzzAddr(is6, r.u16()), Proto: protos[r.byte()%5]}
			fl.SrcPort, fl.DstPort = uint16(r.byte()%18), uint16(r.byte()%18)
			fl.PortsOpaque = r.byte()%8 == 0
			check(fl)
		}
	})
}
