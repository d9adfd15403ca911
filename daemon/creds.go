package daemon

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/config"
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
}

// connTrust is what one connection's auth rounds say about certificates,
// as strongSwan reads them:
//   - remote cacerts: the peer's chain must lead to one of these CAs;
//   - remote certs: the peer's end-entity certificate must be one of these;
//   - remote ca_id: a CA of the peer's chain must have this subject;
//   - remote auth constraints: the signature schemes the peer may use, for
//     its AUTH payload and (those without "ike:") its certificate chain;
//   - local certs: the certificates we authenticate with on it;
//   - local auth constraints: the schemes we sign with.
type connTrust struct {
	cacerts  []*x509.Certificate
	caStore  *auth.TrustStore // cacerts as the only trust anchors
	pinned   []*x509.Certificate
	caID     identity.ID // Any when not set
	verifier auth.Verifier
	chain    []auth.SignatureScheme // for the signatures of the peer's chain
	local    []*x509.Certificate
	sign     auth.SignerOptions
}

// pubkeyCredentials adds certificate authentication to credentials: our
// certificates (their private keys stay in creds and are only used through
// auth.Signer), every certificate we trust, and each connection's scope.
type pubkeyCredentials struct {
	*credentials
	creds *config.Credentials
	own   []identityCert
	trust *auth.TrustStore
	caDER [][]byte // trusted CA certificates, offered as intermediates to scoped chains
	conns map[string]*connTrust
	now   func() time.Time
}

func newPubkeyCredentials(cfg *config.Config, base *credentials) (*pubkeyCredentials, error) {
	pc := &pubkeyCredentials{credentials: base, creds: &cfg.Credentials, trust: auth.TrustStoreFromConfig(cfg),
		conns: map[string]*connTrust{}, now: time.Now}
	for _, c := range pc.trust.Certificates() {
		if c.IsCA {
			pc.caDER = append(pc.caDER, c.Raw)
		}
	}
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
		pc.own = append(pc.own, identityCert{cert: c.X509, intermediates: pc.trust.Issuers(c.X509)})
	}
	for _, c := range cfg.Connections {
		if len(c.Local) != 1 || len(c.Remote) != 1 {
			continue // refused by PeerConfigs
		}
		t := &connTrust{}
		r, l := c.Remote[0], c.Local[0]
		t.cacerts = x509s(r.CACerts)
		if len(t.cacerts) > 0 {
			t.caStore = auth.NewTrustStore(t.cacerts...)
		}
		t.pinned = x509s(r.Certs)
		if r.CAID.Text != "" {
			id, err := identity.Parse(r.CAID.Text)
			if err != nil {
				return nil, fmt.Errorf("%s: ca_id: %w", r.CAID.Pos, err)
			}
			t.caID = id
		}
		t.verifier.Schemes = auth.ParseConstraints(r.Constraints, false)
		t.chain = auth.ParseCertConstraints(r.Constraints, false)
		t.local = x509s(l.Certs)
		t.sign = signerOptions(l.Constraints)
		pc.conns[c.Name] = t
	}
	return pc, nil
}

// signerOptions are how a local auth round's constraints make us sign:
// only their schemes, and RSASSA-PSS alone when they name no PKCS#1 one.
func signerOptions(constraints []string) auth.SignerOptions {
	o := auth.SignerOptions{Schemes: auth.ParseConstraints(constraints, false)}
	rsa, pss := 0, 0
	for _, sc := range o.Schemes {
		if sc.Key == auth.KeyRSA {
			rsa++
			if sc.PSS {
				pss++
			}
		}
	}
	o.RSAPSS = rsa > 0 && rsa == pss
	return o
}

func x509s(certs []*config.Cert) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		if c != nil && c.X509 != nil {
			out = append(out, c.X509)
		}
	}
	return out
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

func subjects(list []*x509.Certificate) string {
	names := make([]string, len(list))
	for i, c := range list {
		names[i] = identity.DNString(c.RawSubject)
	}
	return strings.Join(names, " or ")
}

