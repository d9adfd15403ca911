package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// Child SA rekeying (RFC 7296 1.3.3, 2.8, 2.8.1, 2.25.1), make before break:
//
//   - the rekey initiator installs the new SA pair and seals with it at once
//     (the responder already accepts it), then deletes the old pair;
//   - the responder installs the new pair when it answers but keeps sealing
//     with the old outbound SA until the initiator's DELETE of the old one
//     arrives (strongSwan does the same), so nothing is sent under an SPI the
//     initiator does not know yet;
//   - a replaced SA lingers as REKEYED for rekeyGrace before it leaves the
//     SAD, so packets already in flight still decrypt.

// rekeyGrace is how long a replaced Child SA keeps decrypting after its
// successor took over (strongSwan's charon.delete_rekeyed_delay).
const rekeyGrace = 5 * time.Second

// OutboundSwitcher is implemented by Installers that rekey make before
// break. InstallChildSA of a Child SA whose Rekeys is set adds its SAs under
// the route and policies of the Child SA it replaces and keeps sealing with
// the old outbound SA; SwitchOutbound then makes the new outbound SA the one
// new packets are sealed with. DeleteChildSA of a replaced Child SA removes
// only its own SAs. An Installer without it switches at InstallChildSA.
type OutboundSwitcher interface {
	SwitchOutbound(c *ChildSA) error
}

// childRekey is a rekey of a Child SA that we started.
type childRekey struct {
	n           *ChildSA // the Child SA our exchange creates
	ni, nr      []byte
	groupsTried int
	// peerNew is the Child SA we created answering the peer's rekey of the
	// same SA while ours was in flight (a simultaneous rekey), with the
	// nonces of that exchange.
	peerNew        *ChildSA
	peerNi, peerNr []byte
}

// RekeyChild rekeys every installed Child SA with that configuration name,
// as swanctl --rekey --child does.
func (m *Manager) RekeyChild(name string) error {
	n := 0
	for _, sa := range m.sas {
		for _, c := range sa.children {
			if c.Name == name && c.state == childInstalled && c.supersededBy == nil {
				n++
				if err := sa.rekeyChild(c, "operator request"); err != nil {
					return err
				}
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("rekey: no Child SA named %q", name)
	}
	return nil
}

// rekeyDelay is a random delay of 2 to 5 s before a rekey is retried, so
// two peers that keep colliding drift apart.
func (m *Manager) rekeyDelay() time.Duration {
	var b [2]byte
	_, _ = m.rand.Read(b[:])
	return 2*time.Second + time.Duration(binary.BigEndian.Uint16(b[:])%3000)*time.Millisecond
}

// rekeyChild starts rekeying c unless that is under way or impossible now;
// a busy IKE SA retries later.
func (sa *IKESA) rekeyChild(c *ChildSA, why string) error {
	if c.state != childInstalled || c.rekey != nil || c.supersededBy != nil || c.Config == nil || c.redundant ||
		(c.Rekeys != nil && !c.outbound) || sa.m.waitingSuccessor(c) != nil {
		// Nothing to rekey, or already under way (by us or the peer).
		return nil
	}
	if sa.state != stateEstablished || sa.superseded != nil || sa.ikeRekey != nil || sa.reauthing != nil {
		c.retryAt = sa.m.clock.Now().Add(sa.m.rekeyDelay())
		return nil
	}
	c.retryAt = time.Time{}
	group := c.Group
	if group == 0 || !offersGroup(c.Config.Proposals, group) {
		group = firstGroup(c.Config.Proposals)
	}
	sa.log.Info("rekeying Child SA", "child", c.Name, "uniqueid", c.UniqueID, "spi_in", fmt.Sprintf("%08x", c.SPIIn), "reason", why)
	c.rekey = &childRekey{}
	if err := sa.sendChildRekey(c, group); err != nil {
		c.rekey = nil
		return err
	}
	return nil
}

// sendChildRekey sends CREATE_CHILD_SA with N(REKEY_SA) for c: a new SPI,
// the old SA's selectors and, with PFS, a key exchange for group.
func (sa *IKESA) sendChildRekey(c *ChildSA, group uint16) error {
	r, cc := c.rekey, c.Config
	n, err := sa.newChild(cc)
	if err != nil {
		return err
	}
	n.Mode, n.Rekeys = c.Mode, c
	ni, err := sa.m.nonce()
	if err != nil {
		sa.releaseChild(n)
		return err
	}
	r.n, r.ni, r.nr = n, ni, nil
	payloads := []wire.Payload{&wire.Notify{Protocol: protocolID(c.Protocol), SPI: spiBytes(c.SPIIn), NotifyType: wire.REKEY_SA}}
	if c.Mode == ipsec.ModeTransport {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE})
	}
	payloads = append(payloads, proposal.ToWire(preferGroup(cc.Proposals, group), spiBytes(n.SPIIn)), &wire.Nonce{Data: ni})
	var kex ikecrypto.KeyExchange
	if group != 0 {
		if kex, err = ikecrypto.NewKeyExchange(group, sa.m.rand); err != nil {
			sa.releaseChild(n)
			return fmt.Errorf("rekey child %s: key exchange: %w", cc.Name, err)
		}
		payloads = append(payloads, &wire.KE{Method: wire.KEMethod(group), Data: kex.PublicValue()})
	}
	payloads = append(payloads, toWire(c.LocalTS, false), toWire(c.RemoteTS, true))
	return sa.sendRequest(wire.CREATE_CHILD_SA, payloads, func(_ *wire.Message, resp []wire.Payload) error {
		return sa.childRekeyResponse(c, r, n, kex, resp)
	}, func(string) {
		sa.releaseChild(n)
		c.rekey = nil
	})
}

