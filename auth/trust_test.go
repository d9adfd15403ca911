package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

type pki struct {
	root, inter, moon, sun, other *x509.Certificate
	otherRoot                     *x509.Certificate
}

// newPKI builds root -> intermediate -> moon, root -> sun, and an unrelated
// root -> other.
func newPKI(t testing.TB) pki {
	rootKey, interKey, otherKey := key(t, "p384"), key(t, "p256"), key(t, "p521")
	var p pki
	p.root = makeCert(t, certSpec{subject: name("strongSwan Root CA"), ca: true, key: rootKey}, nil, nil)
	p.inter = makeCert(t, certSpec{subject: name("strongSwan Intermediate CA"), ca: true, key: interKey}, p.root, rootKey)
	p.moon = makeCert(t, certSpec{subject: name("moon.strongswan.org"), dns: []string{"moon.strongswan.org"}, key: key(t, "ed25519")}, p.inter, interKey)
	p.sun = makeCert(t, certSpec{subject: name("sun.strongswan.org"), key: key(t, "rsa2048")}, p.root, rootKey)
	p.otherRoot = makeCert(t, certSpec{subject: name("Other Root CA"), ca: true, key: otherKey}, nil, nil)
	p.other = makeCert(t, certSpec{subject: name("carol@strongswan.org"), key: key(t, "p256")}, p.otherRoot, otherKey)
	return p
}

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestVerifyChain(t *testing.T) {
	p := newPKI(t)
	store := NewTrustStore(p.root)
	if err := store.VerifyChain(p.sun, nil, now); err != nil {
		t.Fatalf("direct: %v", err)
	}
	if err := store.VerifyChain(p.moon, [][]byte{p.inter.Raw}, now); err != nil {
		t.Fatalf("with intermediate in CERT payload: %v", err)
	}
	chain, err := store.VerifiedChain(p.moon, [][]byte{p.inter.Raw, p.sun.Raw}, now)
	if err != nil || len(chain) != 3 || chain[1] != nil && !bytes.Equal(chain[1].Raw, p.inter.Raw) {
		t.Fatalf("VerifiedChain = %d certs, %v", len(chain), err)
	}

	// Without the intermediate the chain stops at a CA nobody trusts.
	err = store.VerifyChain(p.moon, nil, now)
	want := `certificate C=CH, O=strongSwan, CN=moon.strongswan.org issued by C=CH, O=strongSwan, CN=strongSwan Intermediate CA is not trusted: no trusted CA certificate for C=CH, O=strongSwan, CN=strongSwan Intermediate CA (trusted: "C=CH, O=strongSwan, CN=strongSwan Root CA")`
	if err == nil || err.Error() != want || !errors.Is(err, ErrUntrusted) {
		t.Fatalf("missing intermediate:\n got %v\nwant %s", err, want)
	}
	// An intermediate in our own store is enough.
	if err := NewTrustStore(p.root, p.inter).VerifyChain(p.moon, nil, now); err != nil {
		t.Fatalf("intermediate in store: %v", err)
	}
	// Issued by a CA we do not know.
	err = store.VerifyChain(p.other, nil, now)
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "certificate C=CH, O=strongSwan, CN=carol@strongswan.org issued by C=CH, O=strongSwan, CN=Other Root CA is not trusted") {
		t.Fatalf("untrusted: %v", err)
	}
	// The other root sent by the peer as "intermediate" does not help.
	if err := store.VerifyChain(p.other, [][]byte{p.otherRoot.Raw}, now); !errors.Is(err, ErrUntrusted) ||
		!strings.Contains(err.Error(), "no trusted CA certificate for C=CH, O=strongSwan, CN=Other Root CA") {
		t.Fatalf("self-signed root in CERT payload: %v", err)
	}
	// Empty store.
	if err := NewTrustStore().VerifyChain(p.sun, nil, now); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "(trusted: none)") {
		t.Fatalf("empty store: %v", err)
	}
	// A pinned end-entity certificate is trusted as such.
	if err := NewTrustStore(p.other).VerifyChain(p.other, nil, now); err != nil {
		t.Fatalf("pinned: %v", err)
	}
	// ...but cannot issue: whoever holds its key cannot mint other identities.
	minted := makeCert(t, certSpec{subject: name("moon.strongswan.org"), key: key(t, "p384")}, p.other, key(t, "p256"))
	if err := NewTrustStore(p.other).VerifyChain(minted, nil, now); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("certificate issued by a pinned end-entity certificate: %v", err)
	}
	if err := NewTrustStore(p.other).VerifyChain(p.other, nil, now.AddDate(20, 0, 0)); !errors.Is(err, ErrCertExpired) {
		t.Fatalf("expired pinned certificate: %v", err)
	}
	// Garbage in a CERT payload.
	if err := store.VerifyChain(p.moon, [][]byte{{0x30, 0x03, 1, 2, 3}}, now); err == nil || !strings.Contains(err.Error(), "CERT payload 1") {
		t.Fatalf("garbage intermediate: %v", err)
	}
	if err := store.VerifyChain(nil, nil, now); err == nil {
		t.Fatal("nil end accepted")
	}
}

