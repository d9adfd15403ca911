package daemon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	mathrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cygnet-ipsec/cygnet/ah"
	"github.com/cygnet-ipsec/cygnet/dataplane"
	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/netcfg"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/replay"
	"github.com/cygnet-ipsec/cygnet/sad"
	"github.com/cygnet-ipsec/cygnet/spd"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// Routes is what the packet path asks of the host's routing (netcfg does it
// with netlink): send remote subnets into the TUN and stop doing so, and
// keep protected subnets unreachable while no tunnel carries them.
type Routes interface {
	AddRule() error
	LinkUp(dev string) error
	AddRoutes(dev string, prefixes []netip.Prefix, src netip.Addr) error
	DelRoutes(dev string, prefixes []netip.Prefix) error
	Protect(prefixes []netip.Prefix) error
	// AddAddress and DelAddress put a virtual IP on the TUN and take it
	// off again.
	AddAddress(dev string, addr netip.Prefix) error
	DelAddress(dev string, addr netip.Prefix) error
}

// rangesToPrefixes turns selector ranges into the prefixes that cover them.
func rangesToPrefixes(ts []spd.Endpoint) []netip.Prefix {
	var out []netip.Prefix
	for _, t := range ts {
		if p, ok := rangePrefix(t.Addrs.From, t.Addrs.To); ok {
			out = append(out, p)
			continue
		}
		ps, err := netcfg.RangePrefixes(t.Addrs.From, t.Addrs.To)
		if err == nil {
			out = append(out, ps...)
		}
	}
	return out
}

