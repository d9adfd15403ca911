package ike

import (
	"encoding/binary"
	"errors"
	"fmt"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// PubkeyCredentials is what certificate authentication asks; the daemon
// answers with the auth package. Private keys stay behind it. Every question
// names the connection (PeerConfig.Name) it is asked for, since trust and
// signature constraints are per connection, as in strongSwan: the
// connection's remote cacerts, certs and ca_id scope which chains it
// accepts, its remote auth constraints which signatures, and its local auth
// constraints how we sign.
type PubkeyCredentials interface {
	// LocalCertificates returns our chain for an identity, DER, end entity first.
	LocalCertificates(conn string, local identity.ID) ([][]byte, error)
	// Sign signs the octets for an identity, with RFC 7427 when the peer
	// announced hash algorithms we can use.
	Sign(conn string, local identity.ID, signedOctets []byte, peerHashes []uint16) (wire.AuthMethod, []byte, error)
	// VerifyPeer validates the peer's chain against the CAs the connection
	// trusts, checks that it carries the identity, and verifies the AUTH
	// data against the connection's signature constraints.
	VerifyPeer(conn string, remote identity.ID, certs [][]byte, method wire.AuthMethod, auth, signedOctets []byte) error
	// CertReq is the CERTREQ payload data naming the CAs the connection
	// trusts; conn "" names every CA we trust.
	CertReq(conn string) []byte
}

// Hash algorithm identifiers of RFC 7427 that we accept in signatures.
var ourSignatureHashes = []uint16{2, 3, 4, 5} // SHA2-256, SHA2-384, SHA2-512, Identity

func signatureHashesNotify() *wire.Notify {
	var b []byte
	for _, h := range ourSignatureHashes {
		b = binary.BigEndian.AppendUint16(b, h)
	}
	return &wire.Notify{NotifyType: wire.SIGNATURE_HASH_ALGORITHMS, Data: b}
}

func parseSignatureHashes(payloads []wire.Payload) []uint16 {
	n := findNotify(payloads, wire.SIGNATURE_HASH_ALGORITHMS)
	if n == nil {
		return nil
	}
	var out []uint16
	for i := 0; i+1 < len(n.Data); i += 2 {
		out = append(out, binary.BigEndian.Uint16(n.Data[i:]))
	}
	return out
}

// localIdentity is the configured local ID, or the IKE address without one.
func (sa *IKESA) localIdentity() identity.ID {
	if sa.cfg.LocalID.IsAny() {
		return identity.FromAddr(sa.Local.Addr())
	}
	return sa.cfg.LocalID
}

// sendCert applies send_cert: our certificate goes when the peer asked for
// one with CERTREQ, unless the policy says always or never.
func (sa *IKESA) sendCert() bool {
	switch sa.cfg.SendCert {
	case SendCertAlways:
		return true
	case SendCertNever:
		return false
	}
	return sa.peerCertReq
}

// certReqPayload names the CAs we trust, when we authenticate peers with
// certificates and have CAs to name.
func (sa *IKESA) certReqPayload(cfg *PeerConfig, conn string) *wire.CertificateRequest {
	if cfg.RemoteAuth != AuthPubkey || !cfg.SendCertReq {
		return nil
	}
	pk, ok := sa.m.creds.(PubkeyCredentials)
	if !ok {
		return nil
	}
	req := pk.CertReq(conn)
	if len(req) == 0 {
		return nil
	}
	return &wire.CertificateRequest{Encoding: wire.CertX509Signature, Data: req}
}

// authData computes our AUTH payload over the signed octets (RFC 7296 2.15)
// with keys, the IKE SA's or those derived with a PPK.
func (sa *IKESA) authData(keys *ikecrypto.IKESAKeys, id *wire.ID) (*wire.Auth, error) {
	realMessage, peerNonce := sa.hsState().initResp, sa.ni
	if sa.Initiator {
		realMessage, peerNonce = sa.hsState().initReq, sa.nr
	}
	octets, err := sa.signedOctets(keys, sa.Initiator, realMessage, peerNonce, id.Body())
	if err != nil {
		return nil, err
	}
	switch sa.cfg.LocalAuth {
	case AuthPSK:
		psk, ok := sa.m.creds.SharedKey(sa.LocalID, sa.remoteIDForSecret())
		if !ok {
			return nil, fmt.Errorf("no PSK for %s - %s in secrets", sa.LocalID, sa.remoteIDForSecret())
		}
		return &wire.Auth{Method: wire.AuthSharedKey, Data: ikecrypto.SharedKeyAuth(keys.PRF(), psk, octets)}, nil
	case AuthPubkey:
		pk, ok := sa.m.creds.(PubkeyCredentials)
		if !ok {
			return nil, errors.New("certificate authentication is not available")
		}
		method, data, err := pk.Sign(sa.cfg.Name, sa.LocalID, octets, sa.signatureHashes)
		if err != nil {
			return nil, err
		}
		return &wire.Auth{Method: method, Data: data}, nil
	}
	return nil, fmt.Errorf("local authentication method %v not supported", sa.cfg.LocalAuth)
}

func (sa *IKESA) remoteIDForSecret() identity.ID {
	if !sa.RemoteID.IsAny() {
		return sa.RemoteID
	}
	return sa.cfg.RemoteID
}

// verifyPeerAuth checks the peer's AUTH payload against its identity, with
// keys, the IKE SA's or those derived with a PPK.
func (sa *IKESA) verifyPeerAuth(keys *ikecrypto.IKESAKeys, cfg *PeerConfig, id *wire.ID, auth *wire.Auth, certs [][]byte) error {
	realMessage, peerNonce := sa.hsState().initReq, sa.nr
	if sa.Initiator {
		realMessage, peerNonce = sa.hsState().initResp, sa.ni
	}
	octets, err := sa.signedOctets(keys, !sa.Initiator, realMessage, peerNonce, id.Body())
	if err != nil {
		return err
	}
	switch cfg.RemoteAuth {
	case AuthPSK:
		if auth.Method != wire.AuthSharedKey {
			return fmt.Errorf("peer authenticated with %v, we expect a PSK", auth.Method)
		}
		psk, ok := sa.m.creds.SharedKey(sa.LocalID, sa.RemoteID)
		if !ok {
			return fmt.Errorf("no PSK for %s - %s in secrets", sa.LocalID, sa.RemoteID)
		}
		if err := ikecrypto.VerifySharedKeyAuth(keys.PRF(), psk, octets, auth.Data); err != nil {
			return fmt.Errorf("PSK of %s does not match ours (%w)", sa.RemoteID, err)
		}
		return nil
	case AuthPubkey:
		if auth.Method == wire.AuthSharedKey {
			return fmt.Errorf("peer authenticated with a PSK, we expect a certificate")
		}
		pk, ok := sa.m.creds.(PubkeyCredentials)
		if !ok {
			return errors.New("certificate authentication is not available")
		}
		return pk.VerifyPeer(cfg.Name, sa.RemoteID, certs, auth.Method, auth.Data, octets)
	}
	return fmt.Errorf("remote authentication method %v not supported", cfg.RemoteAuth)
}

// sendAuth sends the initiator's IKE_AUTH request, with the first Child SA.
func (sa *IKESA) sendAuth() error {
	sa.state = stateAuthSent
	sa.LocalID = sa.localIdentity()
	idi := sa.LocalID.Payload(false)
	payloads := []wire.Payload{idi}
	pk, _ := sa.m.creds.(PubkeyCredentials)
	if sa.cfg.LocalAuth == AuthPubkey && pk != nil && sa.sendCert() {
		certs, err := pk.LocalCertificates(sa.cfg.Name, sa.LocalID)
		if err != nil {
			return sa.fail("no certificate for %s: %v", sa.LocalID, err)
		}
		for _, c := range certs {
			payloads = append(payloads, &wire.Certificate{Encoding: wire.CertX509Signature, Data: c})
		}
	}
	if req := sa.certReqPayload(sa.cfg, sa.cfg.Name); req != nil {
		payloads = append(payloads, req)
	}
	// As strongSwan, IDr names the responder only when we know exactly who
	// it is; a pattern ("*.example.com", "CN=*") is checked on its answer.
	if !sa.cfg.RemoteID.HasWildcards() {
		payloads = append(payloads, sa.cfg.RemoteID.Payload(true))
	}
	if sa.cfg.LocalAuth != AuthEAP { // with EAP, AUTH comes after EAP (eap.go)
		if err := sa.startPPK(); err != nil {
			return sa.fail("%v", err)
		}
		keys := sa.keys
		if sa.ppk != nil {
			keys = sa.ppk.keys
		}
		auth, err := sa.authData(keys, idi)
		if err != nil {
			return sa.fail("computing AUTH: %v", err)
		}
		payloads = append(payloads, auth)
		ppk, err := sa.ppkNotifies(idi)
		if err != nil {
			return sa.fail("%v", err)
		}
		payloads = append(payloads, ppk...)
	}
	if sa.sendInitialContact() {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.INITIAL_CONTACT})
	}
	if req := sa.cfgRequest(); req != nil {
		payloads = append(payloads, req)
	}
	notifies, err := sa.authNotifies()
	if err != nil {
		return sa.fail("%v", err)
	}
	payloads = append(payloads, notifies...)
	payloads = append(payloads, sa.mobikeAuthPayloads()...)
	var child *ChildSA
	if cc := sa.firstChild; cc != nil {
		c, err := sa.newChild(cc)
		if err != nil {
			return sa.fail("%v", err)
		}
		child = c
		if cc.Mode == ipsec.ModeTransport {
			payloads = append(payloads, &wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE})
		}
		payloads = append(payloads,
			childProposals(cc, c.SPIIn, false),
			toWire(sa.localTS(cc.LocalTS), false),
			toWire(sa.remoteTS(cc.RemoteTS), true),
		)
	}
	if sa.cfg.LocalAuth == AuthEAP {
		if err := sa.startEAPClient(idi, child); err != nil {
			if child != nil {
				sa.releaseChild(child)
			}
			return sa.fail("%v", err)
		}
	}
	return sa.sendRequest(wire.IKE_AUTH, payloads, func(msg *wire.Message, payloads []wire.Payload) error {
		if sa.eap != nil {
			return sa.handleEAPAuthResponse(payloads)
		}
		return sa.handleAuthResponse(child, payloads)
	}, func(string) {
		if child != nil {
			sa.releaseChild(child)
		}
	})
}

