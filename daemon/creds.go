package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// identityCert is one of our certificates with the intermediates that go
// with it. Its private key stays in the loaded credentials; a Signer is made
// per connection, since each connection's local auth constraints choose how
// it signs.
type identityCert struct {
	cert          *x509.Certificate
	intermediates []*x509.Certificate
	// sent is what IKE_AUTH carries: the certificate and the
	// intermediates that are not self-signed roots, end entity first.
	// Worked out once: the self-signature check is an ECDSA or RSA
	// verification, and made per IKE_AUTH it was a twentieth of a
	// certificate gateway's CPU.
	sent [][]byte
}

func newIdentityCert(cert *x509.Certificate, intermediates []*x509.Certificate) identityCert {
	o := identityCert{cert: cert, intermediates: intermediates, sent: [][]byte{cert.Raw}}
	for _, c := range intermediates {
		if !isSelfSigned(c) {
			o.sent = append(o.sent, c.Raw)
		}
	}
	return o
}

// pubkeyCredentials adds certificate authentication to credentials: our
// certificates (their private keys stay in creds and are only used through
// auth.Signer), every certificate we trust, and each connection's scope.
type pubkeyCredentials struct {
	*credentials
	creds *config.Credentials
	own   []identityCert
	trust *auth.TrustStore
	conns map[string]*auth.ConnTrust
	now   func() time.Time
	// authorities are the swanctl.conf authorities sections these
	// credentials were loaded with, for VICI's list-authorities.
	authorities []*config.Authority
}

func newPubkeyCredentials(cfg *config.Config, base *credentials) (*pubkeyCredentials, error) {
	pc := &pubkeyCredentials{credentials: base, creds: &cfg.Credentials, trust: auth.TrustStoreFromConfig(cfg),
		conns: map[string]*auth.ConnTrust{}, now: time.Now, authorities: cfg.Authorities}
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
		_, err := auth.SignerForCert(&cfg.Credentials, c.X509, auth.SignerOptions{})
		if errors.Is(err, auth.ErrNoPrivateKey) {
			continue // a peer's or a CA's certificate
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Path, err)
		}
		pc.own = append(pc.own, newIdentityCert(c.X509, pc.trust.Issuers(c.X509)))
	}
	for _, c := range cfg.Connections {
		if len(c.Local) != 1 || len(c.Remote) != 1 {
			continue // refused by PeerConfigs
		}
		t, err := auth.NewConnTrust(c)
		if err != nil {
			return nil, err
		}
		pc.conns[c.Name] = t
	}
	return pc, nil
}

func (p *pubkeyCredentials) find(conn string, local identity.ID) (identityCert, error) {
	t := p.conns[conn]
	for _, o := range p.own {
		if !t.UsesCert(o.cert) {
			continue // the connection names its own certificates
		}
		if local.IsAny() || auth.MatchIdentity(o.cert, local) == nil {
			return o, nil
		}
	}
	return identityCert{}, fmt.Errorf("no certificate with a private key carries the identity %s", local)
}

// LocalCertificates returns our certificate for an identity and the
// intermediates below the root, end entity first.
func (p *pubkeyCredentials) LocalCertificates(conn string, local identity.ID) ([][]byte, error) {
	o, err := p.find(conn, local)
	if err != nil {
		return nil, err
	}
	return slices.Clone(o.sent), nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// Sign signs with the key of our certificate for the identity, with the
// schemes the connection's local auth constraints allow.
func (p *pubkeyCredentials) Sign(conn string, local identity.ID, signedOctets []byte, peerHashes []uint16) (wire.AuthMethod, []byte, error) {
	o, err := p.find(conn, local)
	if err != nil {
		return 0, nil, err
	}
	s, err := auth.SignerForCert(p.creds, o.cert, p.conns[conn].SignerOptions())
	if err != nil {
		return 0, nil, err
	}
	return s.Sign(signedOctets, peerHashes)
}

// VerifyPeer checks the peer's certificate and AUTH payload against what
// the connection trusts (auth.ConnTrust.VerifyPeer).
func (p *pubkeyCredentials) VerifyPeer(conn string, remote identity.ID, certs [][]byte, method wire.AuthMethod, authData, signedOctets []byte) error {
	return p.conns[conn].VerifyPeer(p.trust, remote, certs, method, authData, signedOctets, p.now())
}

// EAPTLSCertificate is our certificate for an identity as EAP-TLS sends
// it (end entity and intermediates) with its private key.
func (p *pubkeyCredentials) EAPTLSCertificate(conn string, local identity.ID) (tls.Certificate, error) {
	o, err := p.find(conn, local)
	if err != nil {
		return tls.Certificate{}, err
	}
	k := p.creds.PrivateKeyFor(o.cert.PublicKey)
	if k == nil {
		return tls.Certificate{}, fmt.Errorf("%w found for certificate %s", auth.ErrNoPrivateKey, identity.DNString(o.cert.RawSubject))
	}
	chain, err := p.LocalCertificates(conn, local)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: chain, PrivateKey: k.Signer, Leaf: o.cert}, nil
}

