package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// sigAlgFromCert returns the DER signatureAlgorithm of a certificate.
func sigAlgFromCert(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	// Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signature }: skip
	// the outer header and the TBS, then read one element.
	outer := c.Raw
	hdr := 2
	if outer[1]&0x80 != 0 {
		hdr += int(outer[1] & 0x7f)
	}
	rest := outer[hdr+len(c.RawTBSCertificate):]
	n := int(rest[1]) + 2
	if rest[1]&0x80 != 0 {
		t.Fatal("long signatureAlgorithm")
	}
	return rest[:n]
}

func rfc7427Data(algID, sig []byte) []byte {
	return append(append([]byte{byte(len(algID))}, algID...), sig...)
}

// strongSwan's pki writes certificate signatures with the same
// AlgorithmIdentifier encoder it uses for RFC 7427 AUTH payloads. Each
// fixture's signatureAlgorithm must parse to the expected scheme, encode back
// byte for byte, and its signature over the TBSCertificate must verify as an
// RFC 7427 AUTH payload would.
func TestStrongSwanAlgorithmIdentifiers(t *testing.T) {
	for _, tc := range []struct {
		cert   string
		scheme SignatureScheme
	}{
		{"rsa-sha256.crt", RSASHA256},
		{"rsa-sha384.crt", RSASHA384},
		{"rsa-sha512.crt", RSASHA512},
		{"pss-sha256.crt", RSAPSSSHA256},
		{"pss-sha384.crt", RSAPSSSHA384},
		{"pss-sha512.crt", RSAPSSSHA512},
		{"ec256-sha256.crt", ECDSASHA256},
		{"ec384-sha384.crt", ECDSASHA384},
		{"ec521-sha512.crt", ECDSASHA512},
		{"ed25519.crt", Ed25519Scheme},
	} {
		t.Run(tc.cert, func(t *testing.T) {
			c := fixtureCert(t, tc.cert)
			algID := sigAlgFromCert(t, c)
			sc, err := ParseAlgorithmIdentifier(algID)
			if err != nil {
				t.Fatal(err)
			}
			if sc != tc.scheme {
				t.Fatalf("scheme = %v, want %v", sc, tc.scheme)
			}
			ours, _ := sc.AlgorithmIdentifier()
			if !bytes.Equal(ours, algID) {
				t.Fatalf("AlgorithmIdentifier\n ours      %x\n strongSwan %x", ours, algID)
			}
			if err := Verify(c.PublicKey, wire.AuthDigitalSignature, rfc7427Data(algID, c.Signature), c.RawTBSCertificate); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Signatures made by OpenSSL over fixed octets verify as AUTH payloads.
func TestOpenSSLSignatures(t *testing.T) {
	msg := readFixture(t, "octets.bin")
	rsaKey := fixtureKey(t, "rsa.key").Public()
	for _, tc := range []struct {
		sig    string
		pub    crypto.PublicKey
		method wire.AuthMethod
		scheme SignatureScheme
		v      Verifier
	}{
		{"rsa-pkcs1-sha256.sig", rsaKey, wire.AuthDigitalSignature, RSASHA256, Verifier{}},
		{"rsa-pkcs1-sha384.sig", rsaKey, wire.AuthDigitalSignature, RSASHA384, Verifier{}},
		{"rsa-pkcs1-sha512.sig", rsaKey, wire.AuthDigitalSignature, RSASHA512, Verifier{}},
		{"rsa-pss-sha256.sig", rsaKey, wire.AuthDigitalSignature, RSAPSSSHA256, Verifier{}},
		{"rsa-pss-sha384.sig", rsaKey, wire.AuthDigitalSignature, RSAPSSSHA384, Verifier{}},
		{"rsa-pss-sha512.sig", rsaKey, wire.AuthDigitalSignature, RSAPSSSHA512, Verifier{}},
		{"rsa-pkcs1-sha1.sig", rsaKey, wire.AuthRSASignature, SignatureScheme{}, Verifier{AllowLegacySHA1: true}},
		{"rsa-pkcs1-sha1.sig", rsaKey, wire.AuthDigitalSignature, SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1}, Verifier{AllowLegacySHA1: true}},
		{"ec256-sha256.sig", fixtureKey(t, "ec256.key").Public(), wire.AuthDigitalSignature, ECDSASHA256, Verifier{}},
		{"ec384-sha384.sig", fixtureKey(t, "ec384.key").Public(), wire.AuthDigitalSignature, ECDSASHA384, Verifier{}},
		{"ec521-sha512.sig", fixtureKey(t, "ec521.key").Public(), wire.AuthDigitalSignature, ECDSASHA512, Verifier{}},
		{"ec256-sha256.sig", fixtureKey(t, "ec256.key").Public(), wire.AuthECDSASHA256P256, SignatureScheme{}, Verifier{}},
		{"ec384-sha384.sig", fixtureKey(t, "ec384.key").Public(), wire.AuthECDSASHA384P384, SignatureScheme{}, Verifier{}},
		{"ec521-sha512.sig", fixtureKey(t, "ec521.key").Public(), wire.AuthECDSASHA512P521, SignatureScheme{}, Verifier{}},
		{"ed25519.sig", fixtureKey(t, "ed25519.key").Public(), wire.AuthDigitalSignature, Ed25519Scheme, Verifier{}},
	} {
		t.Run(tc.sig+"/"+tc.method.String(), func(t *testing.T) {
			sig := readFixture(t, tc.sig)
			var data []byte
			switch tc.method {
			case wire.AuthDigitalSignature:
				algID, err := tc.scheme.AlgorithmIdentifier()
				if err != nil {
					t.Fatal(err)
				}
				data = rfc7427Data(algID, sig)
			case wire.AuthECDSASHA256P256, wire.AuthECDSASHA384P384, wire.AuthECDSASHA512P521:
				n := curveBytes(tc.pub.(*ecdsa.PublicKey).Curve)
				raw, err := ecdsaDERToRaw(sig, n)
				if err != nil {
					t.Fatal(err)
				}
				data = raw
			default:
				data = sig
			}
			if err := tc.v.Verify(tc.pub, tc.method, data, msg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// OpenSSL verifies signatures made by Signer (skipped without openssl).
func TestOpenSSLVerifiesOurSignatures(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	msgPath := filepath.Join(dir, "octets")
	if err := os.WriteFile(msgPath, octets, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		opts SignerOptions
		peer []uint16
		args []string
	}{
		{"rsa.key", SignerOptions{}, []uint16{HashSHA2256}, []string{"dgst", "-sha256"}},
		{"rsa.key", SignerOptions{}, []uint16{HashSHA2512}, []string{"dgst", "-sha512"}},
		{"rsa.key", SignerOptions{RSAPSS: true}, []uint16{HashSHA2384}, []string{"dgst", "-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"}},
		{"ec256.key", SignerOptions{}, []uint16{HashSHA2256}, []string{"dgst", "-sha256"}},
		{"ec521.key", SignerOptions{}, []uint16{HashSHA2512}, []string{"dgst", "-sha512"}},
		{"ed25519.key", SignerOptions{}, []uint16{HashIdentity}, []string{"pkeyutl", "-rawin"}},
	} {
		t.Run(tc.key+"/"+strings.Join(tc.args, " "), func(t *testing.T) {
			s, err := NewSigner(fixtureKey(t, tc.key), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, data, err := s.Sign(octets, tc.peer)
			if err != nil {
				t.Fatal(err)
			}
			sig := data[1+int(data[0]):]
			sigPath := filepath.Join(dir, "sig")
			if err := os.WriteFile(sigPath, sig, 0o600); err != nil {
				t.Fatal(err)
			}
			keyPath := filepath.Join("testdata", "interop", tc.key)
			var args []string
			if tc.args[0] == "pkeyutl" {
				args = append(tc.args, "-verify", "-inkey", keyPath, "-sigfile", sigPath, "-in", msgPath)
			} else {
				args = append(tc.args, "-prverify", keyPath, "-signature", sigPath, msgPath)
			}
			out, err := exec.Command("openssl", args...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Verified OK") && !strings.Contains(string(out), "Signature Verified Successfully") {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	rsaPub := key(t, "rsa2048").Public()
	p256 := key(t, "p256").Public()
	p384 := key(t, "p384").Public()
	edPub := key(t, "ed25519").Public()
	sign := func(k string, opts SignerOptions, peer []uint16) (wire.AuthMethod, []byte) {
		s, err := NewSigner(key(t, k), opts)
		if err != nil {
			t.Fatal(err)
		}
		m, d, err := s.Sign(octets, peer)
		if err != nil {
			t.Fatal(err)
		}
		return m, d
	}
	_, rsaDS := sign("rsa2048", SignerOptions{}, SupportedHashes())
	_, rsaSHA1 := sign("rsa2048", SignerOptions{AllowLegacySHA1: true}, nil)
	_, ecDS := sign("p256", SignerOptions{}, SupportedHashes())
	_, ecRaw := sign("p256", SignerOptions{}, nil)
	_, edDS := sign("ed25519", SignerOptions{}, SupportedHashes())
	sha1AlgID := unhex(t, "300d06092a864886f70d0101050500")
	sha1DS := rfc7427Data(sha1AlgID, rsaSHA1)

	for _, tc := range []struct {
		name   string
		v      Verifier
		pub    crypto.PublicKey
		method wire.AuthMethod
		data   []byte
		want   string
		is     error
	}{
		{"RSA signature, ECDSA key", Verifier{}, p256, wire.AuthDigitalSignature, rsaDS,
			"AUTH: signature scheme sha256WithRSAEncryption does not match the public key (ECDSA P-256)", ErrKeyMismatch},
		{"ECDSA signature, RSA key", Verifier{}, rsaPub, wire.AuthDigitalSignature, ecDS,
			"ecdsa-with-SHA256 does not match the public key (RSA-2048)", ErrKeyMismatch},
		{"Ed25519 signature, ECDSA key", Verifier{}, p256, wire.AuthDigitalSignature, edDS, "Ed25519 does not match", ErrKeyMismatch},
		{"RSA signature, other RSA key", Verifier{}, fixtureKey(t, "rsa.key").Public(), wire.AuthDigitalSignature, rsaDS,
			"AUTH: RSA signature does not verify (sha256WithRSAEncryption)", ErrSignature},
		{"Ed25519, other key", Verifier{}, fixtureKey(t, "ed25519.key").Public(), wire.AuthDigitalSignature, edDS,
			"AUTH: Ed25519 signature does not verify (Ed25519)", ErrSignature},
		{"method 9 with P-384 key", Verifier{}, p384, wire.AuthECDSASHA256P256, ecRaw,
			"AUTH: ECDSA_SHA256_P256 does not match the public key (ECDSA P-384)", ErrKeyMismatch},
		{"method 10 with P-256 key", Verifier{}, p256, wire.AuthECDSASHA384P384, ecRaw, "does not match the public key", ErrKeyMismatch},
		{"method 9 with RSA key", Verifier{}, rsaPub, wire.AuthECDSASHA256P256, ecRaw, "does not match the public key (RSA-2048)", ErrKeyMismatch},
		{"method 9 short", Verifier{}, p256, wire.AuthECDSASHA256P256, ecRaw[:63],
			"malformed AUTH data: ECDSA_SHA256_P256 signature of 63 bytes, want 64", ErrMalformed},
		{"method 9 DER instead of raw", Verifier{}, p256, wire.AuthECDSASHA256P256, ecDS[13:], "malformed AUTH data", ErrMalformed},
		{"method 1 refused by default", Verifier{}, rsaPub, wire.AuthRSASignature, rsaSHA1,
			"RSA_DIGITAL_SIGNATURE (PKCS#1 v1.5 with SHA-1) refused", ErrLegacySHA1},
		{"method 1 with ECDSA key", Verifier{AllowLegacySHA1: true}, p256, wire.AuthRSASignature, rsaSHA1, "does not match", ErrKeyMismatch},
		{"sha1WithRSA under 7427 refused by default", Verifier{}, rsaPub, wire.AuthDigitalSignature, sha1DS,
			"AUTH: sha1WithRSAEncryption refused", ErrLegacySHA1},
		{"ecdsa-with-SHA1 always refused", Verifier{AllowLegacySHA1: true}, p256, wire.AuthDigitalSignature,
			rfc7427Data(unhex(t, "300906072a8648ce3d0401"), ecDS[13:]), "ecdsa-with-SHA1 refused", ErrLegacySHA1},
		{"empty DS data", Verifier{}, rsaPub, wire.AuthDigitalSignature, nil, "malformed AUTH data", ErrMalformed},
		{"length byte beyond data", Verifier{}, rsaPub, wire.AuthDigitalSignature, []byte{0x20, 0x30},
			"DIGITAL_SIGNATURE data of 2 bytes too short", ErrMalformed},
		{"garbage AlgorithmIdentifier", Verifier{}, rsaPub, wire.AuthDigitalSignature, []byte{3, 1, 2, 3, 4},
			"malformed AUTH data: malformed AlgorithmIdentifier", ErrMalformed},
		{"shared key method", Verifier{}, rsaPub, wire.AuthSharedKey, rsaDS,
			"AUTH: unsupported AUTH method SHARED_KEY_MESSAGE_INTEGRITY_CODE (not a signature)", ErrUnsupportedMethod},
		{"DSS", Verifier{}, rsaPub, wire.AuthDSSSignature, rsaDS, "unsupported AUTH method", ErrUnsupportedMethod},
		{"unknown key type", Verifier{}, "not a key", wire.AuthDigitalSignature, rsaDS, "public key string is not supported", nil},
		{"nil RSA key", Verifier{}, (*rsa.PublicKey)(nil), wire.AuthDigitalSignature, rsaDS, "invalid RSA", nil},
		{"short Ed25519 key", Verifier{}, ed25519.PublicKey{1, 2}, wire.AuthDigitalSignature, edDS, "invalid Ed25519", nil},
		{"Ed25519 wrong length signature", Verifier{}, edPub, wire.AuthDigitalSignature, edDS[:len(edDS)-1], "does not verify", ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.Verify(tc.pub, tc.method, tc.data, octets)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
}

func TestVerifyCert(t *testing.T) {
	caKey, moonKey := key(t, "p384"), key(t, "rsa2048")
	ca := makeCert(t, certSpec{subject: name("strongSwan Root CA"), ca: true, key: caKey}, nil, nil)
	moon := makeCert(t, certSpec{subject: name("moon.strongswan.org"), key: moonKey,
		keyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)
	s, _ := NewSigner(moonKey, SignerOptions{})
	m, data, err := s.Sign(octets, SupportedHashes())
	if err != nil {
		t.Fatal(err)
	}
	if err := (Verifier{}).VerifyCert(moon, m, data, octets); err != nil {
		t.Fatal(err)
	}
	err = Verifier{}.VerifyCert(moon, m, data, octets[1:])
	want := "AUTH: RSA signature does not verify (sha256WithRSAEncryption) for C=CH, O=strongSwan, CN=moon.strongswan.org"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	encOnly := makeCert(t, certSpec{subject: name("enc"), key: moonKey, keyUsage: x509.KeyUsageKeyEncipherment}, ca, caKey)
	err = Verifier{}.VerifyCert(encOnly, m, data, octets)
	if !errors.Is(err, ErrKeyUsage) || !strings.Contains(err.Error(), "for C=CH, O=strongSwan, CN=enc") {
		t.Fatalf("keyEncipherment-only cert: err = %v", err)
	}
	nonRep := makeCert(t, certSpec{subject: name("nr"), key: moonKey, keyUsage: x509.KeyUsageContentCommitment}, ca, caKey)
	if err := (Verifier{}).VerifyCert(nonRep, m, data, octets); err != nil {
		t.Fatalf("nonRepudiation cert: %v", err)
	}
	if err := (Verifier{}).VerifyCert(nil, m, data, octets); err == nil {
		t.Fatal("nil cert accepted")
	}
}
