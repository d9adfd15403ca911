package ike

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"net/netip"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// initiate creates an IKE SA as initiator and sends IKE_SA_INIT.
func (m *Manager) initiate(cfg *PeerConfig, child *ChildConfig) error {
	_, err := m.initiateTo(cfg, cfg.Remote, child)
	return err
}

// initiateTo is initiate towards remote, which a responder that restarts a
// connection without remote_addrs takes from the old IKE SA.
func (m *Manager) initiateTo(cfg *PeerConfig, remote netip.AddrPort, child *ChildConfig) (*IKESA, error) {
	return m.initiateFrom(cfg, remote, child, netip.Addr{})
}

// initiateFrom is initiateTo after a redirect from gateway from (RFC 5685),
// which IKE_SA_INIT names in REDIRECTED_FROM; from is invalid otherwise.
func (m *Manager) initiateFrom(cfg *PeerConfig, remote netip.AddrPort, child *ChildConfig, from netip.Addr) (*IKESA, error) {
	if !remote.IsValid() {
		return nil, fmt.Errorf("initiate %s: no remote address configured (remote_addrs)", cfg.Name)
	}
	spi, err := m.newSPI()
	if err != nil {
		return nil, err
	}
	local, err := m.transport.Source(remote)
	if err != nil {
		return nil, fmt.Errorf("initiate %s: no route to %s: %w", cfg.Name, remote, err)
	}
	m.nextIKEUnique++
	sa := &IKESA{
		m: m, cfg: cfg, UniqueID: m.nextIKEUnique, Initiator: true, SPIi: spi,
		state: stateInitSent, Local: local, Remote: remote, firstChild: child,
		created: m.clock.Now(), redirectedFrom: from, origInitiator: true,
	}
	sa.log = sa.saLogger()
	m.register(sa)
	if err := sa.sendInit(firstGroup(cfg.Proposals)); err != nil {
		sa.destroy(err.Error())
		return nil, err
	}
	sa.log.Info("initiating IKE SA", "remote", sa.Remote, "local", sa.Local)
	return sa, nil
}

// sendInit (re)builds and sends the IKE_SA_INIT request with a key exchange
// for group; it is called again after INVALID_KE_PAYLOAD or COOKIE.
func (sa *IKESA) sendInit(group uint16) error {
	m := sa.m
	if sa.hsState().kex == nil || sa.hsState().kex.Method() != group {
		kex, err := ikecrypto.NewKeyExchange(group, m.rand)
		if err != nil {
			return fmt.Errorf("key exchange %v: %w", wire.KEMethod(group), err)
		}
		sa.hsState().kex = kex
	}
	if sa.ni == nil {
		ni, err := m.nonce()
		if err != nil {
			return err
		}
		sa.ni = ni
	}
	sa.Group = group
	sa.SPIr = 0
	var payloads []wire.Payload
	if sa.hsState().cookie != nil {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.COOKIE, Data: sa.hsState().cookie})
	}
	payloads = append(payloads,
		proposal.ToWire(sa.cfg.Proposals, nil),
		&wire.KE{Method: wire.KEMethod(group), Data: sa.hsState().kex.PublicValue()},
		&wire.Nonce{Data: sa.ni},
	)
	natd, err := sa.natdPayloads(sa.cfg.Encap)
	if err != nil {
		return err
	}
	payloads = append(payloads, natd...)
	if announceFragmentation(sa.cfg) {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.IKEV2_FRAGMENTATION_SUPPORTED})
	}
	payloads = append(payloads, signatureHashesNotify())
	if offerPPK(sa.cfg) {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.USE_PPK})
	}
	if offersAdditionalKE(sa.cfg.Proposals) {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.INTERMEDIATE_EXCHANGE_SUPPORTED})
	}
	payloads = append(payloads, sa.redirectNotifies()...)
	msg := &wire.Message{Header: sa.header(wire.IKE_SA_INIT, 0, false), Payloads: payloads}
	pkt, err := msg.Marshal()
	if err != nil {
		return err
	}
	sa.hsState().initReq = pkt
	sa.nextRequestID = 1
	sa.transmit(&request{id: 0, exchange: wire.IKE_SA_INIT, packet: pkt, onReply: sa.handleInitResponse, onFail: sa.initFailed})
	return nil
}

func (sa *IKESA) initFailed(reason string) {
	sa.m.emit(Event{Kind: EventIKEFailed, IKE: sa, Reason: reason})
}

// fail logs why an exchange failed and removes the SA.
func (sa *IKESA) fail(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	sa.log.Warn("IKE SA failed: " + err.Error())
	sa.destroy(err.Error())
	return err
}

