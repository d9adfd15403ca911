package ike

import (
	"fmt"

	"github.com/cygnet-ipsec/cygnet/eap"
	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// IKE_AUTH with EAP (RFC 7296 2.16). The client leaves AUTH out of its first
// IKE_AUTH request; the gateway answers with its own AUTH (a signature) and
// the first EAP request; EAP runs in further IKE_AUTH exchanges, one EAP
// message each way; after EAP-Success both sides send AUTH computed as for
// a PSK with the MSK as the key (SK_pi and SK_pr for methods without one),
// and the gateway answers the last one with the first Child SA the client
// asked for at the start.
//
//	client                               gateway
//	IDi, [IDr], SA, TSi, TSr      -->
//	                              <--    IDr, CERT, AUTH, EAP(Request)
//	EAP(Response)                 -->
//	                              <--    EAP(Request) ... EAP(Success)
//	AUTH(MSK)                     -->
//	                              <--    AUTH(MSK), SA, TSi, TSr

// EAPConfig is the EAP side of one connection's authentication round.
type EAPConfig struct {
	// Method is the EAP method type (eap.TypeMSCHAPv2, eap.TypeMD5); a
	// client with 0 accepts any method it implements.
	Method uint8
	// Identity is the EAP identity: a client's own (swanctl eap_id,
	// defaulting to its IKE identity); on a gateway the identity the
	// client must authenticate as, "" for its IKE identity.
	Identity string
	// AskIdentity makes a gateway ask the client for its identity with
	// EAP-Identity (swanctl eap_id = %any).
	AskIdentity bool
	// Backend makes a gateway relay the conversation to the credentials'
	// EAPBackend (auth = eap-radius) instead of checking secrets itself;
	// Method is then whatever the backend runs.
	Backend bool
}

// EAPCredentials finds EAP secrets (swanctl.conf secrets.eap<suffix>);
// the daemon's credentials implement it.
type EAPCredentials interface {
	// EAPSecret returns the secret of an EAP identity.
	EAPSecret(id string) ([]byte, bool)
}

// EAPBackend lets the gateway's EAP server be something else than the
// local eap.Authenticator, e.g. a RADIUS client: the conversations of
// connections whose EAPConfig says Backend are started through it.
type EAPBackend interface {
	// NewEAPServer starts the server side of a conversation for a
	// connection, a method (0: the backend's choice) and an identity (""
	// when the identity is to be asked for with EAP-Identity).
	NewEAPServer(conn string, method uint8, identity string) (eap.Server, error)
}

// AsyncEAPServer is an eap.Server whose steps take a network round trip,
// as a RADIUS backend's do. The gateway calls StepAsync instead of Step;
// it returns at once, and the backend calls done exactly once, on the
// goroutine that drives the Manager (the daemon posts it into its event
// loop), so the Manager never waits on the network. Retransmissions of the
// IKE_AUTH request that arrive meanwhile are dropped; an IKE SA that goes
// away meanwhile ignores the answer.
type AsyncEAPServer interface {
	eap.Server
	StepAsync(resp *eap.Packet, done func(next *eap.Packet, out eap.Outcome, err error))
}

// eapExchange is the state of an IKE_AUTH exchange with EAP, in either role;
// the IKE SA holds one while EAP runs.
type eapExchange struct {
	server eap.Server // gateway
	peer   *eap.Peer  // client
	// ownID and peerID are the ID payloads of the first IKE_AUTH
	// messages: the AUTH payloads at the end sign them.
	ownID, peerID *wire.ID
	// firstRequest is the gateway's copy of the client's first request
	// (SA, TSi, TSr), answered when authentication completes.
	firstRequest []wire.Payload
	// child is the client's Child SA, prepared with the first request.
	child     *ChildSA
	msk       []byte
	succeeded bool
	// stepping is set while an AsyncEAPServer works on a response.
	stepping bool
}

func toEAP(p *wire.EAP) *eap.Packet {
	return &eap.Packet{Code: p.Code, Identifier: p.Identifier, Type: p.EAPType, Data: p.Data}
}

func fromEAP(p *eap.Packet) *wire.EAP {
	return &wire.EAP{Code: p.Code, Identifier: p.Identifier, EAPType: p.Type, Data: p.Data}
}

// eapAuthKey is the key of the AUTH payloads after EAP: the MSK, or SK_pi
// / SK_pr of the signing side when the method had none.
func (sa *IKESA) eapAuthKey(signerIsInitiator bool) ([]byte, error) {
	if len(sa.eap.msk) > 0 {
		return sa.eap.msk, nil
	}
	return sa.keys.SKp(signerIsInitiator)
}

// eapOwnAuth computes our AUTH payload after EAP-Success.
func (sa *IKESA) eapOwnAuth() (*wire.Auth, error) {
	realMessage, peerNonce := sa.hsState().initResp, sa.ni
	if sa.Initiator {
		realMessage, peerNonce = sa.hsState().initReq, sa.nr
	}
	octets, err := sa.signedOctets(sa.keys, sa.Initiator, realMessage, peerNonce, sa.eap.ownID.Body())
	if err != nil {
		return nil, err
	}
	key, err := sa.eapAuthKey(sa.Initiator)
	if err != nil {
		return nil, err
	}
	return &wire.Auth{Method: wire.AuthSharedKey, Data: ikecrypto.SharedKeyAuth(sa.keys.PRF(), key, octets)}, nil
}

// eapVerifyPeerAuth checks the peer's AUTH payload after EAP-Success.
func (sa *IKESA) eapVerifyPeerAuth(auth *wire.Auth) error {
	if auth == nil {
		return fmt.Errorf("no AUTH payload after EAP")
	}
	if auth.Method != wire.AuthSharedKey {
		return fmt.Errorf("AUTH after EAP uses %v, want the shared key MIC", auth.Method)
	}
	realMessage, peerNonce := sa.hsState().initReq, sa.nr
	if sa.Initiator {
		realMessage, peerNonce = sa.hsState().initResp, sa.ni
	}
	octets, err := sa.signedOctets(sa.keys, !sa.Initiator, realMessage, peerNonce, sa.eap.peerID.Body())
	if err != nil {
		return err
	}
	key, err := sa.eapAuthKey(!sa.Initiator)
	if err != nil {
		return err
	}
	if err := ikecrypto.VerifySharedKeyAuth(sa.keys.PRF(), key, octets, auth.Data); err != nil {
		return fmt.Errorf("AUTH after EAP does not match the MSK: %w", err)
	}
	return nil
}

func (sa *IKESA) eapMethodName() string {
	if sa.eap.server != nil {
		return "EAP-" + eap.TypeName(sa.eap.server.Method())
	}
	if m := sa.eap.peer.Method(); m != 0 {
		return "EAP-" + eap.TypeName(m)
	}
	return "EAP"
}

// --- Client (initiator) ---

// startEAPClient prepares the client side; sendAuth then leaves AUTH out.
func (sa *IKESA) startEAPClient(idi *wire.ID, child *ChildSA) error {
	return sa.startEAPClientWith(sa.cfg.LocalEAP, sa.LocalID, idi, child)
}

// startEAPClientWith prepares the client side of an EAP round whose IDi is
// idi; the EAP identity defaults to the round's IKE identity.
func (sa *IKESA) startEAPClientWith(c EAPConfig, ikeID identity.ID, idi *wire.ID, child *ChildSA) error {
	id := c.Identity
	if id == "" {
		id = ikeID.String()
	}
	if c.Method == eap.TypeTLS {
		tc, err := sa.eapTLSConfig(ikeID)
		if err != nil {
			return err
		}
		sa.eap = &eapExchange{ownID: idi, child: child,
			peer: &eap.Peer{Identity: id, Methods: []uint8{eap.TypeTLS}, TLS: tc, Rand: sa.m.rand}}
		return nil
	}
	ec, _ := sa.m.creds.(EAPCredentials)
	var secret []byte
	ok := false
	if ec != nil {
		secret, ok = ec.EAPSecret(id)
	}
	if !ok {
		return fmt.Errorf("no EAP secret for %s in secrets", id)
	}
	methods := []uint8{eap.TypeMSCHAPv2}
	if c.Method != 0 {
		methods = []uint8{c.Method}
	}
	if sa.eapOnlyClient() && c.Method != 0 && c.Method != eap.TypeMSCHAPv2 && c.Method != eap.TypeTLS {
		return fmt.Errorf("EAP-only authentication needs a mutual method that derives keys, not %s", eap.TypeName(c.Method))
	}
	sa.eap = &eapExchange{ownID: idi, child: child,
		peer: &eap.Peer{Identity: id, Secret: secret, Methods: methods, Rand: sa.m.rand}}
	return nil
}

// eapFailClient ends a client's attempt; the Child SA it prepared goes.
func (sa *IKESA) eapFailClient(format string, args ...any) error {
	if c := sa.eap.child; c != nil {
		sa.releaseChild(c)
	}
	return sa.fail(format, args...)
}

// handleEAPAuthResponse is the client's handling of the gateway's first
// IKE_AUTH response: its identity and AUTH, and the first EAP request.
func (sa *IKESA) handleEAPAuthResponse(payloads []wire.Payload) error {
	if findNotify(payloads, wire.AUTHENTICATION_FAILED) != nil {
		return sa.eapFailClient("AUTHENTICATION_FAILED: peer %s rejected our authentication as %s", sa.Remote, sa.LocalID)
	}
	idr := idPayload(payloads, true)
	auth := payloadOf[*wire.Auth](payloads)
	req := payloadOf[*wire.EAP](payloads)
	if idr == nil || req == nil || (auth == nil && !sa.eapOnlyClient()) {
		if n := firstError(payloads); n != nil {
			return sa.eapFailClient("%v: peer %s refused IKE_AUTH", n.NotifyType, sa.Remote)
		}
		return sa.eapFailClient("IKE_AUTH response to an EAP client without IDr, AUTH or EAP")
	}
	peer := identity.FromPayload(idr)
	if !sa.cfg.RemoteID.Matches(peer) {
		sa.tellAuthFailed()
		return sa.eapFailClient("AUTHENTICATION_FAILED: peer identity %s does not match the configured %s", peer, sa.cfg.RemoteID)
	}
	sa.RemoteID = peer
	if !peer.IsAny() {
		// EAP-TLS: the gateway's TLS certificate must carry it too.
		sa.eap.peer.ServerIdentity = peer.String()
	}
	// The gateway authenticates first (RFC 7296 2.16): we hand our
	// password to no one we have not verified. With EAP only (RFC 5998)
	// the method is mutual and the gateway's AUTH keyed with the MSK at
	// the end proves it instead.
	if auth != nil || !sa.eapOnlyClient() {
		if err := sa.verifyPeerAuth(sa.keys, sa.cfg, idr, auth, certsOf(payloads)); err != nil {
			sa.tellAuthFailed()
			return sa.eapFailClient("AUTHENTICATION_FAILED: %v", err)
		}
	}
	sa.eap.peerID = idr
	return sa.eapClientStep(payloads)
}

// eapClientStep answers one EAP message of the gateway.
func (sa *IKESA) eapClientStep(payloads []wire.Payload) error {
	p := payloadOf[*wire.EAP](payloads)
	if p == nil {
		return sa.eapFailClient("IKE_AUTH response without an EAP payload during EAP")
	}
	resp, out, err := sa.eap.peer.Handle(toEAP(p))
	switch {
	case out == eap.Failed:
		reason := "the gateway sent EAP-Failure"
		if err != nil {
			reason = err.Error()
		}
		return sa.eapFailClient("AUTHENTICATION_FAILED: %s method failed for identity %s: %s", sa.eapMethodName(), sa.eap.peer.Identity, reason)
	case out == eap.Succeeded:
		sa.eap.succeeded, sa.eap.msk = true, sa.eap.peer.MSK()
		if len(sa.eap.msk) == 0 && sa.eapOnlyClient() {
			return sa.eapFailClient("AUTHENTICATION_FAILED: %s derives no key, which EAP-only authentication of the gateway needs", sa.eapMethodName())
		}
		sa.log.Info(sa.eapMethodName()+" method succeeded", "eap_id", sa.eap.peer.Identity, "msk", len(sa.eap.msk) > 0)
		auth, err := sa.eapOwnAuth()
		if err != nil {
			return sa.eapFailClient("computing AUTH after EAP: %v", err)
		}
		return sa.sendRequest(wire.IKE_AUTH, []wire.Payload{auth}, func(_ *wire.Message, payloads []wire.Payload) error {
			return sa.handleEAPFinalResponse(payloads)
		}, sa.eapReleaseChild)
	}
	return sa.sendRequest(wire.IKE_AUTH, []wire.Payload{fromEAP(resp)}, func(_ *wire.Message, payloads []wire.Payload) error {
		if findNotify(payloads, wire.AUTHENTICATION_FAILED) != nil {
			return sa.eapFailClient("AUTHENTICATION_FAILED: peer %s rejected our %s authentication as %s", sa.Remote, sa.eapMethodName(), sa.eap.peer.Identity)
		}
		return sa.eapClientStep(payloads)
	}, sa.eapReleaseChild)
}

func (sa *IKESA) eapReleaseChild(string) {
	if c := sa.eap.child; c != nil {
		sa.releaseChild(c)
	}
}

// handleEAPFinalResponse checks the gateway's AUTH after EAP and takes the
// first Child SA.
func (sa *IKESA) handleEAPFinalResponse(payloads []wire.Payload) error {
	if findNotify(payloads, wire.AUTHENTICATION_FAILED) != nil {
		return sa.eapFailClient("AUTHENTICATION_FAILED: peer %s rejected our AUTH after %s", sa.Remote, sa.eapMethodName())
	}
	if err := sa.eapVerifyPeerAuth(payloadOf[*wire.Auth](payloads)); err != nil {
		sa.tellAuthFailed()
		return sa.eapFailClient("AUTHENTICATION_FAILED: %v", err)
	}
	child := sa.eap.child
	clear(sa.eap.msk)
	sa.eap = nil
	return sa.finishAuthAsClient(child, payloads)
}

// --- Gateway (responder) ---

// newEAPServer starts the server side through the backend, or locally.
func (sa *IKESA) newEAPServer(cfg *PeerConfig, c EAPConfig, peer identity.ID) (eap.Server, error) {
	id := c.Identity
	if id == "" {
		id = peer.String()
	}
	if c.AskIdentity {
		id = ""
	}
	if c.Backend {
		b, ok := sa.m.creds.(EAPBackend)
		if !ok {
			return nil, fmt.Errorf("connection %s relays EAP to a backend, and none is configured", cfg.Name)
		}
		return b.NewEAPServer(cfg.Name, c.Method, id)
	}
	method := c.Method
	if method == 0 {
		method = eap.TypeMSCHAPv2
	}
	if method == eap.TypeTLS {
		tc, err := sa.eapTLSConfig(sa.LocalID)
		if err != nil {
			return nil, err
		}
		return eap.NewAuthenticator(eap.AuthenticatorConfig{Method: method, Identity: id, TLS: tc, Rand: sa.m.rand})
	}
	ec, _ := sa.m.creds.(EAPCredentials)
	if ec == nil {
		return nil, fmt.Errorf("no EAP credentials")
	}
	return eap.NewAuthenticator(eap.AuthenticatorConfig{
		Method: method, Identity: id, Secrets: ec.EAPSecret, Rand: sa.m.rand, Name: "cygnet",
	})
}

// startEAPServer answers a first IKE_AUTH request without AUTH for a
// connection that authenticates its clients with EAP: our identity,
// certificate and AUTH, and the first EAP request. respond sends the
// answer; reject refuses.
func (sa *IKESA) startEAPServer(id uint32, idi *wire.ID, payloads []wire.Payload, reject func(wire.NotifyType, string, ...any)) {
	server, err := sa.newEAPServer(sa.cfg, sa.cfg.RemoteEAP, sa.RemoteID)
	if err != nil {
		reject(wire.AUTHENTICATION_FAILED, "%s: starting EAP: %v", sa.RemoteID, err)
		return
	}
	first, err := server.Start()
	if err != nil {
		reject(wire.AUTHENTICATION_FAILED, "%s: starting EAP: %v", sa.RemoteID, err)
		return
	}
	idr := sa.LocalID.Payload(true)
	out := []wire.Payload{idr}
	if sa.eapOnlyGateway() {
		// RFC 5998: no AUTH of ours now; the client must have asked.
		if findNotify(payloads, wire.EAP_ONLY_AUTHENTICATION) == nil {
			reject(wire.AUTHENTICATION_FAILED, "%s: connection %s authenticates us with EAP only (RFC 5998), the peer did not offer EAP_ONLY_AUTHENTICATION", sa.RemoteID, sa.cfg.Name)
			return
		}
	} else if out, err = sa.ownAuthPayloads(idr); err != nil {
		reject(wire.AUTHENTICATION_FAILED, "%v", err)
		return
	}
	sa.eap = &eapExchange{server: server, ownID: idr, peerID: idi, firstRequest: payloads}
	sa.respond(wire.IKE_AUTH, id, append(out, fromEAP(first)))
}

// handleEAPRequest is the gateway's side of the IKE_AUTH requests that
// follow the first: EAP responses, then the client's AUTH.
func (sa *IKESA) handleEAPRequest(id uint32, payloads []wire.Payload, reject func(wire.NotifyType, string, ...any)) {
	x := sa.eap
	if x.server == nil {
		sa.startSecondRoundServer(id, payloads, reject)
		return
	}
	if x.succeeded {
		if err := sa.eapVerifyPeerAuth(payloadOf[*wire.Auth](payloads)); err != nil {
			reject(wire.AUTHENTICATION_FAILED, "%s: %v", sa.RemoteID, err)
			return
		}
		if sa.enforceUnique() {
			reject(wire.AUTHENTICATION_FAILED, "canceling IKE SA setup due to uniqueness policy (unique = keep): %s already has an IKE SA", sa.RemoteID)
			return
		}
		auth, err := sa.eapOwnAuth()
		if err != nil {
			reject(wire.AUTHENTICATION_FAILED, "computing AUTH after EAP: %v", err)
			return
		}
		first := x.firstRequest
		clear(x.msk)
		sa.eap = nil
		sa.respond(wire.IKE_AUTH, id, sa.finishAuthResponse(first, []wire.Payload{auth}))
		return
	}
	if x.stepping {
		// A retransmission while the backend works on the first copy.
		sa.log.Debug("EAP backend still working on the last response; dropping the retransmission", "id", id)
		return
	}
	p := payloadOf[*wire.EAP](payloads)
	if p == nil {
		reject(wire.AUTHENTICATION_FAILED, "%s: IKE_AUTH request without an EAP payload during EAP", sa.RemoteID)
		return
	}
	if as, ok := x.server.(AsyncEAPServer); ok {
		x.stepping = true
		as.StepAsync(toEAP(p), func(next *eap.Packet, out eap.Outcome, err error) {
			x.stepping = false
			if sa.eap != x || sa.state != stateInitDone {
				return // the IKE SA failed or went away meanwhile
			}
			sa.eapStepped(id, next, out, err)
		})
		return
	}
	next, out, err := x.server.Step(toEAP(p))
	sa.eapStepped(id, next, out, err)
}

// eapStepped sends what the EAP server made of the client's response: the
// next request, or EAP-Success or EAP-Failure.
func (sa *IKESA) eapStepped(id uint32, next *eap.Packet, out eap.Outcome, err error) {
	x := sa.eap
	if err != nil {
		sa.rejectAuth(id, wire.AUTHENTICATION_FAILED, fmt.Sprintf("%s method failed for identity %s: %v", sa.eapMethodName(), sa.eapIdentity(), err))
		return
	}
	switch out {
	case eap.Failed:
		reason := fmt.Sprintf("%s method failed for identity %s: %s", sa.eapMethodName(), sa.eapIdentity(), x.server.Reason())
		sa.log.Warn("AUTHENTICATION_FAILED: "+reason, "remote", sa.Remote)
		sa.respond(wire.IKE_AUTH, id, []wire.Payload{fromEAP(next)})
		sa.destroy("AUTHENTICATION_FAILED: " + reason)
		return
	case eap.Succeeded:
		x.succeeded, x.msk = true, x.server.MSK()
		sa.RemoteEAPID = sa.eapIdentity()
		if len(x.msk) == 0 && sa.eapOnlyGateway() {
			sa.rejectAuth(id, wire.AUTHENTICATION_FAILED, sa.eapMethodName()+" derives no key, which EAP-only authentication needs")
			return
		}
		sa.log.Info(sa.eapMethodName()+" method succeeded", "eap_id", sa.eapIdentity(), "msk", len(x.msk) > 0)
	}
	sa.respond(wire.IKE_AUTH, id, []wire.Payload{fromEAP(next)})
}

func (sa *IKESA) eapIdentity() string {
	if id := sa.eap.server.Identity(); id != "" {
		return id
	}
	return sa.RemoteID.String()
}

// --- A second authentication round (RFC 4739): EAP after a certificate or PSK ---

// AuthRound is a second authentication round: so far EAP, after a first
// round with a certificate or PSK (swanctl local-2 / remote-2).
type AuthRound struct {
	// ID is the round's IKE identity (IDi of its first message); Any
	// repeats the first round's (client) or accepts any (gateway).
	ID  identity.ID
	EAP EAPConfig
}

// multipleAuthRounds reports whether a connection has a second round, so
// IKE_SA_INIT responses announce MULTIPLE_AUTH_SUPPORTED (RFC 4739 3).
func (m *Manager) multipleAuthRounds() bool {
	for _, c := range m.conns {
		if c.RemoteRound2 != nil || c.LocalRound2 != nil {
			return true
		}
	}
	return false
}

// authNotifies are the notifications of a client's first IKE_AUTH request
// about how authentication goes on: EAP_ONLY_AUTHENTICATION (RFC 5998 2)
// when we accept a gateway that proves itself with EAP alone, RFC 4739's
// with a second round.
func (sa *IKESA) authNotifies() ([]wire.Payload, error) {
	var out []wire.Payload
	if sa.eapOnlyClient() {
		out = append(out, &wire.Notify{NotifyType: wire.EAP_ONLY_AUTHENTICATION})
	}
	if sa.cfg.LocalRound2 == nil {
		return out, nil
	}
	if !sa.peerMultipleAuth {
		return nil, fmt.Errorf("peer %s does not support multiple authentication rounds (no MULTIPLE_AUTH_SUPPORTED), connection %s has two", sa.Remote, sa.cfg.Name)
	}
	return append(out, &wire.Notify{NotifyType: wire.MULTIPLE_AUTH_SUPPORTED}, &wire.Notify{NotifyType: wire.ANOTHER_AUTH_FOLLOWS}), nil
}

// eapOnlyClient: a client whose connection lets the gateway authenticate
// with the EAP method alone (RFC 5998; swanctl remote auth = eap).
func (sa *IKESA) eapOnlyClient() bool {
	return sa.cfg.LocalAuth == AuthEAP && sa.cfg.RemoteAuth == AuthEAP
}

// eapOnlyGateway: a gateway whose connection authenticates itself with
// the EAP method alone (RFC 5998; swanctl local auth = eap).
func (sa *IKESA) eapOnlyGateway() bool {
	return sa.cfg.RemoteAuth == AuthEAP && sa.cfg.LocalAuth == AuthEAP
}

// startSecondRound is the client's second round, once the gateway
// authenticated in the first: IDi of the round, then EAP. idr is the
// gateway's ID payload, which its AUTH after EAP covers again.
func (sa *IKESA) startSecondRound(child *ChildSA, idr *wire.ID) error {
	r := sa.cfg.LocalRound2
	id := r.ID
	if id.IsAny() {
		id = sa.LocalID
	}
	idi := id.Payload(false)
	if err := sa.startEAPClientWith(r.EAP, id, idi, child); err != nil {
		if child != nil {
			sa.releaseChild(child)
		}
		return sa.fail("second authentication round: %v", err)
	}
	sa.eap.peerID = idr
	sa.log.Debug("first authentication round done, starting the second", "id", id.String())
	return sa.sendRequest(wire.IKE_AUTH, []wire.Payload{idi}, func(_ *wire.Message, payloads []wire.Payload) error {
		if findNotify(payloads, wire.AUTHENTICATION_FAILED) != nil {
			return sa.eapFailClient("AUTHENTICATION_FAILED: peer %s refused our second authentication round as %s", sa.Remote, id)
		}
		return sa.eapClientStep(payloads)
	}, sa.eapReleaseChild)
}

// awaitSecondRound answers the gateway's first round when a second
// follows: our identity and AUTH, no Child SA yet.
func (sa *IKESA) awaitSecondRound(id uint32, payloads []wire.Payload, reject func(wire.NotifyType, string, ...any)) {
	another := findNotify(payloads, wire.ANOTHER_AUTH_FOLLOWS) != nil
	switch {
	case !another:
		reject(wire.AUTHENTICATION_FAILED, "%s: connection %s requires a second authentication round (EAP), the peer announced none", sa.RemoteID, sa.cfg.Name)
		return
	case sa.cfg.RemoteRound2 == nil:
		reject(wire.AUTHENTICATION_FAILED, "%s: peer announces another authentication round, connection %s has one", sa.RemoteID, sa.cfg.Name)
		return
	}
	idr := sa.LocalID.Payload(true)
	out, err := sa.ownAuthPayloads(idr)
	if err != nil {
		reject(wire.AUTHENTICATION_FAILED, "%v", err)
		return
	}
	sa.eap = &eapExchange{ownID: idr, firstRequest: payloads}
	sa.respond(wire.IKE_AUTH, id, out)
}

// startSecondRoundServer takes the client's IDi of the second round and
// starts EAP.
func (sa *IKESA) startSecondRoundServer(id uint32, payloads []wire.Payload, reject func(wire.NotifyType, string, ...any)) {
	r := sa.cfg.RemoteRound2
	idi := idPayload(payloads, false)
	if idi == nil || payloadOf[*wire.Auth](payloads) != nil {
		reject(wire.AUTHENTICATION_FAILED, "%s: second authentication round without IDi, or with AUTH (want EAP)", sa.RemoteID)
		return
	}
	who := identity.FromPayload(idi)
	if !r.ID.Matches(who) {
		reject(wire.AUTHENTICATION_FAILED, "%s: identity %s of the second round does not match the configured %s", sa.RemoteID, who, r.ID)
		return
	}
	server, err := sa.newEAPServer(sa.cfg, r.EAP, who)
	if err == nil {
		var first *eap.Packet
		if first, err = server.Start(); err == nil {
			sa.eap.server, sa.eap.peerID = server, idi
			sa.respond(wire.IKE_AUTH, id, []wire.Payload{fromEAP(first)})
			return
		}
	}
	reject(wire.AUTHENTICATION_FAILED, "%s: starting EAP in the second round: %v", who, err)
}