func (sa *IKESA) handleAuthResponse(child *ChildSA, payloads []wire.Payload) error {
	if n := findNotify(payloads, wire.AUTHENTICATION_FAILED); n != nil {
		if child != nil {
			sa.releaseChild(child)
		}
		return sa.fail("AUTHENTICATION_FAILED: peer %s rejected our authentication as %s", sa.Remote, sa.LocalID)
	}
	idr := idPayload(payloads, true)
	auth := payloadOf[*wire.Auth](payloads)
	if idr == nil || auth == nil {
		if child != nil {
			sa.releaseChild(child)
		}
		if n := firstError(payloads); n != nil {
			return sa.fail("%v: peer %s refused IKE_AUTH", n.NotifyType, sa.Remote)
		}
		return sa.fail("IKE_AUTH response without IDr or AUTH")
	}
	peer := identity.FromPayload(idr)
	if !sa.cfg.RemoteID.Matches(peer) {
		if child != nil {
			sa.releaseChild(child)
		}
		sa.tellAuthFailed()
		return sa.fail("AUTHENTICATION_FAILED: peer identity %s does not match the configured %s", peer, sa.cfg.RemoteID)
	}
	sa.RemoteID = peer
	keys, err := sa.ppkResponseKeys(payloads)
	if err != nil {
		if child != nil {
			sa.releaseChild(child)
		}
		sa.tellAuthFailed()
		return sa.fail("AUTHENTICATION_FAILED: %v", err)
	}
	if err := sa.verifyPeerAuth(keys, sa.cfg, idr, auth, certsOf(payloads)); err != nil {
		if child != nil {
			sa.releaseChild(child)
		}
		sa.tellAuthFailed()
		return sa.fail("AUTHENTICATION_FAILED: %v", err)
	}
	sa.usePPK()
	if n := findNotify(payloads, wire.REDIRECT); n != nil {
		return sa.followAuthRedirect(child, n)
	}
	if sa.cfg.LocalRound2 != nil {
		// The CFG_REPLY comes with the gateway's last response.
		return sa.startSecondRound(child, idr)
	}
	return sa.finishAuthAsClient(child, payloads)
}

