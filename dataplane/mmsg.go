package dataplane

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cygnet-ipsec/cygnet/packet"
)

// sockaddrLen is the size of a struct sockaddr_in6, which also holds a
// sockaddr_in.
const sockaddrLen = unix.SizeofSockaddrInet6

// oobLen is the control-message room per datagram: packet info (the local
// address, 32 octets with its header), the TOS / traffic class (24) and the
// UDP GRO segment size (24).
const oobLen = 128

// UDP segmentation offload limits: the kernel refuses more than 64
// segments per send on older kernels (UDP_MAX_SEGMENTS), and one datagram
// carries at most 65535 octets of IP packet (the IPv6 header is the larger).
const (
	maxGSOSegments = 64
	maxGSOBytes    = 0xffff - packet.IPv6HeaderLen - udpHeaderLen
)

// gsoOOBLen is the room of one UDP_SEGMENT control message (a uint16).
var gsoOOBLen = unix.CmsgSpace(2)

// rxMeta is what recvmmsg tells about one received datagram.
type rxMeta struct {
	// N is the datagram length.
	N int
	// Trunc means the datagram did not fit its buffer.
	Trunc bool
	// Src is the sender (port 0 on raw sockets).
	Src netip.AddrPort
	// Dst is the local address it was sent to (from packet info), invalid
	// when the socket did not report it.
	Dst netip.Addr
	// TOS is the outer TOS / traffic class octet.
	TOS uint8
	// GSO is the segment size when the kernel coalesced several datagrams
	// of one flow into this one (UDP GRO): every segment but the last is
	// GSO octets long. 0 means one datagram.
	GSO int
}

// txMsg is one datagram to send.
type txMsg struct {
	b  []byte
	to netip.AddrPort
}

// batchIO moves batches of datagrams through one socket with one recvmmsg
// or sendmmsg call, through the Go poller (the socket is non-blocking).
// Its slices are allocated once: a batch allocates nothing. A batchIO is used
// by one goroutine for receiving and one for sending at a time (rx and tx
// state are separate).
//
// On a UDP socket with gso set, consecutive datagrams of equal size to the
// same destination (the ESP packets of one TSO burst) leave as one
// UDP_SEGMENT send: one trip through the stack and the veth or NIC for up
// to 64 packets, each datagram's buffer one iovec (no copy). When the
// kernel refuses (EIO: no checksum offload on the route's device; EINVAL:
// a segment above the route's MTU) gso is switched off for good and the
// datagrams are sent one by one.
type batchIO struct {
	rc syscall.RawConn
	// gso sends runs of equal datagrams with UDP_SEGMENT (sender only).
	gso bool
	// link, on the raw ESP sockets, sends what it can through an
	// AF_PACKET socket to the next hop's MAC (linksend.go); nil: all
	// through rc. v6 is the socket's family.
	link *linkSender
	v6   bool

	rxHdrs   []unix.Mmsghdr
	rxIovs   []unix.Iovec
	rxNames  []byte
	rxOOB    []byte
	rxN      int
	rxErr    error
	rxNoWait bool
	rxFn     func(fd uintptr) bool

	txHdrs  []unix.Mmsghdr
	txIovs  []unix.Iovec
	txNames []byte
	txOOB   []byte
	txGroup []int // datagrams per header
	txCount int
	txN     int
	txErr   error
	txFn    func(fd uintptr) bool
}

func newBatchIO(rc syscall.RawConn, batch int, gso bool) *batchIO {
	c := &batchIO{
		rc:      rc,
		gso:     gso,
		rxHdrs:  make([]unix.Mmsghdr, batch),
		rxIovs:  make([]unix.Iovec, batch),
		rxNames: make([]byte, batch*sockaddrLen),
		rxOOB:   make([]byte, batch*oobLen),
		txHdrs:  make([]unix.Mmsghdr, batch),
		// The outbound path queues up to two datagrams per packet read
		// (fragments); with GSO every datagram is an iovec.
		txIovs:  make([]unix.Iovec, 2*batch),
		txNames: make([]byte, batch*sockaddrLen),
		txOOB:   make([]byte, batch*gsoOOBLen),
		txGroup: make([]int, batch),
	}
	c.rxFn = c.doRecv
	c.txFn = c.doSend
	return c
}

// doRecv and doSend never block (MSG_DONTWAIT: the wait is the
// netpoller's), so they enter the kernel without telling the Go scheduler
// (RawSyscall6). A call that the scheduler sees lasting over 20 us (a GSO
// send runs the veth and the receiver's softirq inline) gets its P handed
// to another thread and keeps the runtime's monitor waking every 20 us:
// under a bulk load that was a third of the daemons' context switches.
func (c *batchIO) doRecv(fd uintptr) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.rxHdrs[0])), uintptr(c.rxN), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		if c.rxNoWait {
			c.rxN, c.rxErr = 0, nil
			return true
		}
		return false
	}
	if e != 0 {
		c.rxN, c.rxErr = 0, e
		return true
	}
	c.rxN, c.rxErr = int(n), nil
	return true
}

