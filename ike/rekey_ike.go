package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// IKE SA rekeying (RFC 7296 2.18, 2.8.2, 2.25.2) and reauthentication
// (2.8.3). A rekeyed IKE SA hands its Child SAs to its successor, whose
// message IDs start at 0, and is deleted by the side that rekeyed it.

// ikeRekey is a rekey of the IKE SA that we started.
type ikeRekey struct {
	spi         uint64 // our SPI of the new IKE SA
	ni          []byte
	groupsTried int
	// peerNew is the IKE SA we created answering the peer's rekey while
	// ours was in flight (simultaneous rekey), with that exchange's nonces.
	peerNew        *IKESA
	peerNi, peerNr []byte
}

// rekeyCollisionWait is how long an IKE SA we made answering a colliding
// rekey waits for its initiator to delete it as redundant, or to win.
const rekeyCollisionWait = 30 * time.Second

// RekeyIKE rekeys the IKE SAs of a connection (swanctl --rekey --ike); with
// reauth, it reauthenticates them instead (swanctl --rekey --reauth).
func (m *Manager) RekeyIKE(conn string, reauth bool) error {
	n := 0
	for _, sa := range m.sas {
		if sa.cfg.Name != conn || sa.state != stateEstablished || sa.superseded != nil || sa.redundant {
			continue
		}
		n++
		var err error
		if reauth {
			err = sa.reauthenticate()
		} else {
			err = sa.rekeyIKE()
		}
		if err != nil {
			return err
		}
	}
	if n == 0 {
		return fmt.Errorf("rekey: no established IKE SA of connection %q", conn)
	}
	return nil
}

// childExchangeBusy reports Child SA exchanges in flight, during which an
// IKE SA rekey must wait (RFC 7296 2.25.2).
func (sa *IKESA) childExchangeBusy() bool {
	if sa.pending != nil && (sa.pending.exchange == wire.CREATE_CHILD_SA || sa.pending.exchange == wire.IKE_FOLLOWUP_KE) && sa.ikeRekey == nil {
		return true
	}
	for _, c := range sa.children {
		if c.rekey != nil {
			return true
		}
	}
	return false
}

// rekeyIKE starts rekeying the IKE SA, or schedules a retry when Child SA
// exchanges are in flight.
func (sa *IKESA) rekeyIKE() error {
	if sa.state != stateEstablished || sa.superseded != nil || sa.redundant || sa.ikeRekey != nil || sa.reauthing != nil {
		return nil
	}
	if sa.childExchangeBusy() || sa.pending != nil {
		// Our IKE rekey request must be the one in flight while it is.
		sa.ikeRetryAt = sa.m.clock.Now().Add(sa.m.rekeyDelay())
		sa.log.Info("an exchange is in flight; rekeying the IKE SA later", "retry_at", sa.ikeRetryAt)
		return nil
	}
	sa.ikeRetryAt, sa.ikeRetryReauth = time.Time{}, false
	sa.log.Info("rekeying IKE SA", "spi_i", fmt.Sprintf("%016x", sa.SPIi), "spi_r", fmt.Sprintf("%016x", sa.SPIr))
	sa.ikeRekey = &ikeRekey{}
	if err := sa.sendIKERekey(sa.Group); err != nil {
		sa.ikeRekey = nil
		return err
	}
	return nil
}

func ikeSPIBytes(spi uint64) []byte { return binary.BigEndian.AppendUint64(nil, spi) }

// sendIKERekey sends CREATE_CHILD_SA with an IKE proposal carrying a new
// SPI, a nonce and a key exchange, and no selectors.
func (sa *IKESA) sendIKERekey(group uint16) error {
	r := sa.ikeRekey
	spi, err := sa.m.newSPI()
	if err != nil {
		return err
	}
	ni, err := sa.m.nonce()
	if err != nil {
		return err
	}
	kex, err := ikecrypto.NewKeyExchange(group, sa.m.rand)
	if err != nil {
		return fmt.Errorf("rekey IKE SA: key exchange %v: %w", wire.KEMethod(group), err)
	}
	r.spi, r.ni = spi, ni
	payloads := []wire.Payload{
		proposal.ToWire(preferGroup(sa.cfg.Proposals, group), ikeSPIBytes(spi)),
		&wire.Nonce{Data: ni},
		&wire.KE{Method: wire.KEMethod(group), Data: kex.PublicValue()},
	}
	return sa.sendRequest(wire.CREATE_CHILD_SA, payloads, func(_ *wire.Message, resp []wire.Payload) error {
		return sa.ikeRekeyResponse(r, kex, resp)
	}, func(string) { sa.ikeRekey = nil })
}