// finishAuthAsClient completes IKE_AUTH on the initiator once the
// gateway's last response authenticated it: the virtual IPs of its
// CFG_REPLY, the IKE SA up, and the first Child SA from the same response.
func (sa *IKESA) finishAuthAsClient(child *ChildSA, payloads []wire.Payload) error {
	defer sa.forgetHandshake()
	if err := sa.acceptCFGReply(payloads); err != nil {
		if child != nil {
			sa.releaseChild(child)
		}
		sa.tellDeleted()
		return sa.fail("%v", err)
	}
	sa.established()
	if child == nil {
		return nil
	}
	if n := firstError(payloads); n != nil {
		sa.releaseChild(child)
		sa.log.Warn(fmt.Sprintf("%v: peer refused Child SA %s", n.NotifyType, child.Name))
		sa.m.emit(Event{Kind: EventIKEFailed, IKE: sa, Reason: fmt.Sprintf("Child SA %s: %v", child.Name, n.NotifyType)})
		return nil
	}
	return sa.acceptChildResponse(child, payloads, sa.ni, sa.nr)
}

// tellAuthFailed tells a responder that we, the initiator, refused its
// authentication, in a separate INFORMATIONAL request (RFC 7296 2.21.2).
// The responder considers its IKE SA (and the first Child SA) established
// once it has answered IKE_AUTH; without this it would keep them until
// liveness checks fail. The request is sent once and not awaited: this side
// forgets the SA right away.
func (sa *IKESA) tellAuthFailed() {
	pkt, err := sa.seal(sa.header(wire.INFORMATIONAL, sa.nextRequestID, false),
		[]wire.Payload{&wire.Notify{NotifyType: wire.AUTHENTICATION_FAILED}})
	if err != nil {
		sa.log.Warn("building the AUTHENTICATION_FAILED notification failed", "err", err)
		return
	}
	sa.nextRequestID++
	sa.send(pkt)
}