// rangePrefix returns the prefix from-to is, when it is exactly one (a
// subnet, an address): the Child SAs of a gateway's clients, whose routes
// are worked out twice per Child SA. netcfg.RangePrefixes handles every
// range, with big integers and allocations in a loop; it was 1.3 % of a
// responder's CPU per SA.
func rangePrefix(from, to netip.Addr) (netip.Prefix, bool) {
	from, to = from.Unmap(), to.Unmap()
	if !from.IsValid() || !to.IsValid() || from.Is4() != to.Is4() {
		return netip.Prefix{}, false
	}
	a, b := from.As16(), to.As16()
	ahi, alo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	bhi, blo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	common := bits.LeadingZeros64(ahi ^ bhi)
	if common == 64 {
		common += bits.LeadingZeros64(alo ^ blo)
	}
	// The block of the common leading bits must start at from and end at
	// to: from's other bits all 0, to's all 1.
	// (A shift by 64 gives 0.)
	var mhi, mlo uint64
	if host := 128 - common; host >= 64 {
		mhi, mlo = ^uint64(0)>>(128-host), ^uint64(0)
	} else {
		mlo = ^uint64(0) >> (64 - host)
	}
	if ahi&mhi != 0 || alo&mlo != 0 || bhi&mhi != mhi || blo&mlo != mlo {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(from, common-(128-from.BitLen())), true
}

// packetPath binds the IKE state machine to the data plane: it turns
// negotiated Child SAs into ESP/AH SAs, SPD policies and routes.
type packetPath struct {
	dp     *dataplane.DataPlane
	tun    string // the TUN's name, where routes and virtual IPs go
	spd    *spd.DB
	routes Routes
	log    *slog.Logger
	ike    chan IKEDatagram
	events chan dataplane.Event
	// direct takes IKE messages on the IKE port's receiver when the event
	// loop is idle (Daemon.stepIKE); nil, or when it declines, they go
	// to ike.
	direct atomic.Pointer[func(IKEDatagram) bool]

	mu       sync.Mutex
	children map[uint32]*installed // by ChildSA.UniqueID
	traps    map[uint32]*trapped   // by Trap.ID (trap.go)
	bySA     map[sad.ID]uint32     // SAD entry -> ChildSA.UniqueID, for lifetime events
	nextID   uint64
	// vips counts the installed Child SAs that use each of our virtual
	// IPs: the address stays on the TUN while one does.
	vips map[netip.Addr]int
	// polRefs counts the installed Child SAs and traps that hold each SPD
	// policy (a rekeyed Child SA hands its policies on); polAdd and polDel
	// collect the changes one commitPolicies applies to the SPD in one
	// incremental step, so installing a client never rebuilds the set.
	polRefs map[uint64]int
	polAdd  []spd.Policy
	polDel  []uint64
	// byRoute are the installed Child SAs on each route: a rekey's two.
	byRoute map[*dataplane.Route][]*installed

	// routeHolders are, for each prefix routed into the TUN, the Child SA
	// routes (one per rekeyed pair) and traps that need it, the latest
	// installed last: its source hint is the one in the kernel. A route
	// goes only with its last holder, so taking a Child SA out never
	// visits the others.
	routeHolders map[netip.Prefix][]routeHolder
	// routeSrc is each route as cygnet last put it in the kernel: its
	// source hint (the invalid address for none) and when. A Child SA
	// whose prefix was routed with the same hint less than routeRefresh
	// ago costs no netlink request: a gateway whose clients share their
	// remote selectors (every road-warrior's 0.0.0.0/0, a load-tester's
	// one subnet) made a RouteReplace per Child SA, a tenth of its CPU per
	// SA.
	routeSrc map[netip.Prefix]writtenRoute
	// routeGrace are the routes whose last holder, a Child SA, went: each
	// stays in the kernel until the time noted (routeGrace after), and a
	// Child SA that needs it before then takes it over with no netlink
	// request. A load-tester's clients, which share one remote subnet and
	// come and go one at a time, cost a route delete and add per Child SA,
	// 3 % of the responder's CPU. While it stays, the route sends the
	// prefix's traffic into the TUN, where the SPD discards what no policy
	// protects: nothing leaves in clear that would not have before.
	routeGrace map[netip.Prefix]time.Time
	// clock is time.Now but in tests.
	clock func() time.Time

	// hostAddrs caches the host's addresses for route source hints
	// (hostAddrsLocked), read at hostAddrsAt.
	hostAddrs   []netip.Addr
	hostAddrsAt time.Time

	// installing and deleting are told about each Child SA before it
	// enters or leaves the data plane (addChildHooks); set before the IKE
	// manager starts, then only read.
	installing, deleting []func(*ike.ChildSA)
}

// addChildHooks has the key log and RADIUS accounting told about Child SAs
// entering the data plane (before the SAD takes and wipes their keys) and
// leaving it (while their counters can still be read). The hooks run on
// the caller's goroutine, the event loop, outside p.mu. Hooks live here,
// not in a wrapper around the path: a wrapper would hide the optional
// interfaces (OutboundSwitcher, Trapper, ...) the IKE manager looks for.
func (p *packetPath) addChildHooks(installing, deleting func(*ike.ChildSA)) {
	if installing != nil {
		p.installing = append(p.installing, installing)
	}
	if deleting != nil {
		p.deleting = append(p.deleting, deleting)
	}
}

// installed is what one Child SA put into the data plane.
type installed struct {
	child    *ike.ChildSA
	in, out  *dataplane.SA
	route    *dataplane.Route
	policies []spd.Policy
	vips     []netip.Addr // virtual IPs this Child SA holds on the TUN
}

// PacketPathOptions are the data plane's settings from the command line.
type PacketPathOptions struct {
	// TCPPort is where IKE and ESP over TCP are accepted (RFC 9329); 0
	// opens no TCP listener.
	TCPPort uint16
	// ESPLinkSocket sends raw ESP through an AF_PACKET socket to the next
	// hop (dataplane.Config.LinkSend).
	ESPLinkSocket bool
	// ESPXDP receives raw ESP through AF_XDP sockets fed by an XDP
	// program on the links (dataplane.Config.XDP).
	ESPXDP bool
}

// NewPacketPath creates the TUN device, the sockets, the SPD and the
// routing rule that sends protected traffic into the TUN.
func NewPacketPath(tunName string, routes Routes, log *slog.Logger, opts PacketPathOptions) (PacketPath, error) {
	p := &packetPath{spd: &spd.DB{}, routes: routes, log: log, ike: make(chan IKEDatagram, 256), events: make(chan dataplane.Event, 64),
		children: map[uint32]*installed{}, bySA: map[sad.ID]uint32{}, vips: map[netip.Addr]int{},
		polRefs: map[uint64]int{}, byRoute: map[*dataplane.Route][]*installed{}}
	if err := routes.AddRule(); err != nil {
		return nil, err
	}
	dp, err := dataplane.New(dataplane.Config{
		TUNName:   tunName,
		FwMark:    netcfg.DefaultFwMark,
		SPD:       p.spd,
		Events:    p.events,
		Keepalive: natKeepalive(log),
		TCPPort:   opts.TCPPort,
		NoTCP:     opts.TCPPort == 0,
		LinkSend:  opts.ESPLinkSocket,
		XDP:       opts.ESPXDP,
		IKE:       p.receiveIKE,
	})
	if err != nil {
		return nil, err
	}
	p.dp, p.tun = dp, dp.TUNName()
	if opts.ESPXDP {
		log.Info("raw ESP arrives through AF_XDP", "links", dp.XDPLinks())
	}
	if err := routes.LinkUp(dp.TUNName()); err != nil {
		dp.Close()
		return nil, err
	}
	dp.Start()
	return p, nil
}

// Protect keeps the remote subnets of the configured tunnels unreachable
// unless a Child SA routes them into the TUN: nothing leaves in clear text
// while an SA is being set up, or after the daemon stops.
//
// A dynamic remote selector (transport mode, host-to-host tunnels) stands
// for the peer's own address: when the configuration names it, that host is
// protected too. IKE and ESP to the peer still flow, because the data
// plane's sockets carry the fwmark the routing rule skips.
func (p *packetPath) Protect(conns []*ike.PeerConfig) error {
	var prefixes []netip.Prefix
	for _, c := range conns {
		for _, ch := range c.Children {
			var eps []spd.Endpoint
			for _, t := range ch.RemoteTS {
				if !t.Dynamic {
					eps = append(eps, t.Endpoint)
					continue
				}
				// the hosts remote_addrs names, not the pieces of
				// a range that happen to be one address long
				for _, h := range c.RemoteHosts {
					prefixes = append(prefixes, netip.PrefixFrom(h, h.BitLen()))
				}
			}
			prefixes = append(prefixes, rangesToPrefixes(eps)...)
		}
	}
	if p.dp != nil { // nil in tests of the routes alone
		p.dp.SetTCPGateways(tcpGateways(conns))
	}
	return p.routes.Protect(prefixes)
}

// OverTCP reports whether IKE and ESP with the peer at remote go over TCP,
// for list-sas.
func (p *packetPath) OverTCP(remote netip.AddrPort) bool { return p.dp.OverTCP(remote) }

// tcpGateways are the remote hosts of the connections with encap_tcp, as
// the data plane reaches them (RFC 9329). The gateway's TCP port is the
// NAT-T port, 4500.
func tcpGateways(conns []*ike.PeerConfig) map[netip.Addr]dataplane.TCPGateway {
	gws := map[netip.Addr]dataplane.TCPGateway{}
	for _, c := range conns {
		var mode dataplane.TCPMode
		switch c.TCP.Mode {
		case ike.TCPYes:
			mode = dataplane.TCPAlways
		case ike.TCPFallback:
			mode = dataplane.TCPFallback
		default:
			continue
		}
		for _, h := range c.RemoteHosts {
			gws[h] = dataplane.TCPGateway{Mode: mode, After: c.TCP.Fallback}
		}
	}
	return gws
}

func (p *packetPath) IKE() <-chan IKEDatagram { return p.ike }

// SetIKEHandler implements directIKE; nil sends every message to IKE().
func (p *packetPath) SetIKEHandler(h func(IKEDatagram) bool) {
	if h == nil {
		p.direct.Store(nil)
		return
	}
	p.direct.Store(&h)
}

// receiveIKE is the data plane's IKE callback. Messages to the IKE port go
// to the direct handler when there is one: that UDP socket's receiver reads
// nothing else (and a TCP connection's reader, for a connection that
// carries the IKE port's SA, holds no lock while it hands a message on).
// The NAT-T port's receivers also read ESP, which must not wait for an IKE
// exchange's crypto, so their messages queue for the event loop.
func (p *packetPath) receiveIKE(msg []byte, local, remote netip.AddrPort) {
	dg := IKEDatagram{Data: append([]byte(nil), msg...), Local: local, Remote: remote}
	if local.Port() == dataplane.DefaultIKEPort {
		if h := p.direct.Load(); h != nil && (*h)(dg) {
			return
		}
	}
	select {
	case p.ike <- dg:
	default:
		// The event loop is behind; IKE retransmits.
	}
}

// Stats returns the data plane's drop and traffic counters.
func (p *packetPath) Stats() dataplane.Stats { return p.dp.Stats() }

func (p *packetPath) SendIKE(msg []byte, local, remote netip.AddrPort) error {
	return p.dp.SendIKE(msg, local, remote)
}

func (p *packetPath) Source(remote netip.AddrPort) (netip.AddrPort, error) {
	return p.dp.Source(remote)
}

// Close takes the routes kept after their Child SAs out (the TUN's going
// would too, but not before the data plane closed) and closes the data
// plane.
func (p *packetPath) Close() error {
	if p.routes != nil {
		p.FlushRoutes()
	}
	return p.dp.Close()
}

func (p *packetPath) Counters(c *ike.ChildSA) (bytesIn, packetsIn, bytesOut, packetsOut uint64) {
	p.mu.Lock()
	inst := p.children[c.UniqueID]
	p.mu.Unlock()
	if inst == nil {
		return
	}
	in, out := inst.in.Counters(), inst.out.Counters()
	return in.Bytes, in.Packets, out.Bytes, out.Packets
}

// Lifetimes returns the SAD's lifetime events, and Expire drives its clock.
func (p *packetPath) Lifetimes() <-chan sad.Event { return p.dp.SAD().Events() }

func (p *packetPath) Expire(now time.Time) {
	p.dp.SAD().Expire(now)
	if p.routes != nil {
		p.expireRoutes()
	}
}

// ChildOf names the Child SA a SAD entry belongs to.
func (p *packetPath) ChildOf(id sad.ID) (uint32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.bySA[id]
	return u, ok
}

// lifetime is a Child SA's soft and hard limits in the SAD's terms: soft is
// when IKE rekeys, hard when the SA goes.
func lifetime(cc *ike.ChildConfig) sad.Lifetime {
	if cc == nil {
		return sad.Lifetime{}
	}
	l := sad.Lifetime{
		SoftTime: cc.RekeyTime, HardTime: cc.LifeTime,
		SoftBytes: cc.RekeyBytes - jitter(cc.RandBytes, cc.RekeyBytes), HardBytes: cc.LifeBytes,
		SoftPackets: cc.RekeyPackets - jitter(cc.RandPackets, cc.RekeyPackets), HardPackets: cc.LifePackets,
	}
	if l.HardTime != 0 && l.SoftTime > l.HardTime {
		l.SoftTime = l.HardTime
	}
	if l.HardBytes != 0 && l.SoftBytes > l.HardBytes {
		l.SoftBytes = l.HardBytes
	}
	if l.HardPackets != 0 && l.SoftPackets > l.HardPackets {
		l.SoftPackets = l.HardPackets
	}
	return l
}

// engines builds the inbound and outbound ESP or AH SAs of a Child SA, with
// the child's swanctl.conf options: replay_window (0 turns anti-replay off,
// as in strongSwan), tfc_padding, copy_df, copy_ecn and copy_dscp (per
// direction: out on the outbound SA, in on the inbound one).
func engines(c *ike.ChildSA) (in, out *dataplane.SA, err error) {
	window := 128
	tfc, copyDF := 0, true
	copyDSCP := map[ipsec.Direction]bool{}
	ecn := packet.ECNNormal
	if cc := c.Config; cc != nil {
		window = int(cc.ReplayWindow)
		if window > 0 && window < replay.MinSize {
			// strongSwan takes any size; RFC 4303 asks for 32 at least
			// and the window rounds up to 64-packet blocks anyway.
			window = replay.MinSize
		}
		tfc, copyDF = int(cc.TFCPadding), cc.CopyDF
		copyDSCP[ipsec.Inbound], copyDSCP[ipsec.Outbound] = cc.CopyDSCPIn, cc.CopyDSCPOut
		if !cc.CopyECN {
			ecn = packet.ECNOff
		}
	}
	mk := func(dir ipsec.Direction, spi uint32, encrKey, integKey []byte) (*dataplane.SA, error) {
		key := append(append([]byte(nil), encrKey...), integKey...)
		defer clear(key)
		sa := &dataplane.SA{Direction: dir, Mode: c.Mode, Peer: c.Remote, Encap: c.Encap}
		if c.Protocol == ipsec.ProtoAH {
			if c.Encap {
				// a NAT between the peers (or encap = yes, refused at
				// load): RFC 3948 has no AH, whose ICV covers the
				// addresses the NAT rewrites
				return nil, fmt.Errorf("AH Child SA %s: AH cannot cross a NAT or be encapsulated in UDP; use ESP", c.Name)
			}
			x, err := transform.NewIntegrity(transform.IntegID(c.Integ), key, transform.Options{AllowLegacy: true})
			if err != nil {
				return nil, err
			}
			a, err := ah.New(ah.Config{SPI: spi, Mode: c.Mode, Direction: dir, Integrity: x, Src: c.Local.Addr(), Dst: c.Remote.Addr(),
				ESN: c.ESN, ReplayWindow: window, CopyDSCP: copyDSCP[dir], CopyDF: copyDF, ECN: ecn})
			if err != nil {
				return nil, err
			}
			sa.AH = a
			return sa, nil
		}
		// Legacy 3DES and HMAC-SHA1-96 are negotiated only when a
		// configured proposal names them (the opt-in, warned about).
		x, err := transform.NewESP(transform.EncrID(c.Encr), c.EncrKeyBits, transform.IntegID(c.Integ), key, transform.Options{AllowLegacy: true})
		if err != nil {
			return nil, err
		}
		cfg := esp.Config{SPI: spi, Mode: c.Mode, Direction: dir, Transform: x, Src: c.Local.Addr(), Dst: c.Remote.Addr(),
			ESN: c.ESN, ReplayWindow: window, CopyDSCP: copyDSCP[dir], CopyDF: copyDF, ECN: ecn}
		if dir == ipsec.Outbound {
			cfg.TFCPadTo = tfc
			cfg.SoftSeqLimit = softSeqLimit()
		}
		if c.Encap {
			cfg.UDP = &esp.UDPEncap{SrcPort: c.Local.Port(), DstPort: c.Remote.Port()}
		}
		e, err := esp.New(cfg)
		if err != nil {
			return nil, err
		}
		sa.ESP = e
		return sa, nil
	}
	if in, err = mk(ipsec.Inbound, c.SPIIn, c.EncrKeyIn, c.IntegKeyIn); err != nil {
		return nil, nil, fmt.Errorf("inbound SA %08x: %w", c.SPIIn, err)
	}
	if out, err = mk(ipsec.Outbound, c.SPIOut, c.EncrKeyOut, c.IntegKeyOut); err != nil {
		return nil, nil, fmt.Errorf("outbound SA %08x: %w", c.SPIOut, err)
	}
	return in, out, nil
}

// rangeBits is how many address bits a range fixes: 32 for a host, 24 for
// a /24; more specific policies win.
func rangeBits(r spd.AddrRange) int {
	a, b := r.From.As16(), r.To.As16()
	n := 0
	for i := range a {
		x := a[i] ^ b[i]
		if x == 0 {
			n += 8
			continue
		}
		n += bits.LeadingZeros8(x)
		break
	}
	if r.From.Is4() {
		n -= 96
	}
	return n
}

// InstallChildSA puts a negotiated Child SA into the data plane: both SAs,
// the Out and In protect policies, and routes for the remote selectors.
func (p *packetPath) InstallChildSA(c *ike.ChildSA) error {
	for _, f := range p.installing {
		f(c)
	}
	if err := p.installChildSA(c); err != nil {
		for _, f := range p.deleting {
			f(c)
		}
		return err
	}
	// The peer may have sealed with the new SA before its answer reached
	// us: open what it sent meanwhile, now that the policies are in.
	if c.Protocol == ipsec.ProtoESP {
		if n := p.dp.OpenEarly(c.SPIIn); n > 0 {
			p.log.Debug("opened ESP packets that came before their SA", "child", c.Name, "spi", fmt.Sprintf("%08x", c.SPIIn), "packets", n)
		}
	}
	return nil
}

func (p *packetPath) installChildSA(c *ike.ChildSA) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.children[c.UniqueID]; old != nil {
		// The peer moved (NAT mapping change): re-point the outbound SA.
		// The kernel routes stay; the new route takes over as their holder.
		p.removeLocked(old)
		p.forgetRoutesLocked(old.route, old.child.RemoteTS)
	}
	if c.Rekeys != nil {
		if prev := p.children[c.Rekeys.UniqueID]; prev != nil {
			return p.installSuccessorLocked(c, prev)
		}
	}
	in, out, err := engines(c)
	if err != nil {
		return err
	}
	route := &dataplane.Route{Name: c.Name}
	in.Route, out.Route = route, route
	life := lifetime(c.Config)
	if err := p.dp.AddSA(in, life); err != nil {
		return err
	}
	if err := p.dp.AddSA(out, life); err != nil {
		p.dp.RemoveSA(in)
		return err
	}
	p.bySA[in.Entry().ID()] = c.UniqueID
	p.bySA[out.Entry().ID()] = c.UniqueID
	route.SetOutbound(out)
	sels := spd.CrossProduct(c.LocalTS, c.RemoteTS)
	prio := uint32(1000)
	for _, s := range sels {
		prio = min(prio, uint32(1000-rangeBits(s.Local)-rangeBits(s.Remote)))
	}
	inst := &installed{child: c, in: in, out: out, route: route}
	for _, dir := range []spd.Direction{spd.Out, spd.In} {
		p.nextID++
		inst.policies = append(inst.policies, spd.Policy{ID: p.nextID, Direction: dir, Action: spd.Protect, Priority: prio, Selectors: sels, Handle: route})
	}
	p.putLocked(inst)
	p.refPolicies(inst.policies)
	if err := p.commitPolicies(); err != nil {
		p.removeLocked(inst)
		p.polAdd = nil
		if err := p.commitPolicies(); err != nil { // the deletions of a replaced Child SA
			p.log.Warn("updating policies failed", "err", err)
		}
		return err
	}
	// Transport mode needs the routes as much as tunnel mode: without
	// them the host-to-host traffic the SA protects never enters the TUN
	// and leaves in clear text. The daemon's own IKE and ESP sockets carry
	// the fwmark that skips the table, so a route to the peer's underlay
	// address does not swallow IKE.
	// A virtual IP goes on the TUN before the routes name it as their
	// source, which the kernel accepts only for a local address.
	p.holdVIPsLocked(inst)
	if p.routes != nil {
		if err := p.addRoutes(route, c.LocalTS, c.RemoteTS); err != nil {
			p.log.Warn("adding routes failed", "child", c.Name, "err", err)
		}
	}
	p.lowerMTU(inst)
	return nil
}