// ikeRekeyResponse handles the answer to our IKE SA rekey.
func (sa *IKESA) ikeRekeyResponse(r *ikeRekey, kex ikecrypto.KeyExchange, resp []wire.Payload) error {
	if sa.ikeRekey != r {
		return nil
	}
	if n := findNotify(resp, wire.INVALID_KE_PAYLOAD); n != nil && len(n.Data) == 2 && r.peerNew == nil {
		g := binary.BigEndian.Uint16(n.Data)
		r.groupsTried++
		if r.groupsTried > 2 || !offersGroup(sa.cfg.Proposals, g) {
			sa.ikeRekey = nil
			return fmt.Errorf("INVALID_KE_PAYLOAD: peer wants %v to rekey the IKE SA, which we do not offer", wire.KEMethod(g))
		}
		sa.log.Info("peer asks for another key exchange method to rekey the IKE SA, retrying", "group", wire.KEMethod(g))
		return sa.sendIKERekey(g)
	}
	sa.ikeRekey = nil
	if e := firstError(resp); e != nil {
		if r.peerNew != nil {
			sa.log.Info(fmt.Sprintf("%v: our IKE SA rekey lost to the peer's simultaneous one", e.NotifyType))
			sa.handOver(r.peerNew)
			sa.state = stateDeleting
			return nil
		}
		sa.ikeRetryAt = sa.m.clock.Now().Add(sa.m.rekeyDelay())
		sa.log.Info(fmt.Sprintf("%v: peer refused to rekey the IKE SA; retrying later", e.NotifyType), "retry_at", sa.ikeRetryAt)
		return nil
	}
	saP := payloadOf[*wire.SA](resp)
	nr := payloadOf[*wire.Nonce](resp)
	ke := payloadOf[*wire.KE](resp)
	if saP == nil || nr == nil || ke == nil || len(saP.Proposals) != 1 {
		return fmt.Errorf("IKE SA rekey response lacks SA, Nonce or KE")
	}
	chosen := proposal.FromWire(saP.Proposals[0])
	if !acceptable(sa.cfg.Proposals, chosen) || len(chosen.SPI) != 8 {
		return fmt.Errorf("NO_PROPOSAL_CHOSEN: peer chose %s with a %d-octet SPI to rekey the IKE SA", chosen.String(), len(chosen.SPI))
	}
	neg := transformsOf(chosen)
	if err := checkNonce(nr.Data, neg.prf); err != nil {
		return fmt.Errorf("IKE SA rekey response: %w", err)
	}
	if uint16(ke.Method) != kex.Method() || neg.group != kex.Method() {
		return fmt.Errorf("peer answered the IKE SA rekey with key exchange %v, we sent %v", ke.Method, wire.KEMethod(kex.Method()))
	}
	secret, err := kex.SharedSecret(ke.Data)
	if err != nil {
		return fmt.Errorf("rekey IKE SA: key exchange: %w", err)
	}
	spiR, peerNr := binary.BigEndian.Uint64(chosen.SPI), clone(nr.Data)
	methods, link, err := additionalRounds(resp)
	if err != nil {
		clear(secret)
		return fmt.Errorf("rekey IKE SA: %w", err)
	}
	if len(methods) > 0 {
		// RFC 9370 2.2.4: the rekey stays ours and in flight through the
		// IKE_FOLLOWUP_KE exchanges, under the old IKE SA.
		sa.ikeRekey = r
		return sa.runFollowup(&followupInitiator{
			what: "IKE SA rekey", methods: methods, secrets: [][]byte{secret},
			finish: func(all [][]byte, done []uint16) error {
				if sa.ikeRekey != r {
					return nil
				}
				sa.ikeRekey = nil
				n, err := sa.newRekeyedSA(true, r.spi, spiR, r.ni, peerNr, neg, clone(all[0]), cloneAll(all[1:])...)
				if err != nil {
					return err
				}
				n.inter = &intermediate{done: slices.Clone(done)}
				sa.finishIKERekey(r, n)
				return nil
			},
			abort: func() {
				if sa.ikeRekey == r {
					sa.ikeRekey = nil
					sa.ikeRetryAt = sa.m.clock.Now().Add(sa.m.rekeyDelay())
				}
			},
		}, link)
	}
	n, err := sa.newRekeyedSA(true, r.spi, spiR, r.ni, peerNr, neg, secret)
	if err != nil {
		return err
	}
	sa.finishIKERekey(r, n)
	return nil
}

