package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AF_XDP receive of raw ESP (Config.XDP).
//
// A raw ESP packet that the kernel's stack receives costs it the whole IP
// input path and a wake-up of the reader per packet or two: IP protocol 50
// has no GRO, so unlike ESP-in-UDP nothing batches it. The XDP program
// (xdpprog.go) takes ESP for our addresses off the link before the stack
// sees it and puts it in an AF_XDP socket's ring; the reader takes a whole
// NAPI poll's worth at once from shared memory, with one wake-up.
//
// Each receive queue of the link has a socket and its UMEM: xskFramesFor
// frames of xskFrameSize octets, all in the fill ring while free. The
// kernel copies a frame in (copy mode: veth and generic XDP have no zero
// copy, and a copy is what the raw socket costs too); the reader copies
// the IP packet out into its batch slot and gives the frame straight back.

const (
	xskFrameSize = 4096
	// xskCompRingSize is the completion ring's size: required by the
	// kernel, unused (nothing is sent through the socket).
	xskCompRingSize = 64
	// xskMaxFrame is the longest frame a UMEM frame takes after the
	// headroom the kernel keeps in front of it (XDP_PACKET_HEADROOM).
	xskMaxFrame = xskFrameSize - unix.XDP_PACKET_HEADROOM
)

// xskFramesFor is how many frames (and ring slots) each socket of a link
// with queues receive queues gets. 2048 frames (8 MiB, the raw socket's
// buffer) overflowed on a veth in some runs of scripts/bench-compare.sh:
// the kernel dropped a few hundred of a second's 250,000 packets
// (XDPDropped), most likely while the reader's vCPU ran the other end or
// iperf3, and TCP retransmitted them.
// A link of one or two queues (veth uses one) gets 4096 frames, 16 MiB; a
// NIC that spreads its traffic over more queues keeps 2048 per queue, so
// that the memory stays bounded.
func xskFramesFor(queues int) uint32 {
	if queues <= 2 {
		return 4096
	}
	return 2048
}

// xskRing is one of a socket's rings in shared memory.
type xskRing struct {
	mem      []byte
	producer *uint32
	consumer *uint32
	descs    unsafe.Pointer
	mask     uint32
}

func mapRing(fd int, off unix.XDPRingOffset, pgoff int64, n int, descSize int) (xskRing, error) {
	mem, err := unix.Mmap(fd, pgoff, int(off.Desc)+n*descSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return xskRing{}, fmt.Errorf("mmap ring: %w", err)
	}
	return xskRing{
		mem:      mem,
		producer: (*uint32)(unsafe.Pointer(&mem[off.Producer])),
		consumer: (*uint32)(unsafe.Pointer(&mem[off.Consumer])),
		descs:    unsafe.Pointer(&mem[off.Desc]),
		mask:     uint32(n - 1),
	}, nil
}

// xskSocket is one AF_XDP socket bound to a queue of a link. It implements
// datagramReader for the inbound path: a batch gets whole IP packets (the
// Ethernet header stripped) of either family.
type xskSocket struct {
	conn  *pollConn
	queue int
	umem  []byte
	rx    xskRing
	fill  xskRing
	comp  xskRing
	// rxCons and fillProd are this side's ring positions (the reader's
	// alone, published through the rings).
	rxCons, fillProd uint32
	// received counts the frames taken (Stats.XDPReceived).
	received *atomic.Uint64

	// bufs, meta and got are the batch a Read fills; takeFn is take,
	// bound once (a method value allocates).
	bufs   [][]byte
	meta   []rxMeta
	got    int
	takeFn func(uintptr) bool
}

