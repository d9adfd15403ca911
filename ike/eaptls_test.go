package ike

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// tlsCA is a throw-away CA for the EAP-TLS tests.
type tlsCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTLSCA(t *testing.T, name string) *tlsCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &tlsCA{cert: c, key: key}
}

func (ca *tlsCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsCreds are eapCreds plus EAP-TLS certificates: ours by identity, and
// the one CA whose certificates we accept.
type tlsCreds struct {
	eapCreds
	own     map[string]tls.Certificate
	trusted *x509.Certificate
	checked *[]string // the identities VerifyEAPTLSPeer was asked about
}

func (c tlsCreds) EAPTLSCertificate(_ string, local identity.ID) (tls.Certificate, error) {
	cert, ok := c.own[local.String()]
	if !ok {
		return tls.Certificate{}, fmt.Errorf("no certificate for %s", local)
	}
	return cert, nil
}

func (c tlsCreds) VerifyEAPTLSPeer(_ string, peer identity.ID, chain [][]byte) error {
	*c.checked = append(*c.checked, peer.String())
	end, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return err
	}
	if err := end.CheckSignatureFrom(c.trusted); err != nil {
		return fmt.Errorf("certificate %s is not from the trusted CA", end.Subject)
	}
	if !peer.IsAny() && !slices.Contains(end.DNSNames, peer.String()) {
		return fmt.Errorf("certificate %s does not carry %s", end.Subject, peer)
	}
	return nil
}

// eapTLSPair: a is the client with EAP-TLS as a.cygnet.test, b the gateway
// b.cygnet.test (signature, then EAP-TLS with the same name in its TLS
// certificate), asking the client's EAP identity. clientCA issues the
// client's certificate; the gateway trusts ca.
func eapTLSPair(t *testing.T, ca, clientCA *tlsCA) (*pair, *[]string, *[]string) {
	t.Helper()
	cfgA, cfgB := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	cfgA.LocalAuth, cfgA.RemoteAuth = AuthEAP, AuthPubkey
	cfgA.LocalEAP = EAPConfig{Identity: "a.cygnet.test", Method: eap.TypeTLS}
	cfgB.LocalAuth, cfgB.RemoteAuth, cfgB.SendCert = AuthPubkey, AuthEAP, SendCertAlways
	cfgB.RemoteEAP = EAPConfig{Method: eap.TypeTLS, AskIdentity: true}
	var checkedA, checkedB []string
	credA := tlsCreds{own: map[string]tls.Certificate{"a.cygnet.test": clientCA.issue(t, "a.cygnet.test")}, trusted: ca.cert, checked: &checkedA}
	credB := tlsCreds{own: map[string]tls.Certificate{"b.cygnet.test": ca.issue(t, "b.cygnet.test")}, trusted: ca.cert, checked: &checkedB}
	return newPair(t, cfgA, cfgB, credA, credB), &checkedA, &checkedB
}

// TestEAPTLSEstablishes: cygnet as client and gateway with EAP-TLS. Both
// SAs come up with the Child SA's keys matching (so both AUTH payloads
// keyed with the MSK verified); each end checked the other's TLS
// certificate for the right identity; no IKE_AUTH request of the client is
// larger than the EAP fragment size allows.
func TestEAPTLSEstablishes(t *testing.T) {
	ca := newTLSCA(t, "EAP CA")
	p, checkedA, checkedB := eapTLSPair(t, ca, ca)
	largest, requests := 0, map[uint32]bool{}
	p.drop = func(from *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil && from == p.a && h.Exchange == wire.IKE_AUTH && !h.IsResponse() {
			largest = max(largest, len(d.b))
			requests[h.MessageID] = true
		}
		return false
	}
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
	if len(p.a.childUp) != 1 || len(p.b.childUp) != 1 {
		t.Fatalf("Child SAs installed: client %d, gateway %d", len(p.a.childUp), len(p.b.childUp))
	}
	ka, kb := p.a.keys[p.a.childUp[0].SPIIn], p.b.keys[p.b.childUp[0].SPIIn]
	if p.a.childUp[0].SPIOut != p.b.childUp[0].SPIIn || !bytes.Equal(ka[2], kb[0]) {
		t.Error("the Child SA's outbound key of the client is not the gateway's inbound key")
	}
	if !logHas(p.b, "EAP-TLS method succeeded") || !logHas(p.b, "eap_id=a.cygnet.test") || !logHas(p.b, "msk=true") || !logHas(p.a, "EAP-TLS method succeeded") {
		t.Errorf("no log line of the EAP-TLS success:\n%s\n%s", p.a.logs.String(), p.b.logs.String())
	}
	if !slices.Equal(*checkedA, []string{"b.cygnet.test"}) || !slices.Equal(*checkedB, []string{"a.cygnet.test"}) {
		t.Errorf("client checked %v, gateway checked %v", *checkedA, *checkedB)
	}
	if b.RemoteEAPID != "a.cygnet.test" {
		t.Errorf("gateway's RemoteEAPID %q", b.RemoteEAPID)
	}
	// EAP-TLS packets are at most 1024 bytes; the IKE header, the
	// encrypted payload's IV, padding and ICV add less than 100.
	if largest > 1024+100 || len(requests) < 6 {
		t.Errorf("largest IKE_AUTH request %d bytes over %d exchanges", largest, len(requests))
	}
	t.Logf("%d IKE_AUTH exchanges, largest request %d bytes", len(requests), largest)
}

