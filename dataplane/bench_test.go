package dataplane

import (
	"net/netip"
	"testing"
)

const benchBatch = 64

// BenchmarkOutbound measures the in-memory outbound path for one batch:
// SPD lookup, sealing in place (AES-128-GCM, tunnel mode) and queuing on
// the socket's send list, which the benchmark's send function takes as is.
func BenchmarkOutbound(b *testing.B) {
	for _, c := range []struct {
		name  string
		encap bool
		size  int
	}{{"raw/1400", false, 1400}, {"udp/1400", true, 1400}, {"raw/64", false, 64}} {
		b.Run(c.name, func(b *testing.B) {
			a, _ := makeLink(b, tunnelSpec(ua4, ub4, c.encap))
			dp := memDP(b, a)
			out := dp.newOutPath(benchBatch)
			sent := 0
			out.send = func(role int, msgs []txMsg) { sent += len(msgs) }
			pkt := udpPacket(hA4, hB4, c.size, false)
			b.SetBytes(int64(benchBatch * c.size))
			b.ReportAllocs()
			for b.Loop() {
				for i := range benchBatch {
					out.sizes[i] = copy(out.bufs[i][HeadRoom:], pkt)
				}
				out.process(benchBatch)
			}
			if sent == 0 {
				b.Fatal("nothing sent")
			}
		})
	}
}

// BenchmarkInbound measures the in-memory inbound path for one batch of
// ESP-in-UDP datagrams: SPI lookup, opening in place, the inbound policy
// check and queuing for the TUN (anti-replay off so the batch can repeat).
func BenchmarkInbound(b *testing.B) {
	spec := tunnelSpec(ua4, ub4, true)
	spec.noReplay = true
	a, bs := makeLink(b, spec)
	dpA, dpB := memDP(b, a), memDP(b, bs)
	var r recorder
	out := memOut(dpA, &r, benchBatch)
	pkts := make([][]byte, benchBatch)
	for i := range pkts {
		pkts[i] = udpPacket(hA4, hB4, 1400, false)
	}
	pushOut(out, pkts...)
	dgrams := r.sent[sockUDP4NATT]
	in := dpB.newInPath(sockUDP4NATT, benchBatch)
	delivered := 0
	in.writeTUN = func(bufs [][]byte) { delivered += len(bufs) }
	m := rxMeta{Src: netip.AddrPortFrom(ua4, 4500), Dst: ub4}
	b.SetBytes(int64(benchBatch * 1400))
	b.ReportAllocs()
	for b.Loop() {
		for i, d := range dgrams {
			copy(in.slots[i][HeadRoom:], d)
			in.meta[i] = m
			in.meta[i].N = len(d)
		}
		in.process(len(dgrams))
	}
	if delivered == 0 {
		b.Fatalf("nothing delivered: %+v", dpB.Stats())
	}
}
