package dataplane

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/spd"
)

const (
	espHeaderLen = 8
	udpHeaderLen = 8
	ahMinLen     = 12
)

// inPath is one batch of a socket's inbound path, allocated once.
type inPath struct {
	dp       *DataPlane
	role     int
	v6       bool
	local    netip.Addr // the bound address, for sockets without packet info
	slots    [][]byte
	rx       [][]byte
	meta     []rxMeta
	tunOut   [][]byte
	writeTUN func(bufs [][]byte)
	// tcp is the TCP connection this path reads (nil: a socket's).
	tcp *tcpConn
	// early is set on the paths that open held packets (earlyHold): what
	// they cannot open is not held again.
	early bool

	// segs receive the segments of GRO-coalesced datagrams after the
	// first (which is opened where it arrived): each inner packet needs
	// a buffer of its own, since the TUN's write coalescing grows a
	// packet in place over what follows it. Made on the first one.
	segs  [][]byte
	nSegs int
	// mostSegs is the most segments after the first that one datagram of
	// the batch carried (0: nothing was coalesced).
	mostSegs int

	// jobs are the ESP packets of the batch waiting to be opened, in
	// arrival order.
	jobs []openJob
	// barrier, when the path is one batch of a pipeline, waits until the
	// batches before it are delivered (see outPath.barrier).
	barrier func() bool
	// full is set when the read filled the batch (see busy).
	full bool
	// inPackets and inBytes are charged to the counters once a batch.
	inPackets, inBytes uint64
	// tbl is the SPD as the batch found it, and the last inbound lookup.
	tbl      *spd.Table
	lastFlow spd.Flow
	lastPol  *spd.Policy
	looked   bool
}

// openJob is one ESP packet to open: b is the whole IP packet (whole) or
// the ESP packet alone (tunnel mode from a socket that stripped the
// header), inside slot.
type openJob struct {
	sa   *SA
	slot []byte
	b    []byte
	// from, when set, is where b's octets still are: a segment of a
	// GRO-coalesced datagram, which crypt decrypts from there into b, its
	// own buffer (the decryption is the copy), outside the pipeline's read
	// lock.
	from  []byte
	whole bool
	encap bool
	tos   uint8
	src   netip.AddrPort
	v     esp.Verified
	err   error
	// allowed records the SPD's verdict on a tunnel-mode inner packet,
	// looked up by crypt, in parallel, instead of in the in-order stage;
	// unchecked leaves it to deliver.
	allowed verdict
}

// verdict is the inbound policy's answer for an inner packet.
type verdict uint8

const (
	unchecked verdict = iota
	allow
	refuse
	// unreadable: the inner packet's addresses or ports cannot be read.
	unreadable
)

// maxSegs is how many split segments an inbound batch holds before it
// writes to the TUN: more than one GRO datagram carries (64).
const maxSegs = 128

func (dp *DataPlane) newInPath(role int, batch int) *inPath {
	return dp.newInPathSized(role, batch, HeadRoom+maxDatagram)
}

// newInPathSized is newInPath with slots of slotLen octets (a TCP
// connection's are smaller).
func (dp *DataPlane) newInPathSized(role, batch, slotLen int) *inPath {
	p := &inPath{
		dp:       dp,
		role:     role,
		v6:       role%2 == 1,
		slots:    slab(batch, slotLen),
		rx:       make([][]byte, batch),
		meta:     make([]rxMeta, batch),
		tunOut:   make([][]byte, 0, batch),
		writeTUN: dp.writeTUN,
	}
	p.local = dp.cfg.Local4
	if p.v6 {
		p.local = dp.cfg.Local6
	}
	for i, s := range p.slots {
		p.rx[i] = s[HeadRoom:]
	}
	// Room for a batch and for every segment of one coalesced datagram.
	p.jobs = make([]openJob, 0, batch+1+maxSegs)
	return p
}

func (dp *DataPlane) runInbound(s *socket) {
	// Only ESP is worth several lanes: IKE and AH are not bulk traffic.
	lanes := 1
	if r := s.role &^ 1; r == sockUDP4NATT || r == sockESP4 {
		lanes = dp.lanes
	}
	dp.receiveOn(s.io, s.role, len(s.io.rxHdrs), lanes)
}

// receiveOn runs receive on r with the batches of lanes lanes, each of
// batch datagrams for a socket of role.
func (dp *DataPlane) receiveOn(r datagramReader, role, batch, lanes int) {
	paths := make([]*inPath, lanesBatches(lanes))
	for i := range paths {
		paths[i] = dp.newInPath(role, batch)
	}
	dp.receive(r, lanes, paths)
}