// routeHolder is a Child SA's route (one for a rekeyed pair) or a trap's
// that routes a prefix into the TUN, with the local selectors of the
// address family its source hint comes from.
type routeHolder struct {
	route *dataplane.Route
	local []spd.Endpoint
}

// addRoutes routes the remote selectors into the TUN for route, each
// address family with a source hint of its own family: a client with an
// IPv4 and an IPv6 virtual IP sends from each to its family's remote
// subnets. The latest holder's hint replaces the one in the kernel.
func (p *packetPath) addRoutes(route *dataplane.Route, local, remote []spd.Endpoint) error {
	var errs []error
	for _, v4 := range []bool{true, false} {
		var l, r []spd.Endpoint
		for _, e := range local {
			if e.Addrs.Is4() == v4 {
				l = append(l, e)
			}
		}
		for _, e := range remote {
			if e.Addrs.Is4() == v4 {
				r = append(r, e)
			}
		}
		if len(r) == 0 {
			continue
		}
		src := p.localSource(l)
		var stale []netip.Prefix
		for _, pfx := range rangesToPrefixes(r) {
			p.holdRouteLocked(pfx, routeHolder{route: route, local: l})
			if !p.routeCurrentLocked(pfx, src) {
				stale = append(stale, pfx)
			}
		}
		if err := p.setRoutesLocked(stale, src); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// routeRefresh is how long a route cygnet wrote counts as still in the
// kernel. Someone may take it out behind cygnet's back (an address that
// was its source hint deleted, ip route flush): the first Child SA after
// that long writes it again, as every Child SA did before.
const routeRefresh = time.Second

// writtenRoute is a route cygnet wrote: its source hint, and when.
type writtenRoute struct {
	src netip.Addr
	at  time.Time
}

func (p *packetPath) now() time.Time {
	if p.clock != nil {
		return p.clock()
	}
	return time.Now()
}

// routeCurrentLocked tells whether the kernel has the prefix's route with
// source hint src, written less than routeRefresh ago.
func (p *packetPath) routeCurrentLocked(pfx netip.Prefix, src netip.Addr) bool {
	w, ok := p.routeSrc[pfx]
	return ok && w.src == src && p.now().Sub(w.at) < routeRefresh
}

// setRoutesLocked puts the prefixes' routes with source hint src into the
// kernel and notes the hint; after a failure the routes' state is unknown
// and the next holder writes them again.
func (p *packetPath) setRoutesLocked(prefixes []netip.Prefix, src netip.Addr) error {
	if len(prefixes) == 0 {
		return nil
	}
	if p.routeSrc == nil {
		p.routeSrc = map[netip.Prefix]writtenRoute{}
	}
	err := p.routes.AddRoutes(p.tun, prefixes, src)
	now := p.now()
	for _, pfx := range prefixes {
		if err != nil {
			delete(p.routeSrc, pfx)
		} else {
			p.routeSrc[pfx] = writtenRoute{src: src, at: now}
		}
	}
	return err
}

// holdRouteLocked makes h the latest holder of the prefix's route; a
// route kept after its last Child SA went is its again.
func (p *packetPath) holdRouteLocked(pfx netip.Prefix, h routeHolder) {
	if p.routeHolders == nil {
		p.routeHolders = map[netip.Prefix][]routeHolder{}
	}
	delete(p.routeGrace, pfx)
	hs := slices.DeleteFunc(p.routeHolders[pfx], func(x routeHolder) bool { return x.route == h.route })
	p.routeHolders[pfx] = append(hs, h)
}

// routeGrace is how long a route stays in the kernel after the last
// Child SA that needed it went (see packetPath.routeGrace).
const routeGrace = 2 * time.Second

// dropRoutesLocked gives up route's hold on the remote selectors' routes:
// those nobody else holds leave the kernel, and one whose source hint came
// from route gets the hint of the holder installed before it.
func (p *packetPath) dropRoutesLocked(route *dataplane.Route, remote []spd.Endpoint) {
	p.dropRoutesAfterLocked(route, remote, 0)
}

// releaseRoutesLocked is dropRoutesLocked for a Child SA that went: the
// routes nobody else holds stay for routeGrace, for the next Child SA
// with the same remote selectors.
func (p *packetPath) releaseRoutesLocked(route *dataplane.Route, remote []spd.Endpoint) {
	p.dropRoutesAfterLocked(route, remote, routeGrace)
}

// dropRoutesAfterLocked is dropRoutesLocked with the routes nobody holds
// any more kept for grace, when cygnet knows them to be in the kernel.
func (p *packetPath) dropRoutesAfterLocked(route *dataplane.Route, remote []spd.Endpoint, grace time.Duration) {
	var gone []netip.Prefix
	for _, pfx := range rangesToPrefixes(remote) {
		hs := p.routeHolders[pfx]
		i := slices.IndexFunc(hs, func(x routeHolder) bool { return x.route == route })
		if i < 0 {
			continue
		}
		latest := i == len(hs)-1
		hs = slices.Delete(hs, i, i+1)
		_, written := p.routeSrc[pfx]
		switch {
		case len(hs) == 0 && grace > 0 && written:
			delete(p.routeHolders, pfx)
			if p.routeGrace == nil {
				p.routeGrace = map[netip.Prefix]time.Time{}
			}
			p.routeGrace[pfx] = p.now().Add(grace)
		case len(hs) == 0:
			delete(p.routeHolders, pfx)
			gone = append(gone, pfx)
		case latest:
			p.routeHolders[pfx] = hs
			src := p.localSource(hs[len(hs)-1].local)
			if p.routeCurrentLocked(pfx, src) {
				break // the kernel has the hint already
			}
			if err := p.setRoutesLocked([]netip.Prefix{pfx}, src); err != nil {
				p.log.Warn("restoring a route failed", "prefix", pfx, "err", err)
			}
		default:
			p.routeHolders[pfx] = hs
		}
	}
	if len(gone) > 0 {
		for _, pfx := range gone {
			delete(p.routeSrc, pfx)
		}
		if err := p.routes.DelRoutes(p.tun, gone); err != nil {
			p.log.Warn("removing routes failed", "route", route.Name, "err", err)
		}
	}
}

// expireRoutes takes the routes whose grace is over out of the kernel;
// the event loop calls it every second (Expire).
func (p *packetPath) expireRoutes() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delGraceRoutesLocked(false)
}

// FlushRoutes takes every route kept after its last Child SA out of the
// kernel now: the grace is for Child SAs that come and go, not for a
// connection unloaded, a reload or a terminate, after which the user
// expects the routes gone.
func (p *packetPath) FlushRoutes() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delGraceRoutesLocked(true)
}