// recv reads up to len(bufs) datagrams (at most the batch size) into bufs,
// blocking until at least one arrives, and describes them in meta.
func (c *batchIO) recv(bufs [][]byte, meta []rxMeta) (int, error) {
	return c.recvOnce(bufs, meta, false)
}

// drain reads into bufs what has already arrived without waiting; 0 when
// nothing has.
func (c *batchIO) drain(bufs [][]byte, meta []rxMeta) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	return c.recvOnce(bufs, meta, true)
}

func (c *batchIO) recvOnce(bufs [][]byte, meta []rxMeta, noWait bool) (int, error) {
	n := min(len(bufs), len(c.rxHdrs), len(meta))
	for i := range n {
		h := &c.rxHdrs[i]
		c.rxIovs[i].Base = &bufs[i][0]
		c.rxIovs[i].SetLen(len(bufs[i]))
		h.Hdr.Iov = &c.rxIovs[i]
		h.Hdr.SetIovlen(1)
		h.Hdr.Name = &c.rxNames[i*sockaddrLen]
		h.Hdr.Namelen = sockaddrLen
		h.Hdr.Control = &c.rxOOB[i*oobLen]
		h.Hdr.SetControllen(oobLen)
		h.Hdr.Flags = 0
		h.Len = 0
	}
	c.rxN = n
	c.rxNoWait = noWait
	if err := c.rc.Read(c.rxFn); err != nil {
		return 0, err
	}
	if c.rxErr != nil {
		return 0, c.rxErr
	}
	for i := range c.rxN {
		h := &c.rxHdrs[i]
		m := &meta[i]
		*m = rxMeta{N: int(h.Len), Trunc: h.Hdr.Flags&unix.MSG_TRUNC != 0}
		m.Src = decodeSockaddr(c.rxNames[i*sockaddrLen : (i+1)*sockaddrLen])
		parseCmsgs(c.rxOOB[i*oobLen:i*oobLen+int(h.Hdr.Controllen)], m)
	}
	return c.rxN, nil
}

func (c *batchIO) doSend(fd uintptr) bool {
	n, again, err := sendmmsg(fd, c.txHdrs[:c.txCount])
	if again {
		return false
	}
	c.txN, c.txErr = n, err
	return true
}

// sendmmsg sends hdrs on fd without waiting (MSG_DONTWAIT), as a raw
// syscall (see doRecv); again reports EAGAIN or EINTR: wait for the socket
// and try again.
func sendmmsg(fd uintptr, hdrs []unix.Mmsghdr) (n int, again bool, err error) {
	if len(hdrs) == 0 {
		return 0, false, nil
	}
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
	switch {
	case e == unix.EAGAIN || e == unix.EINTR:
		return 0, true, nil
	case e != 0:
		return 0, false, e
	}
	return int(r), false, nil
}

// send writes msgs with as few sendmmsg calls as the kernel allows (one per
// batch normally), runs of equal datagrams to one peer as one UDP_SEGMENT
// send when gso is on, runs to a peer with a usable next hop through the
// link socket when there is one. A datagram the kernel refuses is skipped
// and counted in failed; the first such error is returned.
func (c *batchIO) send(msgs []txMsg) (failed int, first error) {
	if c.link == nil {
		return c.sendIP(msgs)
	}
	l := c.link
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for len(msgs) > 0 {
		k, via := l.split(msgs, c.v6, now)
		if via {
			sent := l.send(msgs[:k], l.last, now)
			msgs = msgs[sent:]
			if sent == k {
				continue
			}
			// The link socket refused msgs[0]: the IP socket tries it,
			// and the rest of the run after it.
			k -= sent
		}
		f, err := c.sendIP(msgs[:k])
		failed += f
		if first == nil {
			first = err
		}
		msgs = msgs[k:]
	}
	return failed, first
}

// sendIP is send through the socket itself.
func (c *batchIO) sendIP(msgs []txMsg) (failed int, first error) {
	for len(msgs) > 0 {
		c.txCount = c.fill(msgs)
		if err := c.rc.Write(c.txFn); err != nil {
			return failed + len(msgs), err
		}
		if c.txErr != nil {
			if c.txGroup[0] > 1 && (c.txErr == unix.EIO || c.txErr == unix.EINVAL) {
				// The kernel cannot segment on this route: send them
				// one by one from now on.
				c.gso = false
				continue
			}
			// The first datagram (or run) failed: skip it and go on.
			failed += c.txGroup[0]
			if first == nil {
				first = c.txErr
			}
			msgs = msgs[c.txGroup[0]:]
			continue
		}
		sent := 0
		for _, k := range c.txGroup[:c.txN] {
			sent += k
		}
		msgs = msgs[sent:]
	}
	return failed, first
}

