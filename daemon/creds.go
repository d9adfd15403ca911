package daemon

import (
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"time"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// identityCert is one of our certificates with the signer for its key and
// the intermediates that go with it.
type identityCert struct {
	cert          *x509.Certificate
	intermediates []*x509.Certificate
	signer        *auth.Signer
}

// pubkeyCredentials adds certificate authentication to credentials: our
// certificates with their private keys (held only by auth.Signer), and the
// CAs we trust for peers.
type pubkeyCredentials struct {
	*credentials
	own   []identityCert
	trust *auth.TrustStore
}

func newPubkeyCredentials(cfg *config.Config, base *credentials) (*pubkeyCredentials, error) {
	pc := &pubkeyCredentials{credentials: base, trust: auth.TrustStoreFromConfig(cfg)}
	certs := append([]*config.Cert(nil), cfg.Credentials.Certs...)
	for _, c := range cfg.Connections {
		for _, a := range c.Local {
			certs = append(certs, a.Certs...)
		}
	}
	seen := map[string]bool{}
	for _, c := range certs {
		if c.X509 == nil || seen[string(c.X509.Raw)] {
			continue
		}
		seen[string(c.X509.Raw)] = true
		s, err := auth.SignerForCert(&cfg.Credentials, c.X509, auth.SignerOptions{})
		if errors.Is(err, auth.ErrNoPrivateKey) {
			continue // a peer's or a CA's certificate
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Path, err)
		}
		pc.own = append(pc.own, identityCert{cert: c.X509, intermediates: pc.trust.Issuers(c.X509), signer: s})
	}
	return pc, nil
}

func (p *pubkeyCredentials) find(local identity.ID) (identityCert, error) {
	for _, o := range p.own {
		if local.IsAny() || auth.MatchIdentity(o.cert, local) == nil {
			return o, nil
		}
	}
	return identityCert{}, fmt.Errorf("no certificate with a private key carries the identity %s", local)
}

// LocalCertificates returns our certificate for an identity and the
// intermediates below the root, end entity first.
func (p *pubkeyCredentials) LocalCertificates(local identity.ID) ([][]byte, error) {
	o, err := p.find(local)
	if err != nil {
		return nil, err
	}
	out := [][]byte{o.cert.Raw}
	for _, c := range o.intermediates {
		if !isSelfSigned(c) {
			out = append(out, c.Raw)
		}
	}
	return out, nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func (p *pubkeyCredentials) Sign(local identity.ID, signedOctets []byte, peerHashes []uint16) (wire.AuthMethod, []byte, error) {
	o, err := p.find(local)
	if err != nil {
		return 0, nil, err
	}
	return o.signer.Sign(signedOctets, peerHashes)
}

// VerifyPeer checks the peer's chain up to a trusted CA, that the end
// certificate carries the identity the peer claimed, and its AUTH signature.
func (p *pubkeyCredentials) VerifyPeer(remote identity.ID, certs [][]byte, method wire.AuthMethod, authData, signedOctets []byte) error {
	if len(certs) == 0 {
		return errors.New("peer sent no certificate")
	}
	end, err := x509.ParseCertificate(certs[0])
	if err != nil {
		return fmt.Errorf("peer's certificate: %w", err)
	}
	if err := p.trust.VerifyChain(end, certs[1:], time.Now()); err != nil {
		return err
	}
	if err := auth.MatchIdentity(end, remote); err != nil {
		return err
	}
	return auth.Verifier{}.VerifyCert(end, method, authData, signedOctets)
}

func (p *pubkeyCredentials) CertReq() []byte { return p.trust.CertReqData() }

// reloadableCreds is what the IKE manager holds: the credentials of the
// configuration in force, which a reload replaces. Both the manager and
// reload run on the event loop, so the swap needs no lock.
type reloadableCreds struct {
	cur *pubkeyCredentials
}

func (r *reloadableCreds) SharedKey(local, remote identity.ID) ([]byte, bool) {
	return r.cur.SharedKey(local, remote)
}

func (r *reloadableCreds) LocalCertificates(local identity.ID) ([][]byte, error) {
	return r.cur.LocalCertificates(local)
}

func (r *reloadableCreds) Sign(local identity.ID, signedOctets []byte, peerHashes []uint16) (wire.AuthMethod, []byte, error) {
	return r.cur.Sign(local, signedOctets, peerHashes)
}

func (r *reloadableCreds) VerifyPeer(remote identity.ID, certs [][]byte, method wire.AuthMethod, authData, signedOctets []byte) error {
	return r.cur.VerifyPeer(remote, certs, method, authData, signedOctets)
}

func (r *reloadableCreds) CertReq() []byte { return r.cur.CertReq() }

var _ ike.PubkeyCredentials = (*reloadableCreds)(nil)
