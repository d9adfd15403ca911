package testnet

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestGeneratePKI(t *testing.T) {
	for _, c := range []struct {
		kt   KeyType
		want any
	}{{KeyECDSAP256, &ecdsa.PrivateKey{}}, {KeyRSA3072, &rsa.PrivateKey{}}, {KeyEd25519, ed25519.PrivateKey{}}} {
		t.Run(string(c.kt), func(t *testing.T) {
			if testing.Short() && c.kt == KeyRSA3072 {
				t.Skip("RSA-3072 key generation is slow")
			}
			p, err := GeneratePKI(c.kt, "a", "b")
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(p.CA)
			for _, n := range []string{"a", "b"} {
				h := p.Hosts[n]
				if h.ID != n+".cygnet.test" || h.Cert.Subject.CommonName != h.ID {
					t.Errorf("identity %q, CN %q", h.ID, h.Cert.Subject.CommonName)
				}
				if _, err := h.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: h.ID, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
					t.Errorf("%s does not chain to the CA: %v", n, err)
				}
				blk, _ := pem.Decode(h.KeyPEM)
				if blk == nil || blk.Type != "PRIVATE KEY" {
					t.Fatalf("%s: key PEM %q", n, h.KeyPEM)
				}
				key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				if reflect.TypeOf(key) != reflect.TypeOf(c.want) {
					t.Errorf("%s: key type %T, want %T", n, key, c.want)
				}
				type equaler interface{ Equal(crypto.PublicKey) bool }
				if !key.(crypto.Signer).Public().(equaler).Equal(h.Cert.PublicKey) {
					t.Errorf("%s: key does not match certificate", n)
				}
			}
			dir := t.TempDir()
			if err := p.WriteSwanctl(dir, "a"); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"x509ca/ca.crt", "x509/a.crt", "private/a.key"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
			if fi, err := os.Stat(filepath.Join(dir, "private/a.key")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("private key mode: %v %v", fi.Mode(), err)
			}
			if err := p.WriteSwanctl(dir, "c"); err == nil {
				t.Error("WriteSwanctl for an unknown host succeeded")
			}
			if err := p.WriteFiles(filepath.Join(dir, "flat")); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"ca.crt", "a.crt", "a.key", "b.crt", "b.key"} {
				if _, err := os.Stat(filepath.Join(dir, "flat", f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	if _, err := GeneratePKI("dsa", "a"); err == nil {
		t.Error("unknown key type accepted")
	}
}
