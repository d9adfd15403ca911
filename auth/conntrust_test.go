package auth

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// TestConnTrustScope: remote cacerts scope the chain, also through an
// intermediate CA that only the trust store holds; a connection without
// them (or no ConnTrust at all) accepts every trusted CA.
func TestConnTrustScope(t *testing.T) {
	rootA := makeCert(t, certSpec{subject: name("Root A"), ca: true, key: key(t, "p256")}, nil, nil)
	interA := makeCert(t, certSpec{subject: name("Intermediate A"), ca: true, key: key(t, "p384")}, rootA, key(t, "p256"))
	caB := makeCert(t, certSpec{subject: name("CA B"), ca: true, key: key(t, "p521")}, nil, nil)
	peerKey := key(t, "p256")
	viaA := makeCert(t, certSpec{subject: name("peer"), dns: []string{"peer.test"}, key: peerKey}, interA, key(t, "p384"))
	viaB := makeCert(t, certSpec{subject: name("peer"), dns: []string{"peer.test"}, key: peerKey}, caB, key(t, "p521"))
	trust := NewTrustStore(rootA, interA, caB)

	conn := func(name string, cacerts ...*config.Cert) *ConnTrust {
		ct, err := NewConnTrust(&config.Connection{Name: name,
			Local:  []*config.Auth{{Method: config.AuthPubkey}},
			Remote: []*config.Auth{{Method: config.AuthPubkey, CACerts: cacerts}}})
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	onlyA := conn("only-a", &config.Cert{X509: rootA})
	anyCA := conn("any")
	method, data, octets := signedOctets(t, peerKey)
	peer := identity.ID{Type: wire.ID_FQDN, Data: []byte("peer.test")}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for _, tc := range []struct {
		ct   *ConnTrust
		end  []byte
		want string
	}{
		{onlyA, viaA.Raw, ""}, // the intermediate comes from the trust store
		{onlyA, viaB.Raw, "peer certificate chain ends at C=CH, O=strongSwan, CN=CA B, connection only-a requires C=CH, O=strongSwan, CN=Root A"},
		{anyCA, viaA.Raw, ""},
		{anyCA, viaB.Raw, ""},
		{nil, viaB.Raw, ""},
	} {
		i++
		err := tc.ct.VerifyPeer(trust, peer, [][]byte{tc.end}, method, data, octets, now)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("case %d: err = %v, want %q", i, err, tc.want)
		}
	}
	if got := onlyA.CertReq(trust); len(got) != 20 {
		t.Errorf("CERTREQ of only-a names %d CAs, want 1", len(got)/20)
	}
	if got := anyCA.CertReq(trust); len(got) != 3*20 {
		t.Errorf("CERTREQ of any names %d CAs, want 3", len(got)/20)
	}
}