// datagramReader receives a batch of datagrams, waiting for the first
// (recv), or only what has arrived (drain), as batchIO does.
type datagramReader interface {
	recv(bufs [][]byte, meta []rxMeta) (int, error)
	drain(bufs [][]byte, meta []rxMeta) (int, error)
}

// receive reads batches of datagrams from r until the data plane closes and
// moves them through a pipeline of lanes with the batches paths.
func (dp *DataPlane) receive(r datagramReader, lanes int, paths []*inPath) {
	p := newPipeline(dp.done, lanes, paths)
	for _, q := range paths {
		q.barrier = p.wait
	}
	// want is how many datagrams the next batch reads: all its slots,
	// unless the last batch's datagrams were GRO-coalesced; then as many
	// as the segment buffers hold if they are coalesced as much. A batch
	// that runs out of segment buffers opens and delivers what it has
	// before it reads on, under the read lock, so its lanes would take
	// turns instead of working side by side.
	want := len(paths[0].rx)
	p.run(func(q *inPath) (got, stop bool) {
		n, err := r.recv(q.rx[:want], q.meta[:want])
		if err == nil && n < want {
			// Take what else has arrived meanwhile, so one TUN write
			// carries as much as possible (its coalescing works within
			// one write).
			m, _ := r.drain(q.rx[n:want], q.meta[n:want])
			n += m
		}
		if err != nil {
			select {
			case <-dp.done:
				return false, true
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return false, true
			}
			dp.ctr.other.Add(1)
			// A persistent error must not spin: back off a little.
			time.Sleep(10 * time.Millisecond)
			return false, false
		}
		q.full = n == want
		q.prepare(n)
		want = len(q.rx)
		if q.mostSegs > 0 {
			want = max(1, min(want, maxSegs/q.mostSegs))
		}
		return true, false
	})
}

// process handles the n datagrams in p.slots (each at HeadRoom, described
// by p.meta) and writes the inner packets to the TUN in one call, all on
// the caller's goroutine.
func (p *inPath) process(n int) {
	p.prepare(n)
	p.crypt()
	p.handOn()
}

// prepare is the batch's in-order first stage: every datagram is
// classified, IKE messages handed to IKE, AH opened, and ESP packets
// queued for opening with their SA.
func (p *inPath) prepare(n int) {
	dp := p.dp
	p.mostSegs = 0
	for i := range n {
		m := &p.meta[i]
		slot := p.slots[i]
		if m.Trunc || m.N <= 0 || HeadRoom+m.N > len(slot) {
			dp.ctr.malformed.Add(1)
			continue
		}
		if !m.Dst.IsValid() {
			m.Dst = p.local
		}
		b := slot[HeadRoom : HeadRoom+m.N]
		switch p.role &^ 1 {
		case sockUDP4IKE:
			p.ike(b, dp.cfg.IKEPort, m)
		case sockUDP4NATT:
			if m.GSO > 0 && m.N > m.GSO {
				p.splitGRO(slot, m)
				continue
			}
			p.natt(slot, b, m)
		case sockESP4:
			if p.v6 {
				p.espOnly(slot, m, false)
			} else {
				p.whole(slot, b, m, ipsec.ProtoESP)
			}
		case sockAH4:
			if p.v6 {
				// The IPv6 socket strips the header the ICV covers: put a
				// plain one back (extension headers are not recovered,
				// so AH over IPv6 with them fails authentication).
				start := HeadRoom - packet.IPv6HeaderLen
				h := packet.IPv6Header{TrafficClass: m.TOS, PayloadLen: m.N, NextHeader: packet.ProtoAH, HopLimit: 64, Src: m.Src.Addr(), Dst: m.Dst}
				if !h.Src.Is6() || !h.Dst.Is6() {
					dp.ctr.malformed.Add(1)
					continue
				}
				h.Put(slot[start:])
				b = slot[start : HeadRoom+m.N]
			}
			p.whole(slot, b, m, ipsec.ProtoAH)
		}
	}
}

// flush opens and delivers what the batch holds so far, before it is
// full: its jobs or segment buffers ran out.
func (p *inPath) flush() {
	if p.barrier != nil {
		p.barrier()
	}
	p.crypt()
	p.handOn()
}

// crypt checks and decrypts the queued ESP packets (esp.SA.Verify reads
// the replay window but does not move it).
func (p *inPath) crypt() {
	for i := range p.jobs {
		p.verifyOne(i)
	}
}

// busy reports that the batch took all it asked for: the socket may hold
// more.
func (p *inPath) busy() bool { return p.full }

