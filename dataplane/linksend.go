package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// How long a next hop's resolution is trusted before it is looked up
// again: a usable one (its MAC may change, the route may move), one with no
// neighbour entry yet (the IP path the batch takes instead makes the kernel
// resolve it, so it comes soon), and one that cannot be used at all (not
// Ethernet, a local route; that does not change often).
const (
	linkHopTTL       = time.Second
	linkNoNeighTTL   = 100 * time.Millisecond
	linkUnusableTTL  = 5 * time.Second
	linkSendMaxBatch = 256
)

// Neighbour states whose link-layer address may be used (include/uapi/
// linux/neighbour.h).
const (
	nudReachable = 0x02
	nudStale     = 0x04
	nudDelay     = 0x08
	nudProbe     = 0x10
	nudNoARP     = 0x40
	nudPermanent = 0x80
	nudUsable    = nudReachable | nudStale | nudDelay | nudProbe | nudNoARP | nudPermanent
)

// linkSender sends raw ESP (outer IPv4 or IPv6 packets, header included)
// through an AF_PACKET socket straight to the next hop's MAC address, which
// it takes from the kernel's neighbour table. The IP stack's per-packet
// output path (raw_sendmsg: a route lookup through the policy-routing
// rules, the IP output and neighbour output, the netfilter hooks) is
// skipped; the packets still pass the device's queueing discipline and
// packet taps (no PACKET_QDISC_BYPASS: tcpdump and tc see them), but
// netfilter's OUTPUT and POSTROUTING chains do not. One batch of one peer
// is one sendmmsg with one sockaddr_ll.
//
// The first run of packets after each lookup of a hop (once a second per
// peer under traffic) still takes the IP path, so that what the kernel
// learns only from packets it sends stays alive: the neighbour entry is
// confirmed (a STALE entry moves through DELAY and PROBE back to REACHABLE,
// or fails and the link socket stops using it) and connection tracking
// keeps an entry for the ESP flow, which a stateful firewall that admits
// inbound ESP as "established" relies on.
//
// A message goes through the raw IP socket instead when its next hop is
// not usable: no route or a non-unicast one (local), not an Ethernet
// link, no neighbour entry with an address yet (the IP path makes the
// kernel resolve it), a packet above the link's MTU, or after the link
// socket refused one (then that hop waits linkUnusableTTL).
//
// It is used by the one goroutine that sends on its socket (see batchIO);
// the mutex only keeps a second sender correct.
type linkSender struct {
	rc    syscall.RawConn
	conn  *pollConn
	nl    *netlink.Handle
	nlr   *nlResolver
	proto uint16 // ETH_P_IP or ETH_P_IPV6, in network order (sockaddr_ll)
	// resolve finds the next hop of packets from src to dst (the netlink
	// resolver; tests inject their own). now is the clock.
	resolve func(src, dst netip.Addr) linkHop
	now     func() time.Time
	sent    *atomic.Uint64 // datagrams sent through the link socket

	mu      sync.Mutex
	hops    map[hopKey]*linkHop
	lastKey hopKey
	last    *linkHop

	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	name  unix.RawSockaddrLinklayer
	count int
	n     int
	err   error
	fn    func(fd uintptr) bool
}

// hopKey is an outer packet's source and destination.
type hopKey struct{ src, dst netip.Addr }

// linkHop is where packets of one hopKey go on the link.
type linkHop struct {
	// ok means the packets may go through the link socket.
	ok      bool
	ifindex int32
	mac     [6]byte
	mtu     int
	// viaIP sends the next run through the IP stack (set at each
	// lookup; see linkSender).
	viaIP bool
	// why says why a hop is not usable (for tests and debugging).
	why string
	// until is when the hop is looked up again.
	until time.Time
}

// newLinkSender opens the AF_PACKET socket in the current network namespace
// (New runs there) with a netlink handle for the route and neighbour
// lookups. An error means raw ESP keeps to the IP socket (no CAP_NET_RAW,
// no AF_PACKET in the kernel).
func newLinkSender(v6 bool, mark uint32, batch int, sent *atomic.Uint64) (*linkSender, error) {
	// Protocol 0: the socket sends only, nothing is queued to it.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dataplane: AF_PACKET socket: %w", err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sockBuf)
	}
	if mark != 0 {
		// The packets carry the mark as the IP socket's do (tc filters
		// and qdiscs may classify by it).
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("dataplane: AF_PACKET socket mark: %w", err)
		}
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dataplane: netlink handle: %w", err)
	}
	// Out of Go's poller, as the IP sockets (see pollConn): each packet
	// freed would wake it.
	conn, err := newPollConn(fd, false)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("dataplane: AF_PACKET socket: %w", err)
	}
	ethP := uint16(unix.ETH_P_IP)
	if v6 {
		ethP = unix.ETH_P_IPV6
	}
	r := newNLResolver(h, mark, v6)
	l := newLinkSenderWith(conn, htons(ethP), batch, r.resolve, sent)
	l.conn, l.nl, l.nlr = conn, h, r
	return l, nil
}

