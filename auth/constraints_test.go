package auth

import (
	"crypto"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

func TestParseConstraints(t *testing.T) {
	sha1RSA := SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1}
	for _, tc := range []struct {
		auth   string // the auth value, split on '-' as config does
		rsaPSS bool
		want   []SignatureScheme
	}{
		{"pubkey", false, nil},
		{"rsa/pss", false, []SignatureScheme{RSAPSSSHA256, RSAPSSSHA384, RSAPSSSHA512}},
		{"rsa", false, []SignatureScheme{RSASHA256, RSASHA384, RSASHA512}},
		{"rsa-2048", false, []SignatureScheme{RSASHA256, RSASHA384, RSASHA512}},
		{"ecdsa", false, []SignatureScheme{ECDSASHA256, ECDSASHA384, ECDSASHA512}},
		{"ed25519", false, []SignatureScheme{Ed25519Scheme}},
		{"rsa/pss-ecdsa-sha384", false, []SignatureScheme{RSAPSSSHA256, RSAPSSSHA384, RSAPSSSHA512, ECDSASHA384}},
		{"pubkey-sha384", false, []SignatureScheme{RSASHA384, ECDSASHA384}},
		{"pubkey-sha384", true, []SignatureScheme{RSAPSSSHA384, RSASHA384, ECDSASHA384}},
		{"rsa/pss-sha256-sha512", false, []SignatureScheme{RSAPSSSHA256, RSAPSSSHA512}},
		{"rsa-2048-sha256", false, []SignatureScheme{RSASHA256}},
		{"ecdsa-384-sha384-sha512", false, []SignatureScheme{ECDSASHA384, ECDSASHA512}},
		{"ed25519-identity", false, []SignatureScheme{Ed25519Scheme}},
		{"pubkey-identity-sha256", false, []SignatureScheme{Ed25519Scheme, RSASHA256, ECDSASHA256}},
		{"rsa-sha1", false, []SignatureScheme{sha1RSA}},
		{"rsa-sha224-md5", false, nil},
		// ike: constraints replace the general ones for IKE signatures.
		{"rsa-sha256-ike:rsa/pss-sha384", false, []SignatureScheme{RSAPSSSHA384}},
		{"ecdsa-sha256-ike:pubkey-sha512", false, []SignatureScheme{RSASHA512, ECDSASHA512}},
		{"ike:ecdsa-sha384-rsa-sha256", false, []SignatureScheme{ECDSASHA384}},
	} {
		got := ParseConstraints(strings.Split(tc.auth, "-"), tc.rsaPSS)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseConstraints(%q, pss=%v) = %v, want %v", tc.auth, tc.rsaPSS, got, tc.want)
		}
	}
}

func TestConstraintsSignAndVerify(t *testing.T) {
	cons := ParseConstraints([]string{"ike:rsa/pss", "sha512", "ike:ecdsa", "sha512"}, false)
	rs, _ := NewSigner(key(t, "rsa2048"), SignerOptions{Schemes: cons})
	m, data, err := rs.Sign(octets, SupportedHashes())
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := ParseAlgorithmIdentifier(data[1 : 1+int(data[0])])
	if sc != RSAPSSSHA512 {
		t.Fatalf("signed with %v, want %v", sc, RSAPSSSHA512)
	}
	if err := (Verifier{Schemes: cons}).Verify(rs.Public(), m, data, octets); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.Sign(octets, []uint16{HashSHA2256}); !errors.Is(err, ErrNoCommonHash) {
		t.Fatalf("peer without SHA-512: %v", err)
	}
	es, _ := NewSigner(key(t, "ed25519"), SignerOptions{Schemes: cons})
	if _, _, err := es.Sign(octets, SupportedHashes()); err == nil || !strings.Contains(err.Error(), "no configured signature scheme is for this key") {
		t.Fatalf("Ed25519 under RSA/ECDSA constraints: %v", err)
	}

	// A peer signing with SHA-256 is refused by constraints asking for SHA-512.
	ps, _ := NewSigner(key(t, "p256"), SignerOptions{})
	m, data, _ = ps.Sign(octets, SupportedHashes())
	err = Verifier{Schemes: cons}.Verify(ps.Public(), m, data, octets)
	if !errors.Is(err, ErrSchemeNotAllowed) || err.Error() != "AUTH: signature scheme ecdsa-with-SHA256 not allowed by the auth constraints" {
		t.Fatalf("constraint violation: %v", err)
	}
	m, data, _ = ps.Sign(octets, nil)
	if err := (Verifier{Schemes: cons}).Verify(ps.Public(), m, data, octets); !errors.Is(err, ErrSchemeNotAllowed) {
		t.Fatalf("classic ECDSA under constraints: %v", err)
	}
	if err := (Verifier{Schemes: ParseConstraints([]string{"ecdsa", "sha256"}, false)}).Verify(ps.Public(), m, data, octets); err != nil {
		t.Fatalf("classic ECDSA_SHA256_P256 under ecdsa-sha256: %v", err)
	}
	// Legacy method 1 needs both the option and a sha1 constraint.
	ls, _ := NewSigner(key(t, "rsa2048"), SignerOptions{AllowLegacySHA1: true})
	m, data, _ = ls.Sign(octets, nil)
	if m != wire.AuthRSASignature {
		t.Fatalf("method %v", m)
	}
	if err := (Verifier{AllowLegacySHA1: true, Schemes: ParseConstraints([]string{"rsa", "sha256"}, false)}).Verify(ls.Public(), m, data, octets); !errors.Is(err, ErrSchemeNotAllowed) {
		t.Fatalf("method 1 under rsa-sha256: %v", err)
	}
	if err := (Verifier{AllowLegacySHA1: true, Schemes: ParseConstraints([]string{"rsa", "sha1"}, false)}).Verify(ls.Public(), m, data, octets); err != nil {
		t.Fatalf("method 1 under rsa-sha1: %v", err)
	}
}

// TestParseCertConstraints: only key tokens without "ike:" constrain the
// signatures of the peer's certificate chain.
func TestParseCertConstraints(t *testing.T) {
	for auth, want := range map[string][]SignatureScheme{
		"pubkey":                        nil,
		"ike:rsa/pss":                   nil,
		"rsa/pss-sha256":                {RSAPSSSHA256},
		"rsa-sha256-ike:rsa/pss-sha384": {RSASHA256},
		"ecdsa-sha384":                  {ECDSASHA384},
	} {
		if got := ParseCertConstraints(strings.Split(auth, "-"), false); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ParseCertConstraints(%q) = %v, want %v", auth, got, want)
		}
	}
}