// finishIKERekey hands over to n, the IKE SA our rekey created, and deletes
// the old one, or settles a simultaneous rekey by the peer.
func (sa *IKESA) finishIKERekey(r *ikeRekey, n *IKESA) {
	if p := r.peerNew; p != nil && p.state == stateEstablished && redundant(r.ni, n.nr, r.peerNi, r.peerNr) {
		sa.log.Info("simultaneous IKE SA rekey: ours holds the lowest nonce, deleting its redundant IKE SA", "new", n.UniqueID, "kept", p.UniqueID)
		n.redundant = true
		n.deleteIKE("redundant after a simultaneous rekey")
		sa.handOver(p)
		sa.state = stateDeleting
		return
	}
	if p := r.peerNew; p != nil {
		sa.log.Info("simultaneous IKE SA rekey: ours wins, the peer deletes its redundant IKE SA", "new", n.UniqueID)
		p.redundant = true
	}
	if len(sa.queue) > 0 {
		sa.log.Warn("requests queued behind the IKE SA rekey are dropped with the old IKE SA", "requests", len(sa.queue))
	}
	sa.handOver(n)
	sa.deleteIKE("IKE SA rekeyed")
}

// newRekeyedSA builds and registers the IKE SA that a rekey of sa creates,
// with keys from sa's SK_d (RFC 7296 2.18) and message IDs from 0.
func (sa *IKESA) newRekeyedSA(initiator bool, spiI, spiR uint64, ni, nr []byte, neg negotiated, secret []byte, additional ...[]byte) (*IKESA, error) {
	defer clear(secret)
	for _, s := range additional {
		defer clear(s)
	}
	m := sa.m
	now := m.clock.Now()
	suite := neg.ikeSuite()
	keys, err := sa.keys.Rekey(suite, ni, nr, spiI, spiR, secret, additional...)
	if err != nil {
		return nil, fmt.Errorf("rekey IKE SA: %w", err)
	}
	m.nextIKEUnique++
	n := &IKESA{
		m: m, cfg: sa.cfg, UniqueID: m.nextIKEUnique, Initiator: initiator, SPIi: spiI, SPIr: spiR, state: stateEstablished,
		Local: sa.Local, Remote: sa.Remote, NATLocal: sa.NATLocal, NATRemote: sa.NATRemote, LocalID: sa.LocalID, RemoteID: sa.RemoteID,
		Established: now, suite: suite, Group: neg.group, ni: ni, nr: nr, created: now, lastInbound: now,
		fragmentationSupport: sa.fragmentationSupport, signatureHashes: sa.signatureHashes, peerCertReq: sa.peerCertReq,
		PPK:    sa.PPK, // the new keys descend from the PPK's SK_d
		mobike: sa.mobike.carry(), peerRedirect: sa.peerRedirect, origInitiator: sa.origInitiator,
	}
	n.log = n.saLogger()
	out, in, err := keys.Protectors(initiator, m.rand)
	if err != nil {
		keys.Wipe()
		return nil, fmt.Errorf("rekey IKE SA: %w", err)
	}
	n.keys, n.out, n.in = keys, out, in
	n.setIKELifetimes(now)
	m.register(n)
	return n, nil
}

// handOver moves everything the IKE SA carries to its successor n; sa then
// only waits to be deleted and goes without an IKEDown event.
func (sa *IKESA) handOver(n *IKESA) {
	if sa.superseded != nil {
		return
	}
	for _, c := range sa.children {
		c.IKE = n
	}
	n.children = append(n.children, sa.children...)
	n.pendingChildren = append(n.pendingChildren, sa.pendingChildren...)
	sa.children, sa.pendingChildren = nil, nil
	if n.cp == nil { // the virtual IPs belong to the IKE SA that goes on
		n.cp, sa.cp = sa.cp, nil
	}
	sa.superseded = n
	n.quietExpireAt = time.Time{}
	n.redundant = false
	// The old SA stays for the DELETE exchange and for retransmits of the
	// rekey request, at most HalfOpenTimeout from now.
	sa.created = sa.m.clock.Now()
	sa.log.Info("IKE SA rekeyed", "new", n.UniqueID, "spi_i", fmt.Sprintf("%016x", n.SPIi), "spi_r", fmt.Sprintf("%016x", n.SPIr),
		"children", len(n.children))
	sa.m.emit(Event{Kind: EventIKERekeyed, IKE: n, Old: sa, Reason: fmt.Sprintf("replaces IKE SA %d", sa.UniqueID)})
}