// acceptChildResponse checks and installs the Child SA a responder agreed to.
func (sa *IKESA) acceptChildResponse(child *ChildSA, payloads []wire.Payload, ni, nr []byte, secrets ...[]byte) error {
	cc := child.Config
	saP := payloadOf[*wire.SA](payloads)
	if saP == nil || len(saP.Proposals) != 1 {
		sa.releaseChild(child)
		return fmt.Errorf("child %s: response without a chosen proposal", cc.Name)
	}
	chosen := proposal.FromWire(saP.Proposals[0])
	ours := cc.Proposals
	if len(secrets) == 0 {
		ours = withoutKE(ours)
	}
	if !acceptable(ours, chosen) {
		sa.releaseChild(child)
		return fmt.Errorf("child %s: peer chose %s, which we did not offer", cc.Name, chosen.String())
	}
	localTS := fromWire(tsPayload(payloads, false))
	remoteTS := fromWire(tsPayload(payloads, true))
	if len(localTS) == 0 || len(remoteTS) == 0 ||
		!subsetOf(localTS, sa.localTS(cc.LocalTS)) || !subsetOf(remoteTS, sa.remoteTS(cc.RemoteTS)) {
		sa.releaseChild(child)
		return fmt.Errorf("child %s: peer's traffic selectors %v === %v are not within ours", cc.Name, tsStrings(localTS), tsStrings(remoteTS))
	}
	child.Mode = ipsec.ModeTunnel
	if findNotify(payloads, wire.USE_TRANSPORT_MODE) != nil {
		child.Mode = ipsec.ModeTransport
	}
	if child.Mode != cc.Mode {
		sa.releaseChild(child)
		return fmt.Errorf("child %s: peer answered in %v mode, we asked for %v", cc.Name, child.Mode, cc.Mode)
	}
	if err := sa.completeChild(child, chosen, localTS, remoteTS, true, ni, nr, secrets...); err != nil {
		sa.releaseChild(child)
		return err
	}
	return nil
}

