package auth

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
)

// TrustStoreFromConfig collects every certificate strongSwan trusts after
// swanctl --load-all: the x509ca/ and x509/ folders, authorities.*.cacert,
// and the certs and cacerts of every local and remote auth round. Like
// strongSwan's vici credential set, which adds every loaded certificate as
// trusted, end-entity certificates are trusted as such, so a peer
// certificate named in remote.certs needs no CA. Per-connection CA
// constraints (remote.cacerts) are the caller's to check on the chain
// VerifiedChain returns.
func TrustStoreFromConfig(cfg *config.Config) *TrustStore {
	t := NewTrustStore()
	add := func(certs []*config.Cert) {
		for _, c := range certs {
			if c != nil && c.X509 != nil {
				t.Add(c.X509)
			}
		}
	}
	add(cfg.Credentials.CACerts)
	for _, a := range cfg.Authorities {
		if a.CACert != nil {
			add([]*config.Cert{a.CACert})
		}
	}
	for _, conn := range cfg.Connections {
		for _, rounds := range [][]*config.Auth{conn.Local, conn.Remote} {
			for _, a := range rounds {
				add(a.CACerts)
				add(a.Certs)
			}
		}
	}
	add(cfg.Credentials.Certs)
	return t
}

// ErrNoPrivateKey is returned by SignerForCert when no loaded private key
// belongs to the certificate.
var ErrNoPrivateKey = errors.New("no private key")

// SignerForCert finds the private key of a local certificate among the
// loaded credentials (private/, rsa/, ecdsa/, pkcs8/) and wraps it.
func SignerForCert(creds *config.Credentials, cert *x509.Certificate, opts SignerOptions) (*Signer, error) {
	if cert == nil {
		return nil, errors.New("signer: no certificate")
	}
	var k *config.PrivateKey
	if creds != nil {
		k = creds.PrivateKeyFor(cert.PublicKey)
	}
	if k == nil {
		return nil, fmt.Errorf("%w found for certificate %s", ErrNoPrivateKey, identity.DNString(cert.RawSubject))
	}
	return NewSigner(k.Signer, opts)
}