func (p *pubkeyCredentials) find(conn string, local identity.ID) (identityCert, error) {
	t := p.conns[conn]
	for _, o := range p.own {
		if t != nil && len(t.local) > 0 && !containsCert(t.local, o.cert) {
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

// Sign signs with the key of our certificate for the identity, with the
// schemes the connection's local auth constraints allow.
func (p *pubkeyCredentials) Sign(conn string, local identity.ID, signedOctets []byte, peerHashes []uint16) (wire.AuthMethod, []byte, error) {
	o, err := p.find(conn, local)
	if err != nil {
		return 0, nil, err
	}
	var opts auth.SignerOptions
	if t := p.conns[conn]; t != nil {
		opts = t.sign
	}
	s, err := auth.SignerForCert(p.creds, o.cert, opts)
	if err != nil {
		return 0, nil, err
	}
	return s.Sign(signedOctets, peerHashes)
}

// VerifyPeer checks the peer's certificate against the connection's scope
// (pinned certificate, CAs), its chain up to a trusted CA, that it carries
// the identity the peer claimed, and its AUTH signature against the
// connection's signature constraints.
func (p *pubkeyCredentials) VerifyPeer(conn string, remote identity.ID, certs [][]byte, method wire.AuthMethod, authData, signedOctets []byte) error {
	if len(certs) == 0 {
		return errors.New("peer sent no certificate")
	}
	end, err := x509.ParseCertificate(certs[0])
	if err != nil {
		return fmt.Errorf("peer's certificate: %w", err)
	}
	t := p.conns[conn]
	if t == nil {
		t = &connTrust{}
	}
	if len(t.pinned) > 0 && !containsCert(t.pinned, end) {
		return fmt.Errorf("peer certificate %s is not the one connection %s pins in remote certs (%s)",
			identity.DNString(end.RawSubject), conn, subjects(t.pinned))
	}
	now := p.now()
	var chain []*x509.Certificate
	if t.caStore == nil {
		chain, err = p.trust.VerifiedChain(end, certs[1:], now)
	} else {
		chain, err = p.verifyScoped(conn, t, end, certs[1:], now)
	}
	if err != nil {
		return err
	}
	if err := checkCAID(conn, t.caID, chain); err != nil {
		return err
	}
	if err := auth.MatchIdentity(end, remote); err != nil {
		return err
	}
	if err := t.verifier.VerifyCert(end, method, authData, signedOctets); err != nil {
		return err
	}
	return auth.CheckChainSchemes(chain, t.chain)
}

// checkCAID checks remote ca_id: one of the CA certificates of the verified
// chain (not the end entity) has a subject the identity matches.
func checkCAID(conn string, caID identity.ID, chain []*x509.Certificate) error {
	if caID.IsAny() {
		return nil
	}
	var cas []*x509.Certificate
	if len(chain) > 1 {
		cas = chain[1:]
	}
	for _, c := range cas {
		if caID.Matches(identity.ID{Type: wire.ID_DER_ASN1_DN, Data: c.RawSubject}) {
			return nil
		}
	}
	ends := "no CA"
	if len(cas) > 0 {
		ends = subjects(cas)
	}
	return fmt.Errorf("peer certificate chain (CAs: %s) has no CA %s, which connection %s requires (ca_id)", ends, caID, conn)
}

// verifyScoped checks that the peer's chain leads to one of the CAs the
// connection's remote cacerts name: with those as the only trust anchors,
// and the peer's CERT payloads and every CA we trust as intermediates.
// When it does not, the error says where the chain does end.
func (p *pubkeyCredentials) verifyScoped(conn string, t *connTrust, end *x509.Certificate, inter [][]byte, now time.Time) ([]*x509.Certificate, error) {
	all := append(append([][]byte(nil), inter...), p.caDER...)
	chain, err := t.caStore.VerifiedChain(end, all, now)
	if err == nil || !errors.Is(err, auth.ErrUntrusted) {
		return chain, err
	}
	chain, gerr := p.trust.VerifiedChain(end, inter, now)
	if gerr != nil {
		return nil, fmt.Errorf("%w; connection %s requires %s", gerr, conn, subjects(t.cacerts))
	}
	return nil, fmt.Errorf("peer certificate chain ends at %s, connection %s requires %s",
		identity.DNString(chain[len(chain)-1].RawSubject), conn, subjects(t.cacerts))
}

// CertReq names the CAs the connection trusts (its remote cacerts), or
// every trusted CA for a connection without them or for conn "".
func (p *pubkeyCredentials) CertReq(conn string) []byte {
	if t := p.conns[conn]; t != nil && t.caStore != nil {
		return t.caStore.CertReqData()
	}
	return p.trust.CertReqData()
}

// reloadableCreds is what the IKE manager holds: the credentials of the
// configuration in force, which a reload replaces. Both the manager and
// reload run on the event loop, so the swap needs no lock.
type reloadableCreds struct {
	cur *pubkeyCredentials
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

var _ ike.PubkeyCredentials = (*reloadableCreds)(nil)

// authProblems refuses, with their lines, auth settings of a connection
// that cygnet would otherwise accept and not honour: a local id with
// wildcards (it is sent as it is), a local ca_id, a remote
// ca_id that is no identity, signature constraints
// that allow no scheme cygnet implements (so would constrain nothing), and
// local constraints that allow no scheme for the key of the connection's
// own certificate.
func authProblems(c *config.Connection) error {
	var errs []error
	for _, a := range c.Local {
		if id, err := identity.Parse(a.ID.Text); err == nil && !id.IsAny() && id.HasWildcards() {
			errs = append(errs, fmt.Errorf("%s: connections.%s.%s.id = %s: a local identity is sent to the peer and must be exact, without wildcards", a.ID.Pos, c.Name, a.Name, a.ID.Text))
		}
		if pos, ok := a.Set["ca_id"]; ok {
			errs = append(errs, fmt.Errorf("%s: connections.%s.%s.ca_id: not implemented by cygnet yet (choosing our certificate by CA; remote ca_id is)", pos, c.Name, a.Name))
		}
	}
	for _, a := range c.Remote {
		if a.CAID.Text == "" {
			continue
		}
		if _, err := identity.Parse(a.CAID.Text); err != nil {
			errs = append(errs, fmt.Errorf("%s: connections.%s.%s.ca_id: %w", a.CAID.Pos, c.Name, a.Name, err))
		}
	}
	for _, a := range append(append([]*config.Auth(nil), c.Local...), c.Remote...) {
		if a.Method != config.AuthPubkey || len(a.Constraints) == 0 {
			continue
		}
		schemes := auth.ParseConstraints(a.Constraints, false)
		pos := a.Pos
		if p, ok := a.Set["auth"]; ok {
			pos = p
		}
		if schemes == nil && constrains(a.Constraints) {
			errs = append(errs, fmt.Errorf("%s: connections.%s.%s.auth = %s allows no signature scheme cygnet implements (SHA-256, SHA-384, SHA-512 with RSA, RSASSA-PSS or ECDSA; Ed25519)",
				pos, c.Name, a.Name, a.AuthText))
			continue
		}
		if schemes == nil {
			continue
		}
		for _, cert := range x509s(a.Certs) {
			kt := keyTypeOf(cert)
			ok := false
			for _, sc := range schemes {
				ok = ok || sc.Key == kt
			}
			if !ok {
				errs = append(errs, fmt.Errorf("%s: connections.%s.%s.auth = %s allows no signature scheme for the %v key of %s",
					pos, c.Name, a.Name, a.AuthText, kt, identity.DNString(cert.RawSubject)))
			}
		}
	}
	return errors.Join(errs...)
}

// constrains reports whether constraint tokens ask for more than "pubkey"
// with key strengths, which constrain no scheme.
func constrains(tokens []string) bool {
	for _, t := range tokens {
		t = strings.TrimPrefix(t, "ike:")
		if t != "pubkey" && strings.Trim(t, "0123456789") != "" {
			return true
		}
	}
	return false
}

func keyTypeOf(c *x509.Certificate) auth.KeyType {
	switch c.PublicKeyAlgorithm {
	case x509.RSA:
		return auth.KeyRSA
	case x509.ECDSA:
		return auth.KeyECDSA
	case x509.Ed25519:
		return auth.KeyEd25519
	}
	return 0
}