func certsOf(payloads []wire.Payload) [][]byte {
	var out [][]byte
	for _, p := range payloads {
		if c, ok := p.(*wire.Certificate); ok && c.Encoding == wire.CertX509Signature {
			out = append(out, c.Data)
		}
	}
	return out
}

// established marks the IKE SA up and starts what waited for it.
func (sa *IKESA) established() {
	sa.state = stateEstablished
	now := sa.m.clock.Now()
	sa.Established = now
	sa.setIKELifetimes(now)
	sa.m.removeHalfOpen(sa)
	sa.log.Info("IKE SA established", "local", sa.Local, "remote", sa.Remote, "local_id", sa.LocalID.String(), "remote_id", sa.RemoteID.String(),
		"nat_local", sa.NATLocal, "nat_remote", sa.NATRemote)
	sa.m.emit(Event{Kind: EventIKEUp, IKE: sa})
	pending := sa.pendingChildren
	sa.pendingChildren = nil
	for _, cc := range pending {
		if err := sa.createChild(cc); err != nil {
			sa.log.Warn("starting queued Child SA failed", "child", cc.Name, "err", err)
		}
	}
}

// rejectAuth refuses IKE_AUTH request id with notification n, says why in
// the log and destroys the IKE SA.
func (sa *IKESA) rejectAuth(id uint32, n wire.NotifyType, reason string) {
	sa.log.Warn(fmt.Sprintf("%v: %s", n, reason), "remote", sa.Remote)
	sa.respond(wire.IKE_AUTH, id, []wire.Payload{&wire.Notify{NotifyType: n}})
	sa.destroy(fmt.Sprintf("%v: %s", n, reason))
}