// newXSKSocket opens an AF_XDP socket on queue of the link ifindex, with
// frames frames (a power of two).
func newXSKSocket(ifindex, queue int, frames uint32, received *atomic.Uint64) (_ *xskSocket, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_XDP socket: %w", err)
	}
	s := &xskSocket{queue: queue, received: received}
	defer func() {
		if err != nil {
			s.unmap()
			unix.Close(fd)
		}
	}()
	s.umem, err = unix.Mmap(-1, 0, int(frames)*xskFrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("UMEM: %w", err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&s.umem[0]))), Len: uint64(len(s.umem)), Size: xskFrameSize}
	if err := setsockoptBytes(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return nil, fmt.Errorf("register UMEM: %w", err)
	}
	for _, r := range []struct{ opt, n int }{
		{unix.XDP_UMEM_FILL_RING, int(frames)},
		{unix.XDP_UMEM_COMPLETION_RING, xskCompRingSize},
		{unix.XDP_RX_RING, int(frames)},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, r.opt, r.n); err != nil {
			return nil, fmt.Errorf("XDP ring %d: %w", r.opt, err)
		}
	}
	var off unix.XDPMmapOffsets
	size := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
		return nil, fmt.Errorf("XDP ring offsets: %w", e)
	}
	if s.rx, err = mapRing(fd, off.Rx, unix.XDP_PGOFF_RX_RING, int(frames), int(unsafe.Sizeof(unix.XDPDesc{}))); err != nil {
		return nil, err
	}
	if s.fill, err = mapRing(fd, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, int(frames), 8); err != nil {
		return nil, err
	}
	if s.comp, err = mapRing(fd, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, xskCompRingSize, 8); err != nil {
		return nil, err
	}
	// Every frame starts free, in the fill ring.
	for i := range frames {
		*s.fillSlot(i) = uint64(i) * xskFrameSize
	}
	s.fillProd = frames
	atomic.StoreUint32(s.fill.producer, s.fillProd)
	if err := unix.Bind(fd, &unix.SockaddrXDP{Ifindex: uint32(ifindex), QueueID: uint32(queue)}); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("bind AF_XDP socket to queue %d: another AF_XDP socket has it (a second cygnet?): %w", queue, err)
		}
		return nil, fmt.Errorf("bind AF_XDP socket to queue %d: %w", queue, err)
	}
	if s.conn, err = newPollConn(fd, true); err != nil {
		fd = -1 // newPollConn closed it
		return nil, err
	}
	s.takeFn = s.take
	return s, nil
}

func setsockoptBytes(fd, opt int, p unsafe.Pointer, n uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0); e != 0 {
		return e
	}
	return nil
}

func (s *xskSocket) fillSlot(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(s.fill.descs, uintptr(i&s.fill.mask)*8))
}

func (s *xskSocket) rxDesc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(s.rx.descs, uintptr(i&s.rx.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}

// recv takes the frames in the receive ring into bufs, waiting for the
// first.
func (s *xskSocket) recv(bufs [][]byte, meta []rxMeta) (int, error) {
	s.bufs, s.meta, s.got = bufs, meta, 0
	err := s.conn.Read(s.takeFn)
	s.bufs, s.meta = nil, nil
	return s.got, err
}

// drain takes what the receive ring holds without waiting.
func (s *xskSocket) drain(bufs [][]byte, meta []rxMeta) (int, error) {
	s.bufs, s.meta = bufs, meta
	s.take(0)
	s.bufs, s.meta = nil, nil
	return s.got, nil
}

// take moves the frames in the receive ring into s.bufs (the IP packet
// without the Ethernet header, cut to the length its header gives) and
// gives the frames back to the fill ring. It reports whether it took any.
func (s *xskSocket) take(uintptr) bool {
	avail := atomic.LoadUint32(s.rx.producer) - s.rxCons
	k := min(int(avail), len(s.bufs), len(s.meta))
	for i := range k {
		d := s.rxDesc(s.rxCons + uint32(i))
		m := &s.meta[i]
		*m = rxMeta{}
		if d.Addr+uint64(d.Len) <= uint64(len(s.umem)) && d.Len > ethHeaderLen {
			pkt := s.umem[d.Addr+ethHeaderLen : d.Addr+uint64(d.Len)]
			pkt = pkt[:ipPacketLen(pkt)]
			m.N = copy(s.bufs[i], pkt)
			m.Trunc = m.N < len(pkt)
		}
		*s.fillSlot(s.fillProd + uint32(i)) = d.Addr &^ (xskFrameSize - 1)
	}
	s.rxCons += uint32(k)
	s.fillProd += uint32(k)
	atomic.StoreUint32(s.rx.consumer, s.rxCons)
	atomic.StoreUint32(s.fill.producer, s.fillProd)
	s.got = k
	if k > 0 {
		s.received.Add(uint64(k))
	}
	return k > 0
}

// dropped is what the kernel dropped on the way to the socket.
func (s *xskSocket) dropped() uint64 {
	var st unix.XDPStatistics
	_ = s.conn.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(st))
		unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_XDP, unix.XDP_STATISTICS,
			uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&size)), 0)
	})
	return st.Rx_dropped + st.Rx_ring_full
}

