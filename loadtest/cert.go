package loadtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// certCreds authenticates every client with a certificate for its own
// identity, issued on the fly by the CA whose key the operator gives (as
// strongSwan's load-tester does with issuer_cert and issuer_key); all
// clients share one ECDSA P-256 key, so issuing costs one CA signature per
// client. The gateway's chain must lead to the same CA.
type certCreds struct {
	ca     *x509.Certificate
	caKey  crypto.Signer
	signer *auth.Signer
	key    *ecdsa.PrivateKey
	serial int64
	issued map[string][]byte // identity -> DER
	now    func() time.Time
}

var _ ike.PubkeyCredentials = (*certCreds)(nil)

// eapClientCreds are the credentials of EAP clients: the CA that checks
// the gateway's chain, and the one password every client uses.
type eapClientCreds struct {
	*certCreds
	password []byte
}

// EAPSecret implements ike.EAPCredentials.
func (c eapClientCreds) EAPSecret(string) ([]byte, bool) { return c.password, true }

var _ ike.EAPCredentials = eapClientCreds{}

// loadCACert reads a PEM CA certificate.
func loadCACert(certFile string) (*x509.Certificate, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	blk, _ := pem.Decode(cb)
	if blk == nil {
		return nil, fmt.Errorf("--ca-cert %s: no PEM block", certFile)
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert %s: %w", certFile, err)
	}
	return ca, nil
}

// loadCA reads a PEM CA certificate and its PEM private key (PKCS#8, SEC 1
// or PKCS#1).
func loadCA(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	ca, err := loadCACert(certFile)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--ca-key: %w", err)
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, nil, fmt.Errorf("--ca-key %s: no PEM block", keyFile)
	}
	var k any
	if k, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		if k, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
			if k, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
				return nil, nil, fmt.Errorf("--ca-key %s: not a PKCS#8, SEC 1 or PKCS#1 private key", keyFile)
			}
		}
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("--ca-key %s: key cannot sign", keyFile)
	}
	return ca, s, nil
}

func newCertCreds(ca *x509.Certificate, caKey crypto.Signer) (*certCreds, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	s, err := auth.NewSigner(key, auth.SignerOptions{})
	if err != nil {
		return nil, fmt.Errorf("client signer: %w", err)
	}
	return &certCreds{ca: ca, caKey: caKey, signer: s, key: key, issued: map[string][]byte{}, now: time.Now}, nil
}

// SharedKey implements ike.Credentials: certificate clients have no PSK.
func (c *certCreds) SharedKey(local, remote identity.ID) ([]byte, bool) { return nil, false }

// LocalCertificates issues (once) the client's certificate, its identity
// as subject alternative name (and CN).
func (c *certCreds) LocalCertificates(conn string, local identity.ID) ([][]byte, error) {
	id := local.String()
	if der := c.issued[id]; der != nil {
		return [][]byte{der}, nil
	}
	c.serial++
	now := c.now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(c.serial), Subject: pkix.Name{CommonName: id},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	switch local.Type {
	case wire.ID_FQDN:
		tmpl.DNSNames = []string{id}
	case wire.ID_RFC822_ADDR:
		tmpl.EmailAddresses = []string{id}
	case wire.ID_IPV4_ADDR, wire.ID_IPV6_ADDR:
		tmpl.IPAddresses = []net.IP{net.IP(local.Data)}
	default:
		return nil, fmt.Errorf("certificate for %s: identity type %v not supported by load-test (use an FQDN, e-mail or IP identity)", id, local.Type)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, c.key.Public(), c.caKey)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", id, err)
	}
	c.issued[id] = der
	return [][]byte{der}, nil
}

// Sign implements ike.PubkeyCredentials with the clients' shared key.
func (c *certCreds) Sign(conn string, local identity.ID, signedOctets []byte, peerHashes []uint16) (wire.AuthMethod, []byte, error) {
	return c.signer.Sign(signedOctets, peerHashes)
}

// VerifyPeer checks the gateway's chain against the CA, its identity and
// its AUTH signature.
func (c *certCreds) VerifyPeer(conn string, remote identity.ID, certs [][]byte, method wire.AuthMethod, authData, signedOctets []byte) error {
	if len(certs) == 0 {
		return errors.New("gateway sent no certificate")
	}
	ee, err := x509.ParseCertificate(certs[0])
	if err != nil {
		return fmt.Errorf("gateway certificate: %w", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(c.ca)
	for _, d := range certs[1:] {
		if x, err := x509.ParseCertificate(d); err == nil {
			inter.AddCert(x)
		}
	}
	if _, err := ee.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: c.now()}); err != nil {
		return fmt.Errorf("gateway certificate: %w", err)
	}
	if !certHasID(ee, remote) {
		return fmt.Errorf("gateway certificate does not carry the identity %s", remote)
	}
	return auth.Verifier{}.VerifyCert(ee, method, authData, signedOctets)
}

func certHasID(cert *x509.Certificate, id identity.ID) bool {
	s := string(id.Data)
	switch id.Type {
	case wire.ID_FQDN:
		for _, n := range cert.DNSNames {
			if strings.EqualFold(n, s) {
				return true
			}
		}
	case wire.ID_RFC822_ADDR:
		for _, n := range cert.EmailAddresses {
			if strings.EqualFold(n, s) {
				return true
			}
		}
	case wire.ID_IPV4_ADDR, wire.ID_IPV6_ADDR:
		for _, a := range cert.IPAddresses {
			if a.Equal(net.IP(id.Data)) {
				return true
			}
		}
	case wire.ID_DER_ASN1_DN:
		return identity.DNEqual(cert.RawSubject, id.Data)
	}
	return false
}

// CertReq names the CA (RFC 7296 3.7: the SHA-1 hash of its public key).
func (c *certCreds) CertReq(conn string) []byte {
	h := sha1.Sum(c.ca.RawSubjectPublicKeyInfo)
	return h[:]
}