// handleAuthRequest is the responder's side of IKE_AUTH.
func (sa *IKESA) handleAuthRequest(msg *wire.Message, payloads []wire.Payload) {
	id := msg.MessageID
	reject := func(n wire.NotifyType, format string, args ...any) {
		sa.rejectAuth(id, n, fmt.Sprintf(format, args...))
	}
	if sa.state != stateInitDone {
		reject(wire.INVALID_SYNTAX, "IKE_AUTH in state %v", sa.state)
		return
	}
	if !sa.inter.finished() {
		reject(wire.INVALID_SYNTAX, "IKE_AUTH before the additional key exchanges (%d of them left)", len(sa.inter.methods))
		return
	}
	if sa.eap != nil {
		sa.handleEAPRequest(id, payloads, reject)
		return
	}
	idi := idPayload(payloads, false)
	auth := payloadOf[*wire.Auth](payloads)
	if idi == nil {
		reject(wire.INVALID_SYNTAX, "IKE_AUTH request without IDi or AUTH")
		return
	}
	peer := identity.FromPayload(idi)
	var wantLocal identity.ID
	if idr := idPayload(payloads, true); idr != nil {
		wantLocal = identity.FromPayload(idr)
	}
	cfg := sa.m.configForIdentities(sa, peer, wantLocal)
	if cfg == nil {
		reject(wire.AUTHENTICATION_FAILED, "no connection for peer identity %s (we are %s)", peer, wantLocal)
		return
	}
	if cfg != sa.cfg && !acceptable(cfg.Proposals, sa.ikeProposal) {
		// The peer's identity moved it to a connection that would not have
		// accepted the suite IKE_SA_INIT negotiated for another.
		reject(wire.AUTHENTICATION_FAILED, "peer identity %s selects connection %s, whose proposals %s do not allow the IKE SA's %s (negotiated for connection %s, proposals %s)",
			peer, cfg.Name, proposal.Format(cfg.Proposals), sa.ikeProposal.String(), sa.cfg.Name, proposal.Format(sa.cfg.Proposals))
		return
	}
	sa.cfg = cfg
	sa.log = sa.saLogger()
	sa.RemoteID = peer
	sa.LocalID = sa.localIdentity()
	if auth == nil {
		if cfg.RemoteAuth != AuthEAP {
			reject(wire.INVALID_SYNTAX, "IKE_AUTH request without IDi or AUTH")
			return
		}
		sa.peerInitialContact = findNotify(payloads, wire.INITIAL_CONTACT) != nil
		sa.peerCertReq = sa.peerCertReq || payloadOf[*wire.CertificateRequest](payloads) != nil
		sa.startEAPServer(id, idi, payloads, reject)
		return
	}
	keys, auth, err := sa.responderPPK(cfg, payloads, auth)
	if err != nil {
		reject(wire.AUTHENTICATION_FAILED, "%s: %v", peer, err)
		return
	}
	if err := sa.verifyPeerAuth(keys, cfg, idi, auth, certsOf(payloads)); err != nil {
		reject(wire.AUTHENTICATION_FAILED, "%s: %v", peer, err)
		return
	}
	// Our AUTH, the Child SAs and the next IKE SA use the PPK's keys.
	usedPPK := sa.ppk != nil
	sa.usePPK()
	sa.peerInitialContact = findNotify(payloads, wire.INITIAL_CONTACT) != nil
	if findNotify(payloads, wire.ANOTHER_AUTH_FOLLOWS) != nil || cfg.RemoteRound2 != nil {
		sa.peerCertReq = sa.peerCertReq || payloadOf[*wire.CertificateRequest](payloads) != nil
		sa.awaitSecondRound(id, payloads, reject)
		return
	}
	// A redirect by identity comes before the uniqueness policy: the
	// client's IKE SA here is not to replace (or be refused for) another.
	idr := sa.LocalID.Payload(true)
	sa.peerCertReq = sa.peerCertReq || payloadOf[*wire.CertificateRequest](payloads) != nil
	out, err := sa.ownAuthPayloads(idr)
	if err != nil {
		reject(wire.AUTHENTICATION_FAILED, "%v", err)
		return
	}
	if usedPPK {
		out = append(out, &wire.Notify{NotifyType: wire.PPK_IDENTITY})
	}
	if sa.authRedirect(id, out) {
		return
	}
	if sa.enforceUnique() {
		reject(wire.AUTHENTICATION_FAILED, "canceling IKE SA setup due to uniqueness policy (unique = keep): %s already has an IKE SA", peer)
		return
	}
	sa.respond(wire.IKE_AUTH, id, sa.finishAuthResponse(payloads, out))
}

// finishAuthResponse completes the responder's last IKE_AUTH response after
// out (our AUTH and what goes with it): the IKE SA is up, the CFG_REQUEST of
// the client's first IKE_AUTH request (first) is answered, and the first
// Child SA is negotiated from that request. With EAP or a second round the
// first request came several exchanges earlier.
func (sa *IKESA) finishAuthResponse(first, out []wire.Payload) []wire.Payload {
	sa.established()
	out = append(out, sa.mobikeAuthPayloads()...)
	cfgReply, cpErr := sa.answerCFGRequest(first)
	if cfgReply != nil {
		out = append(out, cfgReply)
	}
	if cpErr != nil {
		sa.log.Warn("INTERNAL_ADDRESS_FAILURE: "+cpErr.Error(), "remote", sa.Remote)
		return append(out, &wire.Notify{NotifyType: wire.INTERNAL_ADDRESS_FAILURE})
	}
	if payloadOf[*wire.SA](first) != nil {
		out = append(out, sa.respondChild(sa.cfg, first, sa.ni, sa.nr, false, nil)...)
	}
	sa.forgetHandshake()
	return out
}