func (sa *IKESA) handleInitResponse(msg *wire.Message, payloads []wire.Payload) error {
	if n := findNotify(payloads, wire.REDIRECT); n != nil {
		return sa.followInitRedirect(n)
	}
	if n := findNotify(payloads, wire.COOKIE); n != nil {
		if sa.hsState().cookie != nil {
			return sa.fail("peer %s keeps asking for a cookie", sa.Remote)
		}
		sa.hsState().cookie = append([]byte(nil), n.Data...)
		sa.log.Info("peer demands a cookie, retrying IKE_SA_INIT")
		return sa.sendInit(sa.Group)
	}
	if n := findNotify(payloads, wire.INVALID_KE_PAYLOAD); n != nil {
		if len(n.Data) != 2 {
			return sa.fail("INVALID_KE_PAYLOAD without a group from %s", sa.Remote)
		}
		g := binary.BigEndian.Uint16(n.Data)
		sa.initKEGroupsTried++
		if !offersGroup(sa.cfg.Proposals, g) || sa.initKEGroupsTried > 2 {
			return sa.fail("INVALID_KE_PAYLOAD: peer wants %v, which we do not offer", wire.KEMethod(g))
		}
		sa.log.Info("peer asks for another key exchange method, retrying", "group", wire.KEMethod(g))
		sa.hsState().kex = nil
		return sa.sendInit(g)
	}
	if n := firstError(payloads); n != nil {
		return sa.fail("%v: peer %s refused IKE_SA_INIT; we offered %s", n.NotifyType, sa.Remote, proposal.Format(sa.cfg.Proposals))
	}
	saP := payloadOf[*wire.SA](payloads)
	ke := payloadOf[*wire.KE](payloads)
	nr := payloadOf[*wire.Nonce](payloads)
	if saP == nil || ke == nil || nr == nil || len(saP.Proposals) != 1 {
		return sa.fail("IKE_SA_INIT response lacks SA, KE or Nonce")
	}
	chosen := proposal.FromWire(saP.Proposals[0])
	if !acceptable(sa.cfg.Proposals, chosen) {
		return sa.fail("NO_PROPOSAL_CHOSEN: peer chose %s, which we did not offer", chosen.String())
	}
	sa.ikeProposal = chosen
	neg := transformsOf(chosen)
	if err := checkNonce(nr.Data, neg.prf); err != nil {
		return sa.fail("IKE_SA_INIT response from %s: %v", sa.Remote, err)
	}
	if uint16(ke.Method) != neg.group || neg.group != sa.hsState().kex.Method() {
		return sa.fail("peer answered with key exchange %v, the proposal says %v", ke.Method, wire.KEMethod(neg.group))
	}
	secret, err := sa.hsState().kex.SharedSecret(ke.Data)
	sa.hsState().kex = nil // the private value has served its purpose
	if err != nil {
		return sa.fail("key exchange with %s: %v", sa.Remote, err)
	}
	sa.SPIr = binary.BigEndian.Uint64(msg.SPIr[:])
	sa.nr = append([]byte(nil), nr.Data...)
	sa.hsState().initResp = append([]byte(nil), msg.Raw()...)
	if err := sa.deriveKeys(neg, secret); err != nil {
		return sa.fail("deriving IKE SA keys: %v", err)
	}
	natLocal, natRemote, present := detectNAT(payloads, sa.SPIi, sa.SPIr, sa.Local, sa.Remote)
	sa.NATLocal, sa.NATRemote = natLocal, natRemote
	if present && (natLocal || natRemote || sa.cfg.Encap) {
		if sa.cfg.Encap && !natLocal && !natRemote {
			sa.NATLocal = true // we faked it; ESP goes in UDP all the same
		}
		sa.floatToNATPort()
	}
	sa.fragmentationSupport = announceFragmentation(sa.cfg) && findNotify(payloads, wire.IKEV2_FRAGMENTATION_SUPPORTED) != nil
	sa.signatureHashes = parseSignatureHashes(payloads)
	sa.peerCertReq = payloadOf[*wire.CertificateRequest](payloads) != nil
	sa.peerMultipleAuth = findNotify(payloads, wire.MULTIPLE_AUTH_SUPPORTED) != nil
	sa.peerPPK = offerPPK(sa.cfg) && findNotify(payloads, wire.USE_PPK) != nil
	sa.log.Debug("IKE_SA_INIT done", "suite", chosen.String(), "nat_local", sa.NATLocal, "nat_remote", sa.NATRemote)
	if in := newIntermediate(chosen); in != nil {
		if findNotify(payloads, wire.INTERMEDIATE_EXCHANGE_SUPPORTED) == nil {
			return sa.fail("peer %s chose additional key exchanges (%s) without INTERMEDIATE_EXCHANGE_SUPPORTED", sa.Remote, chosen.String())
		}
		sa.inter = in
		return sa.sendIntermediate()
	}
	return sa.sendAuth()
}