// handleIKERekeyRequest answers the peer's CREATE_CHILD_SA that rekeys the
// IKE SA.
func (sa *IKESA) handleIKERekeyRequest(id uint32, payloads []wire.Payload) {
	refuse := func(n wire.NotifyType, data []byte) {
		sa.respond(wire.CREATE_CHILD_SA, id, []wire.Payload{&wire.Notify{NotifyType: n, Data: data}})
	}
	if sa.superseded != nil || sa.redundant || sa.reauthing != nil {
		refuse(wire.TEMPORARY_FAILURE, nil)
		return
	}
	if sa.childExchangeBusy() || (sa.pending != nil && sa.ikeRekey == nil) || len(sa.queue) > 0 {
		// Requests of ours in flight or queued belong to this IKE SA; the
		// peer retries once they are done (RFC 7296 2.25.2).
		sa.log.Info("TEMPORARY_FAILURE: peer asks to rekey the IKE SA while an exchange of ours is in flight")
		refuse(wire.TEMPORARY_FAILURE, nil)
		return
	}
	saP := payloadOf[*wire.SA](payloads)
	ni := payloadOf[*wire.Nonce](payloads)
	ke := payloadOf[*wire.KE](payloads)
	if saP == nil || ni == nil || ke == nil {
		refuse(wire.INVALID_SYNTAX, nil)
		return
	}
	theirs := proposal.FromSA(saP)
	chosen, err := proposal.SelectPreferKE(sa.cfg.Proposals, theirs, ke.Method)
	if err != nil {
		sa.log.Warn(fmt.Sprintf("NO_PROPOSAL_CHOSEN: peer offered %s to rekey the IKE SA, we accept %s", proposal.Format(theirs), proposal.Format(sa.cfg.Proposals)))
		refuse(wire.NO_PROPOSAL_CHOSEN, nil)
		return
	}
	if len(chosen.SPI) != 8 {
		refuse(wire.INVALID_SYNTAX, nil)
		return
	}
	neg := transformsOf(chosen)
	if err := checkNonce(ni.Data, neg.prf); err != nil {
		sa.log.Info("INVALID_SYNTAX: IKE SA rekey request: " + err.Error())
		refuse(wire.INVALID_SYNTAX, nil)
		return
	}
	if uint16(ke.Method) != neg.group {
		var d [2]byte
		binary.BigEndian.PutUint16(d[:], neg.group)
		sa.log.Info("INVALID_KE_PAYLOAD for IKE SA rekey", "got", ke.Method, "want", wire.KEMethod(neg.group))
		refuse(wire.INVALID_KE_PAYLOAD, d[:])
		return
	}
	if len(chosen.AdditionalKEs()) > 0 {
		sa.respondIKERekeyFollowup(id, chosen, neg, ni.Data, ke, refuse)
		return
	}
	spi, nr, pub, secret, fail := sa.rekeyResponderKeys(neg, ke)
	if fail != 0 {
		refuse(fail, nil)
		return
	}
	peerNi := clone(ni.Data)
	n, err := sa.newRekeyedSA(false, binary.BigEndian.Uint64(chosen.SPI), spi, peerNi, nr, neg, secret)
	if err != nil {
		sa.log.Error("rekeying the IKE SA failed", "err", err)
		refuse(wire.NO_PROPOSAL_CHOSEN, nil)
		return
	}
	sa.respond(wire.CREATE_CHILD_SA, id, []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{chosen.Wire(ikeSPIBytes(spi))}},
		&wire.Nonce{Data: nr},
		&wire.KE{Method: ke.Method, Data: pub},
	})
	if r := sa.ikeRekey; r != nil {
		sa.log.Info("simultaneous IKE SA rekey: answering the peer's while ours is in flight", "new", n.UniqueID)
		r.peerNew, r.peerNi, r.peerNr = n, peerNi, nr
		n.quietExpireAt = sa.m.clock.Now().Add(rekeyCollisionWait)
		return
	}
	sa.handOver(n)
	sa.state = stateDeleting
}

// retired is destroy's question whether the IKE SA leaves without an
// event: it was replaced by a rekey or reauthentication, or was the
// redundant result of a simultaneous rekey.
func (sa *IKESA) retired(reason string) bool {
	if old := sa.reauthOf; old != nil && old.reauthing == sa {
		old.reauthing = nil
		old.ikeRetryAt, old.ikeRetryReauth = sa.m.clock.Now().Add(sa.m.rekeyDelay()), true
		old.log.Warn("reauthentication failed; the old IKE SA stays", "reason", reason)
	}
	if sa.superseded != nil || sa.redundant || !sa.quietExpireAt.IsZero() {
		sa.log.Info("replaced IKE SA removed", "reason", reason)
		return true
	}
	return false
}

