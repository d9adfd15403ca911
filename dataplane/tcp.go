package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/tcpencap"
)

// TCP encapsulation (RFC 9329). One TCP connection carries the IKE
// messages and the ESP packets of one IKE SA, framed by package tcpencap;
// the ESP packets go through the same engines and TUN as ESP in UDP.
//
// The TCP originator is always the IKE initiator (this host, towards a
// gateway configured with [DataPlane.SetTCPGateways]); it sends the stream
// prefix and is the only side that (re)opens the connection, on demand:
// when an IKE message or an ESP packet is to go and no connection is up.
// The responder accepts on the TCP port and never connects: with no live
// connection to a peer its packets are dropped until the initiator comes
// back. A connection closing deletes no SA (section 6).
//
// IKE sees TCP as it sees UDP: messages carry the addresses the IKE SA
// already uses, so a new connection for an existing IKE SA changes
// nothing above the data plane. On the responder, a connection is known
// by the address of the first connection of its IKE SA (its canonical
// peer, the address the IKE and Child SAs were set up with); a
// reconnection gets its canonical peer from the first authentic ESP packet
// it carries (where its Child SA's outbound SA sends), after which outbound
// traffic for that peer takes the new connection; when an IKE message comes
// first, IKE follows the peer to the new port as it does behind a NAT. An
// SA that went over TCP never goes over UDP (SA.overTCP). NAT-keepalives are never sent for peers
// reached over TCP: a TCP connection needs no NAT mapping kept alive.

// TCPMode says when the initiator reaches a gateway over TCP.
type TCPMode uint8

// TCP modes.
const (
	// TCPNever is UDP (and raw ESP) only.
	TCPNever TCPMode = iota
	// TCPAlways opens a TCP connection for the first IKE message.
	TCPAlways
	// TCPFallback starts with UDP and moves to TCP when no IKE message
	// from the gateway arrived within TCPGateway.After of the first
	// unanswered one; it stays on TCP from then on.
	TCPFallback
)

// TCPGateway is how this host reaches one gateway it initiates to.
type TCPGateway struct {
	Mode TCPMode
	// After is the fallback time (TCPFallback): how long a request sent
	// over UDP may go unanswered before the next one goes over TCP.
	After time.Duration
	// Port is the gateway's TCP port (default 4500).
	Port uint16
}

// DefaultTCPFallback is the fallback time when none is configured.
const DefaultTCPFallback = 2 * time.Second

const (
	// maxTCPConns bounds the connections the responder holds at once:
	// each unauthenticated one costs a 64 KiB frame buffer.
	maxTCPConns = 1024
	// tcpPrefixTimeout is how long an accepted connection may take to
	// send the stream prefix.
	tcpPrefixTimeout = 10 * time.Second
	// tcpWriteTimeout bounds a write a stalled peer does not drain: the
	// connection is closed rather than stall the packet path.
	tcpWriteTimeout = 5 * time.Second
	tcpDialTimeout  = 5 * time.Second
	// tcpBatch is the inbound batch of one connection.
	tcpBatch = 8
	// tcpPending bounds the IKE messages held while a connection opens.
	tcpPending = 16
	// tcpForget is how long the responder remembers a closed connection's
	// peer; the SAs that went over it stay off UDP regardless
	// (SA.overTCP).
	tcpForget = 10 * time.Minute
)

// tcpTable is the data plane's TCP state.
type tcpTable struct {
	mu sync.Mutex
	// byPeer is the responder's newest connection for each canonical
	// peer; a closed one stays for tcpForget.
	byPeer map[netip.AddrPort]*tcpConn
	// gateways are the initiator's gateways by address.
	gateways map[netip.Addr]*tcpGateway
	// conns are all open connections, for Close.
	conns map[*tcpConn]struct{}
	// active is set once any peer is reached over TCP, so the UDP path
	// skips the lookups until then.
	active atomic.Bool
	lns    []net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	// netns is the network namespace New ran in (-1: unknown), where
	// the initiator's connections are opened.
	netns    int
	netnsIno uint64
}

// tcpGateway is the initiator's state for one gateway.
type tcpGateway struct {
	addr      netip.Addr
	cfg       TCPGateway
	useTCP    bool
	firstSend time.Time // the first unanswered UDP send (TCPFallback)
	conn      *tcpConn
	dialing   bool
	pending   [][]byte // IKE messages waiting for the connection
	// local and remote are the addresses of the last IKE message IKE
	// sent: received messages are reported with them.
	local, remote netip.AddrPort
}

