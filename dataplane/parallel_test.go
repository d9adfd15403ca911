package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// parallelLink is a tunnel-mode ESP-in-UDP link whose data planes run
// their pipelines on n lanes; B's inbound SA has a replay window of window
// packets.
func parallelLink(t testing.TB, n, window int) (dpA, dpB *DataPlane) {
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
	dpA.lanes, dpB.lanes = n, n
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

// feedTUN returns a TUN reader that hands out the batches one per read,
// then says the TUN is closed.
func feedTUN(batches [][][]byte) tunReader {
	return func(bufs [][]byte, sizes []int, offset int) (int, error) {
		if len(batches) == 0 {
			return 0, os.ErrClosed
		}
		b := batches[0]
		batches = batches[1:]
		for i, p := range b {
			sizes[i] = copy(bufs[i][offset:], p)
		}
		return len(b), nil
	}
}

// TestParallelOrder runs batches of one SA through both pipelines on
// three lanes, big batches mixed with small ones: the datagrams leave with
// consecutive sequence numbers in the order the packets came from the TUN,
// and B delivers every packet, in order, with a replay window (32) smaller
// than a batch (64), which holds only if the window moves in arrival order
// after the ICV. A replayed batch is then refused whole.
func TestParallelOrder(t *testing.T) {
	const batch = 64
	dpA, dpB := parallelLink(t, 3, 32)
	var shape []int
	for range 40 {
		shape = append(shape, 64, 3, 64, 64, 1, 64, 9, 64, 64, 64, 2, 64, 64, 7, 64, 64)
	}
	var total int
	for _, k := range shape {
		total += k
	}
	pkts := numbered(total, 1000)
	var in [][][]byte
	rest := pkts
	for _, k := range shape {
		in = append(in, rest[:k])
		rest = rest[k:]
	}

	var ra, rb recorder
	outs := dpA.newOutPaths(batch)
	if len(outs) != 6 {
		t.Fatalf("%d outbound batches, want 6 (3 lanes)", len(outs))
	}
	// One socket is never sent on from two goroutines at once: a batch
	// flushed early must wait until the last batch in flight has been
	// sent, not only taken off the queue.
	var sending atomic.Bool
	send := func(role int, msgs []txMsg) {
		if sending.Swap(true) {
			t.Error("two goroutines send at once")
		}
		ra.send(role, msgs)
		sending.Store(false)
	}
	for _, o := range outs {
		o.send, o.writeTUN = send, ra.writeTUN
	}
	dpA.outbound(feedTUN(in), outs)
	sent := ra.sent[sockUDP4NATT]
	if len(sent) != total {
		t.Fatalf("sent %d datagrams, want %d (stats %+v)", len(sent), total, dpA.Stats())
	}
	for i, d := range sent {
		if seq := binary.BigEndian.Uint32(d[4:]); seq != uint32(i+1) {
			t.Fatalf("datagram %d has sequence number %d, want %d", i, seq, i+1)
		}
	}

	var dgrams [][][]byte
	rest = sent
	for _, k := range shape {
		dgrams = append(dgrams, rest[:k])
		rest = rest[k:]
	}
	src := rxMeta{Src: netip.AddrPortFrom(ua4, DefaultNATTPort), Dst: ub4}
	ins := make([]*inPath, lanesBatches(dpB.lanes))
	for i := range ins {
		ins[i] = memIn(dpB, sockUDP4NATT, &rb, batch)
	}
	dpB.receive(&chanSocket{feed: feedBatches(dgrams), meta: src}, dpB.lanes, ins)
	if len(rb.tun) != total {
		t.Fatalf("delivered %d of %d (stats %+v)", len(rb.tun), total, dpB.Stats())
	}
	for i, g := range rb.tun {
		if !bytes.Equal(g, pkts[i]) {
			t.Fatalf("packet %d out of order or changed", i)
		}
	}
	if st := dpB.Stats(); st.Replay != 0 || st.AuthFailed != 0 {
		t.Errorf("stats %+v", st)
	}

	dpB.receive(&chanSocket{feed: feedBatches(dgrams[len(dgrams)-1:]), meta: src}, dpB.lanes, ins)
	if st := dpB.Stats(); st.Replay != 64 || st.InPackets != uint64(total) {
		t.Errorf("after a replayed batch: stats %+v, want 64 replays", st)
	}
}

// BenchmarkOneSA measures one SA's outbound (seal) and inbound (open, the
// replay window on) pipelines for batches of 128 1400-octet packets, on one
// lane per GOMAXPROCS. The lanes' copy of each batch into their buffers,
// under the read lock, stands for the TUN or socket read and is part of the
// cost. Run it with -cpu 1,2,4 to see how one SA scales with cores.
func BenchmarkOneSA(b *testing.B) {
	const batch, size = 128, 1400
	lanes := runtime.GOMAXPROCS(0)
	b.Run("seal", func(b *testing.B) {
		dpA, _ := parallelLink(b, lanes, 1024)
		paths := dpA.newOutPaths(batch)
		var sent atomic.Int64
		for _, o := range paths {
			o.send = func(role int, msgs []txMsg) { sent.Add(int64(len(msgs))) }
		}
		pkts := numbered(batch, size)
		var read int
		tun := func(bufs [][]byte, sizes []int, offset int) (int, error) {
			if read == b.N {
				return 0, os.ErrClosed
			}
			read++
			for i, p := range pkts {
				sizes[i] = copy(bufs[i][offset:], p)
			}
			return batch, nil
		}
		b.SetBytes(batch * size)
		b.ReportAllocs()
		b.ResetTimer()
		dpA.outbound(tun, paths)
		b.StopTimer()
		if sent.Load() != int64(b.N)*batch {
			b.Fatalf("sent %d, want %d", sent.Load(), b.N*batch)
		}
	})
	b.Run("open", func(b *testing.B) { benchOpen(b, lanes) })
}

// benchOpen runs BenchmarkOneSA's open: sealed datagrams are made ahead,
// chunk batches at a time with the timer stopped, and fed to one
// long-running inbound pipeline.
func benchOpen(b *testing.B, lanes int) {
	const batch, size, chunk = 128, 1400, 64
	dpA, dpB := parallelLink(b, lanes, 1024)
	sl := newSealer(dpA, numbered(batch, size), chunk)
	feed := make(chan [][]byte, chunk)
	var delivered atomic.Int64
	caught := make(chan struct{}, 1)
	var target atomic.Int64
	paths := make([]*inPath, lanesBatches(dpB.lanes))
	for i := range paths {
		paths[i] = dpB.newInPath(sockUDP4NATT, batch)
		paths[i].writeTUN = func(bufs [][]byte) {
			if delivered.Add(int64(len(bufs))) == target.Load() {
				caught <- struct{}{}
			}
		}
	}
	src := rxMeta{Src: netip.AddrPortFrom(ua4, DefaultNATTPort), Dst: ub4}
	sock := &chanSocket{feed: feed, meta: src}
	finished := make(chan struct{})
	go func() { dpB.receive(sock, dpB.lanes, paths); close(finished) }()
	b.SetBytes(batch * size)
	b.ReportAllocs()
	b.ResetTimer()
	for left := b.N; left > 0; {
		b.StopTimer()
		k := min(left, chunk)
		dgrams := sl.seal(b, k)
		target.Add(int64(k * batch))
		b.StartTimer()
		for i := range k {
			feed <- dgrams[i*batch : (i+1)*batch]
		}
		<-caught
		left -= k
	}
	b.StopTimer()
	close(feed)
	<-finished
	if st := dpB.Stats(); delivered.Load() != int64(b.N)*batch || st.Replay != 0 || st.AuthFailed != 0 {
		b.Fatalf("delivered %d of %d: %+v", delivered.Load(), b.N*batch, st)
	}
}

// chanSocket is a socket whose batches of datagrams come from a channel;
// closing the channel closes the socket.
type chanSocket struct {
	feed <-chan [][]byte
	meta rxMeta
}

func (c *chanSocket) recv(bufs [][]byte, meta []rxMeta) (int, error) {
	b, ok := <-c.feed
	if !ok {
		return 0, net.ErrClosed
	}
	for i, d := range b {
		copy(bufs[i], d)
		meta[i] = c.meta
		meta[i].N = len(d)
	}
	return len(b), nil
}

func (c *chanSocket) drain([][]byte, []rxMeta) (int, error) { return 0, nil }

// feedBatches returns a closed channel holding batches.
func feedBatches(batches [][][]byte) <-chan [][]byte {
	c := make(chan [][]byte, len(batches))
	for _, b := range batches {
		c <- b
	}
	close(c)
	return c
}