func newLinkSenderWith(rc syscall.RawConn, proto uint16, batch int, resolve func(src, dst netip.Addr) linkHop, sent *atomic.Uint64) *linkSender {
	n := min(max(batch, 1), linkSendMaxBatch)
	l := &linkSender{
		rc:      rc,
		proto:   proto,
		resolve: resolve,
		now:     time.Now,
		sent:    sent,
		hops:    make(map[hopKey]*linkHop),
		hdrs:    make([]unix.Mmsghdr, n),
		iovs:    make([]unix.Iovec, n),
	}
	l.fn = l.doSend
	return l
}

func (l *linkSender) close() {
	if l.conn != nil {
		l.conn.Close()
	}
	if l.nl != nil {
		l.nl.Close()
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// keyOf reads an outer packet's addresses; ok is false for a packet too
// short to have them or of the other family.
func keyOf(b []byte, v6 bool) (hopKey, bool) {
	if !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return hopKey{}, false
		}
		return hopKey{netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))}, true
	}
	if len(b) < 40 || b[0]>>4 != 6 {
		return hopKey{}, false
	}
	return hopKey{netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))}, true
}

// hop returns the next hop for k, looking it up when it is unknown or due.
func (l *linkSender) hop(k hopKey, now time.Time) *linkHop {
	h := l.last
	if h == nil || k != l.lastKey {
		h = l.hops[k]
	}
	if h == nil {
		if len(l.hops) >= 4096 {
			clear(l.hops) // many short-lived peers: start over
		}
		h = &linkHop{}
		l.hops[k] = h
	}
	if !now.Before(h.until) {
		*h = l.resolve(k.src, k.dst)
		h.viaIP = h.ok
		ttl := linkHopTTL
		switch {
		case !h.ok && h.why == whyNoNeighbour:
			ttl = linkNoNeighTTL
		case !h.ok:
			ttl = linkUnusableTTL
		}
		h.until = now.Add(ttl)
	}
	l.lastKey, l.last = k, h
	return h
}

// split returns how many of the first messages go one way, and whether
// that way is the link socket: a run of one source and destination whose
// hop is usable, each packet within the link's MTU, or a run of one source
// and destination that is not (IP socket). The first message of a run
// always belongs to it.
func (l *linkSender) split(msgs []txMsg, v6 bool, now time.Time) (int, bool) {
	k, ok := keyOf(msgs[0].b, v6)
	if !ok {
		return 1, false
	}
	h := l.hop(k, now)
	via := h.ok && len(msgs[0].b) <= h.mtu
	if via && h.viaIP {
		h.viaIP = false
		via = false
	}
	n := 1
	for n < len(msgs) {
		k2, ok := keyOf(msgs[n].b, v6)
		if !ok || k2 != k || via && len(msgs[n].b) > h.mtu {
			break
		}
		n++
	}
	return n, via
}

// send writes msgs, all of one hop h, through the link socket and returns
// how many left; fewer than len(msgs) when the kernel refused the next one
// (the hop is then not used for linkUnusableTTL).
func (l *linkSender) send(msgs []txMsg, h *linkHop, now time.Time) int {
	l.name = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: l.proto, Ifindex: h.ifindex, Halen: 6}
	copy(l.name.Addr[:], h.mac[:])
	done := 0
	for done < len(msgs) {
		k := min(len(msgs)-done, len(l.hdrs))
		for i := range k {
			b := msgs[done+i].b
			l.iovs[i].Base = &b[0]
			l.iovs[i].SetLen(len(b))
			hd := &l.hdrs[i]
			hd.Hdr.Iov = &l.iovs[i]
			hd.Hdr.SetIovlen(1)
			hd.Hdr.Name = (*byte)(unsafe.Pointer(&l.name))
			hd.Hdr.Namelen = unix.SizeofSockaddrLinklayer
			hd.Hdr.Control = nil
			hd.Hdr.SetControllen(0)
			hd.Len = 0
		}
		l.count = k
		if err := l.rc.Write(l.fn); err != nil {
			l.err = err
		}
		if l.err != nil || l.n == 0 {
			*h = linkHop{why: "link socket refused a packet", until: now.Add(linkUnusableTTL)}
			break
		}
		done += l.n
	}
	if l.sent != nil {
		l.sent.Add(uint64(done))
	}
	return done
}

func (l *linkSender) doSend(fd uintptr) bool {
	n, again, err := sendmmsg(fd, l.hdrs[:l.count])
	if again {
		return false
	}
	l.n, l.err = n, err
	return true
}

// whyNoNeighbour is the reason of a hop whose neighbour entry is missing
// or has no address yet.
const whyNoNeighbour = "no neighbour entry"

