package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/sad"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// Default ports and timings.
const (
	DefaultIKEPort  = 500
	DefaultNATTPort = 4500
	// DefaultKeepalive is the NAT-keepalive interval (RFC 3948 section 4
	// leaves it to the implementation; strongSwan uses 20 s).
	DefaultKeepalive = 20 * time.Second
	// maxLanes bounds the lanes per source of packets: each lane holds
	// two batches (an inbound one is 128 buffers of 64 KiB), and one SA's
	// ESP rarely keeps more cores than that busy.
	maxLanes = 8
	// DefaultBatch is how many packets one read or send call moves.
	DefaultBatch = 128
	// tunWriteOffset is the head room the TUN write path gets in front of
	// every packet (the virtio header of an offloading TUN is 10 octets).
	tunWriteOffset = 16
	// maxDatagram is the largest datagram a socket can hand over (after
	// the kernel's reassembly); inbound buffers are this large so nothing
	// is truncated and the TUN's receive coalescing never reallocates.
	maxDatagram = 65535
)

// Config configures a DataPlane.
type Config struct {
	// TUNName names the TUN device to create (e.g. "cygnet0"), unless TUN
	// is given.
	TUNName string
	// TUN is an existing device to use instead (tests, or a device the
	// daemon created). The DataPlane closes it in Close.
	TUN tun.Device
	// MTU is the initial TUN MTU; 0 keeps what the device has (1420 from
	// CreateTUN without one). Lower it with SetMTU once SAs are known.
	MTU int
	// UnderlayMTU is the MTU of the path to the peers (default 1500); it
	// bounds the inner packets and the buffers.
	UnderlayMTU int
	// SPD is the policy database the packet path looks up. Required.
	SPD *spd.DB
	// SAD is the SA database the packet path finds SAs in; a new one is
	// made if nil.
	SAD *sad.DB
	// Local4 and Local6 are the addresses the IKE and ESP-in-UDP sockets
	// bind to; invalid (the zero Addr) means the wildcard. IPv6 sockets are
	// opened only when the host has IPv6 (NoIPv6 turns them off).
	Local4, Local6 netip.Addr
	NoIPv6         bool
	// IKEPort and NATTPort default to 500 and 4500.
	IKEPort, NATTPort uint16
	// TCPPort is where IKE and ESP over TCP are accepted (RFC 9329;
	// default 4500); NoTCP opens no listener (the initiator side still
	// works).
	TCPPort uint16
	NoTCP   bool
	// IKE receives every IKE message (the non-ESP marker stripped) with
	// the local and remote address and port. It is called from several
	// socket goroutines, so it must serialise itself; msg is valid only
	// during the call. Nil drops IKE messages (counted).
	IKE func(msg []byte, local, remote netip.AddrPort)
	// Batch is the packets per read or send call (default 128).
	Batch int
	// Keepalive is the NAT-keepalive interval (default 20 s).
	Keepalive time.Duration
	// FwMark, if non-zero, is set (SO_MARK) on every socket, so a policy
	// routing rule can keep the data plane's own packets out of the
	// routes into the TUN (netcfg's rule skips this mark).
	FwMark uint32
	// LinkSend sends sealed raw ESP packets to a peer on an Ethernet
	// link whose neighbour entry the kernel has through an AF_PACKET
	// socket to its MAC (linksend.go): that skips the IP output path per
	// packet, and with it netfilter's OUTPUT and POSTROUTING chains for
	// those packets, which is why it is an opt-in. Off, raw ESP leaves
	// through the raw IP sockets.
	LinkSend bool
	// XDP receives raw ESP through AF_XDP sockets that an XDP program on
	// each Ethernet link holding a local address feeds (xsk.go), instead
	// of through the IP stack and the raw sockets. Attaching fails when a
	// link has an XDP program already.
	XDP bool
	// Events receives acquires and soft expiries; the packet path never
	// blocks on it (events are dropped when it is full). Nil discards them.
	Events chan<- Event
}

