package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/cygnet-ipsec/cygnet/ah"
	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/sad"
)

// SA is the data plane's view of one direction of a Child SA: the engine
// that seals or opens its packets and where they go. The daemon builds one
// per esp.SA or ah.SA it installs and hands it to [DataPlane.AddSA], which
// puts it into the SAD; the SAD entry counts its traffic and lifetimes.
type SA struct {
	// ESP or AH is the engine; exactly one is set.
	ESP *esp.SA
	AH  *ah.SA
	// Direction says whether the SA seals (Outbound) or opens (Inbound).
	Direction ipsec.Direction
	// Mode must be the engine's mode: the inbound path needs it to rebuild
	// the outer header a socket strips.
	Mode ipsec.Mode
	// Peer is where an outbound SA's packets go: the peer's address (raw
	// ESP / AH; the port is ignored) or its address and NAT-T port (Encap).
	Peer netip.AddrPort
	// Encap sends an outbound ESP SA's packets in UDP from the local port
	// 4500 socket (RFC 3948) and keeps the NAT mapping alive with
	// NAT-keepalives. The engine must be configured with esp.UDPEncap too.
	Encap bool
	// Route is the Child SA this SA belongs to. An inbound SA's decrypted
	// packets must match an In policy whose Handle is this same *Route.
	Route *Route

	entry atomic.Pointer[sad.Entry] // set by AddSA

	rekeyRaised atomic.Bool

	// moved is where the peer is now when its NAT mapping changed after
	// AddSA (SetPeer); nil means Peer. lastMoved rate-limits PeerMoved.
	moved     atomic.Pointer[netip.AddrPort]
	lastMoved atomic.Int64

	// overTCP is set once the SA's packets went over TCP (RFC 9329): they
	// never go over UDP after, even when the connection is gone.
	overTCP atomic.Bool
}

// SetPeer moves the SA to the peer's new address and port, as IKE learned
// them after the peer's NAT mapping changed (RFC 7296 section 2.23): an
// outbound SA sends there from now on (keys, sequence numbers and the SAD
// entry stay), an inbound one stops reporting PeerMoved for that source.
func (sa *SA) SetPeer(p netip.AddrPort) { sa.moved.Store(&p) }

// CurrentPeer returns where the peer is now: Peer, or what SetPeer set.
func (sa *SA) CurrentPeer() netip.AddrPort {
	if p := sa.moved.Load(); p != nil {
		return *p
	}
	return sa.Peer
}

// Counters returns the SA's byte and packet counters, from its SAD entry.
func (sa *SA) Counters() SACounters {
	e := sa.entry.Load()
	if e == nil {
		return SACounters{}
	}
	st := e.Stats()
	return SACounters{Bytes: st.Bytes, Packets: st.Packets}
}

// account charges one packet to the SA's lifetimes; an error drops it.
func (sa *SA) account(n int) error {
	e := sa.entry.Load()
	if e == nil {
		return sad.ErrDeleted
	}
	return e.Account(n)
}

// Entry returns the SA's SAD entry (nil before AddSA).
func (sa *SA) Entry() *sad.Entry { return sa.entry.Load() }

// Wipe zeroes the engine's keys; the SAD calls it when the SA is deleted
// or hard-expires.
func (sa *SA) Wipe() {
	if sa.ESP != nil {
		sa.ESP.Wipe()
	}
	if sa.AH != nil {
		sa.AH.Wipe()
	}
}

// sadID is the SA's key in the SAD. Inbound SPIs are chosen by this host
// and unique per protocol, so inbound SAs are found by SPI and protocol
// alone (RFC 4301 section 4.1 allows it for unicast SAs); outbound SAs carry
// the peer's address, since peers choose their SPIs independently.
func (sa *SA) sadID() sad.ID {
	id := sad.ID{SPI: sa.SPI(), Protocol: sa.Protocol()}
	if sa.Direction == ipsec.Outbound {
		id.Dst = sa.Peer.Addr().Unmap()
	}
	return id
}

// SPI returns the engine's SPI.
func (sa *SA) SPI() uint32 {
	if sa.ESP != nil {
		return sa.ESP.SPI()
	}
	if sa.AH != nil {
		return sa.AH.SPI()
	}
	return 0
}