// nlResolver looks next hops up through netlink, in the network namespace
// its handle was opened in: the route the kernel would take (with the data
// plane's firewall mark, so the policy-routing rule into the TUN is
// skipped as for the IP socket), its device, and the neighbour entry of its
// gateway or of the destination itself.
//
// The route is asked for per peer (one request); what the peers share is
// cached: a device's attributes for linkHopTTL, and its neighbour table,
// dumped at most once per linkHopTTL (once per linkNoNeighTTL while a
// next hop is missing from it), so many peers behind one router cost one
// dump a second, not one each. It is used under its linkSender's mutex.
type nlResolver struct {
	h    *netlink.Handle
	mark uint32
	v6   bool
	now  func() time.Time

	links  map[int]*nlLink
	neighs map[int]*nlNeighs
	// dumps counts the neighbour table dumps (for tests).
	dumps int
}

// nlLink is a device as the resolver last saw it.
type nlLink struct {
	until time.Time
	mtu   int
	why   string // not usable when set
}

// nlNeighs is a device's neighbour table (usable entries only).
type nlNeighs struct {
	at  time.Time
	mac map[netip.Addr][6]byte
}

func newNLResolver(h *netlink.Handle, mark uint32, v6 bool) *nlResolver {
	return &nlResolver{h: h, mark: mark, v6: v6, now: time.Now, links: map[int]*nlLink{}, neighs: map[int]*nlNeighs{}}
}

func (r *nlResolver) resolve(src, dst netip.Addr) linkHop {
	opts := &netlink.RouteGetOptions{Mark: r.mark}
	if src.IsValid() && !src.IsUnspecified() {
		opts.SrcAddr = src.AsSlice()
	}
	routes, err := r.h.RouteGetWithOptions(dst.AsSlice(), opts)
	if err != nil || len(routes) == 0 {
		return linkHop{why: fmt.Sprintf("no route: %v", err)}
	}
	rt := routes[0]
	if rt.Type != unix.RTN_UNICAST || rt.LinkIndex <= 0 || rt.Via != nil {
		return linkHop{why: "not a unicast route over one device"}
	}
	now := r.now()
	dev := r.link(rt.LinkIndex, now)
	if dev.why != "" {
		return linkHop{why: dev.why}
	}
	next := dst
	if len(rt.Gw) > 0 {
		gw, ok := netip.AddrFromSlice(rt.Gw)
		if !ok {
			return linkHop{why: "gateway address"}
		}
		next = gw.Unmap()
	}
	mac, ok := r.neighbour(rt.LinkIndex, next, now)
	if !ok {
		return linkHop{why: whyNoNeighbour}
	}
	h := linkHop{ok: true, ifindex: int32(rt.LinkIndex), mtu: dev.mtu, mac: mac}
	if rt.MTU > 0 && rt.MTU < h.mtu {
		h.mtu = rt.MTU
	}
	return h
}

// link returns device idx, looked up again after linkHopTTL.
func (r *nlResolver) link(idx int, now time.Time) *nlLink {
	if l := r.links[idx]; l != nil && now.Before(l.until) {
		return l
	}
	if len(r.links) >= 1024 {
		clear(r.links)
	}
	l := &nlLink{until: now.Add(linkHopTTL)}
	r.links[idx] = l
	link, err := r.h.LinkByIndex(idx)
	if err != nil {
		l.why = fmt.Sprintf("device %d: %v", idx, err)
		return l
	}
	a := link.Attrs()
	if a.EncapType != "ether" || len(a.HardwareAddr) != 6 || a.Flags&net.FlagUp == 0 {
		l.why = fmt.Sprintf("device %s is not an Ethernet link that is up", a.Name)
	}
	l.mtu = a.MTU
	return l
}

// neighbour returns the MAC of next on device idx from the cached
// neighbour table, dumped again when it is linkHopTTL old, or
// linkNoNeighTTL old and next is not in it.
func (r *nlResolver) neighbour(idx int, next netip.Addr, now time.Time) ([6]byte, bool) {
	t := r.neighs[idx]
	if t != nil {
		age := now.Sub(t.at)
		if mac, ok := t.mac[next]; ok && age < linkHopTTL {
			return mac, true
		}
		if age < linkNoNeighTTL {
			return [6]byte{}, false
		}
	}
	if len(r.neighs) >= 1024 {
		clear(r.neighs)
	}
	t = &nlNeighs{at: now, mac: map[netip.Addr][6]byte{}}
	r.neighs[idx] = t
	fam := netlink.FAMILY_V4
	if r.v6 {
		fam = netlink.FAMILY_V6
	}
	r.dumps++
	list, err := r.h.NeighList(idx, fam)
	if err != nil {
		return [6]byte{}, false
	}
	for _, n := range list {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || n.State&nudUsable == 0 || len(n.HardwareAddr) != 6 {
			continue
		}
		t.mac[ip.Unmap()] = [6]byte(n.HardwareAddr)
	}
	mac, ok := t.mac[next]
	return mac, ok
}
