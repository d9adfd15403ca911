package ike

import (
	"crypto/subtle"
	"fmt"
	"net/netip"
	"slices"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// MOBIKE (RFC 4555): an IKE SA and its Child SAs move to new addresses
// without rekeying.
//
//   - Both ends announce MOBIKE_SUPPORTED in IKE_AUTH (the initiator in its
//     first request, the responder in its last response) when their
//     connection has mobike = yes; with both, the IKE SA holds a mobike.
//   - Only the initiator decides which addresses are used (3.1). When the
//     host's addresses or routes change (Manager.AddressesChanged, which
//     the daemon calls on netlink events) and the kernel now routes toward
//     the peer from another source address, it moves the IKE SA and its
//     Child SAs there at once and tells the responder with an INFORMATIONAL
//     request carrying UPDATE_SA_ADDRESSES, new NAT-D hashes and a COOKIE2;
//     the response must echo the COOKIE2 (the return routability check of
//     3.5 and 3.8), and its NAT-D hashes redo NAT detection.
//   - The responder takes the addresses the authenticated request came
//     from and went to, redoes NAT detection from its NAT-D hashes, moves
//     its Child SAs in place (ChildSAMover: keys, sequence numbers and
//     replay windows stay, the SPIs too) and answers with its own NAT-D
//     hashes and the COOKIE2.
//   - ADDITIONAL_IP4/6_ADDRESS: each end sends its other addresses in
//     IKE_AUTH and in address updates (AddressLister) and keeps the peer's
//     list (PeerAddresses), which NO_ADDITIONAL_ADDRESSES empties.
//
// Protected traffic cannot leave in clear text meanwhile: the SPD and the
// routes into the TUN device do not depend on the outer addresses, so a
// packet sealed while the path is down is simply lost.

// mobikeCookieLen is the size of our COOKIE2 (RFC 4555 3.8 allows 8 to 64).
const mobikeCookieLen = 16

// AddressLister is a Transport that can list the host's usable addresses;
// they are announced as ADDITIONAL_IP4/6_ADDRESS. The daemon's packet path
// is one.
type AddressLister interface {
	LocalAddresses() []netip.Addr
}

// mobike is an IKE SA's MOBIKE state, present once both ends announced
// MOBIKE_SUPPORTED.
type mobike struct {
	// peerAddrs are the peer's additional addresses (ADDITIONAL_IP4/6_ADDRESS).
	peerAddrs []netip.Addr
	// cookie2 is the COOKIE2 of our update in flight (initiator).
	cookie2 []byte
	// inFlight: an UPDATE_SA_ADDRESSES request is sent or queued; again:
	// the addresses changed once more meanwhile, so check after it.
	inFlight, again bool
}

// carry is what a rekeyed IKE SA keeps: MOBIKE and the peer's addresses
// (RFC 4555 negotiates it once, in IKE_AUTH).
func (mb *mobike) carry() *mobike {
	if mb == nil {
		return nil
	}
	return &mobike{peerAddrs: slices.Clone(mb.peerAddrs)}
}

// noteMOBIKE records the peer's MOBIKE_SUPPORTED from an IKE_AUTH message.
func (sa *IKESA) noteMOBIKE(payloads []wire.Payload) {
	// A responder's connection may still change by the peer's identity;
	// mobikeAuthPayloads checks the final one.
	if (sa.origInitiator && !sa.cfg.MOBIKE) || findNotify(payloads, wire.MOBIKE_SUPPORTED) == nil {
		return
	}
	if sa.mobike == nil {
		sa.mobike = &mobike{}
		sa.log.Debug("peer supports MOBIKE")
	}
	sa.mobike.takeAddresses(payloads)
}

// MOBIKE reports whether the IKE SA negotiated MOBIKE.
func (sa *IKESA) MOBIKE() bool { return sa.mobike != nil }

// PeerAddresses returns the peer's additional addresses as it announced
// them (ADDITIONAL_IP4/6_ADDRESS).
func (sa *IKESA) PeerAddresses() []netip.Addr {
	if sa.mobike == nil {
		return nil
	}
	return slices.Clone(sa.mobike.peerAddrs)
}

// mobikeAuthPayloads are what our IKE_AUTH message announces: the
// initiator's first request offers MOBIKE when the connection allows it,
// the responder's last response answers an offer, both with our other
// addresses.
func (sa *IKESA) mobikeAuthPayloads() []wire.Payload {
	if !sa.cfg.MOBIKE {
		sa.mobike = nil
		return nil
	}
	if !sa.origInitiator && sa.mobike == nil {
		return nil
	}
	return append([]wire.Payload{&wire.Notify{NotifyType: wire.MOBIKE_SUPPORTED}}, sa.additionalAddresses()...)
}

// additionalAddresses lists our addresses other than the IKE SA's own
// (RFC 4555 3.6), or NO_ADDITIONAL_ADDRESSES; nothing when the transport
// cannot list them.
func (sa *IKESA) additionalAddresses() []wire.Payload {
	l, ok := sa.m.transport.(AddressLister)
	if !ok {
		return nil
	}
	var out []wire.Payload
	for _, a := range l.LocalAddresses() {
		a = a.Unmap()
		if a == sa.Local.Addr().Unmap() || !a.IsGlobalUnicast() {
			continue
		}
		t := wire.ADDITIONAL_IP4_ADDRESS
		if a.Is6() {
			t = wire.ADDITIONAL_IP6_ADDRESS
		}
		out = append(out, &wire.Notify{NotifyType: t, Data: a.AsSlice()})
	}
	if len(out) == 0 {
		return []wire.Payload{&wire.Notify{NotifyType: wire.NO_ADDITIONAL_ADDRESSES}}
	}
	return out
}

// takeAddresses replaces the peer's address list when the message has one.
func (mb *mobike) takeAddresses(payloads []wire.Payload) {
	var list []netip.Addr
	seen := false
	for _, p := range payloads {
		n, ok := p.(*wire.Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case wire.NO_ADDITIONAL_ADDRESSES:
			seen = true
		case wire.ADDITIONAL_IP4_ADDRESS, wire.ADDITIONAL_IP6_ADDRESS:
			seen = true
			want := 4
			if n.NotifyType == wire.ADDITIONAL_IP6_ADDRESS {
				want = 16
			}
			if len(n.Data) != want {
				continue // malformed: ignored, the rest still counts
			}
			if a, ok := netip.AddrFromSlice(n.Data); ok && len(list) < maxPeerAddresses {
				list = append(list, a)
			}
		}
	}
	if seen {
		mb.peerAddrs = list
	}
}

// maxPeerAddresses bounds the peer's address list we keep.
const maxPeerAddresses = 16

// AddressesChanged tells the Manager that the host's addresses or routes
// changed. Every established IKE SA we initiated with MOBIKE checks where
// the kernel now routes toward its peer from and, when that is another
// local address, moves there and sends UPDATE_SA_ADDRESSES. Cheap when
// nothing moved: one route lookup per such SA, and a gateway's many
// responder SAs are not visited (Manager.movers).
func (m *Manager) AddressesChanged() {
	for sa := range m.movers {
		if sa.mobike != nil && sa.state == stateEstablished {
			sa.checkPath()
		}
	}
}

// checkPath moves the IKE SA when its source address toward the peer
// changed.
func (sa *IKESA) checkPath() {
	if sa.mobike.inFlight {
		sa.mobike.again = true
		return
	}
	src, err := sa.m.transport.Source(sa.Remote)
	if err != nil {
		sa.log.Info("MOBIKE: no path to the peer now, waiting for the next address change", "remote", sa.Remote, "err", err)
		return
	}
	if !src.IsValid() || src.Addr().Unmap() == sa.Local.Addr().Unmap() {
		return
	}
	port := sa.Local.Port()
	if port == 0 {
		port = src.Port()
	}
	to := netip.AddrPortFrom(src.Addr(), port)
	sa.log.Info("MOBIKE: local address changed, updating the peer", "from", sa.Local, "to", to, "remote", sa.Remote)
	// Move at once: ESP and the update's retransmissions leave from the
	// new address; the old one may be gone already.
	sa.Local = to
	sa.moveChildren()
	sa.startUpdate()
}

// startUpdate sends UPDATE_SA_ADDRESSES now, or when the outstanding
// request is answered; the update is built when it goes out, so its NAT-D
// hashes name the addresses of that moment.
func (sa *IKESA) startUpdate() {
	if sa.mobike.inFlight {
		return
	}
	sa.mobike.inFlight = true
	if sa.pending != nil {
		sa.queue = append(sa.queue, sa.sendUpdate)
		return
	}
	if err := sa.sendUpdate(); err != nil {
		sa.log.Warn("MOBIKE: sending UPDATE_SA_ADDRESSES failed", "err", err)
	}
}

// sendUpdate sends UPDATE_SA_ADDRESSES with NAT-D, COOKIE2 and our other
// addresses (RFC 4555 3.5).
func (sa *IKESA) sendUpdate() error {
	if sa.state != stateEstablished {
		sa.mobike.inFlight = false
		return nil
	}
	natd, err := sa.natdPayloads(sa.cfg.Encap)
	if err != nil {
		sa.mobike.inFlight = false
		return err
	}
	cookie := make([]byte, mobikeCookieLen)
	if _, err := sa.m.rand.Read(cookie); err != nil {
		sa.mobike.inFlight = false
		return fmt.Errorf("COOKIE2: %w", err)
	}
	sa.mobike.cookie2 = cookie
	payloads := append([]wire.Payload{&wire.Notify{NotifyType: wire.UPDATE_SA_ADDRESSES}}, natd...)
	payloads = append(payloads, &wire.Notify{NotifyType: wire.COOKIE2, Data: cookie})
	payloads = append(payloads, sa.additionalAddresses()...)
	from := sa.Local
	return sa.sendRequest(wire.INFORMATIONAL, payloads, func(_ *wire.Message, reply []wire.Payload) error {
		return sa.updateAnswered(from, reply)
	}, func(string) { sa.mobike.inFlight = false })
}

// updateAnswered checks the response to our UPDATE_SA_ADDRESSES.
func (sa *IKESA) updateAnswered(from netip.AddrPort, reply []wire.Payload) error {
	mb := sa.mobike
	mb.inFlight = false
	defer func() {
		if mb.again && sa.state == stateEstablished {
			mb.again = false
			sa.checkPath()
		}
	}()
	if n := firstError(reply); n != nil {
		return fmt.Errorf("MOBIKE: peer refused the address update from %v: %v", from, n.NotifyType)
	}
	echo := findNotify(reply, wire.COOKIE2)
	if echo == nil || subtle.ConstantTimeCompare(echo.Data, mb.cookie2) != 1 {
		// RFC 4555 3.8: without the right COOKIE2 the path is not proven.
		return fmt.Errorf("MOBIKE: the answer to our address update lacks our COOKIE2; path %v -> %v unconfirmed", from, sa.Remote)
	}
	mb.cookie2 = nil
	mb.takeAddresses(reply)
	if natLocal, natRemote, ok := detectNAT(reply, sa.SPIi, sa.SPIr, sa.Local, sa.Remote); ok {
		sa.setNAT(natLocal, natRemote)
	}
	sa.log.Info("MOBIKE: peer confirmed the address update", "local", sa.Local, "remote", sa.Remote,
		"nat_local", sa.NATLocal, "nat_remote", sa.NATRemote)
	return nil
}

// setNAT takes the result of redone NAT detection. A NAT that appears
// moves IKE to port 4500 and the Child SAs to ESP-in-UDP; once on, UDP
// encapsulation stays (RFC 4555 allows it, and it spares the peer a
// second change). An installed Child SA cannot change its encapsulation
// in place, so the initiator rekeys each raw-ESP one (make before break;
// the successor takes the IKE SA's encapsulation); the responder leaves
// it to the initiator, so the two rekeys do not collide.
func (sa *IKESA) setNAT(natLocal, natRemote bool) {
	was := sa.UDPEncap()
	sa.NATLocal, sa.NATRemote = natLocal || (was && sa.NATLocal), natRemote || (was && sa.NATRemote)
	if was || !sa.UDPEncap() {
		return
	}
	sa.log.Info("MOBIKE: a NAT appeared on the new path; IKE moves to port 4500, ESP into UDP")
	sa.floatToNATPort()
	sa.moveChildren()
	if !sa.origInitiator {
		return
	}
	for _, c := range slices.Clone(sa.children) {
		if c.state == childInstalled && !c.Encap {
			if err := sa.rekeyChild(c, "a NAT appeared (MOBIKE): ESP moves into UDP"); err != nil {
				sa.log.Warn("MOBIKE: rekeying Child SA into UDP encapsulation failed", "child", c.Name, "err", err)
			}
		}
	}
}

// mobikeRequest handles the MOBIKE notifications of an INFORMATIONAL
// request that came from remote to local, and returns what the response
// must carry (RFC 4555 3.5, 3.6, 3.8).
func (sa *IKESA) mobikeRequest(payloads []wire.Payload, local, remote netip.AddrPort) []wire.Payload {
	if sa.mobike == nil {
		return nil
	}
	sa.mobike.takeAddresses(payloads)
	var out []wire.Payload
	if findNotify(payloads, wire.UPDATE_SA_ADDRESSES) != nil && !sa.origInitiator {
		natLocal, natRemote, present := detectNAT(payloads, sa.SPIi, sa.SPIr, local, remote)
		if present && (natLocal || natRemote) && findNotify(payloads, wire.NO_NATS_ALLOWED) != nil {
			sa.log.Warn("UNEXPECTED_NAT_DETECTED: the peer's address update passed a NAT it does not allow", "from", remote)
			return []wire.Payload{&wire.Notify{NotifyType: wire.UNEXPECTED_NAT_DETECTED}}
		}
		if remote != sa.Remote || local != sa.Local {
			sa.log.Info("MOBIKE: peer moved", "from", sa.Remote, "to", remote, "local", local)
		}
		sa.Local, sa.Remote = local, remote
		if present {
			sa.setNAT(natLocal, natRemote)
		}
		sa.moveChildren()
	}
	if findNotify(payloads, wire.NAT_DETECTION_SOURCE_IP) != nil {
		// Our hashes answer theirs, in an update or a path check (RFC
		// 4555 3.8; strongSwan sends them with its MOBIKE DPDs).
		if natd, err := sa.natdPayloads(sa.cfg.Encap); err == nil {
			out = append(out, natd...)
		}
	}
	if c := findNotify(payloads, wire.COOKIE2); c != nil && len(c.Data) >= 8 && len(c.Data) <= 64 {
		out = append(out, &wire.Notify{NotifyType: wire.COOKIE2, Data: c.Data})
	}
	return out
}