// tcpConn is one TCP connection.
type tcpConn struct {
	dp    *DataPlane
	c     *net.TCPConn
	local netip.AddrPort // as IKE sees it (responder: the listening port)
	peer  atomic.Pointer[netip.AddrPort]
	gw    *tcpGateway // initiator side; nil on the responder

	wmu  sync.Mutex
	wbuf []byte
	// lastIKE is the last IKE message sent on this connection: TCP is
	// reliable, so a bitwise identical one (IKE's retransmission of a
	// request or of a response) is not sent again on the same
	// connection (RFC 9329 on retransmissions: initiators SHOULD NOT retransmit
	// over TCP, responders SHOULD NOT resend responses).
	lastIKE []byte

	closed   atomic.Bool
	closedAt atomic.Int64
	in       *inPath // made on the first ESP packet for a known SA
}

func (c *tcpConn) peerAddr() netip.AddrPort { return *c.peer.Load() }

// sendIKE frames and sends one IKE message unless it is the one last sent
// on this connection.
func (c *tcpConn) sendIKE(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.lastIKE != nil && bytes.Equal(msg, c.lastIKE) {
		c.dp.ctr.tcpRetransmits.Add(1)
		return nil
	}
	f, err := tcpencap.AppendIKE(c.wbuf[:0], msg)
	if err != nil {
		return err
	}
	c.wbuf = f
	c.lastIKE = append(c.lastIKE[:0], msg...)
	return c.writeLocked(f)
}

// write sends framed data; a failure closes the connection.
func (c *tcpConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

func (c *tcpConn) writeLocked(b []byte) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	_ = c.c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
	if _, err := c.c.Write(b); err != nil {
		c.close()
		return fmt.Errorf("dataplane: TCP to %v: %w", c.c.RemoteAddr(), err)
	}
	return nil
}

// close closes the connection once; the responder keeps its peer's entry
// (so the peer's traffic is dropped rather than sent over UDP), the
// initiator forgets it and reopens on demand.
func (c *tcpConn) close() {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.closedAt.Store(time.Now().UnixNano())
	c.c.Close()
	t := &c.dp.tcp
	t.mu.Lock()
	delete(t.conns, c)
	if c.gw != nil && c.gw.conn == c {
		c.gw.conn = nil
	}
	t.mu.Unlock()
}

// SetTCPGateways sets the gateways this host reaches over TCP (or falls
// back to TCP for); the state of a gateway that stays is kept.
func (dp *DataPlane) SetTCPGateways(gws map[netip.Addr]TCPGateway) {
	t := &dp.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.gateways
	t.gateways = make(map[netip.Addr]*tcpGateway, len(gws))
	for a, cfg := range gws {
		a = a.Unmap()
		if cfg.Mode == TCPNever {
			continue
		}
		if cfg.Port == 0 {
			cfg.Port = DefaultNATTPort
		}
		if cfg.After <= 0 {
			cfg.After = DefaultTCPFallback
		}
		g := old[a]
		if g == nil {
			g = &tcpGateway{addr: a}
		}
		g.cfg = cfg
		if cfg.Mode == TCPAlways {
			g.useTCP = true
		}
		if g.useTCP {
			t.active.Store(true)
		}
		t.gateways[a] = g
	}
}

// OverTCP reports whether IKE and ESP with the peer at remote (as IKE
// knows it) go over TCP: a gateway this host reaches over TCP, or a peer
// that came over TCP, connected now or not.
func (dp *DataPlane) OverTCP(remote netip.AddrPort) bool {
	t := &dp.tcp
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byPeer[remote]; ok {
		return true
	}
	g := t.gateways[remote.Addr()]
	return g != nil && g.useTCP
}

// TCPPeer reports whether IKE and ESP for remote go over TCP now, and the
// local and remote addresses of the connection.
func (dp *DataPlane) TCPPeer(remote netip.Addr) (local, peer netip.AddrPort, ok bool) {
	t := &dp.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	remote = remote.Unmap()
	if g := t.gateways[remote]; g != nil && g.conn != nil {
		return addrPort(g.conn.c.LocalAddr()), addrPort(g.conn.c.RemoteAddr()), true
	}
	for p, c := range t.byPeer {
		if p.Addr() == remote && !c.closed.Load() {
			return addrPort(c.c.LocalAddr()), addrPort(c.c.RemoteAddr()), true
		}
	}
	return netip.AddrPort{}, netip.AddrPort{}, false
}

