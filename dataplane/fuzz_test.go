package dataplane

import (
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
)

// FuzzInbound feeds arbitrary datagrams to every inbound socket role, with
// real SAs installed (tunnel and transport, raw and UDP), and checks that
// nothing panics, every datagram is accounted for exactly once, and only
// authentic packets reach the TUN.
func FuzzInbound(f *testing.F) {
	tun4 := tunnelSpec(ua4, ub4, true)
	tr4 := transportSpec(ua4, ub4, false)
	tr4.spiBase = 0x3000
	tr6 := transportSpec(ua6, ub6, true)
	tr6.spiBase = 0x4000
	var seedsFrom []*site
	var sinks []*site
	for _, s := range []linkSpec{tun4, tr4, tr6} {
		a, b := makeLink(f, s)
		seedsFrom = append(seedsFrom, a)
		sinks = append(sinks, b)
	}
	// Seeds: real packets of each SA, as each socket would see them.
	for i, a := range seedsFrom {
		dp := memDP(f, a)
		var r recorder
		out := memOut(dp, &r, 4)
		spec := []linkSpec{tun4, tr4, tr6}[i]
		src, dst := hA4, hB4
		if spec.mode == ipsec.ModeTransport {
			src, dst = spec.outerA, spec.outerB
		}
		pushOut(out, udpPacket(src, dst, 80, false))
		for role, ds := range r.sent {
			for _, d := range ds {
				if role%2 == 1 && role >= sockESP4 {
					d = d[packet.IPv6HeaderLen:]
				}
				f.Add(uint8(role), d)
			}
		}
	}
	f.Add(uint8(sockUDP4NATT), []byte{0xff})
	f.Add(uint8(sockUDP4NATT), []byte{0, 0, 0, 0, 1})
	f.Add(uint8(sockAH4), []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 51, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2, 17, 4, 0, 0, 0, 0, 0x30, 1, 0, 0, 0, 1})
	f.Add(uint8(sockAH6), []byte{17, 4, 0, 0, 0, 0, 0x40, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

	dps := make([]*DataPlane, len(sinks))
	for i, b := range sinks {
		dps[i] = memDP(f, b)
	}
	f.Fuzz(func(t *testing.T, role uint8, d []byte) {
		if len(d) == 0 || len(d) > maxDatagram {
			return
		}
		r := int(role) % numSocks
		for i, dp := range dps {
			var rec recorder
			in := memIn(dp, r, &rec, 1)
			src := netip.AddrPortFrom(ua4, 4500)
			dst := ub4
			if r%2 == 1 {
				src, dst = netip.AddrPortFrom(ua6, 4500), ub6
			}
			before := dp.Stats()
			pushIn(in, []rxMeta{{Src: src, Dst: dst, TOS: uint8(len(d))}}, d)
			after := dp.Stats()
			if got := accounted(after) - accounted(before); got != 1 {
				t.Fatalf("site %d role %d: datagram counted %d times (%+v)", i, r, got, after)
			}
			if len(rec.tun) > 0 && after.InPackets == before.InPackets {
				t.Fatal("TUN write without an inbound count")
			}
		}
	})
}

// accounted sums the counters every received datagram lands in once.
func accounted(s Stats) uint64 {
	return s.InPackets + s.Malformed + s.NoSA + s.AuthFailed + s.Replay + s.PolicyMismatch + s.Expired +
		s.ECNDrop + s.Dummy + s.Keepalives + s.IKE + s.Other + s.TooBig
}

// FuzzOutbound feeds arbitrary packets from the TUN through the outbound
// path (SPD, ICMP errors, fragmentation, sealing) and checks that nothing
// panics and every packet is accounted for.
func FuzzOutbound(f *testing.F) {
	a, _ := makeLink(f, tunnelSpec(ua4, ub4, false))
	dp := memDP(f, a)
	f.Add(udpPacket(hA4, hB4, 100, false))
	f.Add(udpPacket(hA4, hB4, 1500, false))
	f.Add(udpPacket(hA4, hB4, 1500, true))
	f.Add(udpPacket(hA6, hB6, 1500, false))
	f.Add(udpPacket(hA6, hB6, 70, false))
	f.Add([]byte{0x46, 0, 0, 24})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) == 0 || len(pkt) > dp.cfg.UnderlayMTU {
			return
		}
		var r recorder
		out := memOut(dp, &r, 4)
		before := dp.Stats()
		pushOut(out, pkt)
		after := dp.Stats()
		n := after.OutPackets - before.OutPackets
		if after.Fragmented > before.Fragmented {
			n = 1
		}
		n += after.Malformed - before.Malformed + after.Discarded - before.Discarded + after.Bypassed - before.Bypassed +
			after.NoSA - before.NoSA + after.TooBig - before.TooBig + after.Other - before.Other
		if n != 1 {
			t.Fatalf("packet counted %d times: %+v -> %+v", n, before, after)
		}
		for _, e := range r.tun {
			if len(e) > minIPv6MTU {
				t.Fatalf("ICMP error of %d octets", len(e))
			}
		}
	})
}

// FuzzParseCmsgs checks the control-message walker on arbitrary input.
func FuzzParseCmsgs(f *testing.F) {
	f.Add(appendPktinfo(nil, ub4))
	f.Add(appendPktinfo(nil, ub6))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, oob []byte) {
		var m rxMeta
		parseCmsgs(oob, &m)
	})
}

// FuzzGROSplit feeds the NAT-T path a datagram the kernel coalesced (UDP
// GRO) with an arbitrary segment size: nothing panics and every segment is
// accounted for exactly once, like a datagram of its own.
func FuzzGROSplit(f *testing.F) {
	a, b := makeLink(f, tunnelSpec(ua4, ub4, true))
	var r recorder
	pushOut(memOut(memDP(f, a), &r, 4), udpPacket(hA4, hB4, 200, false), udpPacket(hA4, hB4, 200, false), udpPacket(hA4, hB4, 120, false))
	var seed []byte
	for _, d := range r.sent[sockUDP4NATT] {
		seed = append(seed, d...)
	}
	f.Add(uint16(len(r.sent[sockUDP4NATT][0])), seed)
	f.Add(uint16(1), []byte{0xff, 0xff, 0xff})
	f.Add(uint16(5), []byte{0, 0, 0, 0, 1, 0xff})
	dp := memDP(f, b)
	var rec recorder
	in := memIn(dp, sockUDP4NATT, &rec, 1) // one worker, as in the daemon: its buffers are large
	f.Fuzz(func(t *testing.T, gso uint16, d []byte) {
		if len(d) == 0 || len(d) > maxDatagram || gso == 0 {
			return
		}
		rec.reset()
		before := dp.Stats()
		pushIn(in, []rxMeta{{Src: netip.AddrPortFrom(ua4, 4500), Dst: ub4, GSO: int(gso)}}, d)
		after := dp.Stats()
		want := uint64((len(d) + int(gso) - 1) / int(gso))
		if got := accounted(after) - accounted(before); got != want {
			t.Fatalf("%d octets in segments of %d: %d accounted, want %d (%+v)", len(d), gso, got, want, after)
		}
	})
}