// handOn is the batch's in-order last stage: the replay window takes the
// opened packets' sequence numbers, the inner packets are checked against
// the SPD and written to the TUN in one call, and the segment buffers are
// freed.
func (p *inPath) handOn() {
	if len(p.jobs) > 0 {
		p.finishJobs()
	}
	if p.inPackets > 0 {
		p.dp.ctr.inPackets.Add(p.inPackets)
		p.dp.ctr.inBytes.Add(p.inBytes)
		p.inPackets, p.inBytes = 0, 0
	}
	if len(p.tunOut) > 0 {
		p.writeTUN(p.tunOut)
		clear(p.tunOut)
		p.tunOut = p.tunOut[:0]
	}
	p.nSegs = 0
	p.tbl, p.lastPol, p.looked = nil, nil, false
}

// natt handles one datagram b from the NAT-T port, in slot at HeadRoom.
func (p *inPath) natt(slot, b []byte, m *rxMeta) {
	dp := p.dp
	switch esp.ClassifyUDP(b) {
	case esp.UDPKeepalive:
		dp.ctr.keepalives.Add(1)
	case esp.UDPIKE:
		p.ike(b[4:], dp.cfg.NATTPort, m)
	case esp.UDPESP:
		p.espOnly(slot, m, true)
	default:
		dp.ctr.malformed.Add(1)
	}
}

// splitGRO handles a datagram the kernel coalesced from several of one
// flow (UDP GRO): every segment is a datagram of its own, in order. The
// segments after the first are copied out into buffers of their own before
// anything is opened; the first is handled where it is.
func (p *inPath) splitGRO(slot []byte, m *rxMeta) {
	if p.segs == nil {
		p.segs = slab(maxSegs, HeadRoom+maxDatagram)
	}
	rest := (m.N - 1) / m.GSO // segments after the first
	if rest > maxSegs {
		// More than the kernel coalesces (64): keep what fits.
		p.dp.ctr.malformed.Add(uint64(rest - maxSegs))
		rest = maxSegs
	}
	// No flush may come between the segments: one would hand the first
	// segment's packet to the TUN, whose write coalescing may grow it
	// over the segments after it in slot, not yet copied out.
	p.mostSegs = max(p.mostSegs, rest)
	if p.nSegs+rest > maxSegs || len(p.jobs)+1+rest > cap(p.jobs) {
		p.flush()
	}
	first := p.nSegs
	p.nSegs += rest
	seg := *m
	seg.GSO = 0
	seg.N = m.GSO
	p.natt(slot, slot[HeadRoom:HeadRoom+seg.N], &seg)
	for j := range rest {
		off := HeadRoom + (j+1)*m.GSO
		end := min(off+m.GSO, HeadRoom+m.N)
		seg.N = end - off
		s := p.segs[first+j]
		if b := slot[off:end]; esp.ClassifyUDP(b) == esp.UDPESP && p.espDeferred(s, b, &seg) {
			continue
		}
		copy(s[HeadRoom:], slot[off:end])
		p.natt(s, s[HeadRoom:HeadRoom+seg.N], &seg)
	}
}

// espDeferred queues the tunnel-mode ESP packet b, a segment of a
// coalesced datagram, to be decrypted from where it is into seg (at
// HeadRoom) by crypt instead of copied now: the decryption makes the copy,
// in parallel, not under the pipeline's read lock. It reports false for
// what must be copied now (transport mode rebuilds the outer header in seg
// before crypt).
func (p *inPath) espDeferred(seg, b []byte, m *rxMeta) bool {
	if len(b) < espHeaderLen {
		return false
	}
	sa := p.dp.inbound(ipsec.ProtoESP, binary.BigEndian.Uint32(b))
	if sa == nil || sa.ESP == nil || sa.Mode != ipsec.ModeTunnel {
		return false
	}
	p.queue(openJob{sa: sa, slot: seg, b: seg[HeadRoom : HeadRoom+len(b)], from: b, encap: true, tos: m.TOS, src: m.Src})
	return true
}

// ike hands an IKE message to the daemon.
func (p *inPath) ike(msg []byte, port uint16, m *rxMeta) {
	p.dp.ctr.ike.Add(1)
	if p.dp.cfg.IKE == nil {
		return
	}
	p.dp.udpIKEFrom(m.Src.Addr())
	p.dp.cfg.IKE(msg, netip.AddrPortFrom(m.Dst, port), m.Src)
}