// TestConnTrustPinnedWithoutCERT: a peer that sends no certificate is
// authenticated with the connection's remote certs, as in strongSwan, but
// only with one that carries its identity and verifies its signature.
func TestConnTrustPinnedWithoutCERT(t *testing.T) {
	ca := makeCert(t, certSpec{subject: name("CA"), ca: true, key: key(t, "p256")}, nil, nil)
	pinned := makeCert(t, certSpec{subject: name("peer"), dns: []string{"peer.test"}, key: key(t, "p384")}, ca, key(t, "p256"))
	ct, err := NewConnTrust(&config.Connection{Name: "pinned",
		Local:  []*config.Auth{{Method: config.AuthPubkey}},
		Remote: []*config.Auth{{Method: config.AuthPubkey, Certs: []*config.Cert{{X509: pinned}}}}})
	if err != nil {
		t.Fatal(err)
	}
	trust := NewTrustStore(pinned)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	octets := []byte("octets")
	sign := func(k string) (wire.AuthMethod, []byte) {
		s, err := NewSigner(key(t, k), SignerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, d, err := s.Sign(octets, SupportedHashes())
		if err != nil {
			t.Fatal(err)
		}
		return m, d
	}
	peer := identity.ID{Type: wire.ID_FQDN, Data: []byte("peer.test")}
	m, d := sign("p384")
	if err := ct.VerifyPeer(trust, peer, nil, m, d, octets, now); err != nil {
		t.Errorf("pinned certificate's key: %v", err)
	}
	m, d = sign("p521")
	if err := ct.VerifyPeer(trust, peer, nil, m, d, octets, now); err == nil {
		t.Error("another key accepted")
	}
	m, d = sign("p384")
	if err := ct.VerifyPeer(trust, identity.ID{Type: wire.ID_FQDN, Data: []byte("other.test")}, nil, m, d, octets, now); !errors.Is(err, ErrIdentityMismatch) {
		t.Errorf("identity the pinned certificate does not carry: %v", err)
	}
	if err := (*ConnTrust)(nil).VerifyPeer(trust, peer, nil, m, d, octets, now); err == nil || err.Error() != "peer sent no certificate" {
		t.Errorf("no certificate, nothing pinned: %v", err)
	}
}

// TestConnTrustVerifyChain: EAP-TLS's certificates (no AUTH payload) are
// checked as CERT payloads are: remote cacerts scope the chain, the end
// entity must carry the identity (any with identity.Any), and a chain is
// required.
func TestConnTrustVerifyChain(t *testing.T) {
	rootA := makeCert(t, certSpec{subject: name("Root A"), ca: true, key: key(t, "p256")}, nil, nil)
	caB := makeCert(t, certSpec{subject: name("CA B"), ca: true, key: key(t, "p384")}, nil, nil)
	peerKey := key(t, "p256")
	viaA := makeCert(t, certSpec{subject: name("alice"), dns: []string{"alice.test"}, key: peerKey}, rootA, key(t, "p256"))
	viaB := makeCert(t, certSpec{subject: name("alice"), dns: []string{"alice.test"}, key: peerKey}, caB, key(t, "p384"))
	trust := NewTrustStore(rootA, caB)
	onlyA, err := NewConnTrust(&config.Connection{Name: "rw",
		Local:  []*config.Auth{{Method: config.AuthPubkey}},
		Remote: []*config.Auth{{Method: config.AuthEAP, CACerts: []*config.Cert{{X509: rootA}}}}})
	if err != nil {
		t.Fatal(err)
	}
	alice := identity.ID{Type: wire.ID_FQDN, Data: []byte("alice.test")}
	bob := identity.ID{Type: wire.ID_FQDN, Data: []byte("bob.test")}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		ct    *ConnTrust
		id    identity.ID
		chain [][]byte
		want  string
	}{
		{onlyA, alice, [][]byte{viaA.Raw}, ""},
		{onlyA, identity.Any, [][]byte{viaA.Raw}, ""},
		{onlyA, bob, [][]byte{viaA.Raw}, `does not contain ID_FQDN "bob.test"`},
		{onlyA, alice, [][]byte{viaB.Raw}, "connection rw requires C=CH, O=strongSwan, CN=Root A"},
		{nil, alice, [][]byte{viaB.Raw}, ""},
		{onlyA, alice, nil, "peer sent no certificate"},
	} {
		err := tc.ct.VerifyChain(trust, tc.id, tc.chain, now)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("case %d: err = %v, want %q", i+1, err, tc.want)
		}
	}
}

// TestConnTrustScopedCostWithManyCAs: a connection scoped to its cacerts
// verifies a peer without parsing every CA cygnet trusts again per
// IKE_AUTH: the allocations of one verification grow by a few per extra
// trusted CA (its place in the intermediates pool), not by a certificate
// parse (about 70 allocations).
func TestConnTrustScopedCostWithManyCAs(t *testing.T) {
	root := makeCert(t, certSpec{subject: name("Root"), ca: true, key: key(t, "p256")}, nil, nil)
	peerKey := key(t, "p256")
	end := makeCert(t, certSpec{subject: name("peer"), dns: []string{"peer.test"}, key: peerKey}, root, key(t, "p256"))
	ct, err := NewConnTrust(&config.Connection{Name: "scoped",
		Local:  []*config.Auth{{Method: config.AuthPubkey}},
		Remote: []*config.Auth{{Method: config.AuthPubkey, CACerts: []*config.Cert{{X509: root}}}}})
	if err != nil {
		t.Fatal(err)
	}
	method, data, octets := signedOctets(t, peerKey)
	peer := identity.ID{Type: wire.ID_FQDN, Data: []byte("peer.test")}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	allocs := func(trust *TrustStore) float64 {
		return testing.AllocsPerRun(20, func() {
			if err := ct.VerifyPeer(trust, peer, [][]byte{end.Raw}, method, data, octets, now); err != nil {
				t.Fatal(err)
			}
		})
	}
	others := []*x509.Certificate{root}
	for i := range 20 {
		others = append(others, makeCert(t, certSpec{subject: name(fmt.Sprintf("Other CA %d", i)), ca: true, key: key(t, "p256")}, nil, nil))
	}
	one, many := allocs(NewTrustStore(root)), allocs(NewTrustStore(others...))
	if perCA := (many - one) / 20; perCA > 20 {
		t.Fatalf("%.0f allocations with 1 trusted CA, %.0f with 21: %.0f per extra CA, want a few", one, many, perCA)
	}
}

// signedOctets signs some octets with key, as a peer's AUTH payload does.
func signedOctets(t *testing.T, key crypto.Signer) (method wire.AuthMethod, data, octets []byte) {
	t.Helper()
	s, err := NewSigner(key, SignerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	octets = []byte("octets")
	method, data, err = s.Sign(octets, SupportedHashes())
	if err != nil {
		t.Fatal(err)
	}
	return method, data, octets
}