// delGraceRoutesLocked deletes the kept routes whose grace is over, or
// all of them.
func (p *packetPath) delGraceRoutesLocked(all bool) {
	if len(p.routeGrace) == 0 {
		return
	}
	now := p.now()
	var gone []netip.Prefix
	for pfx, until := range p.routeGrace {
		if all || !now.Before(until) {
			gone = append(gone, pfx)
		}
	}
	if len(gone) == 0 {
		return
	}
	for _, pfx := range gone {
		delete(p.routeGrace, pfx)
		delete(p.routeSrc, pfx)
	}
	if err := p.routes.DelRoutes(p.tun, gone); err != nil {
		p.log.Warn("removing routes failed", "prefixes", gone, "err", err)
	}
}

// forgetRoutesLocked drops route as a holder without touching the kernel:
// its successor holds the same routes (routeSrc still says what the kernel
// has).
func (p *packetPath) forgetRoutesLocked(route *dataplane.Route, remote []spd.Endpoint) {
	for _, pfx := range rangesToPrefixes(remote) {
		hs := slices.DeleteFunc(p.routeHolders[pfx], func(x routeHolder) bool { return x.route == route })
		if len(hs) == 0 {
			delete(p.routeHolders, pfx)
		} else {
			p.routeHolders[pfx] = hs
		}
	}
}