// whole opens a whole IP packet b (from a raw IPv4 socket, or an IPv6 one
// with its header rebuilt) that lives in slot, described by m.
func (p *inPath) whole(slot, b []byte, m *rxMeta, proto ipsec.Protocol) {
	dp := p.dp
	u, err := packet.ParseUpperLayer(b)
	if err != nil {
		dp.ctr.malformed.Add(1)
		return
	}
	need := espHeaderLen
	spiAt := u.Offset
	if proto == ipsec.ProtoAH {
		need, spiAt = ahMinLen, u.Offset+4
	}
	if len(b) < u.Offset+need {
		dp.ctr.malformed.Add(1)
		return
	}
	spi := binary.BigEndian.Uint32(b[spiAt:])
	sa := dp.inbound(proto, spi)
	if sa == nil {
		if proto == ipsec.ProtoESP {
			p.hold(slot, m, spi)
		} else {
			dp.ctr.noSA.Add(1)
		}
		return
	}
	if sa.ESP != nil {
		p.queue(openJob{sa: sa, slot: slot, b: b, whole: true})
		return
	}
	op, err := sa.AH.Open(b)
	if err != nil {
		dp.ctr.drop(err)
		return
	}
	p.deliver(sa, slot, op.Packet, false)
}

// espOnly opens an ESP packet that arrived without its IP header (UDP, or
// a raw IPv6 socket) at slot[HeadRoom:]. Tunnel mode needs only the outer
// TOS; transport mode gets its outer header (and UDP header) rebuilt in the
// head room from the socket's addresses, so the engine can restore the
// original packet and fix its checksums behind a NAT.
func (p *inPath) espOnly(slot []byte, m *rxMeta, encap bool) {
	dp := p.dp
	b := slot[HeadRoom : HeadRoom+m.N]
	if len(b) < espHeaderLen {
		dp.ctr.malformed.Add(1)
		return
	}
	spi := binary.BigEndian.Uint32(b)
	sa := dp.inbound(ipsec.ProtoESP, spi)
	if sa == nil {
		p.hold(slot, m, spi)
		return
	}
	if sa.ESP == nil {
		dp.ctr.noSA.Add(1)
		return
	}
	if sa.Mode == ipsec.ModeTunnel {
		p.queue(openJob{sa: sa, slot: slot, b: b, encap: encap, tos: m.TOS, src: m.Src})
		return
	}
	start, ok := rebuildOuter(slot, m, encap, dp.cfg.NATTPort)
	if !ok {
		dp.ctr.malformed.Add(1)
		return
	}
	p.queue(openJob{sa: sa, slot: slot, b: slot[start : HeadRoom+m.N], whole: true, encap: encap, src: m.Src})
}

// queue adds an ESP packet to the batch's open jobs.
func (p *inPath) queue(j openJob) {
	if len(p.jobs) == cap(p.jobs) {
		p.flush()
	}
	p.jobs = append(p.jobs, j)
}

// finishJobs moves the replay window for the opened packets and delivers
// them, in arrival order.
func (p *inPath) finishJobs() {
	dp := p.dp
	jobs := p.jobs
	for i := range jobs {
		j := &jobs[i]
		if j.err != nil {
			dp.ctr.drop(j.err)
			continue
		}
		op, err := j.sa.ESP.Finish(&j.v)
		if err != nil {
			dp.ctr.drop(err)
			continue
		}
		if p.tcp != nil {
			p.tcp.authentic(j.sa)
		} else if j.encap {
			p.checkSource(j.sa, j.src)
		}
		if op.Dummy || j.allowed == unchecked {
			p.deliver(j.sa, j.slot, op.Packet, op.Dummy)
		} else {
			p.admit(j.sa, j.slot, op.Packet, j.allowed)
		}
	}
	clear(jobs)
	p.jobs = jobs[:0]
}

// verifyOne checks and decrypts job i.
func (p *inPath) verifyOne(i int) {
	j := &p.jobs[i]
	switch {
	case j.from != nil:
		j.v, j.err = j.sa.ESP.VerifyESPFrom(j.b, j.from, j.tos)
	case j.whole:
		j.v, j.err = j.sa.ESP.Verify(j.b)
	default:
		j.v, j.err = j.sa.ESP.VerifyESP(j.b, j.tos)
	}
	if inner := j.v.Inner(); j.err == nil && inner != nil {
		j.allowed = p.check(j.sa, inner)
	}
}

// peerMovedEvery bounds PeerMoved events per SA: each makes IKE send a
// liveness check, so packets whose source an on-path attacker rewrites cost
// at most a few checks a second, while a real move (which may take two new
// ports when the NAT flushes its table under load) is reported promptly.
const peerMovedEvery = 250 * time.Millisecond