// deriveKeys runs the key schedule and builds the SK payload protectors.
func (sa *IKESA) deriveKeys(neg negotiated, secret []byte) error {
	defer clear(secret)
	sa.suite = neg.ikeSuite()
	sa.Group = neg.group
	keys, err := ikecrypto.DeriveIKESAKeys(sa.suite, secret, sa.ni, sa.nr, sa.SPIi, sa.SPIr)
	if err != nil {
		return err
	}
	out, in, err := keys.Protectors(sa.Initiator, sa.m.rand)
	if err != nil {
		keys.Wipe()
		return err
	}
	sa.keys, sa.out, sa.in = keys, out, in
	return nil
}

// matchConfigs returns the connections whose addresses fit an IKE_SA_INIT
// that arrived at local from remote.
func (m *Manager) matchConfigs(local, remote netip.Addr) []*PeerConfig {
	var out []*PeerConfig
	for _, c := range m.conns {
		if addrIn(c.LocalAddrs, local) && addrIn(c.RemoteAddrs, remote) {
			out = append(out, c)
		}
	}
	return out
}

func addrIn(list []netip.Prefix, a netip.Addr) bool {
	if len(list) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range list {
		if !p.IsValid() || (p.Bits() == 0 && p.Addr().Is4() == a.Is4()) || p.Contains(a) {
			return true
		}
	}
	return false
}

