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
// ESP-in-UDP datagrams as a peer sends them: SPI lookup, the anti-replay
// check, opening in place, the window update, the inbound policy check and
// queuing for the TUN. Every datagram carries a fresh sequence number, so
// the replay window advances as in real traffic; the datagrams are sealed
// ahead, a chunk of batches at a time, with the timer stopped.
func BenchmarkInbound(b *testing.B) {
	const chunk = 32 // batches sealed ahead at a time
	a, bs := makeLink(b, tunnelSpec(ua4, ub4, true))
	dpA, dpB := memDP(b, a), memDP(b, bs)
	// The sealed datagrams go into buffers allocated once: garbage here
	// would make the collector empty the engines' pools, and the receive
	// path would be charged for refilling them.
	store := make([][]byte, chunk*benchBatch)
	for i := range store {
		store[i] = make([]byte, 0, 2048)
	}
	n := 0
	out := dpA.newOutPath(benchBatch)
	out.send = func(role int, msgs []txMsg) {
		for _, m := range msgs {
			if role == sockUDP4NATT && n < len(store) {
				store[n] = append(store[n][:0], m.b...)
				n++
			}
		}
	}
	pkts := make([][]byte, benchBatch)
	for i := range pkts {
		pkts[i] = udpPacket(hA4, hB4, 1400, false)
	}
	var dgrams [][]byte // sealed, not yet received
	seal := func() {
		n = 0
		for range chunk {
			pushOut(out, pkts...)
		}
		if n != len(store) {
			b.Fatalf("sealed %d datagrams, want %d", n, len(store))
		}
		dgrams = store
	}
	in := dpB.newInPath(sockUDP4NATT, benchBatch)
	delivered := 0
	in.writeTUN = func(bufs [][]byte) { delivered += len(bufs) }
	m := rxMeta{Src: netip.AddrPortFrom(ua4, 4500), Dst: ub4}
	seal()
	b.SetBytes(int64(benchBatch * 1400))
	b.ReportAllocs()
	for b.Loop() {
		if len(dgrams) == 0 {
			b.StopTimer()
			seal()
			b.StartTimer()
		}
		for i, d := range dgrams[:benchBatch] {
			copy(in.slots[i][HeadRoom:], d)
			in.meta[i] = m
			in.meta[i].N = len(d)
		}
		dgrams = dgrams[benchBatch:]
		in.process(benchBatch)
	}
	st := dpB.Stats()
	if delivered == 0 || st.Replay != 0 || st.AuthFailed != 0 || st.InPackets != uint64(delivered) {
		b.Fatalf("delivered %d: %+v", delivered, st)
	}
}

// BenchmarkInboundGRO is BenchmarkInbound for datagrams as UDP GRO hands
// them over: each batch of benchBatch ESP-in-UDP packets arrives as
// coalesced datagrams of up to groSegs equal segments (one recvmmsg slot
// each), which the path splits into a buffer per packet.
func BenchmarkInboundGRO(b *testing.B) {
	const chunk, groSegs = 32, 40
	a, bs := makeLink(b, tunnelSpec(ua4, ub4, true))
	dpA, dpB := memDP(b, a), memDP(b, bs)
	store := make([][]byte, chunk*benchBatch)
	for i := range store {
		store[i] = make([]byte, 0, 2048)
	}
	n := 0
	out := dpA.newOutPath(benchBatch)
	out.send = func(role int, msgs []txMsg) {
		for _, m := range msgs {
			if role == sockUDP4NATT && n < len(store) {
				store[n] = append(store[n][:0], m.b...)
				n++
			}
		}
	}
	pkts := make([][]byte, benchBatch)
	for i := range pkts {
		pkts[i] = udpPacket(hA4, hB4, 1400, false)
	}
	var dgrams [][]byte
	seal := func() {
		n = 0
		for range chunk {
			pushOut(out, pkts...)
		}
		if n != len(store) {
			b.Fatalf("sealed %d datagrams, want %d", n, len(store))
		}
		dgrams = store
	}
	in := dpB.newInPath(sockUDP4NATT, benchBatch)
	delivered := 0
	in.writeTUN = func(bufs [][]byte) { delivered += len(bufs) }
	m := rxMeta{Src: netip.AddrPortFrom(ua4, 4500), Dst: ub4}
	seal()
	b.SetBytes(int64(benchBatch * 1400))
	b.ReportAllocs()
	for b.Loop() {
		if len(dgrams) == 0 {
			b.StopTimer()
			seal()
			b.StartTimer()
		}
		k := 0
		for rest := dgrams[:benchBatch]; len(rest) > 0; k++ {
			segs := rest[:min(groSegs, len(rest))]
			rest = rest[len(segs):]
			in.meta[k] = m
			in.meta[k].GSO = len(segs[0])
			at := HeadRoom
			for _, d := range segs {
				at += copy(in.slots[k][at:], d)
			}
			in.meta[k].N = at - HeadRoom
		}
		dgrams = dgrams[benchBatch:]
		in.process(k)
	}
	st := dpB.Stats()
	if delivered == 0 || st.Replay != 0 || st.AuthFailed != 0 || st.InPackets != uint64(delivered) {
		b.Fatalf("delivered %d: %+v", delivered, st)
	}
}
