package ike

import (
	"bytes"
	crand "crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// eapCreds are bigCerts (the gateway's certificate) plus EAP secrets.
type eapCreds struct {
	bigCerts
	secrets map[string]string
}

func (c eapCreds) EAPSecret(id string) ([]byte, bool) {
	s, ok := c.secrets[id]
	return []byte(s), ok
}

// eapPair: a is the client (EAP, verifies b's certificate), b the gateway
// (certificate, asks a for its EAP identity).
func eapPair(t *testing.T, method uint8, clientPassword string) (*pair, map[string]string) {
	t.Helper()
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.LocalAuth, ca.RemoteAuth = AuthEAP, AuthPubkey
	ca.LocalEAP = EAPConfig{Identity: "alice", Method: method}
	cb.LocalAuth, cb.RemoteAuth, cb.SendCert = AuthPubkey, AuthEAP, SendCertAlways
	cb.RemoteEAP = EAPConfig{Method: method, AskIdentity: true}
	client := map[string]string{"alice": clientPassword}
	p := newPair(t, ca, cb, eapCreds{secrets: client}, eapCreds{secrets: map[string]string{"alice": "alice-secret"}})
	return p, client
}

// countAuth counts IKE_AUTH requests (message IDs: a fragmented request
// counts once) the client sends.
func countAuth(p *pair) *int {
	n := new(int)
	seen := map[uint32]bool{}
	p.drop = func(from *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil && from == p.a && h.Exchange == wire.IKE_AUTH && !h.IsResponse() && !seen[h.MessageID] {
			seen[h.MessageID] = true
			*n++
		}
		return false
	}
	return n
}

func TestEAPMSCHAPv2Establishes(t *testing.T) {
	p, _ := eapPair(t, eap.TypeMSCHAPv2, "alice-secret")
	rounds := countAuth(p)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
	// IDi without AUTH; Identity; MS-CHAPv2 response; success ack; AUTH.
	if *rounds != 5 {
		t.Errorf("client sent %d IKE_AUTH requests, want 5", *rounds)
	}
	if len(p.a.childUp) != 1 || len(p.b.childUp) != 1 {
		t.Fatalf("Child SAs installed: client %d, gateway %d", len(p.a.childUp), len(p.b.childUp))
	}
	ka, kb := p.a.keys[p.a.childUp[0].SPIIn], p.b.keys[p.b.childUp[0].SPIIn]
	if p.a.childUp[0].SPIOut != p.b.childUp[0].SPIIn || !bytes.Equal(ka[2], kb[0]) {
		t.Error("the Child SA's outbound key of the client is not the gateway's inbound key")
	}
	if !logHas(p.b, "EAP-MSCHAPV2 method succeeded") || !logHas(p.b, "eap_id=alice") || !logHas(p.a, "EAP-MSCHAPV2 method succeeded") {
		t.Error("no log line of the EAP success")
	}
	if a.eap != nil || b.eap != nil {
		t.Error("EAP state kept after the exchange")
	}
}

// EAP-MD5 has no MSK: the AUTH payloads use SK_pi and SK_pr.
func TestEAPMD5Establishes(t *testing.T) {
	p, _ := eapPair(t, eap.TypeMD5, "alice-secret")
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || !logHas(p.b, "msk=false") {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
}

// A wrong password fails on both sides with a line naming the method and
// the identity; the gateway then serves the next attempt.
func TestEAPWrongPasswordThenRight(t *testing.T) {
	p, client := eapPair(t, eap.TypeMSCHAPv2, "wrong")
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if n := len(p.a.m.SAs()) + len(p.b.m.SAs()); n != 0 {
		t.Fatalf("%d IKE SAs left after a wrong password", n)
	}
	if len(p.a.childUp)+len(p.b.childUp) != 0 {
		t.Fatal("a Child SA was installed")
	}
	want := "AUTHENTICATION_FAILED: EAP-MSCHAPV2 method failed for identity alice"
	if !logHas(p.b, want) || !logHas(p.a, want) {
		t.Fatalf("no %q in the logs", want)
	}
	client["alice"] = "alice-secret"
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("after a failure: states %s / %s", a.State(), b.State())
	}
}

// A client without a secret does not start; one the gateway has no secret
// for fails (the first attempt leaves a half-open SA on the gateway).
func TestEAPUnknownUser(t *testing.T) {
	p, client := eapPair(t, eap.TypeMSCHAPv2, "x")
	delete(client, "alice")
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.a, "no EAP secret for alice") {
		t.Error("client without a secret: no log line")
	}
	client["mallory"] = "x"
	p.a.m.conns[0].LocalEAP.Identity = "mallory"
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.b, `method failed for identity mallory: no EAP secret for \"mallory\"`) || len(p.b.m.SAs()) != 1 || len(p.b.childUp) != 0 {
		t.Error("gateway without a secret for the identity did not fail cleanly")
	}
}