// DataPlane moves packets between a TUN device and the IPsec sockets. Its
// methods are safe for concurrent use.
type DataPlane struct {
	cfg  Config
	tun  tun.Device
	name string
	spd  *spd.DB
	sad  *sad.DB
	ctr  counters
	// early holds ESP packets that came before their SA.
	early earlyHold
	// lanes is how many cores one source's batches are read, sealed and
	// sent on (pipeline.go); below two, one.
	lanes int

	// socks holds the sockets by role; nil entries are not open.
	socks [numSocks]*socket
	// tcp is IKE and ESP over TCP (tcp.go).
	tcp tcpTable
	// xdp is the ESP steering of each link (Config.XDP).
	xdp []*xdpSteering

	// ctl4 and ctl6 are unbound UDP sockets opened in New (so in the
	// network namespace New ran in): SetMTU's ioctls and Source's route
	// lookups (connect, getsockname) use them.
	ctl4, ctl6 int
	ctlMu      sync.Mutex // serialises Source

	mu     sync.Mutex // guards mtu and closed
	mtu    int
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// New creates the TUN device (unless cfg.TUN is given) and opens the
// sockets; call Start to run the packet path and Close to stop it. It needs
// CAP_NET_ADMIN and CAP_NET_RAW.
func New(cfg Config) (*DataPlane, error) {
	if cfg.SPD == nil {
		return nil, errors.New("dataplane: no SPD")
	}
	if cfg.UnderlayMTU == 0 {
		cfg.UnderlayMTU = DefaultUnderlayMTU
	}
	if cfg.UnderlayMTU < minIPv4MTU || cfg.UnderlayMTU > maxDatagram-HeadRoom-TailRoom {
		return nil, fmt.Errorf("dataplane: underlay MTU %d out of range", cfg.UnderlayMTU)
	}
	if cfg.IKEPort == 0 {
		cfg.IKEPort = DefaultIKEPort
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = DefaultNATTPort
	}
	if cfg.TCPPort == 0 {
		cfg.TCPPort = DefaultNATTPort
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = DefaultKeepalive
	}
	if cfg.SAD == nil {
		cfg.SAD = sad.New(sad.Config{})
	}
	dp := &DataPlane{cfg: cfg, spd: cfg.SPD, sad: cfg.SAD, done: make(chan struct{}), ctl4: -1, ctl6: -1}
	if err := dp.openControl(); err != nil {
		return nil, err
	}
	if err := dp.openSockets(); err != nil {
		dp.closeSockets()
		return nil, err
	}
	if err := dp.openTCP(); err != nil {
		dp.closeTCP()
		dp.closeSockets()
		return nil, err
	}
	if cfg.XDP {
		if err := dp.openXDP(); err != nil {
			dp.unmapXDP()
			dp.closeSockets()
			return nil, err
		}
	}
	dev := cfg.TUN
	if dev == nil {
		mtu := cfg.MTU
		if mtu == 0 {
			mtu = 1420
		}
		var err error
		if dev, err = tun.CreateTUN(cfg.TUNName, mtu); err != nil {
			dp.closeSockets()
			return nil, fmt.Errorf("dataplane: create TUN %q: %w", cfg.TUNName, err)
		}
	}
	dp.tun = dev
	name, err := dev.Name()
	if err != nil {
		dp.closeSockets()
		dev.Close()
		return nil, fmt.Errorf("dataplane: TUN name: %w", err)
	}
	dp.name = name
	if cfg.MTU != 0 {
		if err := dp.SetMTU(cfg.MTU); err != nil {
			dp.closeSockets()
			dev.Close()
			return nil, err
		}
	} else if dp.mtu, err = dev.MTU(); err != nil {
		dp.closeSockets()
		dev.Close()
		return nil, fmt.Errorf("dataplane: TUN MTU: %w", err)
	}
	return dp, nil
}

// TUNName returns the TUN device's name, for netcfg.
func (dp *DataPlane) TUNName() string { return dp.name }

// Start runs the packet path: one goroutine reading the TUN (outbound), one
// per socket (inbound, IKE), and one sending NAT-keepalives.
func (dp *DataPlane) Start() {
	dp.lanes = min(runtime.GOMAXPROCS(0), maxLanes)
	dp.wg.Add(2)
	go func() { defer dp.wg.Done(); dp.runOutbound() }()
	go func() { defer dp.wg.Done(); dp.runKeepalives() }()
	go func() {
		// Drain device events so the TUN's listener never blocks.
		for range dp.tun.Events() {
		}
	}()
	for _, s := range dp.socks {
		if s == nil {
			continue
		}
		dp.wg.Add(1)
		go func() { defer dp.wg.Done(); dp.runInbound(s) }()
	}
	dp.startXDP()
	dp.startTCP()
}

// Close stops the packet path, closes the sockets and deletes the TUN
// device. Routes into the TUN vanish with it; netcfg's leak protection
// routes stay.
func (dp *DataPlane) Close() error {
	dp.mu.Lock()
	if dp.closed {
		dp.mu.Unlock()
		return nil
	}
	dp.closed = true
	dp.mu.Unlock()
	close(dp.done)
	dp.closeSockets()
	err := dp.tun.Close()
	dp.wg.Wait()
	dp.unmapXDP()
	return err
}

// SetMTU sets the TUN device's MTU, normally to the smallest [InnerMTU] of
// the SAs for the configured underlay MTU. Packets the kernel hands over
// above an SA's own limit are still fragmented or answered with ICMP.
func (dp *DataPlane) SetMTU(mtu int) error {
	if mtu < minIPv4MTU || mtu > dp.cfg.UnderlayMTU {
		return fmt.Errorf("dataplane: MTU %d outside [%d, %d]", mtu, minIPv4MTU, dp.cfg.UnderlayMTU)
	}
	ifr, err := unix.NewIfreq(dp.name)
	if err != nil {
		return fmt.Errorf("dataplane: set MTU: %w", err)
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(dp.ctl4, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("dataplane: set MTU of %s to %d: %w", dp.name, mtu, err)
	}
	dp.mu.Lock()
	dp.mtu = mtu
	dp.mu.Unlock()
	return nil
}

// MTU returns the TUN MTU last set.
func (dp *DataPlane) MTU() int {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.mtu
}

// UnderlayMTU returns the configured underlay MTU, for [InnerMTU].
func (dp *DataPlane) UnderlayMTU() int { return dp.cfg.UnderlayMTU }

// AddSA puts sa into the SAD with its lifetimes, which makes it known to the
// packet path: inbound SAs are found by SPI, outbound SAs get keepalives
// (Encap) and counters. Sealing uses an outbound SA once a Route's
// SetOutbound names it.
func (dp *DataPlane) AddSA(sa *SA, life sad.Lifetime) error {
	if err := sa.validate(); err != nil {
		return err
	}
	e, err := dp.sad.Add(sa.sadID(), sa, life)
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	sa.entry.Store(e)
	return nil
}

// RemoveSA deletes sa from the SAD, which wipes its keys; packets for it are
// then counted as NoSA. The daemon also clears the route's outbound SA if it
// is this one.
func (dp *DataPlane) RemoveSA(sa *SA) {
	if e := sa.entry.Load(); e != nil {
		_ = dp.sad.Delete(e.ID())
	}
}

// inbound finds an inbound SA by protocol and SPI.
func (dp *DataPlane) inbound(proto ipsec.Protocol, spi uint32) *SA {
	e := dp.sad.Lookup(sad.ID{SPI: spi, Protocol: proto})
	if e == nil {
		return nil
	}
	sa, _ := e.Transform().(*SA)
	if sa == nil || sa.entry.Load() == nil {
		return nil // still being added
	}
	return sa
}

// SAD returns the SA database.
func (dp *DataPlane) SAD() *sad.DB { return dp.sad }

// Stats returns the packet counters.
func (dp *DataPlane) Stats() Stats {
	st := dp.ctr.snapshot()
	st.XDPDropped = dp.xdpDropped()
	return st
}

func (dp *DataPlane) emit(e Event) {
	if dp.cfg.Events == nil {
		return
	}
	select {
	case dp.cfg.Events <- e:
	default:
	}
}

// SendIKE sends an IKE message from the socket bound to local's port (the
// NAT-T port adds the non-ESP marker, RFC 3948 section 2.2) and, when
// local's address is set, from that address. It implements ike.Transport.
func (dp *DataPlane) SendIKE(msg []byte, local, remote netip.AddrPort) error {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	if handled, err := dp.tcpSendIKE(msg, local, remote); handled {
		return err
	}
	v6 := remote.Addr().Is6()
	var s *socket
	marker := false
	switch local.Port() {
	case dp.cfg.NATTPort:
		s, marker = dp.socks[pick(sockUDP4NATT, v6)], true
	case dp.cfg.IKEPort, 0:
		s = dp.socks[pick(sockUDP4IKE, v6)]
	default:
		return fmt.Errorf("dataplane: send IKE: no socket on local port %d", local.Port())
	}
	if s == nil {
		return fmt.Errorf("dataplane: send IKE to %v: no socket for this family", remote)
	}
	return s.sendIKE(msg, marker, local.Addr(), remote)
}

// Source returns the local address the kernel's routing picks toward
// remote, with the port IKE uses for it (the NAT-T port when remote is on
// it, the IKE port otherwise). It implements ike.Transport.
func (dp *DataPlane) Source(remote netip.AddrPort) (netip.AddrPort, error) {
	ra := remote.Addr().Unmap()
	port := dp.cfg.IKEPort
	if remote.Port() == dp.cfg.NATTPort {
		port = dp.cfg.NATTPort
	}
	if ra.Is4() && dp.cfg.Local4.IsValid() && !dp.cfg.Local4.IsUnspecified() {
		return netip.AddrPortFrom(dp.cfg.Local4, port), nil
	}
	if ra.Is6() && dp.cfg.Local6.IsValid() && !dp.cfg.Local6.IsUnspecified() {
		return netip.AddrPortFrom(dp.cfg.Local6, port), nil
	}
	// Connecting a UDP socket sends nothing; its local address is then
	// the routing decision (with the data plane's mark).
	fd := dp.ctl4
	if ra.Is6() {
		fd = dp.ctl6
	}
	if fd < 0 {
		return netip.AddrPort{}, fmt.Errorf("dataplane: source address toward %v: no socket of that family", remote)
	}
	dp.ctlMu.Lock()
	defer dp.ctlMu.Unlock()
	var sa unix.Sockaddr
	if ra.Is4() {
		sa = &unix.SockaddrInet4{Port: int(max(remote.Port(), 1)), Addr: ra.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(max(remote.Port(), 1)), Addr: ra.As16()}
	}
	if err := unix.Connect(fd, sa); err != nil {
		return netip.AddrPort{}, fmt.Errorf("dataplane: source address toward %v: %w", remote, err)
	}
	defer disconnect(fd)
	la, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("dataplane: source address toward %v: %w", remote, err)
	}
	var a netip.Addr
	switch la := la.(type) {
	case *unix.SockaddrInet4:
		a = netip.AddrFrom4(la.Addr)
	case *unix.SockaddrInet6:
		a = netip.AddrFrom16(la.Addr).Unmap()
	}
	return netip.AddrPortFrom(a, port), nil
}

// disconnect dissolves a UDP socket's association (connect to AF_UNSPEC).
func disconnect(fd int) {
	var unspec [unix.SizeofSockaddrInet6]byte
	_, _, _ = unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec[0])), uintptr(len(unspec)))
}

