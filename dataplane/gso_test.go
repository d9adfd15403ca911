package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loopUDP opens a UDP socket on 127.0.0.1 and applies opts to it.
func loopUDP(t *testing.T, opts ...[2]int) (*net.UDPConn, syscall.RawConn) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skipf("no loopback UDP: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), o[0]>>16, o[0]&0xffff, o[1]) }); err != nil || serr != nil {
			t.Skipf("setsockopt %#x: %v %v", o[0], err, serr)
		}
	}
	return c, rc
}

func opt(level, name, v int) [2]int { return [2]int{level<<16 | name, v} }

// readAll reads datagrams from c until want arrived or a second passed.
func readAll(t *testing.T, c *net.UDPConn, want int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 70000)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for len(got) < want {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		got = append(got, append([]byte(nil), buf[:n]...))
	}
	return got
}

// gsoBurst is a burst as the outbound path queues it: five equal datagrams
// and a shorter one to one peer, then two to another.
func gsoBurst(to1, to2 netip.AddrPort) []txMsg {
	var msgs []txMsg
	for i := range 6 {
		n := 1000
		if i == 5 {
			n = 300
		}
		msgs = append(msgs, txMsg{b: bytes.Repeat([]byte{byte(i + 1)}, n), to: to1})
	}
	msgs = append(msgs, txMsg{b: bytes.Repeat([]byte{7}, 1000), to: to2}, txMsg{b: bytes.Repeat([]byte{8}, 1000), to: to2})
	return msgs
}

// TestGSOSend sends a burst with UDP_SEGMENT and checks both what a plain
// receiver sees (every datagram, in order, byte for byte) and what a GRO
// receiver sees (the run to one peer as one coalesced datagram, which
// shows it crossed the stack as one).
func TestGSOSend(t *testing.T) {
	plain, _ := loopUDP(t)
	gro, groRC := loopUDP(t, opt(unix.SOL_UDP, unix.UDP_GRO, 1))
	_, sendRC := loopUDP(t)
	c := newBatchIO(sendRC, 8, true)

	msgs := gsoBurst(plain.LocalAddr().(*net.UDPAddr).AddrPort(), gro.LocalAddr().(*net.UDPAddr).AddrPort())
	if failed, err := c.send(msgs); failed != 0 || err != nil {
		t.Fatalf("send: %d failed, %v", failed, err)
	}
	if !c.gso {
		t.Fatal("the kernel refused UDP_SEGMENT on loopback")
	}
	got := readAll(t, plain, 6)
	if len(got) != 6 {
		t.Fatalf("plain receiver got %d datagrams, want 6", len(got))
	}
	for i, g := range got {
		if !bytes.Equal(g, msgs[i].b) {
			t.Errorf("datagram %d: %d octets starting %d, want %d octets of %d", i, len(g), g[0], len(msgs[i].b), msgs[i].b[0])
		}
	}
	// The GRO socket's run of two equal datagrams arrives as one.
	rx := newBatchIO(groRC, 4, false)
	bufs := [][]byte{make([]byte, maxDatagram)}
	meta := make([]rxMeta, 1)
	_ = gro.SetReadDeadline(time.Now().Add(time.Second))
	n, err := rx.recv(bufs, meta)
	if err != nil || n != 1 {
		t.Fatalf("GRO receive: %d, %v", n, err)
	}
	if meta[0].N != 2000 || meta[0].GSO != 1000 {
		t.Errorf("GRO receiver got %d octets with segment size %d, want 2000 and 1000", meta[0].N, meta[0].GSO)
	}
}