// TestEAPTLSUntrustedClient: a client certificate from a CA the gateway
// does not trust fails on both ends with the reason in the log; the
// gateway keeps no SA and serves a trusted client next.
func TestEAPTLSUntrustedClient(t *testing.T) {
	ca, other := newTLSCA(t, "EAP CA"), newTLSCA(t, "Other CA")
	p, _, _ := eapTLSPair(t, ca, other)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if n := len(p.a.m.SAs()) + len(p.b.m.SAs()); n != 0 || len(p.a.childUp)+len(p.b.childUp) != 0 {
		t.Fatalf("%d IKE SAs, %d Child SAs left after an untrusted certificate", n, len(p.a.childUp)+len(p.b.childUp))
	}
	want := "AUTHENTICATION_FAILED: EAP-TLS method failed for identity a.cygnet.test: EAP-TLS: TLS handshake: certificate CN=a.cygnet.test is not from the trusted CA"
	if !logHas(p.b, want) {
		t.Errorf("gateway log has no %q:\n%s", want, p.b.logs.String())
	}
	if !logHas(p.a, "AUTHENTICATION_FAILED: EAP-TLS method failed for identity a.cygnet.test") {
		t.Errorf("client log:\n%s", p.a.logs.String())
	}
	creds := p.a.m.creds.(tlsCreds)
	creds.own["a.cygnet.test"] = ca.issue(t, "a.cygnet.test")
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("after a failure: states %s / %s", a.State(), b.State())
	}
}

// TestEAPTLSFragmentSizeOption: Options.EAPTLSFragmentSize
// (charon.plugins.eap-tls.fragment_size) bounds the EAP-TLS packets, so
// the IKE_AUTH requests shrink and grow in number.
func TestEAPTLSFragmentSizeOption(t *testing.T) {
	ca := newTLSCA(t, "EAP CA")
	p, _, _ := eapTLSPair(t, ca, ca)
	p.a.m.opts.EAPTLSFragmentSize, p.b.m.opts.EAPTLSFragmentSize = 300, 300
	largest, requests := 0, map[uint32]bool{}
	p.drop = func(from *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil && from == p.a && h.Exchange == wire.IKE_AUTH && !h.IsResponse() {
			largest = max(largest, len(d.b))
			requests[h.MessageID] = true
		}
		return false
	}
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
	if largest > 300+100 || len(requests) < 8 {
		t.Errorf("largest IKE_AUTH request %d bytes over %d exchanges, want at most 400 bytes and more exchanges", largest, len(requests))
	}
	t.Logf("%d IKE_AUTH exchanges, largest request %d bytes", len(requests), largest)
}

// TestEAPTLSIdentityFromIKE: a gateway that does not ask for the EAP
// identity takes the client's IKE identity, which the client's TLS
// certificate must carry.
func TestEAPTLSIdentityFromIKE(t *testing.T) {
	ca := newTLSCA(t, "EAP CA")
	p, _, checkedB := eapTLSPair(t, ca, ca)
	p.b.m.conns[0].RemoteEAP.AskIdentity = false
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || !slices.Equal(*checkedB, []string{"a.cygnet.test"}) {
		t.Fatalf("states %s / %s, gateway checked %v", a.State(), b.State(), *checkedB)
	}
}

// TestEAPTLSOnly: EAP-only authentication (RFC 5998) with EAP-TLS, which
// is mutual and derives keys: the gateway sends no AUTH before EAP, its
// TLS certificate proves it (the client checked it for the gateway's IKE
// identity), and both AUTH payloads at the end are keyed with the MSK.
func TestEAPTLSOnly(t *testing.T) {
	ca := newTLSCA(t, "EAP CA")
	p, checkedA, _ := eapTLSPair(t, ca, ca)
	p.a.m.conns[0].RemoteAuth = AuthEAP
	p.b.m.conns[0].LocalAuth = AuthEAP
	signed := false
	p.drop = func(from *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil && from == p.b && h.Exchange == wire.IKE_AUTH && h.MessageID == 1 {
			signed = signed || len(d.b) > 600 // a signature and certificate would not fit in less
		}
		return false
	}
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(p.a.childUp) != 1 {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
	if signed || !slices.Equal(*checkedA, []string{"b.cygnet.test"}) {
		t.Errorf("gateway's first IKE_AUTH response large (%v); client checked %v", signed, *checkedA)
	}
}