// preferGroup moves the proposals that carry the KE method g to the front,
// so the KE payload we send matches the proposal the responder likely picks.
func preferGroup(ps []proposal.Proposal, g uint16) []proposal.Proposal {
	if g == 0 {
		return ps
	}
	var first, rest []proposal.Proposal
	for _, p := range ps {
		if offersGroup([]proposal.Proposal{p}, g) {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	return append(first, rest...)
}

// childRekeyResponse handles the answer to our rekey of c.
func (sa *IKESA) childRekeyResponse(c *ChildSA, r *childRekey, n *ChildSA, kex ikecrypto.KeyExchange, resp []wire.Payload) error {
	if c.rekey != r || r.n != n {
		sa.releaseChild(n)
		return nil
	}
	if ike := findNotify(resp, wire.INVALID_KE_PAYLOAD); ike != nil && len(ike.Data) == 2 {
		sa.releaseChild(n)
		g := binary.BigEndian.Uint16(ike.Data)
		r.groupsTried++
		if c.state != childInstalled || c.supersededBy != nil || r.groupsTried > 2 || !offersGroup(c.Config.Proposals, g) {
			c.rekey = nil
			return fmt.Errorf("INVALID_KE_PAYLOAD: peer wants %v to rekey Child SA %s, which we do not offer", wire.KEMethod(g), c.Name)
		}
		sa.log.Info("peer asks for another key exchange method to rekey the Child SA, retrying", "child", c.Name, "group", wire.KEMethod(g))
		return sa.sendChildRekey(c, g)
	}
	c.rekey = nil
	if e := firstError(resp); e != nil {
		sa.releaseChild(n)
		switch {
		case c.state != childInstalled || c.supersededBy != nil:
			// Deleted meanwhile, or a simultaneous rekey by the peer won.
			sa.log.Info(fmt.Sprintf("%v: peer did not rekey Child SA %s, which is gone here or replaced already", e.NotifyType, c.Name))
		case r.peerNew != nil:
			sa.log.Info(fmt.Sprintf("%v: our rekey of Child SA %s lost to the peer's", e.NotifyType, c.Name))
		case e.NotifyType == wire.CHILD_SA_NOT_FOUND:
			// The peer lost the SA: set up a fresh one (strongSwan does too).
			sa.log.Warn("CHILD_SA_NOT_FOUND: peer no longer has Child SA; creating it anew", "child", c.Name)
			cc := c.Config
			sa.uninstallChild(c, "peer lost it (CHILD_SA_NOT_FOUND)")
			sa.removeChild(c)
			return sa.createChild(cc)
		default:
			c.retryAt = sa.m.clock.Now().Add(sa.m.rekeyDelay())
			sa.log.Info(fmt.Sprintf("%v: peer refused to rekey Child SA %s; retrying later", e.NotifyType, c.Name), "retry_at", c.retryAt)
		}
		return nil
	}
	nr := payloadOf[*wire.Nonce](resp)
	if nr == nil {
		sa.releaseChild(n)
		return fmt.Errorf("rekey child %s: CREATE_CHILD_SA response without nonce", c.Name)
	}
	if err := checkNonce(nr.Data, sa.keys.PRF().ID()); err != nil {
		sa.releaseChild(n)
		return fmt.Errorf("rekey child %s: CREATE_CHILD_SA response: %w", c.Name, err)
	}
	r.nr = clone(nr.Data)
	if c.state != childInstalled || c.supersededBy != nil {
		// The peer deleted the old SA while we rekeyed it, or its own rekey
		// of it won: the SA our exchange made on its side goes too.
		sa.log.Info("peer created the new Child SA but the old one is gone or replaced here; deleting the new one", "child", c.Name)
		sa.deleteRedundant(n, false)
		return nil
	}
	secrets, err := pfsSecrets(kex, resp)
	if err != nil {
		sa.releaseChild(n)
		return fmt.Errorf("rekey child %s: %w", c.Name, err)
	}
	methods, link, err := additionalRounds(resp)
	if err == nil && len(methods) > 0 && len(secrets) == 0 {
		err = errAddKEWithoutKE
	}
	if err != nil {
		clearAll(secrets)
		sa.releaseChild(n)
		return fmt.Errorf("rekey child %s: %w", c.Name, err)
	}
	if len(methods) > 0 {
		// The rekey stays in flight (c.rekey) through the IKE_FOLLOWUP_KE
		// exchanges; the new SA takes over after the last.
		c.rekey = r
		return sa.runFollowup(&followupInitiator{
			what: "rekey of Child SA " + c.Name, methods: methods, secrets: secrets,
			finish: func(all [][]byte, _ []uint16) error {
				if c.rekey != r {
					sa.releaseChild(n)
					return nil
				}
				c.rekey = nil
				if c.state != childInstalled || c.supersededBy != nil {
					sa.log.Info("peer created the new Child SA but the old one is gone or replaced here; deleting the new one", "child", c.Name)
					sa.deleteRedundant(n, false)
					return nil
				}
				return sa.finishChildRekey(c, r, n, resp, all)
			},
			abort: func() {
				sa.releaseChild(n)
				if c.rekey == r {
					c.rekey = nil
					c.retryAt = sa.m.clock.Now().Add(sa.m.rekeyDelay())
				}
			},
		}, link)
	}
	defer clearAll(secrets)
	return sa.finishChildRekey(c, r, n, resp, secrets)
}

// finishChildRekey installs n, which our rekey of c created, with keys from
// the exchange's shared secrets, and settles a simultaneous rekey.
func (sa *IKESA) finishChildRekey(c *ChildSA, r *childRekey, n *ChildSA, resp []wire.Payload, secrets [][]byte) error {
	if err := sa.acceptChildResponse(n, resp, r.ni, r.nr, secrets...); err != nil {
		return err
	}
	if r.peerNew != nil && r.peerNew.state == childInstalled && redundant(r.ni, r.nr, r.peerNi, r.peerNr) {
		// RFC 7296 2.8.1: the SA made with the lowest nonce is redundant
		// and its initiator (us) deletes it; the peer deletes the old one.
		sa.log.Info("simultaneous rekey: ours holds the lowest nonce, deleting its redundant Child SA", "child", c.Name,
			"redundant", fmt.Sprintf("%08x", n.SPIIn), "kept", fmt.Sprintf("%08x", r.peerNew.SPIIn))
		sa.deleteRedundant(n, true)
		return nil
	}
	if r.peerNew != nil {
		sa.log.Info("simultaneous rekey: ours wins, the peer deletes its redundant Child SA", "child", c.Name)
		r.peerNew.redundant = true
	}
	sa.activate(n)
	sa.deleteReplaced(c)
	return nil
}

// redundant applies RFC 7296 2.8.1 to a simultaneous rekey: our exchange
// (nonces ni, nr) made the redundant SA when it holds the lowest of the four
// nonces.
func redundant(ni, nr, peerNi, peerNr []byte) bool {
	return bytes.Compare(minNonce(ni, nr), minNonce(peerNi, peerNr)) < 0
}

func minNonce(a, b []byte) []byte {
	if bytes.Compare(a, b) <= 0 {
		return a
	}
	return b
}

// activate makes n, which replaces n.Rekeys, the Child SA that seals: the
// data plane switches its outbound SA and the old pair becomes REKEYED.
func (sa *IKESA) activate(n *ChildSA) {
	old := n.Rekeys
	n.outbound = true
	if sw, ok := sa.m.installer.(OutboundSwitcher); ok && sa.m.installer != nil {
		if err := sw.SwitchOutbound(n); err != nil {
			sa.log.Warn("switching to the new outbound SA failed", "child", n.Name, "err", err)
		}
	}
	if old != nil {
		old.supersededBy = n
		if old.state == childInstalled || old.state == childDeleting {
			old.state = childRekeyed
		}
		sa.log.Info("Child SA rekeyed", "child", n.Name, "uniqueid", n.UniqueID, "replaces", old.UniqueID,
			"spi_in", fmt.Sprintf("%08x", n.SPIIn), "spi_out", fmt.Sprintf("%08x", n.SPIOut),
			"old_spi_in", fmt.Sprintf("%08x", old.SPIIn), "old_spi_out", fmt.Sprintf("%08x", old.SPIOut), "pfs", wire.KEMethod(n.Group))
	}
	sa.m.emit(Event{Kind: EventChildRekeyed, IKE: sa, Child: n, Reason: "rekeyed"})
}

// deleteReplaced asks the peer to delete a Child SA we replaced; it lingers
// for rekeyGrace after the peer's answer.
func (sa *IKESA) deleteReplaced(old *ChildSA) {
	old.deleteSent = true
	d := &wire.Delete{Protocol: protocolID(old.Protocol), SPISize: 4, SPIs: [][]byte{spiBytes(old.SPIIn)}}
	err := sa.sendRequest(wire.INFORMATIONAL, []wire.Payload{d}, func(*wire.Message, []wire.Payload) error {
		old.IKE.linger(old)
		return nil
	}, nil)
	if err != nil {
		sa.log.Warn("sending DELETE for the rekeyed Child SA failed", "err", err)
		old.IKE.linger(old)
	}
}

// linger schedules the removal of a replaced Child SA.
func (sa *IKESA) linger(old *ChildSA) {
	if old.state == childDeleted || !old.retireAt.IsZero() {
		return
	}
	old.retireAt = sa.m.clock.Now().Add(rekeyGrace)
}

// deleteRedundant deletes a Child SA of ours that lost a simultaneous rekey
// (or outlived its predecessor): the peer removes its copy by our SPI.
// installed says whether n went into the SAD here.
func (sa *IKESA) deleteRedundant(n *ChildSA, installed bool) {
	n.redundant = true
	spi := n.SPIIn
	if !installed {
		sa.releaseChild(n)
	}
	d := &wire.Delete{Protocol: protocolID(n.Protocol), SPISize: 4, SPIs: [][]byte{spiBytes(spi)}}
	n.deleteSent = true
	err := sa.sendRequest(wire.INFORMATIONAL, []wire.Payload{d}, func(*wire.Message, []wire.Payload) error {
		if installed {
			n.IKE.retireChild(n)
		}
		return nil
	}, nil)
	if err != nil {
		sa.log.Warn("sending DELETE for the redundant Child SA failed", "err", err)
	}
}

// retireChild removes a replaced or redundant Child SA without a ChildDown
// event: the tunnel lives on in its successor.
func (sa *IKESA) retireChild(c *ChildSA) {
	if c.state == childDeleted {
		return
	}
	sa.uninstallChild(c, "rekeyed")
	sa.removeChild(c)
	for _, x := range sa.children {
		if x.Rekeys == c {
			x.Rekeys = nil
		}
	}
}

// quietGone handles the data plane side of a Child SA about to leave the
// SAD: a successor still waiting to seal takes over first, so the route
// never lacks an outbound SA. It reports whether the Child SA's tunnel
// lives on (no ChildDown event then).
func (sa *IKESA) quietGone(c *ChildSA) bool {
	if c.supersededBy != nil || c.redundant || (c.Rekeys != nil && !c.outbound) {
		return true
	}
	if s := sa.m.waitingSuccessor(c); s != nil {
		s.IKE.activate(s)
		return true
	}
	return false
}

// passToSuccessor hands c, a Child SA of an IKE SA that goes, to the Child
// SA of another IKE SA installed to replace it and not sealing yet: the
// peer reauthenticated make before break and now deletes the old IKE SA.
// The successor seals from now on and c lingers under its IKE SA for
// rekeyGrace, as a Child SA the peer rekeyed does (rekeyedDeletedByPeer):
// the peer sealed with c's outbound SA until it switched, just before its
// DELETE, and those packets may be processed here after the DELETE (the
// ESP and IKE sockets are read by different goroutines); a packet being
// sealed here with c's outbound SA as the switch happens must find it
// still in the SAD. Removing c at once lost such packets. It reports
// whether c was handed over.
func (sa *IKESA) passToSuccessor(c *ChildSA) bool {
	if c.state != childInstalled && c.state != childDeleting {
		return false
	}
	s := sa.m.waitingSuccessor(c)
	if s == nil || s.IKE == nil || s.IKE == sa || s.IKE.state != stateEstablished {
		return false
	}
	n := s.IKE
	n.activate(s)
	c.IKE = n
	n.children = append(n.children, c)
	n.linger(c)
	sa.m.touch(n) // its timers now include c's retirement
	return true
}

// waitingSuccessor returns the Child SA installed to replace c that does
// not seal yet (we answered the peer's rekey of c, or the peer
// reauthenticated), nil without one.
func (m *Manager) waitingSuccessor(c *ChildSA) *ChildSA {
	if x := c.successor; x != nil && !x.outbound && !x.redundant && x.state == childInstalled {
		return x
	}
	return nil
}

// rekeyedDeletedByPeer handles a DELETE from the peer for a Child SA that a
// rekey concerns. ok is false for any other Child SA, which delete.go
// removes as usual; otherwise spi is ours for the answer's Delete payload,
// nil when we asked for the same deletion ourselves (RFC 7296 1.4.1).
func (sa *IKESA) rekeyedDeletedByPeer(c *ChildSA) (spi []byte, ok bool) {
	spi = spiBytes(c.SPIIn)
	if c.deleteSent || c.state == childDeleting {
		spi = nil
	}
	switch {
	case c.supersededBy != nil:
		// We rekeyed it: the old pair lingers for packets in flight.
		sa.linger(c)
	case sa.m.waitingSuccessor(c) != nil:
		// The peer rekeyed it and now deletes the old pair: seal with the
		// new one, keep decrypting with the old one for a while.
		s := sa.m.waitingSuccessor(c)
		s.IKE.activate(s)
		sa.linger(c)
	case c.redundant || (c.Rekeys != nil && !c.outbound):
		// A redundant SA of a simultaneous rekey, deleted by its initiator.
		sa.retireChild(c)
	default:
		return nil, false
	}
	c.deleteSent = true
	return spi, true
}

// rekeyedIKEDeleted handles a DELETE of an IKE SA that a rekey replaced,
// or made redundant; during a simultaneous rekey the DELETE also says the
// peer's new IKE SA won, and the Child SAs move there. It reports whether
// it dealt with the DELETE (then the SA is gone without close actions).
func (sa *IKESA) rekeyedIKEDeleted(id uint32) bool {
	r := sa.ikeRekey
	collision := r != nil && r.peerNew != nil && r.peerNew.state == stateEstablished
	if sa.superseded == nil && !sa.redundant && sa.quietExpireAt.IsZero() && !collision {
		return false
	}
	sa.respond(wire.INFORMATIONAL, id, nil)
	if collision && sa.superseded == nil {
		sa.handOver(r.peerNew)
	}
	sa.destroy("deleted by peer")
	return true
}

// handleChildRekeyRequest answers the peer's CREATE_CHILD_SA with
// N(REKEY_SA): the SPI in the notification is the peer's inbound SPI, our
// outbound one.
func (sa *IKESA) handleChildRekeyRequest(id uint32, payloads []wire.Payload, rn *wire.Notify) {
	refuse := func(n *wire.Notify) {
		sa.respond(wire.CREATE_CHILD_SA, id, []wire.Payload{n})
	}
	if len(rn.SPI) != 4 || (rn.Protocol != wire.ProtocolESP && rn.Protocol != wire.ProtocolAH) {
		refuse(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
		return
	}
	spi := binary.BigEndian.Uint32(rn.SPI)
	var c *ChildSA
	for _, x := range sa.children {
		if x.SPIOut == spi && protocolID(x.Protocol) == rn.Protocol && x.state != childDeleted {
			c = x
		}
	}
	switch {
	case c == nil:
		sa.log.Info("CHILD_SA_NOT_FOUND: peer asks to rekey a Child SA we do not have", "spi", fmt.Sprintf("%08x", spi))
		refuse(&wire.Notify{Protocol: rn.Protocol, SPI: rn.SPI, NotifyType: wire.CHILD_SA_NOT_FOUND})
		return
	case c.state != childInstalled || c.supersededBy != nil || c.redundant || sa.m.waitingSuccessor(c) != nil:
		// Being deleted or already replaced (RFC 7296 2.25.1).
		sa.log.Info("TEMPORARY_FAILURE: peer asks to rekey a Child SA that is being deleted or was replaced", "child", c.Name, "state", c.State())
		refuse(&wire.Notify{NotifyType: wire.TEMPORARY_FAILURE})
		return
	case sa.ikeRekey != nil || sa.reauthing != nil:
		sa.log.Info("TEMPORARY_FAILURE: peer asks to rekey a Child SA while we rekey the IKE SA", "child", c.Name)
		refuse(&wire.Notify{NotifyType: wire.TEMPORARY_FAILURE})
		return
	case c.Config == nil:
		refuse(&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN})
		return
	}
	ni := payloadOf[*wire.Nonce](payloads)
	if ni == nil {
		refuse(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
		return
	}
	if err := checkNonce(ni.Data, sa.keys.PRF().ID()); err != nil {
		sa.log.Info("INVALID_SYNTAX: Child SA rekey request: "+err.Error(), "child", c.Name)
		refuse(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
		return
	}
	ke := payloadOf[*wire.KE](payloads)
	only := &PeerConfig{Name: sa.cfg.Name, Children: []*ChildConfig{c.Config}}
	cc, chosen, localTS, remoteTS, mode, fail, why := sa.negotiateChildAsResponder(only, payloads, true)
	if fail != 0 {
		sa.log.Warn(why, "remote", sa.Remote, "rekey", c.Name)
		refuse(&wire.Notify{NotifyType: fail})
		return
	}
	var secrets [][]byte
	var kePayload *wire.KE
	if g, ok := chosen.KEMethod(); ok {
		if ke == nil || ke.Method != g {
			var d [2]byte
			binary.BigEndian.PutUint16(d[:], uint16(g))
			sa.log.Info("INVALID_KE_PAYLOAD for Child SA rekey", "child", c.Name, "want", g)
			refuse(&wire.Notify{NotifyType: wire.INVALID_KE_PAYLOAD, Data: d[:]})
			return
		}
		pub, secret, err := ikecrypto.Encapsulate(uint16(g), ke.Data, sa.m.rand)
		if err != nil {
			refuse(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
			return
		}
		defer clear(secret)
		secrets = append(secrets, secret)
		kePayload = &wire.KE{Method: g, Data: pub}
	}
	nr, err := sa.m.nonce()
	if err != nil {
		refuse(&wire.Notify{NotifyType: wire.TEMPORARY_FAILURE})
		return
	}
	if adds := nonNone(chosen.AdditionalKEs()); len(adds) > 0 {
		sa.respondChildFollowup(id, childOffer{cc: cc, chosen: chosen, localTS: localTS, remoteTS: remoteTS, mode: mode, rekeys: c}, ni.Data, nr, kePayload, secrets)
		return
	}
	n, err := sa.newChild(cc)
	if err != nil {
		refuse(&wire.Notify{NotifyType: wire.NO_ADDITIONAL_SAS})
		return
	}
	n.Mode, n.Rekeys = mode, c
	c.successor = n
	if err := sa.completeChild(n, chosen, localTS, remoteTS, false, ni.Data, nr, secrets...); err != nil {
		sa.releaseChild(n)
		sa.log.Error("installing the rekeyed Child SA failed", "child", c.Name, "err", err)
		refuse(&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN})
		return
	}
	if r := c.rekey; r != nil {
		sa.log.Info("simultaneous rekey of Child SA: answering the peer's while ours is in flight", "child", c.Name)
		r.peerNew, r.peerNi, r.peerNr = n, clone(ni.Data), nr
	}
	var out []wire.Payload
	if mode == ipsec.ModeTransport {
		out = append(out, &wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE})
	}
	out = append(out, &wire.SA{Proposals: []wire.Proposal{chosen.Wire(spiBytes(n.SPIIn))}}, &wire.Nonce{Data: nr})
	if kePayload != nil {
		out = append(out, kePayload)
	}
	out = append(out, toWire(remoteTS, false), toWire(localTS, true))
	sa.respond(wire.CREATE_CHILD_SA, id, out)
}

// childInstalled runs when completeChild has put c into the SAD. A new
// Child SA announces itself; a replacement waits for activate (a rekey)
// unless it adopts the tunnel of a reauthenticated IKE SA that we started.
func (sa *IKESA) childInstalled(c *ChildSA, initiator bool) {
	if c.Rekeys == nil {
		c.outbound = true
		sa.m.emit(Event{Kind: EventChildUp, IKE: sa, Child: c})
		return
	}
	if c.adopted && initiator {
		sa.activate(c)
	}
	sa.checkReauthDone()
}

// adoptReplaced looks, for a new Child SA that is not a rekey, for an
// installed Child SA of another IKE SA with the same peer, configuration and
// selectors: reauthentication (RFC 7296 2.8.3) builds the tunnel anew, and
// sharing the old one's route and policies keeps it unbroken.
//
// As the initiator of the new IKE SA we know: only a reauthentication
// adopts. As its responder we cannot tell a reauthentication from a
// duplicate, so the new Child SA waits, installed, and takes over only when
// the old one goes; traffic flows over either meanwhile.
func (sa *IKESA) adoptReplaced(c *ChildSA) {
	if c.Rekeys != nil || c.Config == nil || (sa.Initiator && sa.reauthOf == nil) {
		return
	}
	// Only an established IKE SA has installed Child SAs; those are indexed
	// by peer, so a gateway does not visit every client here.
	for _, other := range sa.m.peerSAs(sa.RemoteID) {
		if other == sa || other.cfg != sa.cfg || !other.RemoteID.Matches(sa.RemoteID) {
			continue
		}
		for _, x := range other.children {
			if x.state == childInstalled && x.supersededBy == nil && x.Config != nil && x.Config.Name == c.Config.Name &&
				sameTS(x.LocalTS, c.LocalTS) && sameTS(x.RemoteTS, c.RemoteTS) && x.Mode == c.Mode && sa.m.waitingSuccessor(x) == nil {
				c.Rekeys, c.adopted = x, true
				x.successor = c
				return
			}
		}
	}
}