// localSource picks a host address for route source hints: the first
// single-address local selector, or the first address of a local subnet
// that is configured on this host. It runs with p.mu held.
func (p *packetPath) localSource(local []spd.Endpoint) netip.Addr {
	for _, t := range local {
		if t.Addrs.From == t.Addrs.To {
			return t.Addrs.From
		}
	}
	// strongSwan does the same: a host address inside the local subnet
	// makes locally generated traffic match the policy.
	for _, t := range local {
		for _, a := range p.hostAddrsLocked() {
			if t.Addrs.Contains(a) {
				return a
			}
		}
	}
	return netip.Addr{}
}

// hostAddrTTL is how long the host's address list is reused for source
// hints. Reading it is a netlink dump of every address, which cost a
// gateway a fifth of its CPU when done for every Child SA; an address
// added in the last second is missed as a hint at worst, and the virtual
// IPs cygnet adds itself clear the cache.
const hostAddrTTL = time.Second

// hostAddrsLocked returns the host's addresses, read at most once per
// hostAddrTTL.
func (p *packetPath) hostAddrsLocked() []netip.Addr {
	now := time.Now()
	if p.hostAddrsAt.IsZero() || now.Sub(p.hostAddrsAt) > hostAddrTTL {
		p.hostAddrs = p.hostAddrs[:0]
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					p.hostAddrs = append(p.hostAddrs, ip.Unmap())
				}
			}
		}
		p.hostAddrsAt = now
	}
	return p.hostAddrs
}

