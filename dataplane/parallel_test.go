package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"runtime"
	"testing"

	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// parallelLink is a tunnel-mode ESP-in-UDP link whose data planes spread
// their cryptography over a crew of helpers; B's inbound SA has a replay
// window of window packets.
func parallelLink(t testing.TB, helpers, window int) (dpA, dpB *DataPlane) {
	t.Helper()
	s := tunnelSpec(ua4, ub4, true)
	a, b := makeLink(t, s)
	x, err := esp.New(esp.Config{SPI: b.in.SPI(), Mode: ipsec.ModeTunnel, Direction: ipsec.Inbound,
		Transform: newTransform(t, 1), ReplayWindow: window})
	if err != nil {
		t.Fatal(err)
	}
	b.in = &SA{ESP: x, Direction: ipsec.Inbound, Mode: ipsec.ModeTunnel, Route: b.route}
	dpA, dpB = memDP(t, a), memDP(t, b)
	for _, dp := range []*DataPlane{dpA, dpB} {
		dp.crew = newCrew(helpers)
		t.Cleanup(dp.crew.stop)
	}
	return dpA, dpB
}

// numbered returns n inner packets of size octets carrying their index.
func numbered(n, size int) [][]byte {
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = udpPacket(hA4, hB4, size, false)
		binary.BigEndian.PutUint32(pkts[i][size-4:], uint32(i))
	}
	return pkts
}

// TestParallelOrder seals and opens batches of one SA on a crew of three
// helpers: the datagrams leave with consecutive sequence numbers in the
// order the packets came from the TUN, and B delivers every packet, in
// order, with a replay window (32) smaller than the batch (64), which
// holds only if the window moves in arrival order after the ICV.
func TestParallelOrder(t *testing.T) {
	const batch = 64
	dpA, dpB := parallelLink(t, 3, 32)
	var ra, rb recorder
	out := memOut(dpA, &ra, batch)
	in := memIn(dpB, sockUDP4NATT, &rb, batch)
	pkts := numbered(batch, 1000)
	for round := range 3 {
		ra.reset()
		rb.reset()
		pushOut(out, pkts...)
		sent := ra.sent[sockUDP4NATT]
		if len(sent) != batch {
			t.Fatalf("round %d: sent %d, want %d", round, len(sent), batch)
		}
		for i, d := range sent {
			if seq := binary.BigEndian.Uint32(d[4:]); seq != uint32(round*batch+i+1) {
				t.Fatalf("round %d: datagram %d has sequence number %d, want %d", round, i, seq, round*batch+i+1)
			}
		}
		ms := make([]rxMeta, batch)
		for i := range ms {
			ms[i] = rxMeta{Src: netip.AddrPortFrom(ua4, DefaultNATTPort), Dst: ub4}
		}
		pushIn(in, ms, sent...)
		if len(rb.tun) != batch {
			t.Fatalf("round %d: delivered %d of %d (stats %+v)", round, len(rb.tun), batch, dpB.Stats())
		}
		for i, g := range rb.tun {
			if !bytes.Equal(g, pkts[i]) {
				t.Fatalf("round %d: packet %d out of order or changed", round, i)
			}
		}
	}
	if st := dpB.Stats(); st.Replay != 0 || st.AuthFailed != 0 {
		t.Errorf("stats %+v", st)
	}
	// A replayed batch is refused whole, in the in-order stage.
	pushIn(in, func() []rxMeta {
		ms := make([]rxMeta, batch)
		for i := range ms {
			ms[i] = rxMeta{Src: netip.AddrPortFrom(ua4, DefaultNATTPort), Dst: ub4}
		}
		return ms
	}(), ra.sent[sockUDP4NATT]...)
	if st := dpB.Stats(); st.Replay != batch || st.InPackets != 3*batch {
		t.Errorf("after a replayed batch: stats %+v, want %d replays", st, batch)
	}
}

// BenchmarkOneSA measures one SA's outbound (seal) and inbound (open, the
// replay window on) paths for batches of 128 1400-octet packets, with the
// cryptography spread over GOMAXPROCS goroutines. Run it with -cpu 1,2,4
// to see how one SA scales with cores.
func BenchmarkOneSA(b *testing.B) {
	const batch, size = 128, 1400
	helpers := runtime.GOMAXPROCS(0) - 1
	b.Run("seal", func(b *testing.B) {
		dpA, _ := parallelLink(b, helpers, 1024)
		out := dpA.newOutPath(batch)
		sent := 0
		out.send = func(role int, msgs []txMsg) { sent += len(msgs) }
		pkts := numbered(batch, size)
		b.SetBytes(batch * size)
		b.ReportAllocs()
		for b.Loop() {
			for i, p := range pkts {
				out.sizes[i] = copy(out.bufs[i][HeadRoom:], p)
			}
			out.process(batch)
		}
		if sent == 0 {
			b.Fatal("nothing sent")
		}
	})
	b.Run("open", func(b *testing.B) {
		const chunk = 16 // batches sealed ahead, with the timer stopped
		dpA, dpB := parallelLink(b, helpers, 1024)
		store := make([][]byte, chunk*batch)
		for i := range store {
			store[i] = make([]byte, 0, 2048)
		}
		n := 0
		out := dpA.newOutPath(batch)
		out.send = func(role int, msgs []txMsg) {
			for _, m := range msgs {
				store[n] = append(store[n][:0], m.b...)
				n++
			}
		}
		pkts := numbered(batch, size)
		var ready [][]byte
		seal := func() {
			n = 0
			for range chunk {
				pushOut(out, pkts...)
			}
			ready = store[:n]
		}
		in := dpB.newInPath(sockUDP4NATT, batch)
		delivered := 0
		in.writeTUN = func(bufs [][]byte) { delivered += len(bufs) }
		m := rxMeta{Src: netip.AddrPortFrom(ua4, DefaultNATTPort), Dst: ub4}
		seal()
		b.SetBytes(batch * size)
		b.ReportAllocs()
		for b.Loop() {
			if len(ready) < batch {
				b.StopTimer()
				seal()
				b.StartTimer()
			}
			for i, d := range ready[:batch] {
				copy(in.slots[i][HeadRoom:], d)
				in.meta[i] = m
				in.meta[i].N = len(d)
			}
			ready = ready[batch:]
			in.process(batch)
		}
		if st := dpB.Stats(); delivered == 0 || st.Replay != 0 || st.AuthFailed != 0 {
			b.Fatalf("delivered %d: %+v", delivered, st)
		}
	})
}
