package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testKeys are generated once per test binary; RSA generation is slow.
var testKeys = sync.OnceValue(func() map[string]crypto.Signer {
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	m := map[string]crypto.Signer{"rsa2048": rsa2048}
	for name, c := range map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521(), "p224": elliptic.P224()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		m[name] = k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	m["ed25519"] = ed
	return m
})

func key(t testing.TB, name string) crypto.Signer {
	t.Helper()
	k, ok := testKeys()[name]
	if !ok {
		t.Fatalf("no test key %q", name)
	}
	return k
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "interop", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemDER(t testing.TB, b []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	return blk.Bytes
}

// fixtureKey reads a PEM private key written by strongSwan's pki.
func fixtureKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	der := pemDER(t, readFixture(t, name))
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k.(crypto.Signer)
}

func fixtureCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(pemDER(t, readFixture(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// certSpec describes a test certificate made with crypto/x509.
type certSpec struct {
	subject   pkix.Name
	ca        bool
	notBefore time.Time
	notAfter  time.Time
	dns       []string
	emails    []string
	ips       []net.IP
	keyUsage  x509.KeyUsage
	ski       []byte
	key       crypto.Signer
}

var serial int64 = 1

func makeCert(t testing.TB, spec certSpec, issuer *x509.Certificate, issuerKey crypto.Signer) *x509.Certificate {
	t.Helper()
	if spec.notBefore.IsZero() {
		spec.notBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               spec.subject,
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		DNSNames:              spec.dns,
		EmailAddresses:        spec.emails,
		IPAddresses:           spec.ips,
		KeyUsage:              spec.keyUsage,
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
		SubjectKeyId:          spec.ski,
	}
	if spec.ca && tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if issuer == nil {
		issuer, issuerKey = tmpl, spec.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, spec.key.Public(), issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func name(cn string) pkix.Name {
	return pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan"}, CommonName: cn}
}