// TestGSOFallback: a socket on which the kernel refuses UDP_SEGMENT
// (SO_NO_CHECK makes udp_send_skb answer EINVAL) switches GSO off and still
// delivers every datagram.
func TestGSOFallback(t *testing.T) {
	recv, _ := loopUDP(t)
	_, sendRC := loopUDP(t, opt(unix.SOL_SOCKET, unix.SO_NO_CHECK, 1))
	c := newBatchIO(sendRC, 8, true)
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	msgs := gsoBurst(to, to)
	if failed, err := c.send(msgs); failed != 0 || err != nil {
		t.Fatalf("send: %d failed, %v", failed, err)
	}
	if c.gso {
		t.Error("GSO still on after the kernel refused it")
	}
	got := readAll(t, recv, len(msgs))
	if len(got) != len(msgs) {
		t.Fatalf("got %d datagrams, want %d", len(got), len(msgs))
	}
	for i, g := range got {
		if !bytes.Equal(g, msgs[i].b) {
			t.Errorf("datagram %d differs", i)
		}
	}
}

// TestGROSplit feeds the inbound path one datagram coalesced from a burst
// of ESP-in-UDP packets (and a NAT-keepalive at its end, which a peer may
// send on the same flow): every inner packet reaches the TUN, in order,
// each in its own buffer, and splitting allocates nothing.
func TestGROSplit(t *testing.T) {
	a, b := makeLink(t, tunnelSpec(ua4, ub4, true))
	dpA, dpB := memDP(t, a), memDP(t, b)
	var ra, rb recorder
	out := memOut(dpA, &ra, 8)
	var pkts [][]byte
	for i := range 5 {
		p := udpPacket(hA4, hB4, 1300, false)
		p[len(p)-1] = byte(i) // tell them apart (the inner checksum is not checked)
		pkts = append(pkts, p)
	}
	pushOut(out, pkts...)
	sent := ra.sent[sockUDP4NATT]
	if len(sent) != 5 {
		t.Fatalf("sent %d", len(sent))
	}
	seg := len(sent[0])
	var coalesced []byte
	for _, d := range sent {
		if len(d) != seg {
			t.Fatalf("unequal ESP sizes %d, %d", len(d), seg)
		}
		coalesced = append(coalesced, d...)
	}
	coalesced = append(coalesced, 0xff) // NAT-keepalive
	in := memIn(dpB, sockUDP4NATT, &rb, 4)
	m := rxMeta{Src: netip.AddrPortFrom(ua4, DefaultNATTPort), Dst: ub4, GSO: seg}
	// Buffers handed to the TUN must not overlap: its write coalescing
	// grows a packet over what follows it.
	var tunBufs [][]byte
	in.writeTUN = func(bufs [][]byte) {
		tunBufs = append(tunBufs[:0], bufs...)
		rb.writeTUN(bufs)
	}
	pushIn(in, []rxMeta{m}, coalesced)
	if len(rb.tun) != 5 {
		t.Fatalf("TUN got %d packets, want 5 (stats %+v)", len(rb.tun), dpB.Stats())
	}
	for i, g := range rb.tun {
		if !bytes.Equal(g, pkts[i]) {
			t.Errorf("packet %d differs", i)
		}
	}
	for i := 1; i < len(tunBufs); i++ {
		prev, cur := tunBufs[i-1], tunBufs[i]
		if &prev[:cap(prev)][cap(prev)-1] == &cur[:cap(cur)][cap(cur)-1] {
			t.Errorf("packets %d and %d share a buffer", i-1, i)
		}
	}
	if st := dpB.Stats(); st.Keepalives != 1 || st.InPackets != 5 {
		t.Errorf("stats %+v, want 1 keepalive, 5 packets", st)
	}
	if raceEnabled {
		return
	}
	// The whole split path, sealed datagrams coalesced into a preallocated
	// buffer, must not allocate.
	in.writeTUN = func([][]byte) {}
	out.send = func(role int, msgs []txMsg) {
		coalesced = coalesced[:0]
		for _, d := range msgs {
			coalesced = append(coalesced, d.b...)
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		pushOut(out, pkts...)
		copy(in.slots[0][HeadRoom:], coalesced)
		in.meta[0] = m
		in.meta[0].N = len(coalesced)
		in.process(1)
	})
	if allocs != 0 {
		t.Errorf("GRO split: %v allocations per burst", allocs)
	}
	if st := dpB.Stats(); st.InPackets != 5+20*5+5 || st.AuthFailed != 0 {
		t.Errorf("stats %+v after the allocation runs", st)
	}
}