// checkSource raises PeerMoved when an authenticated (opened, not
// replayed) ESP-in-UDP packet came from somewhere other than the SA's
// peer: the peer's NAT mapping changed (RFC 3948). Only IKE moves the SA,
// after checking the peer answers there (RFC 7296 section 2.23).
func (p *inPath) checkSource(sa *SA, src netip.AddrPort) {
	if !sa.Encap || !sa.Peer.IsValid() {
		return
	}
	cur := sa.CurrentPeer()
	if src.Addr().Unmap() == cur.Addr().Unmap() && src.Port() == cur.Port() {
		return
	}
	now := time.Now().UnixNano()
	last := sa.lastMoved.Load()
	if now-last < int64(peerMovedEvery) || !sa.lastMoved.CompareAndSwap(last, now) {
		return
	}
	p.dp.emit(Event{Kind: PeerMoved, Route: sa.Route, SPI: sa.SPI(), Protocol: ipsec.ProtoESP, From: src})
}

// rebuildOuter writes an IP header (and a UDP header when encap) in front
// of the ESP packet at slot[HeadRoom:HeadRoom+m.N] and returns where it
// starts.
func rebuildOuter(slot []byte, m *rxMeta, encap bool, nattPort uint16) (int, bool) {
	src, dst := m.Src.Addr(), m.Dst
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return 0, false
	}
	start := HeadRoom
	proto := uint8(packet.ProtoESP)
	if encap {
		start -= udpHeaderLen
		proto = packet.ProtoUDP
		u := slot[start:]
		binary.BigEndian.PutUint16(u[0:], m.Src.Port())
		binary.BigEndian.PutUint16(u[2:], nattPort)
		binary.BigEndian.PutUint16(u[4:], uint16(udpHeaderLen+m.N))
		binary.BigEndian.PutUint16(u[6:], 0)
	}
	l := HeadRoom + m.N - start
	if src.Is4() {
		start -= packet.IPv4HeaderLen
		h := packet.IPv4Header{TOS: m.TOS, TotalLen: packet.IPv4HeaderLen + l, TTL: 64, Protocol: proto, Src: src, Dst: dst}
		if h.TotalLen > 0xffff {
			return 0, false
		}
		h.Put(slot[start:])
	} else {
		start -= packet.IPv6HeaderLen
		h := packet.IPv6Header{TrafficClass: m.TOS, PayloadLen: l, NextHeader: proto, HopLimit: 64, Src: src, Dst: dst}
		h.Put(slot[start:])
	}
	return start, true
}

// deliver checks a decrypted inner packet against the SA's inbound policy
// and queues it for the TUN.
func (p *inPath) deliver(sa *SA, slot, inner []byte, dummy bool) {
	if dummy {
		p.dp.ctr.dummy.Add(1)
		return
	}
	p.admit(sa, slot, inner, p.check(sa, inner))
}

// check is the SA's inbound policy's verdict on an inner packet. It
// counts nothing, so that crypt may run it on an opened packet the replay
// window then refuses.
func (p *inPath) check(sa *SA, inner []byte) verdict {
	f, err := spd.ExtractFlow(inner)
	if err != nil {
		return unreadable
	}
	// A batch is mostly one flow: look its policy up once per batch.
	if !p.looked || f != p.lastFlow {
		if p.tbl == nil {
			p.tbl = p.dp.spd.Table()
		}
		p.lastPol = p.tbl.Lookup(spd.In, f)
		p.lastFlow, p.looked = f, true
	}
	if pol := p.lastPol; pol == nil || pol.Action != spd.Protect || pol.Handle != any(sa.Route) {
		return refuse
	}
	return allow
}

// admit acts on the verdict v on an inner packet: one the policy allows
// is charged to its SA's lifetime and queued for the batch's TUN write.
func (p *inPath) admit(sa *SA, slot, inner []byte, v verdict) {
	dp := p.dp
	switch v {
	case unreadable:
		dp.ctr.malformed.Add(1)
		return
	case refuse:
		dp.ctr.policy.Add(1)
		return
	}
	if err := sa.account(len(inner)); err != nil {
		dp.ctr.expired.Add(1)
		return
	}
	start := cap(slot) - cap(inner)
	end := start + len(inner)
	if start < tunWriteOffset || end > len(slot) {
		dp.ctr.other.Add(1)
		return
	}
	p.tunOut = append(p.tunOut, slot[start-tunWriteOffset:end])
	p.inPackets++
	p.inBytes += uint64(len(inner))
}