// refPolicies notes a holder of the policies; those nobody held before go
// into the SPD at the next commitPolicies.
func (p *packetPath) refPolicies(ps []spd.Policy) {
	for _, pol := range ps {
		if p.polRefs[pol.ID]++; p.polRefs[pol.ID] == 1 {
			p.polAdd = append(p.polAdd, pol)
		}
	}
}

// unrefPolicies drops a holder; policies nobody holds any more leave the
// SPD at the next commitPolicies.
func (p *packetPath) unrefPolicies(ps []spd.Policy) {
	for _, pol := range ps {
		if p.polRefs[pol.ID]--; p.polRefs[pol.ID] <= 0 {
			delete(p.polRefs, pol.ID)
			p.polDel = append(p.polDel, pol.ID)
		}
	}
}

// commitPolicies applies the collected changes to the SPD in one step.
func (p *packetPath) commitPolicies() error {
	del, add := p.polDel, p.polAdd
	p.polDel, p.polAdd = nil, nil
	if len(del) == 0 && len(add) == 0 {
		return nil
	}
	if err := p.spd.Update(del, add); err != nil {
		for _, pol := range add {
			delete(p.polRefs, pol.ID)
		}
		return fmt.Errorf("update SPD: %w", err)
	}
	return nil
}

// putLocked records an installed Child SA.
func (p *packetPath) putLocked(inst *installed) {
	p.children[inst.child.UniqueID] = inst
	p.byRoute[inst.route] = append(p.byRoute[inst.route], inst)
}

