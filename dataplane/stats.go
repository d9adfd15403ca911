package dataplane

import "sync/atomic"

// Stats is a snapshot of the data plane's packet counters. Every dropped
// packet is counted under exactly one reason.
type Stats struct {
	// OutPackets and OutBytes count packets sealed and handed to a socket
	// (outer length); InPackets and InBytes count inner packets delivered
	// to the TUN.
	OutPackets, OutBytes uint64
	InPackets, InBytes   uint64

	// Malformed: not a valid IP / ESP / AH packet, bad padding, a
	// truncated datagram.
	Malformed uint64
	// NoSA: an inbound SPI not in the table when the packet arrived (see
	// EarlyOpened), or a protect policy whose route has no outbound SA yet
	// (an acquire is raised).
	NoSA uint64
	// AuthFailed: the ICV did not verify.
	AuthFailed uint64
	// Replay: the anti-replay window refused the sequence number.
	Replay uint64
	// PolicyMismatch: a decrypted inner packet the SA's inbound policy
	// does not cover.
	PolicyMismatch uint64
	// Discarded: an outbound packet matched a discard policy or none.
	Discarded uint64
	// Bypassed: an outbound packet matched a bypass policy (the TUN only
	// sees traffic routed into it, so bypass traffic is dropped here).
	Bypassed uint64
	// TooBig: an oversized packet answered with ICMP fragmentation needed
	// or ICMPv6 packet too big.
	TooBig uint64
	// Fragmented: an oversized IPv4 packet without DF split before
	// encryption (counted once per original packet).
	Fragmented uint64
	// Expired: the SA's sequence numbers or lifetime ran out.
	Expired uint64
	// ECNDrop: RFC 6040 decapsulation asked for the drop.
	ECNDrop uint64
	// Dummy: authentic dummy packets (RFC 4303 section 2.6), dropped
	// silently.
	Dummy uint64
	// LinkSent counts the raw ESP datagrams (of OutPackets) sent through
	// the AF_PACKET socket to the next hop's MAC instead of the IP
	// socket.
	LinkSent uint64
	// XDPReceived counts the raw ESP datagrams taken from the AF_XDP
	// sockets (Config.XDP) instead of the raw IP sockets; XDPDropped,
	// those the kernel dropped on their way there (no free frame, a full
	// ring), from the sockets' own statistics.
	XDPReceived, XDPDropped uint64
	// EarlyOpened counts ESP packets that came before their SA: counted
	// under NoSA when they arrived, held, and opened once IKE installed
	// the SA (so they count in InPackets too, or under a drop reason).
	EarlyOpened uint64
	// SendErrors and TUNErrors: the kernel refused a datagram or a TUN
	// write.
	SendErrors, TUNErrors uint64
	// Keepalives and IKE count NAT-keepalives and IKE messages received.
	Keepalives, IKE uint64
	// TCPRetransmits: IKE retransmissions not sent again on the same TCP
	// connection (RFC 9329: TCP is reliable, IKE does not retransmit over it).
	TCPRetransmits uint64
	// Other: any other error from the engines.
	Other uint64
}

// OtherDrops sums the drops that stats and metrics do not name on their
// own (replay, ICV, no SA, policy and malformed are named).
func (s Stats) OtherDrops() uint64 {
	return s.Bypassed + s.TooBig + s.Expired + s.ECNDrop + s.SendErrors + s.TUNErrors + s.XDPDropped + s.Other
}

type counters struct {
	outPackets, outBytes atomic.Uint64
	inPackets, inBytes   atomic.Uint64
	malformed            atomic.Uint64
	noSA                 atomic.Uint64
	authFailed           atomic.Uint64
	replay               atomic.Uint64
	policy               atomic.Uint64
	discarded            atomic.Uint64
	bypassed             atomic.Uint64
	tooBig               atomic.Uint64
	fragmented           atomic.Uint64
	expired              atomic.Uint64
	ecnDrop              atomic.Uint64
	dummy                atomic.Uint64
	sendErrors           atomic.Uint64
	linkSent             atomic.Uint64
	xdpReceived          atomic.Uint64
	early                atomic.Uint64
	tunErrors            atomic.Uint64
	keepalives           atomic.Uint64
	ike                  atomic.Uint64
	tcpRetransmits       atomic.Uint64
	other                atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		OutPackets: c.outPackets.Load(), OutBytes: c.outBytes.Load(),
		InPackets: c.inPackets.Load(), InBytes: c.inBytes.Load(),
		Malformed:      c.malformed.Load(),
		NoSA:           c.noSA.Load(),
		AuthFailed:     c.authFailed.Load(),
		Replay:         c.replay.Load(),
		PolicyMismatch: c.policy.Load(),
		Discarded:      c.discarded.Load(),
		Bypassed:       c.bypassed.Load(),
		TooBig:         c.tooBig.Load(),
		Fragmented:     c.fragmented.Load(),
		Expired:        c.expired.Load(),
		ECNDrop:        c.ecnDrop.Load(),
		Dummy:          c.dummy.Load(),
		SendErrors:     c.sendErrors.Load(),
		LinkSent:       c.linkSent.Load(),
		XDPReceived:    c.xdpReceived.Load(),
		EarlyOpened:    c.early.Load(),
		TUNErrors:      c.tunErrors.Load(),
		Keepalives:     c.keepalives.Load(),
		IKE:            c.ike.Load(),
		TCPRetransmits: c.tcpRetransmits.Load(),
		Other:          c.other.Load(),
	}
}

// SACounters are one SA's traffic counters, for list-sas. Inbound SAs count
// the inner packets they delivered, outbound SAs the inner packets they
// sealed.
type SACounters struct {
	Bytes, Packets uint64
}