// Protocol returns ESP or AH.
func (sa *SA) Protocol() ipsec.Protocol {
	if sa.AH != nil {
		return ipsec.ProtoAH
	}
	return ipsec.ProtoESP
}

// overhead returns the engine's head and tail room.
func (sa *SA) overhead() (head, tail int) {
	if sa.ESP != nil {
		return sa.ESP.Overhead()
	}
	return sa.AH.Overhead()
}

// needsRekey reports the engine's soft sequence limit.
func (sa *SA) needsRekey() bool {
	if sa.ESP != nil {
		return sa.ESP.NeedsRekey()
	}
	return sa.AH.NeedsRekey()
}

func (sa *SA) validate() error {
	if (sa.ESP == nil) == (sa.AH == nil) {
		return errors.New("dataplane: SA needs exactly one of ESP and AH")
	}
	if sa.Direction != ipsec.Inbound && sa.Direction != ipsec.Outbound {
		return fmt.Errorf("dataplane: SA direction %v", sa.Direction)
	}
	if sa.AH != nil && sa.AH.Mode() != sa.Mode {
		return fmt.Errorf("dataplane: SA mode %v but AH engine mode %v", sa.Mode, sa.AH.Mode())
	}
	if sa.Encap && sa.AH != nil {
		return errors.New("dataplane: AH cannot be UDP-encapsulated")
	}
	if sa.Direction == ipsec.Outbound {
		if !sa.Peer.Addr().IsValid() {
			return errors.New("dataplane: outbound SA without peer address")
		}
		if sa.Encap && sa.Peer.Port() == 0 {
			return errors.New("dataplane: UDP-encapsulated SA without peer port")
		}
	} else if sa.Route == nil {
		return errors.New("dataplane: inbound SA without route")
	}
	head, tail := sa.overhead()
	if head > HeadRoom || tail > TailRoom {
		return fmt.Errorf("dataplane: SA %#x needs %d/%d octets of head/tail room, the data plane has %d/%d", sa.SPI(), head, tail, HeadRoom, TailRoom)
	}
	return nil
}

// Route binds SPD policies to a Child SA. The daemon puts one *Route in the
// Handle of the Child SA's Out and In protect policies; the outbound path
// seals with the route's current outbound SA, and the inbound path accepts
// an inner packet only when the In policy it matches carries the route of
// the SA that decrypted it. Rekeying swaps the outbound SA with
// SetOutbound; old and new inbound SAs share the route.
type Route struct {
	// Name identifies the Child SA in events (e.g. its configured name).
	Name        string
	out         atomic.Pointer[SA]
	lastAcquire atomic.Int64
}

// SetOutbound makes sa the SA new packets are sealed with; nil makes the
// route raise acquires again.
func (r *Route) SetOutbound(sa *SA) { r.out.Store(sa) }

// Outbound returns the current outbound SA, nil when there is none.
func (r *Route) Outbound() *SA { return r.out.Load() }

// EventKind says what an Event reports.
type EventKind uint8

// Events the data plane raises for IKE.
const (
	// Acquire: traffic matched a protect policy whose route has no
	// outbound SA (RFC 4301 section 5.1, step 3c).
	Acquire EventKind = iota + 1
	// SoftExpire: an outbound SA's sequence numbers passed the soft
	// limit; rekey it.
	SoftExpire
	// PeerMoved: an inbound UDP-encapsulated ESP SA authenticated a packet
	// from a source other than its peer's (a NAT in front of the peer
	// changed its mapping). Raised at most every 250 ms per SA; IKE
	// decides whether to follow (it checks liveness there first).
	PeerMoved
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case Acquire:
		return "acquire"
	case SoftExpire:
		return "soft-expire"
	case PeerMoved:
		return "peer-moved"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is raised by the packet path; it never blocks on it (events are
// dropped when the channel is full, and acquires are rate-limited per route
// by the daemon re-arming it).
type Event struct {
	Kind EventKind
	// Route is the Child SA concerned.
	Route *Route
	// PolicyID is the matched policy (Acquire).
	PolicyID uint64
	// SPI and Protocol name the SA (SoftExpire, PeerMoved).
	SPI      uint32
	Protocol ipsec.Protocol
	// From is the packet's source (PeerMoved).
	From netip.AddrPort
}