// VerifyEAPTLSPeer checks the peer's EAP-TLS certificates against what the
// connection trusts and that they carry the identity
// (auth.ConnTrust.VerifyChain).
func (p *pubkeyCredentials) VerifyEAPTLSPeer(conn string, peer identity.ID, chain [][]byte) error {
	return p.conns[conn].VerifyChain(p.trust, peer, chain, p.now())
}

// CertReq names the CAs the connection trusts (its remote cacerts), or
// every trusted CA for a connection without them or for conn "".
func (p *pubkeyCredentials) CertReq(conn string) []byte { return p.conns[conn].CertReq(p.trust) }

// reloadableCreds is what the IKE manager holds: the credentials of the
// configuration in force, which a reload replaces. Both the manager and
// reload run on the event loop, so the swap needs no lock.
type reloadableCreds struct {
	cur *pubkeyCredentials
	// radius relays auth = eap-radius conversations; nil without RADIUS
	// servers in strongswan.conf.
	radius *radiusBackend
}

// NewEAPServer implements ike.EAPBackend for the connections whose EAP goes
// to RADIUS (auth = eap-radius).
func (r *reloadableCreds) NewEAPServer(conn string, _ uint8, id string) (eap.Server, error) {
	if r.radius == nil {
		return nil, fmt.Errorf("connection %s: auth = eap-radius, and strongswan.conf names no RADIUS server (charon.plugins.eap-radius)", conn)
	}
	return r.radius.newServer(id), nil
}

func (r *reloadableCreds) SharedKey(local, remote identity.ID) ([]byte, bool) {
	return r.cur.SharedKey(local, remote)
}

func (r *reloadableCreds) LocalCertificates(conn string, local identity.ID) ([][]byte, error) {
	return r.cur.LocalCertificates(conn, local)
}

func (r *reloadableCreds) Sign(conn string, local identity.ID, signedOctets []byte, peerHashes []uint16) (wire.AuthMethod, []byte, error) {
	return r.cur.Sign(conn, local, signedOctets, peerHashes)
}

func (r *reloadableCreds) VerifyPeer(conn string, remote identity.ID, certs [][]byte, method wire.AuthMethod, authData, signedOctets []byte) error {
	return r.cur.VerifyPeer(conn, remote, certs, method, authData, signedOctets)
}

func (r *reloadableCreds) CertReq(conn string) []byte { return r.cur.CertReq(conn) }

// PPK implements ike.PPKCredentials.
func (r *reloadableCreds) PPK(id []byte) ([]byte, bool) { return r.cur.PPK(id) }

// HasPPK implements ike.PPKCredentials.
func (r *reloadableCreds) HasPPK() bool { return r.cur.HasPPK() }

// EAPTLSCertificate implements ike.EAPTLSCredentials.
func (r *reloadableCreds) EAPTLSCertificate(conn string, local identity.ID) (tls.Certificate, error) {
	return r.cur.EAPTLSCertificate(conn, local)
}

// VerifyEAPTLSPeer implements ike.EAPTLSCredentials.
func (r *reloadableCreds) VerifyEAPTLSPeer(conn string, peer identity.ID, chain [][]byte) error {
	return r.cur.VerifyEAPTLSPeer(conn, peer, chain)
}

// EAPSecret implements ike.EAPCredentials.
func (r *reloadableCreds) EAPSecret(id string) ([]byte, bool) { return r.cur.EAPSecret(id) }

var (
	_ ike.PubkeyCredentials = (*reloadableCreds)(nil)
	_ ike.EAPCredentials    = (*reloadableCreds)(nil)
	_ ike.EAPBackend        = (*reloadableCreds)(nil)
	_ ike.PPKCredentials    = (*reloadableCreds)(nil)
	_ ike.EAPTLSCredentials = (*reloadableCreds)(nil)
)

// EAPSecret finds the secrets.eap<suffix> of an EAP identity: a secret
// naming the identity wins over one naming a pattern, which wins over one
// without ids (any identity), as strongSwan's credential manager ranks them.
func (c *credentials) EAPSecret(id string) ([]byte, bool) {
	if c.eap == nil {
		return nil, false
	}
	who, err := identity.Parse(id)
	if err != nil {
		return nil, false
	}
	return c.eap.SharedKey(who, who)
}
