package dataplane

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"
)

// Socket roles; every IPv6 role is its IPv4 role plus one.
const (
	sockUDP4IKE = iota
	sockUDP6IKE
	sockUDP4NATT
	sockUDP6NATT
	sockESP4
	sockESP6
	sockAH4
	sockAH6
	numSocks
)

// sockBuf is the socket buffer size asked for: a burst of 128 datagrams of
// up to 64 KiB (GRO) must fit while the lanes are busy.
const sockBuf = 8 << 20

// ikeBatch is the batch of the IKE port's socket.
const ikeBatch = 8

// pick returns the IPv6 role for an IPv4 one when v6 is set.
func pick(role4 int, v6 bool) int {
	if v6 {
		return role4 + 1
	}
	return role4
}

// socket is one open socket and its batch state.
type socket struct {
	role int
	v6   bool
	conn *pollConn
	io   *batchIO

	ikeMu  sync.Mutex // guards the ike fields
	ikeBuf []byte
	ikeOOB []byte
	// ikeHdr, ikeIov and ikeName describe the message sendIKE sends,
	// ikeSend sends it and ikeErr is its outcome.
	ikeHdr  [1]unix.Mmsghdr
	ikeIov  unix.Iovec
	ikeName [sockaddrLen]byte
	ikeSend func(fd uintptr) bool
	ikeErr  error
}

func (dp *DataPlane) openSockets() error {
	for role := range numSocks {
		v6 := role%2 == 1
		if v6 && dp.cfg.NoIPv6 {
			continue
		}
		local := dp.cfg.Local4
		if v6 {
			local = dp.cfg.Local6
		}
		s, err := dp.openSocket(role, v6, local)
		if err != nil {
			if v6 && !local.IsValid() {
				continue // no IPv6 on this host: run IPv4 only
			}
			return err
		}
		dp.socks[role] = s
	}
	return nil
}