func TestVerifyChainValidity(t *testing.T) {
	rootKey := key(t, "p256")
	root := makeCert(t, certSpec{subject: name("Root"), ca: true, key: rootKey}, nil, nil)
	expired := makeCert(t, certSpec{subject: name("old"), key: key(t, "p384"),
		notBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), notAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}, root, rootKey)
	future := makeCert(t, certSpec{subject: name("new"), key: key(t, "p384"),
		notBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, root, rootKey)
	store := NewTrustStore(root)
	err := store.VerifyChain(expired, nil, now)
	want := "certificate C=CH, O=strongSwan, CN=old: certificate not valid at this time: 2026-06-01T12:00:00Z is outside 2020-01-01T00:00:00Z..2021-01-01T00:00:00Z"
	if err == nil || err.Error() != want || !errors.Is(err, ErrCertExpired) {
		t.Fatalf("expired:\n got %v\nwant %s", err, want)
	}
	if err := store.VerifyChain(future, nil, now); !errors.Is(err, ErrCertExpired) {
		t.Fatalf("not yet valid: %v", err)
	}
	if err := store.VerifyChain(future, nil, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("valid later: %v", err)
	}
	// An expired CA invalidates the chain too.
	oldRoot := makeCert(t, certSpec{subject: name("Old Root"), ca: true, key: rootKey,
		notAfter: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, nil, nil)
	leaf := makeCert(t, certSpec{subject: name("leaf"), key: key(t, "p384")}, oldRoot, rootKey)
	if err := NewTrustStore(oldRoot).VerifyChain(leaf, nil, now); !errors.Is(err, ErrCertExpired) || !strings.Contains(err.Error(), "CN=Old Root") {
		t.Fatalf("expired root: %v", err)
	}
}

func TestCertReq(t *testing.T) {
	p := newPKI(t)
	store := NewTrustStore(p.root, p.otherRoot, p.root, p.sun) // duplicate and non-CA are left out
	data := store.CertReqData()
	h1 := sha1.Sum(p.root.RawSubjectPublicKeyInfo)
	h2 := sha1.Sum(p.otherRoot.RawSubjectPublicKeyInfo)
	if !bytes.Equal(data, append(h1[:], h2[:]...)) {
		t.Fatalf("CertReqData = %x", data)
	}
	hashes, err := ParseCertReq(data)
	if err != nil || len(hashes) != 2 || hashes[1] != h2 {
		t.Fatalf("ParseCertReq = %x, %v", hashes, err)
	}
	if _, err := ParseCertReq(data[:21]); err == nil {
		t.Fatal("ParseCertReq accepted 21 bytes")
	}
	if len(store.Certificates()) != 3 {
		t.Fatalf("Certificates() = %d, want 3", len(store.Certificates()))
	}

	// Our side: moon chains via the intermediate to the root.
	ours := NewTrustStore(p.root, p.inter, p.otherRoot)
	if got := ours.Issuers(p.moon); len(got) != 2 || got[0] != p.inter || got[1] != p.root {
		t.Fatalf("Issuers(moon) = %v", got)
	}
	if !ours.MatchesCertReq(h1[:], p.moon) {
		t.Error("moon does not match a CERTREQ for its root")
	}
	hi := sha1.Sum(p.inter.RawSubjectPublicKeyInfo)
	if !ours.MatchesCertReq(append(h2[:], hi[:]...), p.moon) {
		t.Error("moon does not match a CERTREQ for its intermediate")
	}
	if ours.MatchesCertReq(h2[:], p.moon) || ours.MatchesCertReq(h1[:5], p.moon) || ours.MatchesCertReq(nil, p.moon) {
		t.Error("moon matches a CERTREQ for another CA, a malformed or an empty one")
	}
	if got := ours.SelectCert(h2[:], []*x509.Certificate{p.moon, p.other}); got != p.other {
		t.Errorf("SelectCert(other root) = %v", got.Subject)
	}
	if got := ours.SelectCert(h1[:], []*x509.Certificate{p.other, p.moon}); got != p.moon {
		t.Errorf("SelectCert(root) = %v", got.Subject)
	}
	if got := ours.SelectCert(nil, []*x509.Certificate{p.other, p.moon}); got != p.other {
		t.Errorf("SelectCert(no CERTREQ) = %v", got.Subject)
	}
	if ours.SelectCert(h1[:], nil) != nil {
		t.Error("SelectCert without candidates")
	}
}

// The CERTREQ hash is what strongSwan's pki prints as "keyid (SHA-1 of
// subjectPublicKeyInfo)" for the same certificate.
func TestCertReqMatchesStrongSwanKeyID(t *testing.T) {
	for _, name := range []string{"rsa-sha256", "ec384-sha384", "ed25519"} {
		c := fixtureCert(t, name+".crt")
		want := strings.TrimSpace(string(readFixture(t, name+".keyid")))
		got := hex.EncodeToString(NewTrustStore(c).CertReqData())
		if got != want {
			t.Errorf("%s: CertReqData %s, pki --keyid %s", name, got, want)
		}
	}
}