// queueSocket hands out queued datagrams as they "arrive": a read takes
// at most the rest of the current arrival and as many as it asks for
// (recorded in asked); nothing arrives during a read. Empty, it is closed.
type queueSocket struct {
	dgrams   [][]byte
	meta     []rxMeta
	arrivals []int
	asked    []int
}

func (q *queueSocket) recv(bufs [][]byte, meta []rxMeta) (int, error) {
	if len(q.dgrams) == 0 {
		return 0, net.ErrClosed
	}
	q.asked = append(q.asked, len(bufs))
	n := min(len(bufs), q.arrivals[0])
	if q.arrivals[0] -= n; q.arrivals[0] == 0 {
		q.arrivals = q.arrivals[1:]
	}
	for i := range n {
		meta[i] = q.meta[i]
		meta[i].N = copy(bufs[i], q.dgrams[i])
	}
	q.dgrams, q.meta = q.dgrams[n:], q.meta[n:]
	return n, nil
}

func (q *queueSocket) drain([][]byte, []rxMeta) (int, error) { return 0, nil }

// TestGROReadsWhatFits: after a batch of GRO-coalesced datagrams, the
// inbound path reads only as many datagrams as its segment buffers hold
// (else it must open and deliver half a batch under the read lock, while
// the other lanes wait), and all of them again once datagrams arrive
// uncoalesced. Every packet reaches the TUN in order either way.
func TestGROReadsWhatFits(t *testing.T) {
	const batch, perDgram = 64, 40
	a, b := makeLink(t, tunnelSpec(ua4, ub4, true))
	dpA, dpB := memDP(t, a), memDP(t, b)
	var ra, rb recorder
	out := memOut(dpA, &ra, perDgram)
	pkts := numbered(12*perDgram+5, 1000)
	for i := 0; i < 12*perDgram; i += perDgram {
		pushOut(out, pkts[i:i+perDgram]...)
	}
	pushOut(out, pkts[12*perDgram:]...)
	sent := ra.sent[sockUDP4NATT]
	src := rxMeta{Src: netip.AddrPortFrom(ua4, DefaultNATTPort), Dst: ub4}
	sock := &queueSocket{arrivals: []int{4, 8, 5}}
	for i := 0; i < 12*perDgram; i += perDgram {
		var d []byte
		for _, s := range sent[i : i+perDgram] {
			d = append(d, s...)
		}
		m := src
		m.GSO = len(sent[i])
		sock.dgrams, sock.meta = append(sock.dgrams, d), append(sock.meta, m)
	}
	for _, s := range sent[12*perDgram:] {
		sock.dgrams, sock.meta = append(sock.dgrams, s), append(sock.meta, src)
	}
	in := memIn(dpB, sockUDP4NATT, &rb, batch)
	dpB.receive(sock, 1, []*inPath{in})

	// 12 coalesced datagrams of 39 segments after the first arrive, 4 then
	// 8, then 5 uncoalesced ones. The first read takes the 4 (and has to
	// deliver half of them early); after it, 128/39 = 3 datagrams fit; a
	// read of uncoalesced ones asks for a whole batch again.
	want := []int{batch, 3, 3, 3, 3, batch}
	if !slices.Equal(sock.asked, want) {
		t.Errorf("datagrams asked for per read: %v, want %v", sock.asked, want)
	}
	if len(rb.tun) != len(pkts) {
		t.Fatalf("TUN got %d of %d packets (stats %+v)", len(rb.tun), len(pkts), dpB.Stats())
	}
	for i, g := range rb.tun {
		if !bytes.Equal(g, pkts[i]) {
			t.Fatalf("packet %d out of order or changed", i)
		}
	}
}
