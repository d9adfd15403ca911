package ike

import (
	"bytes"
	"net/netip"
	"time"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// natPort is where IKE moves, and ESP is encapsulated, once a NAT is found
// (RFC 3948, RFC 7296 2.23).
const natPort = 4500

// natdPayloads returns our NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP notifications. With fake set the source hash is
// random, so the peer sees a NAT and both sides encapsulate ESP in UDP: that is
// how swanctl's encap = yes works, and what RFC 7296 2.23 permits.
func (sa *IKESA) natdPayloads(fake bool) ([]wire.Payload, error) {
	src := ikecrypto.NATDetectionHash(sa.SPIi, sa.SPIr, sa.Local.Addr(), sa.Local.Port())
	if fake {
		if _, err := sa.m.rand.Read(src[:]); err != nil {
			return nil, err
		}
	}
	dst := ikecrypto.NATDetectionHash(sa.SPIi, sa.SPIr, sa.Remote.Addr(), sa.Remote.Port())
	return []wire.Payload{
		&wire.Notify{NotifyType: wire.NAT_DETECTION_SOURCE_IP, Data: src[:]},
		&wire.Notify{NotifyType: wire.NAT_DETECTION_DESTINATION_IP, Data: dst[:]},
	}, nil
}

// detectNAT compares the peer's NAT-D hashes with what the addresses we see
// give. It returns false, false when the peer sent none (no NAT-T support).
// spiR is zero in the hashes of an IKE_SA_INIT request.
func detectNAT(payloads []wire.Payload, spiI, spiR uint64, local, remote netip.AddrPort) (natLocal, natRemote, present bool) {
	wantLocal := ikecrypto.NATDetectionHash(spiI, spiR, local.Addr(), local.Port())
	wantRemote := ikecrypto.NATDetectionHash(spiI, spiR, remote.Addr(), remote.Port())
	natLocal, natRemote = true, true
	var sawSrc, sawDst bool
	for _, p := range payloads {
		n, ok := p.(*wire.Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case wire.NAT_DETECTION_SOURCE_IP:
			sawSrc = true
			if bytes.Equal(n.Data, wantRemote[:]) {
				natRemote = false
			}
		case wire.NAT_DETECTION_DESTINATION_IP:
			sawDst = true
			if bytes.Equal(n.Data, wantLocal[:]) {
				natLocal = false
			}
		}
	}
	if !sawSrc || !sawDst {
		return false, false, false
	}
	return natLocal, natRemote, true
}

// floatToNATPort moves IKE to port 4500 after NAT-D found a NAT (or encap is
// forced): both ends switch for IKE_AUTH and all later messages.
func (sa *IKESA) floatToNATPort() {
	if sa.Remote.Port() == 500 {
		sa.Remote = netip.AddrPortFrom(sa.Remote.Addr(), natPort)
	}
	if sa.Local.Port() == 500 {
		sa.Local = netip.AddrPortFrom(sa.Local.Addr(), natPort)
	}
}

// UDPEncap reports whether ESP of this IKE SA's Child SAs is UDP-encapsulated.
func (sa *IKESA) UDPEncap() bool { return sa.NATLocal || sa.NATRemote }

// How a NAT mapping change is recovered from (RFC 7296 2.23, RFC 3948).
//
// A NAT in front of the initiator may drop its mapping (a reboot, a
// conntrack flush, an idle timeout) and give the initiator's next packet a
// new public port. The responder must keep sending to the old one until an
// authenticated IKE message arrives from the new one; two things make that
// message come promptly:
//
//   - The side behind the NAT watches its Child SAs' counters: when ESP
//     keeps leaving but nothing has come back for natStallAfter, it sends a
//     liveness check (an empty INFORMATIONAL). It leaves from the new port,
//     and the responder (cygnet, or strongSwan, which updates its SAs on any
//     authenticated IKE message) follows it. Until ESP comes back, at most
//     one such check per natReprobe, so one-way traffic costs one exchange
//     per natReprobe.
//   - The responder's data plane reports ESP-in-UDP that authenticated under
//     a Child SA but came from a source other than the peer's
//     (Manager.PeerMoved). ESP alone does not move the SA: the responder
//     sends a liveness check to the new source and follows on the
//     authenticated answer. This is what lets a cygnet responder recover
//     from a peer that never probes (strongSwan with kernel-libipsec as the
//     initiator, which reports no mapping changes).
//
// NAT-keepalives (RFC 3948 section 4) carry no authentication and never
// move an SA.
const (
	natStallAfter = time.Second
	natReprobe    = 10 * time.Second
	// natProbeEvery bounds the liveness checks a responder sends toward one
	// new source address, however much ESP arrives from there.
	natProbeEvery = time.Second
	// natLookEvery is how often the side behind a NAT reads its Child SA
	// counters. It is a deadline of its own so that a daemon busy with
	// other events (whose timer never reaches its idle second) still looks.
	natLookEvery = 500 * time.Millisecond
)

// ChildSAMover is an Installer that can re-point an installed Child SA at
// the IKE SA's new remote endpoint in place, keeping its keys, sequence
// numbers and replay windows (the daemon's packet path is one). An Installer
// without it gets InstallChildSA again.
type ChildSAMover interface {
	MoveChildSA(c *ChildSA) error
}

// ChildCounters is an Installer that counts a Child SA's traffic (the
// daemon's packet path does); the side behind a NAT reads it to notice ESP
// that goes out while nothing comes back.
type ChildCounters interface {
	Counters(c *ChildSA) (bytesIn, packetsIn, bytesOut, packetsOut uint64)
}

// natState is an IKE SA's bookkeeping for NAT mapping changes.
type natState struct {
	// Responder: the last liveness check sent toward a new source.
	probeTo netip.AddrPort
	probeAt time.Time
	// Behind the NAT: when the Child SA packet counters were last read and
	// what they said, since when ESP has gone out with nothing coming back,
	// and the last check.
	lookedAt              time.Time
	packetsIn, packetsOut uint64
	stalledSince          time.Time
	stallProbeAt          time.Time
}

// PeerMoved is the data plane's report that ESP-in-UDP authenticated under
// the Child SA with inbound SPI spiIn arrived from src, which is not the
// peer's known address. A responder to a peer behind a NAT sends a liveness
// check to src and follows the peer there once the answer, authenticated,
// comes from src (RFC 7296 2.23 lets only IKE messages move an SA).
func (m *Manager) PeerMoved(spiIn uint32, src netip.AddrPort) {
	c := m.childSPI[spiIn]
	if c == nil || c.IKE == nil {
		return
	}
	sa := c.IKE
	if sa.state != stateEstablished || !sa.NATRemote || sa.Initiator || src == sa.Remote || !src.IsValid() {
		return
	}
	now := m.clock.Now()
	nat := sa.natTrack()
	if src == nat.probeTo && now.Sub(nat.probeAt) < natProbeEvery {
		return
	}
	nat.probeTo, nat.probeAt = src, now
	sa.log.Info("ESP from a new source of the peer, checking liveness there before following", "child", c.Name, "from", sa.Remote, "to", src)
	if sa.pending == nil {
		if err := sa.sendRequest(wire.INFORMATIONAL, nil, func(*wire.Message, []wire.Payload) error { return nil }, nil); err != nil {
			sa.log.Warn("sending liveness check failed", "err", err)
			return
		}
	}
	// The request in flight (the new check, or one that was already
	// outstanding) goes to the new source too; a copy to the old one is a
	// retransmission the peer answers from its cache.
	if r := sa.pending; r != nil {
		if err := sa.m.transport.SendIKE(r.packet, sa.Local, src); err != nil {
			sa.log.Warn("sending liveness check failed", "to", src, "err", err)
		}
	}
}

// tickNAT sends a liveness check from behind a NAT when the Child SAs send
// but receive nothing for natStallAfter: the NAT may have given us a new
// public port the peer does not know yet.
func (sa *IKESA) tickNAT(now time.Time) {
	cs, ok := sa.natWatch()
	if !ok {
		return
	}
	nat := sa.natTrack()
	nat.lookedAt = now
	var in, out uint64
	for _, c := range sa.children {
		if c.state == childInstalled && c.Encap {
			_, pi, _, po := cs.Counters(c)
			in, out = in+pi, out+po
		}
	}
	prevIn, prevOut := nat.packetsIn, nat.packetsOut
	nat.packetsIn, nat.packetsOut = in, out
	switch {
	case in != prevIn || out < prevOut:
		// Traffic comes back (or the children changed): the next stall
		// is a new one and may be checked at once.
		nat.stalledSince, nat.stallProbeAt = time.Time{}, time.Time{}
		return
	case nat.stalledSince.IsZero() && out == prevOut:
		return // idle: keepalives hold the mapping
	case nat.stalledSince.IsZero():
		nat.stalledSince = now
		return
	}
	// Stalled: something went out since stalledSince and nothing came in,
	// whether or not more went out since the last tick (TCP backs off).
	if now.Sub(nat.stalledSince) < natStallAfter || sa.pending != nil ||
		(!nat.stallProbeAt.IsZero() && now.Sub(nat.stallProbeAt) < natReprobe) {
		return
	}
	nat.stallProbeAt = now
	if sa.mobike != nil && sa.origInitiator {
		// A MOBIKE responder moves only on UPDATE_SA_ADDRESSES (strongSwan
		// ignores the source of other messages then; RFC 4555 3.5).
		sa.log.Info("ESP leaves but nothing comes back; sending UPDATE_SA_ADDRESSES so the peer learns our NAT mapping",
			"for", now.Sub(nat.stalledSince).Round(time.Millisecond), "packets_out", out-prevOut)
		sa.startUpdate()
		return
	}
	sa.log.Info("ESP leaves but nothing comes back; checking liveness so the peer learns our NAT mapping",
		"for", now.Sub(nat.stalledSince).Round(time.Millisecond), "packets_out", out-prevOut)
	if err := sa.sendRequest(wire.INFORMATIONAL, nil, func(*wire.Message, []wire.Payload) error { return nil }, nil); err != nil {
		sa.log.Warn("sending liveness check failed", "err", err)
	}
}

// natWatch returns the counters to watch when this end is behind a NAT.
func (sa *IKESA) natWatch() (ChildCounters, bool) {
	cs, ok := sa.m.installer.(ChildCounters)
	return cs, ok && sa.state == stateEstablished && sa.NATLocal
}

// natDeadline is when tickNAT next reads the counters: every natLookEvery
// while this end is behind a NAT. tickNAT moves it on each time, so a past
// deadline is met by the next Tick and never spins.
func (sa *IKESA) natDeadline() time.Time {
	if _, ok := sa.natWatch(); !ok {
		return time.Time{}
	}
	if sa.nat == nil || sa.nat.lookedAt.IsZero() {
		return sa.m.clock.Now()
	}
	return sa.nat.lookedAt.Add(natLookEvery)
}

// natTrack returns the NAT liveness state, made on first use: only an end
// behind a NAT, or a responder whose peer moved, ever needs it, so most
// of a gateway's IKE SAs never hold one.
func (sa *IKESA) natTrack() *natState {
	if sa.nat == nil {
		sa.nat = &natState{}
	}
	return sa.nat
}

// moveChildren re-points the installed Child SAs at the IKE SA's endpoints.
func (sa *IKESA) moveChildren() {
	mover, canMove := sa.m.installer.(ChildSAMover)
	for _, c := range sa.children {
		c.Local, c.Remote = sa.Local, sa.Remote
		if sa.m.installer == nil || c.state != childInstalled {
			continue
		}
		var err error
		if canMove {
			err = mover.MoveChildSA(c)
		} else {
			err = sa.m.installer.InstallChildSA(c)
		}
		if err != nil {
			sa.log.Warn("updating Child SA endpoint failed", "child", c.Name, "err", err)
			if sa.mobike != nil && sa.state == stateEstablished {
				// MOBIKE moved the IKE SA where this Child SA cannot
				// follow in place (another address family, AH): a
				// rekey builds its successor on the new path.
				if err := sa.rekeyChild(c, "its endpoints cannot move in place (MOBIKE)"); err != nil {
					sa.log.Warn("rekeying Child SA after a move failed", "child", c.Name, "err", err)
				}
			}
		}
	}
}