// ipPacketLen is the length the IP header of pkt gives, without the
// link's padding; len(pkt) when that cannot be read (the parser refuses
// the packet then).
func ipPacketLen(pkt []byte) int {
	n := len(pkt)
	switch {
	case n >= 20 && pkt[0]>>4 == 4:
		n = int(binary.BigEndian.Uint16(pkt[2:]))
	case n >= 40 && pkt[0]>>4 == 6:
		n = 40 + int(binary.BigEndian.Uint16(pkt[4:]))
	}
	return min(n, len(pkt))
}

func (s *xskSocket) unmap() {
	for _, m := range []*[]byte{&s.rx.mem, &s.fill.mem, &s.comp.mem, &s.umem} {
		if *m != nil {
			unix.Munmap(*m)
			*m = nil
		}
	}
}

// close closes the socket; the reader's wait ends with net.ErrClosed.
// The rings and UMEM are unmapped by unmap, once the reader has left.
func (s *xskSocket) close() {
	s.conn.Close()
}

// xdpSteering is the XDP program on one link and the AF_XDP sockets of
// its queues.
type xdpSteering struct {
	link netlink.Link
	mode uint32 // XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE
	prog int
	xmap int
	// bpfLink holds the program on the link.
	bpfLink int
	socks   []*xskSocket
}

// attachXDP opens a socket on every receive queue of link and attaches
// the program that steers ESP for locals to them: in the driver when it
// can (veth and most NICs), else in generic mode. It refuses a link that
// has an XDP program already.
func attachXDP(link netlink.Link, locals []netip.Addr, received *atomic.Uint64) (_ *xdpSteering, err error) {
	if unsafe.Sizeof(bpfPtr{}) != 8 {
		return nil, errors.New("AF_XDP needs a 64-bit platform")
	}
	attrs := link.Attrs()
	queues := max(1, attrs.NumRxQueues)
	x := &xdpSteering{link: link, prog: -1, xmap: -1, bpfLink: -1}
	defer func() {
		if err != nil {
			x.close()
			for _, s := range x.socks {
				s.unmap() // no reader has started
			}
		}
	}()
	if x.xmap, err = newXSKMap(queues); err != nil {
		return nil, err
	}
	for q := range queues {
		s, err := newXSKSocket(attrs.Index, q, xskFramesFor(queues), received)
		if q > 0 && errors.Is(err, unix.EINVAL) {
			// The link allocated more queues than it uses (veth: one per
			// CPU, one in use); a queue past those in use is refused.
			break
		}
		if err != nil {
			return nil, err
		}
		x.socks = append(x.socks, s)
		if err := xskMapSet(x.xmap, q, s.conn.fd); err != nil {
			return nil, err
		}
	}
	insns, err := espSteeringProgram(x.xmap, locals, xskMaxFrame)
	if err != nil {
		return nil, err
	}
	if x.prog, err = loadXDP(insns); err != nil {
		return nil, err
	}
	for _, mode := range []uint32{unix.XDP_FLAGS_DRV_MODE, unix.XDP_FLAGS_SKB_MODE} {
		x.bpfLink, err = linkXDP(x.prog, attrs.Index, mode)
		if err == nil {
			x.mode = mode
			return x, nil
		}
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("attach XDP program to %s: the link has an XDP program already: %w", attrs.Name, err)
		}
	}
	return nil, fmt.Errorf("attach XDP program to %s: %w", attrs.Name, err)
}

// close detaches the program and closes the sockets.
func (x *xdpSteering) close() {
	for _, s := range x.socks {
		s.close()
	}
	for _, fd := range []*int{&x.bpfLink, &x.prog, &x.xmap} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}
