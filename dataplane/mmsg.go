package dataplane

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockaddrLen is the size of a struct sockaddr_in6, which also holds a
// sockaddr_in.
const sockaddrLen = unix.SizeofSockaddrInet6

// oobLen is the control-message room per datagram: packet info (the local
// address, 32 octets with its header) and the TOS / traffic class (24).
const oobLen = 128

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
type batchIO struct {
	rc syscall.RawConn

	rxHdrs  []unix.Mmsghdr
	rxIovs  []unix.Iovec
	rxNames []byte
	rxOOB   []byte
	rxN     int
	rxErr   error
	rxFn    func(fd uintptr) bool

	txHdrs  []unix.Mmsghdr
	txIovs  []unix.Iovec
	txNames []byte
	txCount int
	txN     int
	txErr   error
	txFn    func(fd uintptr) bool
}

func newBatchIO(rc syscall.RawConn, batch int) *batchIO {
	c := &batchIO{
		rc:      rc,
		rxHdrs:  make([]unix.Mmsghdr, batch),
		rxIovs:  make([]unix.Iovec, batch),
		rxNames: make([]byte, batch*sockaddrLen),
		rxOOB:   make([]byte, batch*oobLen),
		txHdrs:  make([]unix.Mmsghdr, batch),
		txIovs:  make([]unix.Iovec, batch),
		txNames: make([]byte, batch*sockaddrLen),
	}
	c.rxFn = c.doRecv
	c.txFn = c.doSend
	return c
}

func (c *batchIO) doRecv(fd uintptr) bool {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.rxHdrs[0])), uintptr(c.rxN), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
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
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.txHdrs[0])), uintptr(c.txCount), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	if e != 0 {
		c.txN, c.txErr = 0, e
		return true
	}
	c.txN, c.txErr = int(n), nil
	return true
}

// send writes msgs with as few sendmmsg calls as the kernel allows (one per
// batch normally). A datagram the kernel refuses is skipped and counted in
// failed; the first such error is returned.
func (c *batchIO) send(msgs []txMsg) (failed int, first error) {
	for len(msgs) > 0 {
		n := min(len(msgs), len(c.txHdrs))
		for i := range n {
			m := &msgs[i]
			h := &c.txHdrs[i]
			c.txIovs[i].Base = &m.b[0]
			c.txIovs[i].SetLen(len(m.b))
			h.Hdr.Iov = &c.txIovs[i]
			h.Hdr.SetIovlen(1)
			name := c.txNames[i*sockaddrLen : (i+1)*sockaddrLen]
			h.Hdr.Name = &name[0]
			h.Hdr.Namelen = uint32(encodeSockaddr(name, m.to))
			h.Hdr.Control = nil
			h.Hdr.SetControllen(0)
			h.Len = 0
		}
		c.txCount = n
		if err := c.rc.Write(c.txFn); err != nil {
			return failed + len(msgs), err
		}
		if c.txErr != nil {
			// The first datagram failed: skip it and go on.
			failed++
			if first == nil {
				first = c.txErr
			}
			msgs = msgs[1:]
			continue
		}
		msgs = msgs[c.txN:]
	}
	return failed, first
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
		}
		adv := (l + 7) &^ 7
		if adv > len(oob) {
			return
		}
		oob = oob[adv:]
	}
}