// reauthenticate builds a new IKE SA with IKE_SA_INIT and IKE_AUTH and the
// same Child SAs, make before break: the new Child SAs take over the old
// ones' routes, then the old IKE SA is deleted (RFC 7296 2.8.3).
func (sa *IKESA) reauthenticate() error {
	remote := sa.cfg.Remote
	if !remote.IsValid() {
		remote = netip.AddrPortFrom(sa.Remote.Addr(), 500)
	}
	return sa.reauthenticateAt(remote, netip.Addr{})
}

// reauthenticateAt is reauthenticate towards remote, where gateway from
// (when valid) redirected us (RFC 5685).
func (sa *IKESA) reauthenticateAt(remote netip.AddrPort, from netip.Addr) error {
	if sa.state != stateEstablished || sa.superseded != nil || sa.reauthing != nil || sa.ikeRekey != nil {
		return nil
	}
	m := sa.m
	var ccs []*ChildConfig
	for _, c := range sa.children {
		if c.state == childInstalled && c.supersededBy == nil && c.Config != nil {
			ccs = append(ccs, c.Config)
		}
	}
	spi, err := m.newSPI()
	if err != nil {
		return err
	}
	local, err := m.transport.Source(remote)
	if err != nil {
		return fmt.Errorf("reauthenticate %s: no route to %s: %w", sa.cfg.Name, remote, err)
	}
	m.nextIKEUnique++
	n := &IKESA{
		m: m, cfg: sa.cfg, UniqueID: m.nextIKEUnique, Initiator: true, SPIi: spi,
		state: stateInitSent, Local: local, Remote: remote, created: m.clock.Now(), reauthOf: sa,
		redirectedFrom: from, origInitiator: true,
	}
	if len(ccs) > 0 {
		n.firstChild, n.pendingChildren = ccs[0], ccs[1:]
	}
	n.log = n.saLogger()
	m.register(n)
	sa.reauthing = n
	sa.log.Info("reauthenticating IKE SA", "new", n.UniqueID, "children", len(ccs))
	if err := n.sendInit(firstGroup(sa.cfg.Proposals)); err != nil {
		n.destroy(err.Error())
		return err
	}
	return nil
}

// checkReauthDone deletes the IKE SA that sa reauthenticates once sa is up
// and every Child SA it was to build has been tried; the replaced Child SAs
// linger under sa.
func (sa *IKESA) checkReauthDone() {
	old := sa.reauthOf
	if old == nil || sa.state != stateEstablished || sa.pending != nil || len(sa.queue) > 0 || len(sa.pendingChildren) > 0 {
		return
	}
	sa.reauthOf = nil
	old.reauthing = nil
	if old.state != stateEstablished {
		return
	}
	var keep []*ChildSA
	for _, c := range old.children {
		if c.supersededBy != nil {
			c.IKE = sa
			sa.children = append(sa.children, c)
			sa.linger(c)
		} else {
			keep = append(keep, c)
		}
	}
	old.children = keep
	old.superseded = sa
	old.log.Info("IKE SA reauthenticated; deleting the old one", "new", sa.UniqueID, "moved", len(sa.children), "lost", len(keep))
	old.deleteIKE("reauthenticated")
}

// sameTS compares two selector lists.
func sameTS(a, b []spd.Endpoint) bool {
	return slices.Equal(a, b)
}

// rekeyResponderKeys makes what a responder contributes to a new IKE SA in
// a rekey: its SPI, its nonce, and its half of the first key exchange with
// the shared secret. On failure it returns the notification to refuse with.
func (sa *IKESA) rekeyResponderKeys(neg negotiated, ke *wire.KE) (spi uint64, nr, pub, secret []byte, fail wire.NotifyType) {
	spi, err := sa.m.newSPI()
	if err != nil {
		return 0, nil, nil, nil, wire.TEMPORARY_FAILURE
	}
	if nr, err = sa.m.nonce(); err != nil {
		return 0, nil, nil, nil, wire.TEMPORARY_FAILURE
	}
	if pub, secret, err = ikecrypto.Encapsulate(neg.group, ke.Data, sa.m.rand); err != nil {
		return 0, nil, nil, nil, wire.INVALID_SYNTAX
	}
	return spi, nr, pub, secret, 0
}