// ownAuthPayloads are the responder's IDr, certificates and AUTH.
func (sa *IKESA) ownAuthPayloads(idr *wire.ID) ([]wire.Payload, error) {
	out := []wire.Payload{idr}
	if sa.cfg.LocalAuth == AuthPubkey && sa.sendCert() {
		if pk, ok := sa.m.creds.(PubkeyCredentials); ok {
			certs, err := pk.LocalCertificates(sa.cfg.Name, sa.LocalID)
			if err != nil {
				return nil, fmt.Errorf("no certificate for %s: %w", sa.LocalID, err)
			}
			for _, c := range certs {
				out = append(out, &wire.Certificate{Encoding: wire.CertX509Signature, Data: c})
			}
		}
	}
	ourAuth, err := sa.authData(sa.keys, idr)
	if err != nil {
		return nil, fmt.Errorf("computing our AUTH: %w", err)
	}
	return append(out, ourAuth), nil
}

// configForIdentities picks the connection an authenticated peer belongs to
// among those whose addresses fit, as strongSwan does: the best match of the
// peer's identity against the connection's remote id (exact beats a
// wildcard pattern, a pattern beats %any), then of the IDr the peer asked
// for against our local id; on a tie the first connection wins.
func (m *Manager) configForIdentities(sa *IKESA, peer, wantLocal identity.ID) *PeerConfig {
	var best *PeerConfig
	bestRemote, bestLocal := identity.MatchNone, identity.MatchNone
	for _, c := range m.matchConfigs(sa.Local.Addr(), sa.Remote.Addr()) {
		mr := c.RemoteID.Match(peer)
		if mr == identity.MatchNone {
			continue
		}
		ml := identity.MatchAny
		if !wantLocal.IsAny() {
			local := c.LocalID
			if local.IsAny() {
				local = identity.FromAddr(sa.Local.Addr())
			}
			if ml = local.Match(wantLocal); ml == identity.MatchNone {
				continue
			}
		}
		if best == nil || mr > bestRemote || (mr == bestRemote && ml > bestLocal) {
			best, bestRemote, bestLocal = c, mr, ml
		}
	}
	return best
}

// respondChild negotiates a Child SA as responder and returns the payloads
// of the answer: SA, TSi, TSr, or an error notification.
func (sa *IKESA) respondChild(cfg *PeerConfig, payloads []wire.Payload, ni, nr []byte, pfs bool, secrets [][]byte) []wire.Payload {
	cc, chosen, localTS, remoteTS, mode, fail, why := sa.negotiateChildAsResponder(cfg, payloads, pfs)
	if fail != 0 {
		sa.log.Warn(why, "remote", sa.Remote)
		return []wire.Payload{&wire.Notify{NotifyType: fail}}
	}
	c, err := sa.newChild(cc)
	if err != nil {
		sa.log.Error("no Child SA SPI", "err", err)
		return []wire.Payload{&wire.Notify{NotifyType: wire.NO_ADDITIONAL_SAS}}
	}
	c.Mode = mode
	if err := sa.completeChild(c, chosen, localTS, remoteTS, false, ni, nr, secrets...); err != nil {
		sa.releaseChild(c)
		sa.log.Error("installing Child SA failed", "child", cc.Name, "err", err)
		return []wire.Payload{&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN}}
	}
	reply := chosen.Wire(spiBytes(c.SPIIn))
	var out []wire.Payload
	if mode == ipsec.ModeTransport {
		out = append(out, &wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE})
	}
	return append(out, &wire.SA{Proposals: []wire.Proposal{reply}}, toWire(remoteTS, false), toWire(localTS, true))
}
