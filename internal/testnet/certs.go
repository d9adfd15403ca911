package testnet

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// CertDomain is the DNS suffix of the identities GeneratePKI issues: host
// "a" gets the identity (SAN and CN) "a.cygnet.test".
const CertDomain = "cygnet.test"

// KeyType selects the key algorithm of a throwaway PKI.
type KeyType string

// Supported key types.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyRSA3072   KeyType = "rsa-3072"
	KeyEd25519   KeyType = "ed25519"
)

// PKI is a throwaway certificate authority and the host certificates it
// issued, all with keys of one type.
type PKI struct {
	KeyType KeyType
	CA      *x509.Certificate
	CAKey   crypto.Signer
	CAPEM   []byte
	// Hosts maps a host name ("a") to its certificate.
	Hosts map[string]*HostCert
}

// HostCert is an end-entity certificate with its private key.
type HostCert struct {
	Name    string // as passed to GeneratePKI, e.g. "a"
	ID      string // IKE identity (FQDN, also the SAN), e.g. "a.cygnet.test"
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte // PKCS#8 "PRIVATE KEY"
}

// GeneratePKI makes a CA and one certificate per host name, valid from an
// hour ago for a day. Names must be short host labels ("a", "b").
func GeneratePKI(kt KeyType, names ...string) (*PKI, error) {
	return GeneratePKINamed(kt, "cygnet test CA", names...)
}

// GeneratePKINamed is GeneratePKI with the CA's common name given, for tests
// with several CAs that must tell them apart (and read them apart in logs):
// the CA's subject is "C=XX, O=cygnet test, CN=<caName>".
func GeneratePKINamed(kt KeyType, caName string, names ...string) (*PKI, error) {
	caKey, err := newKey(kt)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{Country: []string{"XX"}, Organization: []string{"cygnet test"}, CommonName: caName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	ca, caPEM, err := issue(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	p := &PKI{KeyType: kt, CA: ca, CAKey: caKey, CAPEM: caPEM, Hosts: map[string]*HostCert{}}
	for _, n := range names {
		key, err := newKey(kt)
		if err != nil {
			return nil, err
		}
		id := n + "." + CertDomain
		usage := x509.KeyUsageDigitalSignature
		if kt == KeyRSA3072 {
			usage |= x509.KeyUsageKeyEncipherment
		}
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{Country: []string{"XX"}, Organization: []string{"cygnet test"}, CommonName: id},
			DNSNames:    []string{id},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.Add(24 * time.Hour),
			KeyUsage:    usage,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		cert, certPEM, err := issue(tmpl, ca, key.Public(), caKey)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", id, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("marshal key %s: %w", id, err)
		}
		p.Hosts[n] = &HostCert{
			Name: n, ID: id, Cert: cert, Key: key, CertPEM: certPEM,
			KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		}
	}
	return p, nil
}

func newKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q", kt)
}

// issue signs tmpl with the parent's key; it fills in serial number and
// key identifiers.
func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, []byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	ski := sha1.Sum(spki) // RFC 5280 method 1 style identifier, not a security use
	tmpl.SubjectKeyId = ski[:]
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// WriteSwanctl writes the CA and host name's certificate and key in the
// layout swanctl --load-all expects below dir: x509ca/ca.crt,
// x509/NAME.crt and private/NAME.key (PKCS#8 PEM, mode 0600). A swanctl.conf
// in dir then refers to them as cacerts = ca.crt and certs = NAME.crt.
func (p *PKI) WriteSwanctl(dir, name string) error {
	h, ok := p.Hosts[name]
	if !ok {
		return fmt.Errorf("no certificate for host %q", name)
	}
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{filepath.Join(dir, "x509ca", "ca.crt"), p.CAPEM, 0o644},
		{filepath.Join(dir, "x509", name+".crt"), h.CertPEM, 0o644},
		{filepath.Join(dir, "private", name+".key"), h.KeyPEM, 0o600},
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// WriteFiles writes ca.crt and, per host, NAME.crt and NAME.key (PKCS#8)
// flat into dir, for programs other than swanctl.
func (p *PKI) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), p.CAPEM, 0o644); err != nil {
		return err
	}
	for n, h := range p.Hosts {
		if err := os.WriteFile(filepath.Join(dir, n+".crt"), h.CertPEM, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, n+".key"), h.KeyPEM, 0o600); err != nil {
			return err
		}
	}
	return nil
}