func addrPort(a net.Addr) netip.AddrPort {
	ta, _ := a.(*net.TCPAddr)
	if ta == nil {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// tcpRoute finds the TCP connection that carries traffic to the peer at
// to: via reports that the peer is reached over TCP at all, c is nil when
// no connection is up (the packet is dropped; an initiator starts opening
// one).
func (dp *DataPlane) tcpRoute(to netip.AddrPort) (c *tcpConn, via bool) {
	t := &dp.tcp
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.byPeer[to]; c != nil {
		if c.closed.Load() {
			return nil, true
		}
		return c, true
	}
	g := t.gateways[to.Addr()]
	if g == nil || !g.useTCP {
		return nil, false
	}
	if g.conn == nil {
		dp.dialLocked(g)
		return nil, true
	}
	return g.conn, true
}

// tcpSendIKE sends an IKE message over TCP when its peer is reached that
// way; handled is false when it should go over UDP.
func (dp *DataPlane) tcpSendIKE(msg []byte, local, remote netip.AddrPort) (handled bool, err error) {
	t := &dp.tcp
	t.mu.Lock()
	if c := t.byPeer[remote]; c != nil {
		t.mu.Unlock()
		if c.closed.Load() {
			// The responder never connects: the initiator reopens
			// and IKE retransmits.
			return true, fmt.Errorf("dataplane: send IKE to %v: its TCP connection is closed", remote)
		}
		return true, c.sendIKE(msg)
	}
	g := t.gateways[remote.Addr()]
	if g == nil {
		t.mu.Unlock()
		return false, nil
	}
	g.local, g.remote = local, remote
	if !g.useTCP {
		now := time.Now()
		if g.firstSend.IsZero() {
			g.firstSend = now
		}
		if now.Sub(g.firstSend) < g.cfg.After {
			t.mu.Unlock()
			return false, nil
		}
		g.useTCP = true
		t.active.Store(true)
	}
	c := g.conn
	if c == nil {
		if len(g.pending) < tcpPending && !slices.ContainsFunc(g.pending, func(p []byte) bool { return bytes.Equal(p, msg) }) {
			g.pending = append(g.pending, bytes.Clone(msg))
		}
		dp.dialLocked(g)
		t.mu.Unlock()
		return true, nil
	}
	t.mu.Unlock()
	return true, c.sendIKE(msg)
}

// udpIKEFrom notes an IKE message that arrived over UDP from addr: a
// gateway that answers over UDP needs no fallback.
func (dp *DataPlane) udpIKEFrom(addr netip.Addr) {
	t := &dp.tcp
	t.mu.Lock()
	if g := t.gateways[addr.Unmap()]; g != nil && !g.useTCP {
		g.firstSend = time.Time{}
	}
	t.mu.Unlock()
}

// dialLocked starts opening a connection to g unless one is on its way.
func (dp *DataPlane) dialLocked(g *tcpGateway) {
	if g.dialing || dp.tcp.ctx == nil || dp.tcp.ctx.Err() != nil {
		return // closing: closeTCP cancels under t.mu, so no Add after Wait
	}
	g.dialing = true
	dp.wg.Add(1)
	go func() { defer dp.wg.Done(); dp.dial(g) }()
}

func (dp *DataPlane) dial(g *tcpGateway) {
	t := &dp.tcp
	to := netip.AddrPortFrom(g.addr, g.cfg.Port)
	d := net.Dialer{Timeout: tcpDialTimeout, Control: dp.markControl}
	if g.addr.Is4() && dp.cfg.Local4.IsValid() && !dp.cfg.Local4.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: dp.cfg.Local4.AsSlice()}
	} else if g.addr.Is6() && dp.cfg.Local6.IsValid() && !dp.cfg.Local6.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: dp.cfg.Local6.AsSlice()}
	}
	var nc net.Conn
	err := dp.inOwnNetns(func() error {
		var err error
		nc, err = d.DialContext(t.ctx, "tcp", to.String())
		return err
	})
	t.mu.Lock()
	g.dialing = false
	if err != nil {
		g.pending = nil // IKE retransmits
		t.mu.Unlock()
		dp.ctr.sendErrors.Add(1)
		return
	}
	c := dp.newTCPConn(nc.(*net.TCPConn), netip.AddrPort{})
	c.gw = g
	p := to
	c.peer.Store(&p)
	g.conn = c
	t.conns[c] = struct{}{}
	pending := g.pending
	g.pending = nil
	t.mu.Unlock()
	// The stream prefix goes once, first (RFC 9329 section 4).
	if err := c.write([]byte(tcpencap.Prefix)); err != nil {
		return
	}
	for _, m := range pending {
		if err := c.sendIKE(m); err != nil {
			return
		}
	}
	c.run(nil)
}

