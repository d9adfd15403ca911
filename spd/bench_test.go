package spd

import (
	"fmt"
	"math"
	"net/netip"
	"testing"
)

// siteToSite builds a realistic gateway policy set with n policies in each of the Out and
// In directions: IKE bypass at the top, mostly one /24 remote site each (random, distinct,
// within 10.0.0.0/8 or 2001:db8::/32 as /48s) protected against one of four local
// subnets, some port-specific discards inside a site (telnet), some overlapping /16 supernets
// bypassed at lower priority, and a catch-all discard. It also returns TCP flows: 90% between
// an installed site pair, 10% to random addresses in the sites' space.
func siteToSite(n int, is6 bool) ([]Policy, []Flow) {
	r := newRand(uint64(n))
	any4, any6 := mustPrefix("0.0.0.0/0"), mustPrefix("::/0")
	anyP := any4
	if is6 {
		anyP = any6
	}
	local := func(i int) netip.Prefix {
		if is6 {
			return netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, byte(i)}), 48)
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i * 16), 0}), 20)
	}
	site := func(v uint32) netip.Prefix {
		if is6 {
			return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(v >> 8), byte(v)}), 48)
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(v >> 8), byte(v), 0}), 24)
	}
	hostIn := func(p netip.Prefix) netip.Addr {
		b := p.Addr().AsSlice()
		b[len(b)-1] = byte(1 + r.IntN(254))
		a, _ := netip.AddrFromSlice(b)
		return a
	}
	var ps []Policy
	id := uint64(0)
	add := func(prio uint32, act Action, s TrafficSelector) {
		for _, dir := range []Direction{Out, In} {
			id++
			p := Policy{ID: id, Direction: dir, Action: act, Priority: prio, Selectors: []TrafficSelector{s}}
			if act == Protect {
				p.Handle = id
			}
			ps = append(ps, p)
		}
	}
	ike := NewSelector(anyP, anyP)
	ike.Proto, ike.LocalPorts = ProtoUDP, Port(500)
	add(0, Bypass, ike)
	ike.LocalPorts = Port(4500)
	add(0, Bypass, ike)
	used := map[uint32]bool{}
	var sites [][2]netip.Prefix // local, remote
	for len(ps)/2 < n-1 {
		v := uint32(r.IntN(1 << 16))
		if used[v] {
			continue
		}
		used[v] = true
		switch k := r.IntN(100); {
		case k < 4 && len(sites) > 0: // port-specific rule inside an existing site
			st := sites[r.IntN(len(sites))]
			s := NewSelector(st[0], st[1])
			s.Proto, s.RemotePorts = ProtoTCP, Port(23)
			add(100, Discard, s)
		case k < 8: // a supernet bypass overlapping many sites
			p := site(v)
			p = netip.PrefixFrom(p.Addr(), p.Bits()-8).Masked()
			add(2000, Bypass, NewSelector(local(r.IntN(4)), p))
		default:
			st := [2]netip.Prefix{local(r.IntN(4)), site(v)}
			sites = append(sites, st)
			add(1000, Protect, NewSelector(st[0], st[1]))
		}
	}
	add(math.MaxUint32, Discard, NewSelector(anyP, anyP))
	flows := make([]Flow, 4096)
	for i := range flows {
		f := Flow{Src: hostIn(local(r.IntN(4))), Proto: ProtoTCP, SrcPort: uint16(1024 + r.IntN(60000)), DstPort: 443}
		if r.IntN(10) == 0 || len(sites) == 0 {
			f.Dst = hostIn(site(uint32(r.IntN(1 << 16))))
		} else {
			st := sites[r.IntN(len(sites))]
			f.Src, f.Dst = hostIn(st[0]), hostIn(st[1])
		}
		flows[i] = f
	}
	return ps, flows
}

var sizes = []int{10, 100, 1000, 10000}

func BenchmarkLookup(b *testing.B) {
	for _, fam := range []string{"v4", "v6"} {
		for _, n := range sizes {
			ps, flows := siteToSite(n, fam == "v6")
			var db DB
			if err := db.Replace(ps); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/policies=%d", fam, n), func(b *testing.B) {
				b.ReportAllocs()
				b.ReportMetric(float64(db.Table().IndexBytes()), "index-bytes")
				i := 0
				for b.Loop() {
					db.Lookup(Out, flows[i&(len(flows)-1)])
					i++
				}
			})
		}
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	for _, n := range []int{10, 10000} {
		ps, flows := siteToSite(n, false)
		var db DB
		if err := db.Replace(ps); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					db.Lookup(In, Flow{Src: flows[i&4095].Dst, Dst: flows[i&4095].Src, Proto: ProtoTCP, SrcPort: 443, DstPort: 5000})
					i++
				}
			})
		})
	}
}

// BenchmarkLinearScan is the baseline the index replaces: first match over every
// compiled selector in priority order.
func BenchmarkLinearScan(b *testing.B) {
	for _, n := range sizes {
		ps, flows := siteToSite(n, false)
		tab, err := Compile(ps)
		if err != nil {
			b.Fatal(err)
		}
		ix := tab.idx[Out-1][0]
		all := make([]uint32, len(ix.sels))
		for i := range all {
			all[i] = uint32(i)
		}
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f := flows[i&4095]
				p := probe{l: addrKey(f.Src), r: addrKey(f.Dst), lport: f.SrcPort, rport: f.DstPort, proto: f.Proto}
				ix.scan(all, &p, math.MaxUint32)
				i++
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, n := range sizes {
		ps, _ := siteToSite(n, false)
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(ps); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkExtractFlow(b *testing.B) {
	pkts := map[string][]byte{
		"ipv4-tcp":         ipv4(ProtoTCP, 0, nil, cat(ports(40000, 443), make([]byte, 1400))),
		"ipv6-ext-headers": ipv6(ipv6HopByHop, cat(ext(ipv6DestOpts, 1), ext(ProtoUDP, 1), ports(53, 53), make([]byte, 1400))),
	}
	for name, pkt := range pkts {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ExtractFlow(pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