// Two rounds (RFC 4739): both sides sign in the first, the client runs
// EAP-MSCHAPv2 in the second; the Child SA comes with the last exchange.
func TestEAPSecondRound(t *testing.T) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	for _, c := range []*PeerConfig{ca, cb} {
		c.LocalAuth, c.RemoteAuth, c.SendCert = AuthPubkey, AuthPubkey, SendCertAlways
	}
	ca.LocalRound2 = &AuthRound{EAP: EAPConfig{Method: eap.TypeMSCHAPv2, Identity: "alice"}}
	cb.RemoteRound2 = &AuthRound{EAP: EAPConfig{Method: eap.TypeMSCHAPv2, AskIdentity: true}}
	p := newPair(t, ca, cb, eapCreds{secrets: map[string]string{"alice": "pw"}}, eapCreds{secrets: map[string]string{"alice": "pw"}})
	rounds := countAuth(p)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(p.a.childUp) != 1 || len(p.b.childUp) != 1 {
		t.Fatalf("states %s / %s, Child SAs %d / %d", a.State(), b.State(), len(p.a.childUp), len(p.b.childUp))
	}
	// Round 1 (IDi, CERT, AUTH); IDi of round 2; Identity; MS-CHAPv2
	// response; success ack; AUTH.
	if *rounds != 6 {
		t.Errorf("client sent %d IKE_AUTH requests, want 6", *rounds)
	}
	if a.RemoteID.String() != "b.cygnet.test" || b.RemoteID.String() != "a.cygnet.test" || !logHas(p.b, "eap_id=alice") {
		t.Errorf("identities %s / %s", a.RemoteID, b.RemoteID)
	}
}

// A gateway that requires a second round refuses a client that announces
// none; one whose connection has a single round refuses a client that
// announces two; a client with two rounds stops before IKE_AUTH when the
// gateway does not announce MULTIPLE_AUTH_SUPPORTED.
func TestEAPSecondRoundMismatch(t *testing.T) {
	certConfigs := func() (*PeerConfig, *PeerConfig) {
		ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
		for _, c := range []*PeerConfig{ca, cb} {
			c.LocalAuth, c.RemoteAuth, c.SendCert = AuthPubkey, AuthPubkey, SendCertAlways
		}
		return ca, cb
	}
	creds := eapCreds{secrets: map[string]string{"alice": "pw"}}
	round2 := &AuthRound{EAP: EAPConfig{Method: eap.TypeMSCHAPv2, Identity: "alice"}}
	run := func(ca, cb *PeerConfig, more ...*PeerConfig) *pair {
		p := newPair(t, ca, cb, creds, creds)
		p.b.m.SetConns(append([]*PeerConfig{cb}, more...))
		if err := p.a.m.Initiate("site", "net"); err != nil {
			t.Fatal(err)
		}
		p.pump()
		return p
	}

	ca, cb := certConfigs()
	cb.RemoteRound2 = round2
	p := run(ca, cb)
	if !logHas(p.b, "connection site requires a second authentication round (EAP), the peer announced none") || len(p.b.m.SAs()) != 0 {
		t.Error("a gateway that requires a second round accepted one")
	}

	// The gateway's other connection has two rounds, so it announces
	// MULTIPLE_AUTH_SUPPORTED; the connection the client's identity
	// selects has one.
	ca, cb = certConfigs()
	ca.LocalRound2 = round2
	other := *cb
	other.Name, other.RemoteID, other.RemoteRound2 = "other", identity.ID{Type: wire.ID_FQDN, Data: []byte("x.cygnet.test")}, round2
	p = run(ca, cb, &other)
	if !logHas(p.b, "peer announces another authentication round, connection site has one") || len(p.b.m.SAs()) != 0 {
		t.Error("a gateway with one round accepted a client announcing two")
	}

	ca, cb = certConfigs()
	ca.LocalRound2 = round2
	p = run(ca, cb)
	if !logHas(p.a, "does not support multiple authentication rounds (no MULTIPLE_AUTH_SUPPORTED)") || len(p.a.childUp) != 0 {
		t.Error("client went on without MULTIPLE_AUTH_SUPPORTED")
	}
}