// respondInit answers an IKE_SA_INIT request that starts a new IKE SA.
func (m *Manager) respondInit(b []byte, local, remote netip.AddrPort) {
	msg, err := wire.ParseMessage(b)
	if err != nil {
		m.Stats.Malformed++
		m.log.Debug("dropping malformed IKE_SA_INIT", "remote", remote, "err", err)
		return
	}
	spiI := binary.BigEndian.Uint64(msg.SPIi[:])
	reply := func(n *wire.Notify) {
		h := msg.Header
		h.Flags = wire.FlagResponse
		h.SPIr = [8]byte{}
		out, err := (&wire.Message{Header: h, Payloads: []wire.Payload{n}}).Marshal()
		if err == nil {
			_ = m.transport.SendIKE(out, local, remote)
		}
	}
	if t, ok := msg.UnsupportedCritical(); ok {
		reply(&wire.Notify{NotifyType: wire.UNSUPPORTED_CRITICAL_PAYLOAD, Data: []byte{byte(t)}})
		return
	}
	saP := payloadOf[*wire.SA](msg.Payloads)
	ke := payloadOf[*wire.KE](msg.Payloads)
	ni := payloadOf[*wire.Nonce](msg.Payloads)
	if saP == nil || ke == nil || ni == nil {
		m.Stats.Malformed++
		m.log.Info("IKE_SA_INIT without SA, KE or Nonce", "remote", remote)
		reply(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
		return
	}
	candidates := m.matchConfigs(local.Addr(), remote.Addr())
	if len(candidates) == 0 {
		m.log.Warn("NO_PROPOSAL_CHOSEN: no connection accepts this peer address", "remote", remote, "local", local)
		reply(&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN})
		return
	}
	var cfg *PeerConfig
	var chosen proposal.Proposal
	var accepted []proposal.Proposal
	theirs := proposal.FromSA(saP)
	for _, c := range candidates {
		if p, err := proposal.SelectPreferKE(c.Proposals, theirs, ke.Method); err == nil {
			cfg, chosen = c, p
			break
		}
		accepted = append(accepted, c.Proposals...)
	}
	if cfg == nil {
		m.log.Warn(fmt.Sprintf("NO_PROPOSAL_CHOSEN: peer offered %s, we accept %s", proposal.Format(theirs), proposal.Format(accepted)), "remote", remote)
		reply(&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN})
		return
	}
	inter := newIntermediate(chosen)
	if inter != nil && findNotify(msg.Payloads, wire.INTERMEDIATE_EXCHANGE_SUPPORTED) == nil {
		m.log.Warn(fmt.Sprintf("NO_PROPOSAL_CHOSEN: peer offered additional key exchanges (%s) without INTERMEDIATE_EXCHANGE_SUPPORTED", chosen.String()), "remote", remote)
		reply(&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN})
		return
	}
	neg := transformsOf(chosen)
	if err := checkNonce(ni.Data, neg.prf); err != nil {
		m.Stats.Malformed++
		m.log.Info("INVALID_SYNTAX: IKE_SA_INIT "+err.Error(), "remote", remote)
		reply(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
		return
	}
	if n, ok := m.initRedirect(cfg, msg.Payloads, ni.Data, remote); ok {
		reply(n)
		return
	}
	if uint16(ke.Method) != neg.group {
		m.log.Info("INVALID_KE_PAYLOAD: asking peer for another key exchange method", "remote", remote, "got", ke.Method, "want", wire.KEMethod(neg.group))
		var g [2]byte
		binary.BigEndian.PutUint16(g[:], neg.group)
		reply(&wire.Notify{NotifyType: wire.INVALID_KE_PAYLOAD, Data: g[:]})
		return
	}
	spi, err := m.newSPI()
	if err != nil {
		m.log.Error("cannot allocate an IKE SPI", "err", err)
		return
	}
	m.nextIKEUnique++
	sa := &IKESA{
		m: m, cfg: cfg, UniqueID: m.nextIKEUnique, SPIi: spiI, SPIr: spi,
		state: stateInitDone, Local: local, Remote: remote, created: m.clock.Now(),
		expectRequestID: 0, ikeProposal: chosen, inter: inter,
		peerRedirect: findNotify(msg.Payloads, wire.REDIRECT_SUPPORTED) != nil,
	}
	sa.log = sa.saLogger()
	pub, secret, err := ikecrypto.Encapsulate(neg.group, ke.Data, m.rand)
	if err != nil {
		m.log.Warn("key exchange with peer failed", "remote", remote, "err", err)
		reply(&wire.Notify{NotifyType: wire.INVALID_SYNTAX})
		return
	}
	sa.ni = append([]byte(nil), ni.Data...)
	if sa.nr, err = m.nonce(); err != nil {
		return
	}
	if err := sa.deriveKeys(neg, secret); err != nil {
		m.log.Error("deriving IKE SA keys failed", "err", err)
		return
	}
	natLocal, natRemote, present := detectNAT(msg.Payloads, spiI, 0, local, remote)
	sa.NATLocal, sa.NATRemote = natLocal, natRemote
	if present && cfg.Encap && !natLocal && !natRemote {
		sa.NATLocal = true
	}
	sa.fragmentationSupport = announceFragmentation(cfg) && findNotify(msg.Payloads, wire.IKEV2_FRAGMENTATION_SUPPORTED) != nil
	sa.signatureHashes = parseSignatureHashes(msg.Payloads)
	sa.hsState().initReq = append([]byte(nil), b...)
	payloads := []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{chosen.Wire(nil)}},
		&wire.KE{Method: ke.Method, Data: pub},
		&wire.Nonce{Data: sa.nr},
	}
	if present {
		natd, err := sa.natdPayloads(cfg.Encap)
		if err != nil {
			return
		}
		payloads = append(payloads, natd...)
	}
	if sa.fragmentationSupport {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.IKEV2_FRAGMENTATION_SUPPORTED})
	}
	payloads = append(payloads, signatureHashesNotify())
	if sa.peerPPK = m.answerPPK(msg.Payloads); sa.peerPPK {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.USE_PPK})
	}
	if inter != nil {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.INTERMEDIATE_EXCHANGE_SUPPORTED})
	}
	if m.multipleAuthRounds() {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.MULTIPLE_AUTH_SUPPORTED})
	}
	// The connection is not decided before IKE_AUTH: name every CA we trust.
	if req := sa.certReqPayload(cfg, ""); req != nil {
		payloads = append(payloads, req)
	}
	out, err := (&wire.Message{Header: sa.header(wire.IKE_SA_INIT, 0, true), Payloads: payloads}).Marshal()
	if err != nil {
		m.log.Error("building IKE_SA_INIT response failed", "err", err)
		return
	}
	sa.hsState().initResp = out
	sa.requestDigest = sha256.Sum256(b)
	sa.cacheResponse(0, out)
	m.register(sa)
	m.addHalfOpen(initKey{spiI, remote}, sa)
	sa.log.Info("answering IKE_SA_INIT", "remote", remote, "suite", chosen.String())
	if n := findNotify(msg.Payloads, wire.REDIRECTED_FROM); n != nil {
		if from, _, err := parseRedirect(n.Data); err == nil {
			sa.log.Info("the client comes redirected (REDIRECTED_FROM)", "from", from)
		}
	}
	sa.send(out)
}