// openControl opens the control sockets.
func (dp *DataPlane) openControl() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dataplane: control socket: %w", err)
	}
	dp.ctl4 = fd
	if fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
		dp.ctl6 = fd
	}
	if dp.cfg.FwMark != 0 {
		for _, fd := range []int{dp.ctl4, dp.ctl6} {
			if fd < 0 {
				continue
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(dp.cfg.FwMark)); err != nil {
				return fmt.Errorf("dataplane: SO_MARK: %w", err)
			}
		}
	}
	return nil
}

// runKeepalives sends a NAT-keepalive (one 0xFF octet, RFC 3948 section
// 2.3) toward every UDP-encapsulated outbound SA's peer each interval.
func (dp *DataPlane) runKeepalives() {
	t := time.NewTicker(dp.cfg.Keepalive)
	defer t.Stop()
	for {
		select {
		case <-dp.done:
			return
		case <-t.C:
			dp.sendKeepalives()
			dp.sweepTCP()
		}
	}
}

var keepalive = []byte{0xff}

func (dp *DataPlane) sendKeepalives() {
	for e := range dp.sad.All() {
		sa, ok := e.Transform().(*SA)
		if !ok || sa.Direction != ipsec.Outbound || !sa.Encap {
			continue
		}
		if dp.tcp.active.Load() {
			if _, via := dp.tcpRoute(sa.CurrentPeer()); via || sa.overTCP.Load() {
				continue // no NAT-keepalives over TCP (RFC 9329)
			}
		}
		s := dp.socks[pick(sockUDP4NATT, sa.Peer.Addr().Is6())]
		if s == nil {
			continue
		}
		if err := s.sendIKE(keepalive, false, netip.Addr{}, sa.CurrentPeer()); err != nil {
			dp.ctr.sendErrors.Add(1)
		}
	}
}