// fill lays out the headers for the first datagrams of msgs and returns how
// many headers it filled; txGroup says how many datagrams each carries.
func (c *batchIO) fill(msgs []txMsg) int {
	nh, nm, ni := 0, 0, 0
	for nh < len(c.txHdrs) && nm < len(msgs) && ni < len(c.txIovs) {
		lead := &msgs[nm]
		seg := len(lead.b)
		k, total := 1, seg
		if c.gso {
			for k < maxGSOSegments && nm+k < len(msgs) && ni+k < len(c.txIovs) {
				m := &msgs[nm+k]
				if m.to != lead.to || len(m.b) > seg || total+len(m.b) > maxGSOBytes {
					break
				}
				total += len(m.b)
				k++
				if len(m.b) < seg {
					break // a shorter datagram ends the run
				}
			}
		}
		for j := range k {
			b := msgs[nm+j].b
			c.txIovs[ni+j].Base = &b[0]
			c.txIovs[ni+j].SetLen(len(b))
		}
		h := &c.txHdrs[nh]
		h.Hdr.Iov = &c.txIovs[ni]
		h.Hdr.SetIovlen(k)
		name := c.txNames[nh*sockaddrLen : (nh+1)*sockaddrLen]
		h.Hdr.Name = &name[0]
		h.Hdr.Namelen = uint32(encodeSockaddr(name, lead.to))
		if k > 1 {
			oob := c.txOOB[nh*gsoOOBLen : (nh+1)*gsoOOBLen]
			putSegmentCmsg(oob, uint16(seg))
			h.Hdr.Control = &oob[0]
			h.Hdr.SetControllen(gsoOOBLen)
		} else {
			h.Hdr.Control = nil
			h.Hdr.SetControllen(0)
		}
		h.Len = 0
		c.txGroup[nh] = k
		nh++
		nm += k
		ni += k
	}
	return nh
}

// putSegmentCmsg writes a UDP_SEGMENT control message: the kernel cuts the
// datagram into segments of size octets.
func putSegmentCmsg(b []byte, size uint16) {
	clear(b)
	binary.NativeEndian.PutUint64(b[0:], uint64(unix.CmsgLen(2)))
	binary.NativeEndian.PutUint32(b[8:], unix.SOL_UDP)
	binary.NativeEndian.PutUint32(b[12:], unix.UDP_SEGMENT)
	binary.NativeEndian.PutUint16(b[unix.SizeofCmsghdr:], size)
}

// encodeSockaddr writes ap as a sockaddr_in or sockaddr_in6 and returns its
// length.
func encodeSockaddr(b []byte, ap netip.AddrPort) int {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		clear(b[:unix.SizeofSockaddrInet4])
		binary.NativeEndian.PutUint16(b[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], ap.Port())
		a4 := a.Unmap().As4()
		copy(b[4:8], a4[:])
		return unix.SizeofSockaddrInet4
	}
	clear(b[:unix.SizeofSockaddrInet6])
	binary.NativeEndian.PutUint16(b[0:], unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], ap.Port())
	a16 := a.As16()
	copy(b[8:24], a16[:])
	return unix.SizeofSockaddrInet6
}

// decodeSockaddr reads a sockaddr_in or sockaddr_in6; IPv4-mapped IPv6
// addresses are unmapped.
func decodeSockaddr(b []byte) netip.AddrPort {
	switch binary.NativeEndian.Uint16(b[0:]) {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:]))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), binary.BigEndian.Uint16(b[2:]))
	}
	return netip.AddrPort{}
}

// parseCmsgs reads the packet info and TOS / traffic class control messages
// without allocating.
func parseCmsgs(oob []byte, m *rxMeta) {
	for len(oob) >= unix.SizeofCmsghdr {
		l := int(binary.NativeEndian.Uint64(oob[0:]))
		level := int32(binary.NativeEndian.Uint32(oob[8:]))
		typ := int32(binary.NativeEndian.Uint32(oob[12:]))
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return
		}
		data := oob[unix.SizeofCmsghdr:l]
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_TOS && len(data) >= 1:
			m.TOS = data[0]
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			m.Dst = netip.AddrFrom4([4]byte(data[8:12]))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_TCLASS && len(data) >= 4:
			m.TOS = uint8(binary.NativeEndian.Uint32(data))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			m.Dst = netip.AddrFrom16([16]byte(data[0:16])).Unmap()
		case level == unix.SOL_UDP && typ == unix.UDP_GRO && len(data) >= 4:
			m.GSO = int(binary.NativeEndian.Uint32(data))
		}
		adv := (l + 7) &^ 7
		if adv > len(oob) {
			return
		}
		oob = oob[adv:]
	}
}
