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

// sealer seals batches of one SA's packets ahead of a benchmark, into
// buffers allocated once: garbage here would make the collector empty the
// engines' pools, and the receive path would be charged for refilling them.
type sealer struct {
	out   *outPath
	pkts  [][]byte
	store [][]byte
	n     int
}

// newSealer makes a sealer for batches of pkts through dp (ESP-in-UDP),
// with room for batches of them at a time.
func newSealer(dp *DataPlane, pkts [][]byte, batches int) *sealer {
	s := &sealer{out: dp.newOutPath(len(pkts)), pkts: pkts, store: make([][]byte, batches*len(pkts))}
	for i := range s.store {
		s.store[i] = make([]byte, 0, 2048)
	}
	s.out.send = func(role int, msgs []txMsg) {
		for _, m := range msgs {
			if role == sockUDP4NATT && s.n < len(s.store) {
				s.store[s.n] = append(s.store[s.n][:0], m.b...)
				s.n++
			}
		}
	}
	return s
}

// seal seals k batches and returns their datagrams, valid until the next
// call.
func (s *sealer) seal(tb testing.TB, k int) [][]byte {
	s.n = 0
	for range k {
		pushOut(s.out, s.pkts...)
	}
	if s.n != k*len(s.pkts) {
		tb.Fatalf("sealed %d datagrams, want %d", s.n, k*len(s.pkts))
	}
	return s.store[:s.n]
}

// BenchmarkInbound measures the in-memory inbound path for one batch of
// ESP-in-UDP datagrams as a peer sends them: SPI lookup, the anti-replay
// check, opening in place, the window update, the inbound policy check and
// queuing for the TUN. Every datagram carries a fresh sequence number, so
// the replay window advances as in real traffic; the datagrams are sealed
// ahead, a chunk of batches at a time, with the timer stopped.
func BenchmarkInbound(b *testing.B) {
	benchInbound(b, func(in *inPath, dgrams [][]byte, m rxMeta) int {
		for i, d := range dgrams {
			copy(in.slots[i][HeadRoom:], d)
			in.meta[i] = m
			in.meta[i].N = len(d)
		}
		return len(dgrams)
	})
}

// BenchmarkInboundGRO is BenchmarkInbound for datagrams as UDP GRO hands
// them over: each batch of benchBatch ESP-in-UDP packets arrives as
// coalesced datagrams of up to 40 equal segments (one recvmmsg slot each),
// which the path splits into a buffer per packet.
func BenchmarkInboundGRO(b *testing.B) {
	const groSegs = 40
	benchInbound(b, func(in *inPath, dgrams [][]byte, m rxMeta) int {
		k := 0
		for ; len(dgrams) > 0; k++ {
			segs := dgrams[:min(groSegs, len(dgrams))]
			dgrams = dgrams[len(segs):]
			in.meta[k] = m
			in.meta[k].GSO = len(segs[0])
			at := HeadRoom
			for _, d := range segs {
				at += copy(in.slots[k][at:], d)
			}
			in.meta[k].N = at - HeadRoom
		}
		return k
	})
}

// benchInbound runs the inbound path over batches of benchBatch sealed
// datagrams of 1400-octet packets; put lays one batch out in the path's
// slots as the socket would and returns how many slots it filled.
func benchInbound(b *testing.B, put func(in *inPath, dgrams [][]byte, m rxMeta) int) {
	const chunk = 32 // batches sealed ahead at a time
	a, bs := makeLink(b, tunnelSpec(ua4, ub4, true))
	dpA, dpB := memDP(b, a), memDP(b, bs)
	pkts := make([][]byte, benchBatch)
	for i := range pkts {
		pkts[i] = udpPacket(hA4, hB4, 1400, false)
	}
	sl := newSealer(dpA, pkts, chunk)
	in := dpB.newInPath(sockUDP4NATT, benchBatch)
	delivered := 0
	in.writeTUN = func(bufs [][]byte) { delivered += len(bufs) }
	m := rxMeta{Src: netip.AddrPortFrom(ua4, 4500), Dst: ub4}
	dgrams := sl.seal(b, chunk)
	b.SetBytes(int64(benchBatch * 1400))
	b.ReportAllocs()
	for b.Loop() {
		if len(dgrams) == 0 {
			b.StopTimer()
			dgrams = sl.seal(b, chunk)
			b.StartTimer()
		}
		in.process(put(in, dgrams[:benchBatch], m))
		dgrams = dgrams[benchBatch:]
	}
	st := dpB.Stats()
	if delivered == 0 || st.Replay != 0 || st.AuthFailed != 0 || st.InPackets != uint64(delivered) {
		b.Fatalf("delivered %d: %+v", delivered, st)
	}
}