func (dp *DataPlane) newTCPConn(nc *net.TCPConn, local netip.AddrPort) *tcpConn {
	_ = nc.SetNoDelay(true)
	return &tcpConn{dp: dp, c: nc, local: local}
}

// markControl sets the data plane's mark on a TCP socket, so its packets
// stay out of the routes into the TUN as the UDP sockets' do.
func (dp *DataPlane) markControl(_, _ string, rc syscall.RawConn) error {
	if dp.cfg.FwMark == 0 {
		return nil
	}
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(dp.cfg.FwMark))
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("dataplane: TCP SO_MARK: %w", err)
	}
	return nil
}

// inOwnNetns runs fn, which creates a socket, in the network namespace
// New ran in: a process that moved threads between namespaces (tests) may
// run the dialing goroutine on a thread in another one. The daemon runs in
// one namespace, where this costs a stat.
func (dp *DataPlane) inOwnNetns(fn func() error) error {
	if dp.tcp.netns < 0 {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var st unix.Stat_t
		if unix.Stat("/proc/thread-self/ns/net", &st) == nil && st.Ino == dp.tcp.netnsIno {
			runtime.UnlockOSThread()
			errc <- fn()
			return
		}
		// The thread stays locked: it ends with this goroutine rather
		// than go back to the scheduler in the wrong namespace.
		if err := unix.Setns(dp.tcp.netns, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("dataplane: enter the data plane's network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// openTCP opens the TCP listeners (the responder's side).
func (dp *DataPlane) openTCP() error {
	t := &dp.tcp
	t.netns = -1
	if fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			t.netns, t.netnsIno = fd, st.Ino
		} else {
			unix.Close(fd)
		}
	}
	t.byPeer = map[netip.AddrPort]*tcpConn{}
	t.conns = map[*tcpConn]struct{}{}
	if t.gateways == nil {
		t.gateways = map[netip.Addr]*tcpGateway{}
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if dp.cfg.NoTCP {
		return nil
	}
	lc := net.ListenConfig{Control: dp.markControl}
	port := fmt.Sprint(dp.cfg.TCPPort)
	var addrs [][2]string
	l4 := dp.cfg.Local4.IsValid() && !dp.cfg.Local4.IsUnspecified()
	l6 := dp.cfg.Local6.IsValid() && !dp.cfg.Local6.IsUnspecified()
	switch {
	case !l4 && !l6 && !dp.cfg.NoIPv6:
		addrs = [][2]string{{"tcp", ":" + port}}
	case !l4 && !l6:
		addrs = [][2]string{{"tcp4", ":" + port}}
	default:
		if l4 {
			addrs = append(addrs, [2]string{"tcp4", net.JoinHostPort(dp.cfg.Local4.String(), port)})
		}
		if l6 && !dp.cfg.NoIPv6 {
			addrs = append(addrs, [2]string{"tcp6", net.JoinHostPort(dp.cfg.Local6.String(), port)})
		}
	}
	for _, a := range addrs {
		ln, err := lc.Listen(t.ctx, a[0], a[1])
		if err != nil && a[0] == "tcp" {
			ln, err = lc.Listen(t.ctx, "tcp4", a[1]) // no IPv6 on this host
		}
		if err != nil {
			return fmt.Errorf("dataplane: TCP listener on %s: %w", a[1], err)
		}
		t.lns = append(t.lns, ln)
	}
	return nil
}

// startTCP runs the accept loops.
func (dp *DataPlane) startTCP() {
	for _, ln := range dp.tcp.lns {
		dp.wg.Add(1)
		go func() { defer dp.wg.Done(); dp.accept(ln) }()
	}
}

// closeTCP closes the listeners and every connection.
func (dp *DataPlane) closeTCP() {
	t := &dp.tcp
	t.mu.Lock()
	if t.cancel != nil {
		t.cancel()
	}
	t.mu.Unlock()
	for _, ln := range t.lns {
		ln.Close()
	}
	t.mu.Lock()
	if t.netns > 0 {
		unix.Close(t.netns)
		t.netns = -1
	}
	conns := make([]*tcpConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// TCPPort returns the port the TCP listener is bound to (0: none), for
// tests that ask for any free one.
func (dp *DataPlane) TCPPort() uint16 {
	if len(dp.tcp.lns) == 0 {
		return 0
	}
	return addrPort(dp.tcp.lns[0].Addr()).Port()
}

func (dp *DataPlane) accept(ln net.Listener) {
	lport := addrPort(ln.Addr()).Port()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			dp.ctr.other.Add(1)
			select {
			case <-dp.done:
				return
			case <-time.After(10 * time.Millisecond): // no spin on a persistent error
			}
			continue
		}
		t := &dp.tcp
		t.mu.Lock()
		if len(t.conns) >= maxTCPConns {
			t.mu.Unlock()
			nc.Close()
			dp.ctr.other.Add(1)
			continue
		}
		la := addrPort(nc.LocalAddr())
		c := dp.newTCPConn(nc.(*net.TCPConn), netip.AddrPortFrom(la.Addr(), lport))
		ra := addrPort(nc.RemoteAddr())
		c.peer.Store(&ra)
		t.conns[c] = struct{}{}
		t.mu.Unlock()
		dp.wg.Add(1)
		go func() { defer dp.wg.Done(); dp.serve(c) }()
	}
}

// serve reads the prefix of an accepted connection, registers it and
// reads its frames.
func (dp *DataPlane) serve(c *tcpConn) {
	r := tcpencap.NewReader(c.c)
	_ = c.c.SetReadDeadline(time.Now().Add(tcpPrefixTimeout))
	if err := r.ReadPrefix(); err != nil {
		dp.ctr.malformed.Add(1)
		c.close()
		return
	}
	_ = c.c.SetReadDeadline(time.Time{})
	t := &dp.tcp
	t.mu.Lock()
	t.byPeer[c.peerAddr()] = c
	t.active.Store(true)
	t.mu.Unlock()
	c.run(r)
}

// run reads frames until the connection ends: IKE messages go to IKE at
// once, ESP packets are opened in batches of what has arrived. The batch's
// slots hold an ESP packet of the underlay MTU (jumbo frames included) and
// are made with the first ESP packet of a known SA; anything larger, and
// everything before, goes through one buffer grown to the largest frame
// seen, so an idle or unauthenticated connection costs little.
func (c *tcpConn) run(r *tcpencap.Reader) {
	dp := c.dp
	defer c.close()
	if r == nil {
		r = tcpencap.NewReader(c.c)
	}
	var big []byte
	k := 0 // ESP packets queued in c.in's slots
	for {
		n, err := r.ReadLength()
		if err == nil {
			slot := big
			if c.in != nil && HeadRoom+n <= len(c.in.slots[k]) {
				slot = c.in.slots[k]
			} else if len(big) < HeadRoom+n {
				big = make([]byte, HeadRoom+(n+4095)&^4095)
				slot = big
			}
			if err = r.ReadContent(slot[HeadRoom : HeadRoom+n]); err == nil {
				k = c.frame(slot, n, k)
			}
		}
		if err != nil {
			if c.in != nil && k > 0 {
				c.in.flush()
			}
			if errors.Is(err, tcpencap.ErrLength) {
				dp.ctr.malformed.Add(1)
			}
			return
		}
		if c.in != nil && k > 0 && (k == len(c.in.slots) || !r.Complete()) {
			c.in.flush()
			k = 0
		}
	}
}

// tcpSlotLen is the size of a connection's ESP slots: head room, an ESP
// packet of the underlay MTU (9000 at least, for jumbo frames), tail room.
func (dp *DataPlane) tcpSlotLen() int { return HeadRoom + max(dp.cfg.UnderlayMTU, 9000) + TailRoom }

// frame handles the frame of n octets at slot[HeadRoom:] and returns how
// many ESP packets the batch's slots hold now (k before it).
func (c *tcpConn) frame(slot []byte, n, k int) int {
	dp := c.dp
	kind, b := tcpencap.Classify(slot[HeadRoom : HeadRoom+n])
	switch kind {
	case tcpencap.IKE:
		c.ike(b)
	case tcpencap.ESP:
		if c.in == nil {
			if dp.inbound(ipsec.ProtoESP, binary.BigEndian.Uint32(b)) == nil {
				dp.ctr.noSA.Add(1)
				return k
			}
			c.in = dp.newInPathSized(pick(sockUDP4NATT, c.local.Addr().Is6()), tcpBatch, dp.tcpSlotLen())
			c.in.tcp = c
		}
		if &slot[0] != &c.in.slots[k][0] {
			// read into the shared buffer: the first ESP packet, or one
			// larger than a slot
			if HeadRoom+n > len(c.in.slots[k]) {
				dp.ctr.tooBig.Add(1)
				return k
			}
			copy(c.in.slots[k][HeadRoom:], b)
			slot = c.in.slots[k]
		}
		m := &c.in.meta[k]
		*m = rxMeta{N: n, Src: c.peerAddr(), Dst: c.local.Addr()}
		c.in.espOnly(slot, m, true)
		return k + 1
	default:
		dp.ctr.malformed.Add(1)
	}
	return k
}

// ike hands a received IKE message to IKE with the addresses its IKE SA
// uses.
func (c *tcpConn) ike(msg []byte) {
	dp := c.dp
	dp.ctr.ike.Add(1)
	if dp.cfg.IKE == nil {
		return
	}
	local, remote := c.local, c.peerAddr()
	if g := c.gw; g != nil {
		dp.tcp.mu.Lock()
		local, remote = g.local, g.remote
		dp.tcp.mu.Unlock()
	}
	dp.cfg.IKE(msg, local, remote)
}

// authentic is called for each authentic ESP packet the connection
// carried: on the responder, a new connection of the initiator takes over
// the peer of the SA, so outbound traffic follows it (RFC 9329 section 6:
// the most recent connection of an IKE SA is the one to use).
func (c *tcpConn) authentic(sa *SA) {
	if c.gw != nil {
		return
	}
	// The peer that matters is where the Child SA's outbound SA sends.
	cur := sa.CurrentPeer()
	if sa.Route != nil {
		if out := sa.Route.Outbound(); out != nil {
			cur = out.CurrentPeer()
		}
	}
	cur = netip.AddrPortFrom(cur.Addr().Unmap(), cur.Port())
	if cur == c.peerAddr() {
		return
	}
	t := &c.dp.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.byPeer[c.peerAddr()]; old == c {
		delete(t.byPeer, c.peerAddr())
	}
	c.peer.Store(&cur)
	t.byPeer[cur] = c
}

// sweepTCP forgets the responder's connections closed longer than
// tcpForget ago.
func (dp *DataPlane) sweepTCP() {
	t := &dp.tcp
	t.mu.Lock()
	defer t.mu.Unlock()
	limit := time.Now().Add(-tcpForget).UnixNano()
	for p, c := range t.byPeer {
		if c.closed.Load() && c.closedAt.Load() < limit {
			delete(t.byPeer, p)
		}
	}
}

// tcpMsg is one sealed ESP packet for a TCP connection.
type tcpMsg struct {
	c *tcpConn
	b []byte
}

// sendTCP frames and writes the batch's ESP packets, one write per run of
// one connection.
func (dp *DataPlane) sendTCP(msgs []tcpMsg) {
	for i := 0; i < len(msgs); {
		c := msgs[i].c
		j := i
		c.wmu.Lock()
		buf := c.wbuf[:0]
		for ; j < len(msgs) && msgs[j].c == c; j++ {
			var err error
			if buf, err = tcpencap.AppendESP(buf, msgs[j].b); err != nil {
				dp.ctr.tooBig.Add(1)
			}
		}
		c.wbuf = buf
		if err := c.writeLocked(buf); err != nil {
			dp.ctr.sendErrors.Add(uint64(j - i))
		}
		c.wmu.Unlock()
		i = j
	}
}

// tcpPayload is the ESP packet of a sealed packet: without the IP header
// of a packet sealed for raw ESP.
func tcpPayload(sa *SA, out []byte) ([]byte, bool) {
	if sa.Encap {
		return out, true
	}
	u, err := packet.ParseUpperLayer(out)
	if err != nil || u.Offset > len(out) {
		return nil, false
	}
	return out[u.Offset:], true
}