// DeleteChildSA takes a Child SA out of the data plane.
func (p *packetPath) DeleteChildSA(c *ike.ChildSA) {
	for _, f := range p.deleting {
		f(c)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	inst := p.children[c.UniqueID]
	if inst == nil {
		return
	}
	heir := p.sharerLocked(inst)
	if heir != nil && heir.policies == nil {
		// Rekeyed: the successor keeps the route, policies and routes.
		heir.policies = inst.policies
		p.refPolicies(heir.policies)
	}
	p.removeLocked(inst)
	if heir != nil {
		if err := p.commitPolicies(); err != nil {
			p.log.Warn("updating policies failed", "err", err)
		}
		return
	}
	if err := p.commitPolicies(); err != nil {
		p.log.Warn("updating policies failed", "err", err)
	}
	if p.routes != nil {
		p.releaseRoutesLocked(inst.route, c.RemoteTS)
	}
}

// removeLocked takes a Child SA's SAs out of the SAD, which wipes their keys.
func (p *packetPath) removeLocked(inst *installed) {
	if inst.route.Outbound() == inst.out {
		inst.route.SetOutbound(nil)
	}
	for _, sa := range []*dataplane.SA{inst.in, inst.out} {
		if e := sa.Entry(); e != nil {
			delete(p.bySA, e.ID())
		}
		p.dp.RemoveSA(sa)
	}
	if p.children[inst.child.UniqueID] == inst {
		delete(p.children, inst.child.UniqueID)
	}
	users := slices.DeleteFunc(p.byRoute[inst.route], func(x *installed) bool { return x == inst })
	if len(users) == 0 {
		delete(p.byRoute, inst.route)
	} else {
		p.byRoute[inst.route] = users
	}
	p.unrefPolicies(inst.policies)
	p.dropVIPsLocked(inst)
}

// holdVIPsLocked puts the IKE SA's virtual IPs that the Child SA's local
// selectors carry on the TUN (once per address, however many Child SAs).
func (p *packetPath) holdVIPsLocked(inst *installed) {
	c := inst.child
	if c.IKE == nil || p.routes == nil {
		return
	}
	for _, v := range c.IKE.LocalVIPs() {
		carried := false
		for _, t := range c.LocalTS {
			carried = carried || t.Addrs.Contains(v)
		}
		if !carried {
			continue
		}
		if p.vips[v] == 0 {
			if err := p.routes.AddAddress(p.tun, netip.PrefixFrom(v, v.BitLen())); err != nil {
				p.log.Warn("adding the virtual IP to the TUN failed", "child", c.Name, "vip", v, "err", err)
				continue
			}
			p.log.Info("virtual IP installed on the TUN", "vip", v, "dev", p.tun)
			p.hostAddrsAt = time.Time{} // a new host address for source hints
		}
		p.vips[v]++
		inst.vips = append(inst.vips, v)
	}
}

// dropVIPsLocked takes a Child SA's virtual IPs off the TUN when no other
// Child SA holds them.
func (p *packetPath) dropVIPsLocked(inst *installed) {
	for _, v := range inst.vips {
		if p.vips[v]--; p.vips[v] > 0 {
			continue
		}
		delete(p.vips, v)
		if err := p.routes.DelAddress(p.tun, netip.PrefixFrom(v, v.BitLen())); err != nil {
			p.log.Warn("removing the virtual IP from the TUN failed", "vip", v, "err", err)
		}
		// The kernel drops the routes with the address as their source
		// hint: the next holder must write them, and none is kept.
		for pfx, w := range p.routeSrc {
			if w.src == v {
				delete(p.routeSrc, pfx)
			}
		}
	}
	inst.vips = nil
}

// lowerMTU sets the TUN MTU after an install so the largest inner packet
// still fits the underlay: it can only shrink, to what the new Child SA's
// overhead leaves, so there is no pass over every Child SA.
func (p *packetPath) lowerMTU(inst *installed) {
	mtu := min(p.dp.MTU(), dataplane.InnerMTU(inst.out, p.dp.UnderlayMTU()))
	if mtu != p.dp.MTU() {
		if err := p.dp.SetMTU(mtu); err != nil {
			p.log.Warn("setting the TUN MTU failed", "mtu", mtu, "err", err)
		}
	}
}

// NATKeepaliveEnv names the environment variable that sets the
// NAT-keepalive interval (a Go duration such as "5s"; default 20 s, as
// strongSwan's charon.keep_alive). Tests shorten it to see keepalives.
const NATKeepaliveEnv = "CYGNET_NAT_KEEPALIVE"

func natKeepalive(log *slog.Logger) time.Duration {
	v := os.Getenv(NATKeepaliveEnv)
	if v == "" {
		return dataplane.DefaultKeepalive
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 100*time.Millisecond {
		log.Warn("ignoring a bad NAT-keepalive interval", "env", NATKeepaliveEnv, "value", v)
		return dataplane.DefaultKeepalive
	}
	return d
}

// MoveChildSA re-points an installed Child SA at its new endpoints after
// the peer's NAT mapping changed or a MOBIKE address update: the outbound
// SA sends there (from the new local address), the inbound one expects
// ESP from there. Keys, sequence numbers and replay
// windows stay. It implements ike.ChildSAMover.
func (p *packetPath) MoveChildSA(c *ike.ChildSA) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	inst := p.children[c.UniqueID]
	if inst == nil {
		return fmt.Errorf("move Child SA %s{%d}: not installed", c.Name, c.UniqueID)
	}
	// Raw ESP carries the tunnel endpoints in the outer header the engine
	// writes (MOBIKE moves them; a NAT move changes only the port).
	if e := inst.out.ESP; e != nil {
		if err := e.SetEndpoints(c.Local.Addr(), c.Remote.Addr()); err != nil {
			return fmt.Errorf("move Child SA %s{%d}: %w", c.Name, c.UniqueID, err)
		}
	} else if c.Mode == ipsec.ModeTunnel {
		return fmt.Errorf("move Child SA %s{%d}: AH SAs cannot change their tunnel endpoints", c.Name, c.UniqueID)
	}
	inst.in.SetPeer(c.Remote)
	inst.out.SetPeer(c.Remote)
	return nil
}

// DataplaneEvents delivers what the packet path raises for IKE.
func (p *packetPath) DataplaneEvents() <-chan dataplane.Event { return p.events }

// dataplaneEvents returns the packet path's event channel, nil (never
// ready) for one without.
func dataplaneEvents(path PacketPath) <-chan dataplane.Event {
	if s, ok := path.(interface{ DataplaneEvents() <-chan dataplane.Event }); ok {
		return s.DataplaneEvents()
	}
	return nil
}

// dataplaneEvent hands a packet path event to IKE.
func (d *Daemon) dataplaneEvent(ev dataplane.Event) {
	switch ev.Kind {
	case dataplane.PeerMoved:
		d.mgr.PeerMoved(ev.SPI, ev.From)
	case dataplane.SoftExpire:
		d.seqSoftExpire(ev)
	case dataplane.Acquire:
		d.acquire(ev)
	default:
		d.log.Debug("data plane event not handled", "kind", ev.Kind, "spi", fmt.Sprintf("%08x", ev.SPI))
	}
}

// installSuccessorLocked installs c, which replaces prev (a rekey or a
// reauthentication), make before break: its SAs join prev's route, so the
// policies and routes stay, and the route keeps sealing with prev's
// outbound SA until SwitchOutbound.
func (p *packetPath) installSuccessorLocked(c *ike.ChildSA, prev *installed) error {
	in, out, err := engines(c)
	if err != nil {
		return err
	}
	in.Route, out.Route = prev.route, prev.route
	life := lifetime(c.Config)
	if err := p.dp.AddSA(in, life); err != nil {
		return err
	}
	if err := p.dp.AddSA(out, life); err != nil {
		p.dp.RemoveSA(in)
		return err
	}
	p.bySA[in.Entry().ID()] = c.UniqueID
	p.bySA[out.Entry().ID()] = c.UniqueID
	inst := &installed{child: c, in: in, out: out, route: prev.route}
	p.putLocked(inst)
	if err := p.commitPolicies(); err != nil { // a replaced predecessor's deletions
		p.log.Warn("updating policies failed", "err", err)
	}
	p.holdVIPsLocked(inst)
	p.lowerMTU(inst)
	return nil
}

// SwitchOutbound makes a rekeyed Child SA's outbound SA the one its route
// seals with; it implements ike.OutboundSwitcher.
func (p *packetPath) SwitchOutbound(c *ike.ChildSA) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	inst := p.children[c.UniqueID]
	if inst == nil {
		return fmt.Errorf("switch outbound SA of %s{%d}: not installed", c.Name, c.UniqueID)
	}
	inst.route.SetOutbound(inst.out)
	return nil
}