func (dp *DataPlane) openSocket(role int, v6 bool, local netip.Addr) (*socket, error) {
	s := &socket{role: role, v6: v6}
	sotype, proto := unix.SOCK_DGRAM, 0
	var port uint16
	switch role &^ 1 {
	case sockUDP4IKE:
		port = dp.cfg.IKEPort
	case sockUDP4NATT:
		port = dp.cfg.NATTPort
	case sockESP4:
		sotype, proto = unix.SOCK_RAW, unix.IPPROTO_ESP
	case sockAH4:
		sotype, proto = unix.SOCK_RAW, unix.IPPROTO_AH
	}
	conn, err := listenPoll(v6, sotype, proto, local, port)
	if err != nil {
		fam := "IPv4"
		if v6 {
			fam = "IPv6"
		}
		return nil, fmt.Errorf("dataplane: open socket %d (%s): %w", role, fam, err)
	}
	s.conn = conn
	raw := role >= sockESP4
	var serr error
	cerr := conn.Control(func(fd uintptr) {
		set := func(level, opt, v int) {
			if e := unix.SetsockoptInt(int(fd), level, opt, v); e != nil && serr == nil {
				serr = fmt.Errorf("setsockopt %d/%d: %w", level, opt, e)
			}
		}
		if v6 {
			set(unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
			set(unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1)
			if raw {
				// The sealed packet carries its own IPv6 header.
				set(unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1)
			}
		} else {
			set(unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
			set(unix.IPPROTO_IP, unix.IP_RECVTOS, 1)
			if raw {
				set(unix.IPPROTO_IP, unix.IP_HDRINCL, 1)
			} else {
				// Let the kernel fragment outer packets larger than the
				// path rather than refuse them.
				set(unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
			}
		}
		if dp.cfg.FwMark != 0 {
			set(unix.SOL_SOCKET, unix.SO_MARK, int(dp.cfg.FwMark))
		}
		// The FORCE variants pass rmem_max/wmem_max (CAP_NET_ADMIN);
		// without the capability the plain ones get what the limit allows.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuf) != nil {
			set(unix.SOL_SOCKET, unix.SO_RCVBUF, sockBuf)
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf) != nil {
			set(unix.SOL_SOCKET, unix.SO_SNDBUF, sockBuf)
		}
		if role&^1 == sockUDP4NATT {
			// Receive a burst of ESP-in-UDP datagrams of one flow as
			// one (split by the inbound path); a kernel without UDP GRO
			// refuses the option and delivers them one by one.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
		}
	})
	if cerr == nil {
		cerr = serr
	}
	if cerr != nil {
		conn.Close()
		return nil, fmt.Errorf("dataplane: socket %d: %w", role, cerr)
	}
	batch := dp.cfg.Batch
	if role&^1 == sockUDP4IKE {
		batch = min(batch, ikeBatch) // IKE is not bulk traffic
	}
	s.io = newBatchIO(conn, batch, role&^1 == sockUDP4NATT)
	s.io.v6 = v6
	if role&^1 == sockESP4 && dp.cfg.LinkSend {
		// Without the link socket (no CAP_NET_RAW, no AF_PACKET) raw ESP
		// goes through the IP socket alone, as it always could.
		if l, err := newLinkSender(v6, dp.cfg.FwMark, batch, &dp.ctr.linkSent); err == nil {
			s.io.link = l
		}
	}
	return s, nil
}

func (dp *DataPlane) closeSockets() {
	dp.closeXDP()
	dp.closeTCP()
	for _, fd := range []int{dp.ctl4, dp.ctl6} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	dp.ctl4, dp.ctl6 = -1, -1
	for _, s := range dp.socks {
		if s != nil {
			s.conn.Close()
			if s.io != nil && s.io.link != nil {
				s.io.link.close()
			}
		}
	}
}

// sendIKE writes one IKE message, with the non-ESP marker in front when
// marker is set, from src when it is a specific address.
//
// It sends with a raw non-blocking sendmsg, as the data plane's batches go
// (see batchIO.doRecv), and waits for the poller only when the socket is
// full. Through net.UDPConn every reply entered the kernel as a blocking
// system call: the first one after an idle moment woke the Go runtime's
// monitor thread, which then polled every 20 us for a millisecond. Under
// a handshake load that was a tenth of the responder's CPU.
func (s *socket) sendIKE(msg []byte, marker bool, src netip.Addr, remote netip.AddrPort) error {
	s.ikeMu.Lock()
	defer s.ikeMu.Unlock()
	b := s.ikeBuf[:0]
	if marker {
		b = append(b, 0, 0, 0, 0)
	}
	b = append(b, msg...)
	s.ikeBuf = b
	oob := s.ikeOOB[:0]
	if src.IsValid() && !src.IsUnspecified() {
		oob = appendPktinfo(oob, src.Unmap())
	}
	s.ikeOOB = oob
	if len(b) == 0 {
		return fmt.Errorf("dataplane: send IKE to %v: empty message", remote)
	}
	h := &s.ikeHdr[0].Hdr
	s.ikeIov.Base = &b[0]
	s.ikeIov.SetLen(len(b))
	h.Iov = &s.ikeIov
	h.SetIovlen(1)
	h.Name = &s.ikeName[0]
	h.Namelen = uint32(encodeSockaddr(s.ikeName[:], remote))
	h.Control = nil
	h.SetControllen(0)
	if len(oob) > 0 {
		h.Control = &oob[0]
		h.SetControllen(len(oob))
	}
	if s.ikeSend == nil {
		s.ikeSend = s.sendIKEOnce
	}
	s.ikeErr = nil
	err := s.io.rc.Write(s.ikeSend)
	if err == nil {
		err = s.ikeErr
	}
	if err != nil {
		return fmt.Errorf("dataplane: send IKE to %v: %w", remote, err)
	}
	return nil
}

// ikeSendmmsg is sendmmsg; tests make it report a full socket.
var ikeSendmmsg = sendmmsg

// sendIKEOnce is sendIKE's attempt on fd; false (EAGAIN) waits for the
// poller to find the socket writable.
func (s *socket) sendIKEOnce(fd uintptr) bool {
	_, again, err := ikeSendmmsg(fd, s.ikeHdr[:])
	if again {
		return false
	}
	s.ikeErr = err
	return true
}

// appendPktinfo appends an IP_PKTINFO or IPV6_PKTINFO control message that
// sets the source address.
func appendPktinfo(b []byte, src netip.Addr) []byte {
	var level, typ, dlen int
	if src.Is4() {
		level, typ, dlen = unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo
	} else {
		level, typ, dlen = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo
	}
	start := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(dlen))...)
	c := b[start:]
	binary.NativeEndian.PutUint64(c[0:], uint64(unix.CmsgLen(dlen)))
	binary.NativeEndian.PutUint32(c[8:], uint32(level))
	binary.NativeEndian.PutUint32(c[12:], uint32(typ))
	d := c[unix.SizeofCmsghdr:]
	if src.Is4() {
		a := src.As4()
		copy(d[4:8], a[:]) // ipi_spec_dst
	} else {
		a := src.As16()
		copy(d[0:16], a[:])
	}
	return b
}