// EAP-only authentication (RFC 5998): the client offers it, the gateway
// sends no certificate or AUTH first; both AUTH payloads at the end are
// keyed with the MSK of the mutual method.
func TestEAPOnly(t *testing.T) {
	p, _ := eapPair(t, eap.TypeMSCHAPv2, "alice-secret")
	p.a.m.conns[0].RemoteAuth = AuthEAP
	p.b.m.conns[0].LocalAuth = AuthEAP
	rounds := countAuth(p)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(p.a.childUp) != 1 {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
	if *rounds != 5 {
		t.Errorf("client sent %d IKE_AUTH requests, want 5", *rounds)
	}
}

// A gateway configured for EAP only refuses a client that did not offer
// it; a client that offered it refuses a method without keys.
func TestEAPOnlyRefused(t *testing.T) {
	p, _ := eapPair(t, eap.TypeMSCHAPv2, "alice-secret")
	p.b.m.conns[0].LocalAuth = AuthEAP
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.b, "authenticates us with EAP only (RFC 5998), the peer did not offer EAP_ONLY_AUTHENTICATION") || len(p.a.m.SAs())+len(p.b.m.SAs()) != 0 {
		t.Error("EAP-only gateway accepted a client that did not offer it")
	}

	p, _ = eapPair(t, eap.TypeMD5, "alice-secret")
	p.a.m.conns[0].RemoteAuth = AuthEAP
	p.b.m.conns[0].LocalAuth = AuthEAP
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.a, "EAP-only authentication needs a mutual method that derives keys, not MD5") || len(p.a.childUp)+len(p.b.childUp) != 0 {
		t.Error("EAP-only with MD5 went ahead")
	}
}

// Lost messages during EAP: each side retransmits or answers from its
// cache, and the EAP conversation is stepped once per message.
func TestEAPLostMessages(t *testing.T) {
	p, _ := eapPair(t, eap.TypeMSCHAPv2, "alice-secret")
	dropped := map[string]bool{}
	p.drop = func(from *peer, d datagram) bool {
		h, err := wire.ParseHeader(d.b)
		if err != nil || h.Exchange != wire.IKE_AUTH || h.MessageID < 2 {
			return false
		}
		// Lose the client's request 2 once and the gateway's response
		// 3 once.
		key := fmt.Sprintf("%s-%d-%v", from.name, h.MessageID, h.IsResponse())
		if (key == "a-2-false" || key == "b-3-true") && !dropped[key] {
			dropped[key] = true
			return true
		}
		return false
	}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	for range 10 {
		if sas := p.a.m.SAs(); len(sas) == 1 && sas[0].State() == "ESTABLISHED" {
			break
		}
		p.advance(5 * time.Second)
	}
	a, b := onlySA(t, p.a), onlySA(t, p.b)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(dropped) != 2 {
		t.Fatalf("states %s / %s after losing %v", a.State(), b.State(), dropped)
	}
	if n := strings.Count(p.b.logs.String(), "EAP-MSCHAPV2 method succeeded"); n != 1 {
		t.Errorf("gateway stepped EAP to success %d times", n)
	}
}

// recordingBackend is an EAPBackend (the seam a RADIUS client plugs into)
// that runs the local authenticator and records the conversations.
type recordingBackend struct {
	eapCreds
	started []string
}

func (r *recordingBackend) NewEAPServer(conn string, method uint8, id string) (eap.Server, error) {
	r.started = append(r.started, fmt.Sprintf("%s/%s/%q", conn, eap.TypeName(method), id))
	return eap.NewAuthenticator(eap.AuthenticatorConfig{Method: method, Identity: id, Secrets: r.EAPSecret, Rand: crand.Reader})
}

func TestEAPBackend(t *testing.T) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.LocalAuth, ca.RemoteAuth = AuthEAP, AuthPubkey
	ca.LocalEAP = EAPConfig{Identity: "alice"}
	cb.LocalAuth, cb.RemoteAuth, cb.SendCert = AuthPubkey, AuthEAP, SendCertAlways
	cb.RemoteEAP = EAPConfig{Method: eap.TypeMSCHAPv2, AskIdentity: true, Backend: true}
	backend := &recordingBackend{eapCreds: eapCreds{secrets: map[string]string{"alice": "pw"}}}
	p := newPair(t, ca, cb, eapCreds{secrets: map[string]string{"alice": "pw"}}, backend)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
	if len(backend.started) != 1 || backend.started[0] != `site/MSCHAPV2/""` {
		t.Errorf("backend conversations %v", backend.started)
	}
}

// Without eap_id = %any the gateway does not ask: the EAP identity is the
// client's IKE identity.
func TestEAPIdentityFromIKE(t *testing.T) {
	p, _ := eapPair(t, eap.TypeMSCHAPv2, "pw")
	p.a.m.conns[0].LocalEAP.Identity = ""
	p.b.m.conns[0].RemoteEAP.AskIdentity = false
	p.a.m.creds.(eapCreds).secrets["a.cygnet.test"] = "pw"
	p.b.m.creds.(eapCreds).secrets["a.cygnet.test"] = "pw"
	rounds := countAuth(p)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || *rounds != 4 || !logHas(p.b, "eap_id=a.cygnet.test") {
		t.Fatalf("states %s / %s, %d IKE_AUTH requests (want 4: no EAP-Identity)", a.State(), b.State(), *rounds)
	}
}