// sharerLocked returns another installed Child SA on inst's route (its
// successor or predecessor in a rekey), nil without one.
func (p *packetPath) sharerLocked(inst *installed) *installed {
	for _, x := range p.byRoute[inst.route] {
		if x != inst {
			return x
		}
	}
	return nil
}

// ChildOfOutboundSPI names the Child SA whose outbound SA has the SPI.
func (p *packetPath) ChildOfOutboundSPI(spi uint32, proto ipsec.Protocol) (uint32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for u, inst := range p.children {
		if inst.out.SPI() == spi && inst.out.Protocol() == proto {
			return u, true
		}
	}
	return 0, false
}

// seqSoftExpire rekeys a Child SA whose outbound sequence numbers passed
// the soft limit, long before the counter would run out (RFC 4303 3.3.3).
func (d *Daemon) seqSoftExpire(ev dataplane.Event) {
	s, ok := d.path.(interface {
		ChildOfOutboundSPI(uint32, ipsec.Protocol) (uint32, bool)
	})
	if !ok {
		return
	}
	if u, ok := s.ChildOfOutboundSPI(ev.SPI, ev.Protocol); ok {
		d.mgr.ChildExpired(u, false, "sequence number")
	}
}

// jitter is a random part of rand, less than limit: swanctl's rand_bytes
// and rand_packets spread the soft limits of SAs set up together.
func jitter(rand, limit uint64) uint64 {
	if rand == 0 || limit == 0 {
		return 0
	}
	return mathrand.Uint64N(min(rand, limit))
}

// SoftSeqLimitEnv names the environment variable that sets the outbound
// sequence number at which a Child SA is rekeyed (default: the esp
// package's, far below 2^32). Tests lower it to watch sequence-number
// rekeys happen.
const SoftSeqLimitEnv = "CYGNET_SOFT_SEQ_LIMIT"

// softSeqLimit reads SoftSeqLimitEnv once per process: the environment's
// lock and scan were read per Child SA installed.
var softSeqLimit = sync.OnceValue(func() uint64 {
	n, err := strconv.ParseUint(os.Getenv(SoftSeqLimitEnv), 10, 64)
	if err != nil {
		return 0
	}
	return n
})
