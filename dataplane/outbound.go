package dataplane

import (
	"errors"
	"net/netip"
	"os"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/cygnet-ipsec/cygnet/ah"
	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/replay"
	"github.com/cygnet-ipsec/cygnet/spd"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// outPath is one batch of the outbound path: the TUN read batch, spare buffers
// for fragments and ICMP errors, and the per-socket send lists. All of it
// is allocated once; a batch allocates nothing.
type outPath struct {
	dp     *DataPlane
	bufs   [][]byte
	sizes  []int
	spares [][]byte
	nSpare int
	tx     [numSocks][]txMsg
	// tcpOut are the batch's ESP packets for peers reached over TCP.
	tcpOut   []tcpMsg
	tunOut   [][]byte
	send     func(role int, msgs []txMsg)
	writeTUN func(bufs [][]byte)

	// jobs are the ESP packets of the batch waiting to be sealed, in the
	// order they are sent.
	jobs []sealJob
	// barrier, when the path is one batch of a pipeline, waits until the
	// batches before it are sent, so that a batch flushed before it is
	// full (too many fragments or jobs) overtakes none of them.
	barrier func() bool
}

// sealJob is one inner packet buf[HeadRoom:HeadRoom+n] to seal with sa
// under sequence number seq, and what sealing it gave.
type sealJob struct {
	sa   *SA
	buf  []byte
	n    int
	seq  uint64
	out  []byte
	role int
	to   netip.AddrPort
	err  error
}

// slotLen is the size of an outbound buffer: head room, the largest inner
// packet the underlay can carry, tail room.
func (dp *DataPlane) slotLen() int { return HeadRoom + dp.cfg.UnderlayMTU + TailRoom }

func (dp *DataPlane) newOutPath(batch int) *outPath {
	o := &outPath{dp: dp, sizes: make([]int, batch), tunOut: make([][]byte, 0, batch)}
	o.bufs = slab(batch, dp.slotLen())
	o.spares = slab(batch, dp.slotLen())
	for i := range o.tx {
		o.tx[i] = make([]txMsg, 0, 2*batch)
	}
	o.send = dp.sendBatch
	o.writeTUN = dp.writeTUN
	o.jobs = make([]sealJob, 0, 2*batch)
	return o
}

// newOutPaths returns the batches of the outbound pipeline's lanes.
func (dp *DataPlane) newOutPaths(batch int) []*outPath {
	paths := make([]*outPath, lanesBatches(dp.lanes))
	for i := range paths {
		paths[i] = dp.newOutPath(batch)
	}
	return paths
}

// slab cuts n buffers of size octets out of one allocation; each buffer's
// capacity ends where the next begins.
func slab(n, size int) [][]byte {
	all := make([]byte, n*size)
	out := make([][]byte, n)
	for i := range out {
		out[i] = all[i*size : (i+1)*size : (i+1)*size]
	}
	return out
}

func (dp *DataPlane) runOutbound() {
	batch := max(dp.cfg.Batch, dp.tun.BatchSize())
	dp.outbound(dp.tun.Read, dp.newOutPaths(batch))
}

// tunReader reads a batch of packets from the TUN, each at offset in its
// buffer, as tun.Device's Read does.
type tunReader func(bufs [][]byte, sizes []int, offset int) (int, error)

// outbound reads batches with read until the data plane closes (or read
// says the TUN is gone), and moves them through the pipeline of paths.
func (dp *DataPlane) outbound(read tunReader, paths []*outPath) {
	p := newPipeline(dp.done, dp.lanes, paths)
	for _, o := range paths {
		o.barrier = p.wait
	}
	p.run(func(o *outPath) (got, stop bool) {
		n, err := read(o.bufs, o.sizes, HeadRoom)
		if err != nil {
			select {
			case <-dp.done:
				return false, true
			default:
			}
			if errors.Is(err, os.ErrClosed) {
				return false, true
			}
			if errors.Is(err, tun.ErrTooManySegments) {
				dp.ctr.malformed.Add(1)
			} else {
				dp.ctr.tunErrors.Add(1)
				// A persistent error must not spin: back off a little.
				time.Sleep(10 * time.Millisecond)
			}
		}
		if n <= 0 {
			return false, false
		}
		o.prepare(n)
		return true, false
	})
}

// process runs the n packets in o.bufs (each at HeadRoom, o.sizes long)
// through the SPD and the SAs and sends them, all on the caller's
// goroutine.
func (o *outPath) process(n int) {
	o.prepare(n)
	o.crypt()
	o.handOn()
}

// prepare is the batch's in-order first stage: every packet is looked up
// in the SPD and queued for sealing with its SA, and the sealing jobs get
// their sequence numbers.
func (o *outPath) prepare(n int) {
	dp := o.dp
	tbl := dp.spd.Table()
	// A batch is mostly one flow (a TSO burst): look its policy up once.
	var lastFlow spd.Flow
	var lastPol *spd.Policy
	looked := false
	for i := range n {
		buf := o.bufs[i]
		size := o.sizes[i]
		if size <= 0 || HeadRoom+size > len(buf) {
			dp.ctr.malformed.Add(1)
			continue
		}
		pkt := buf[HeadRoom : HeadRoom+size]
		f, err := spd.ExtractFlow(pkt)
		if err != nil {
			dp.ctr.malformed.Add(1)
			continue
		}
		pol := lastPol
		if !looked || f != lastFlow {
			pol = tbl.Lookup(spd.Out, f)
			lastFlow, lastPol, looked = f, pol, true
		}
		if pol == nil || pol.Action == spd.Discard {
			dp.ctr.discarded.Add(1)
			continue
		}
		if pol.Action == spd.Bypass {
			dp.ctr.bypassed.Add(1)
			continue
		}
		route, _ := pol.Handle.(*Route)
		if route == nil {
			dp.ctr.noSA.Add(1)
			continue
		}
		sa := route.Outbound()
		if sa == nil {
			dp.ctr.noSA.Add(1)
			dp.acquire(route, pol.ID)
			continue
		}
		limit := InnerMTU(sa, dp.cfg.UnderlayMTU)
		if size <= limit {
			o.seal(sa, buf, size)
			continue
		}
		o.oversized(sa, pkt, limit)
	}
	o.reserve()
}

// oversized answers a packet above the SA's limit with ICMP (DF or IPv6) or
// fragments it (IPv4 without DF) and seals the fragments.
func (o *outPath) oversized(sa *SA, pkt []byte, limit int) {
	dp := o.dp
	if dontFragment(pkt) {
		dp.ctr.tooBig.Add(1)
		spare := o.spare()
		if m := buildTooBig(spare[tunWriteOffset:], pkt, limit); m > 0 {
			o.tunOut = append(o.tunOut, spare[:tunWriteOffset+m])
		}
		return
	}
	k := fragmentCount(pkt, limit)
	if k == 0 || k > len(o.spares) {
		dp.ctr.tooBig.Add(1)
		return
	}
	dp.ctr.fragmented.Add(1)
	if o.nSpare+k > len(o.spares) {
		o.flush()
	}
	for j := range k {
		spare := o.spare()
		m := fragment4(spare[HeadRoom:], pkt, limit, j)
		o.seal(sa, spare, m)
	}
}

// spare returns a free spare buffer, flushing the batch when all are used.
func (o *outPath) spare() []byte {
	if o.nSpare == len(o.spares) {
		o.flush()
	}
	b := o.spares[o.nSpare]
	o.nSpare++
	return b
}

// seal queues the inner packet buf[HeadRoom:HeadRoom+n] for sealing with
// sa (ESP: at flush, AH: now) and sending on the SA's socket.
func (o *outPath) seal(sa *SA, buf []byte, n int) {
	dp := o.dp
	if err := sa.account(n); err != nil {
		dp.ctr.expired.Add(1)
		return
	}
	if sa.ESP != nil {
		if len(o.jobs) == cap(o.jobs) {
			o.flush()
		}
		o.jobs = append(o.jobs, sealJob{sa: sa, buf: buf, n: n})
		return
	}
	p, err := sa.AH.Seal(buf, HeadRoom, n)
	if err != nil {
		dp.ctr.drop(err)
		return
	}
	to := sa.CurrentPeer()
	role := pick(sockAH4, packet.Version(p.Bytes) == 6)
	o.tx[role] = append(o.tx[role], txMsg{b: p.Bytes, to: netip.AddrPortFrom(to.Addr(), 0)})
	dp.ctr.outPackets.Add(1)
	dp.ctr.outBytes.Add(uint64(len(p.Bytes)))
	o.checkRekey(sa)
}

func (o *outPath) checkRekey(sa *SA) {
	if sa.needsRekey() && sa.rekeyRaised.CompareAndSwap(false, true) {
		o.dp.emit(Event{Kind: SoftExpire, Route: sa.Route, SPI: sa.SPI(), Protocol: sa.Protocol()})
	}
}

// reserve gives the queued ESP packets their sequence numbers in the
// batch's order, one atomic operation per run of one SA.
func (o *outPath) reserve() {
	jobs := o.jobs
	for i := 0; i < len(jobs); {
		sa := jobs[i].sa
		k := 1
		for i+k < len(jobs) && jobs[i+k].sa == sa {
			k++
		}
		first, got, err := sa.ESP.ReserveSeq(k)
		for j := range k {
			if j < got {
				jobs[i+j].seq = first + uint64(j)
			} else {
				jobs[i+j].err = err
				if err == nil {
					jobs[i+j].err = ipsec.ErrSequenceExhausted
				}
			}
		}
		i += k
	}
}

// crypt seals the queued ESP packets.
func (o *outPath) crypt() {
	for i := range o.jobs {
		o.sealOne(i)
	}
}

// queueSealed queues the sealed packets on their sockets (or TCP
// connections) in the batch's order.
func (o *outPath) queueSealed() {
	dp := o.dp
	jobs := o.jobs
	var pkts, bytes uint64
	var last *SA
	tcp := dp.tcp.active.Load()
	var tcpSA *SA
	var tcpConn *tcpConn
	var tcpVia bool
	for i := range jobs {
		j := &jobs[i]
		if j.err != nil {
			dp.ctr.drop(j.err)
			continue
		}
		if tcp {
			// Peers reached over TCP get the ESP packet framed on
			// their connection (one route lookup per run of one SA).
			if j.sa != tcpSA {
				tcpSA = j.sa
				tcpConn, tcpVia = dp.tcpRoute(j.to)
			}
			if !tcpVia && j.sa.overTCP.Load() {
				dp.ctr.sendErrors.Add(1) // its connection is gone: not over UDP
				continue
			}
			if tcpVia {
				if !j.sa.overTCP.Load() {
					j.sa.overTCP.Store(true)
				}
				b, ok := tcpPayload(j.sa, j.out)
				if tcpConn == nil || !ok {
					dp.ctr.sendErrors.Add(1)
					continue
				}
				o.tcpOut = append(o.tcpOut, tcpMsg{c: tcpConn, b: b})
				pkts++
				bytes += uint64(len(b))
				if j.sa != last {
					last = j.sa
					o.checkRekey(j.sa)
				}
				continue
			}
		}
		o.tx[j.role] = append(o.tx[j.role], txMsg{b: j.out, to: j.to})
		pkts++
		bytes += uint64(len(j.out))
		if j.sa != last {
			last = j.sa
			o.checkRekey(j.sa)
		}
	}
	if pkts > 0 {
		dp.ctr.outPackets.Add(pkts)
		dp.ctr.outBytes.Add(bytes)
	}
	clear(jobs)
	o.jobs = jobs[:0]
}

// sealOne seals job i.
func (o *outPath) sealOne(i int) {
	j := &o.jobs[i]
	if j.err != nil {
		return
	}
	sa := j.sa
	p, err := sa.ESP.SealSeq(j.buf, HeadRoom, j.n, j.seq)
	if err != nil {
		j.err = err
		return
	}
	to := sa.CurrentPeer()
	if sa.Encap {
		j.out, j.role, j.to = p.Bytes[p.ESP:], pick(sockUDP4NATT, to.Addr().Is6()), to
	} else {
		j.out, j.role = p.Bytes, pick(sockESP4, packet.Version(p.Bytes) == 6)
		j.to = netip.AddrPortFrom(to.Addr(), 0)
	}
}

// flush seals and sends what the batch holds so far, before it is full:
// its jobs or spare buffers ran out.
func (o *outPath) flush() {
	if o.barrier != nil {
		o.barrier()
	}
	o.reserve()
	o.crypt()
	o.handOn()
}

// busy reports that the batch is full. One TUN read returns one TSO burst
// (about 45 packets of a 64 KiB one), which the lane that read it seals
// in a few microseconds: sealing a burst on another core cost more in
// wake-ups than it saved.
func (o *outPath) busy() bool { return len(o.jobs) >= len(o.bufs) }

// handOn is the batch's in-order last stage: it queues the sealed
// packets, sends everything queued (one call per socket) and the ICMP
// errors (one TUN write), and frees the spare buffers.
func (o *outPath) handOn() {
	if len(o.jobs) > 0 {
		o.queueSealed()
	}
	for role := range o.tx {
		if len(o.tx[role]) > 0 {
			o.send(role, o.tx[role])
			clear(o.tx[role])
			o.tx[role] = o.tx[role][:0]
		}
	}
	if len(o.tcpOut) > 0 {
		o.dp.sendTCP(o.tcpOut)
		clear(o.tcpOut)
		o.tcpOut = o.tcpOut[:0]
	}
	if len(o.tunOut) > 0 {
		o.writeTUN(o.tunOut)
		clear(o.tunOut)
		o.tunOut = o.tunOut[:0]
	}
	o.nSpare = 0
}

// acquire raises an acquire for route, at most once a second per route.
func (dp *DataPlane) acquire(route *Route, policyID uint64) {
	now := time.Now().UnixNano()
	last := route.lastAcquire.Load()
	if now-last < int64(time.Second) || !route.lastAcquire.CompareAndSwap(last, now) {
		return
	}
	dp.emit(Event{Kind: Acquire, Route: route, PolicyID: policyID})
}

// sendBatch sends msgs through the socket of role.
func (dp *DataPlane) sendBatch(role int, msgs []txMsg) {
	s := dp.socks[role]
	if s == nil {
		dp.ctr.sendErrors.Add(uint64(len(msgs)))
		return
	}
	if failed, _ := s.io.send(msgs); failed > 0 {
		dp.ctr.sendErrors.Add(uint64(failed))
	}
}

// writeTUN writes packets that start tunWriteOffset octets into each
// buffer to the TUN in one call.
func (dp *DataPlane) writeTUN(bufs [][]byte) {
	if _, err := dp.tun.Write(bufs, tunWriteOffset); err != nil {
		dp.ctr.tunErrors.Add(1)
	}
}

// drop counts a packet the engines refused, by reason.
func (c *counters) drop(err error) {
	switch {
	case errors.Is(err, transform.ErrAuth):
		c.authFailed.Add(1)
	case errors.Is(err, replay.ErrReplayed), errors.Is(err, replay.ErrTooOld), errors.Is(err, replay.ErrOutOfWindow):
		c.replay.Add(1)
	case errors.Is(err, ipsec.ErrUnknownSPI):
		c.noSA.Add(1)
	case errors.Is(err, ipsec.ErrSequenceExhausted), errors.Is(err, transform.ErrWiped):
		c.expired.Add(1)
	case errors.Is(err, packet.ErrECNDrop):
		c.ecnDrop.Add(1)
	case errors.Is(err, esp.ErrBufferTooSmall), errors.Is(err, ah.ErrBufferTooSmall):
		c.tooBig.Add(1)
	case errors.Is(err, esp.ErrMalformed), errors.Is(err, esp.ErrBadPadding), errors.Is(err, esp.ErrBadNextHeader),
		errors.Is(err, ah.ErrMalformed), errors.Is(err, ah.ErrBadNextHeader), errors.Is(err, ah.ErrUnsupportedHeader),
		errors.Is(err, esp.ErrNotESP):
		c.malformed.Add(1)
	default:
		c.other.Add(1)
	}
}
