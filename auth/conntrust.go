package auth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// ConnTrust is what one connection's auth rounds say about certificates and
// signatures, read as strongSwan reads them:
//   - remote cacerts: the peer's chain must lead to one of these CAs, even
//     when other connections make cygnet trust more;
//   - remote certs: the peer's end-entity certificate must be one of these;
//   - remote ca_id: a CA of the peer's chain must have this subject;
//   - remote auth constraints: the signature schemes the peer may use, for
//     its AUTH payload and (those without "ike:") its certificate chain;
//   - local certs: the certificates we authenticate with on it;
//   - local auth constraints: the schemes we sign with.
//
// A connection without any of these trusts every CA of the TrustStore, as
// in strongSwan. The nil *ConnTrust is such a connection.
type ConnTrust struct {
	name     string
	cacerts  []*x509.Certificate
	anchors  *TrustStore // cacerts as the only trust anchors
	pinned   []*x509.Certificate
	caID     identity.ID // Any when not set
	verifier Verifier
	chain    []SignatureScheme
	local    []*x509.Certificate
	sign     SignerOptions
}

// NewConnTrust reads a connection's single local and remote auth round.
func NewConnTrust(c *config.Connection) (*ConnTrust, error) {
	if len(c.Local) != 1 || len(c.Remote) != 1 {
		return nil, fmt.Errorf("%s: connection %s: several authentication rounds are not supported", c.Pos, c.Name)
	}
	r, l := c.Remote[0], c.Local[0]
	t := &ConnTrust{name: c.Name, cacerts: x509s(r.CACerts), pinned: x509s(r.Certs), local: x509s(l.Certs)}
	if len(t.cacerts) > 0 {
		t.anchors = NewTrustStore(t.cacerts...)
	}
	if r.CAID.Text != "" {
		id, err := identity.Parse(r.CAID.Text)
		if err != nil {
			return nil, fmt.Errorf("%s: ca_id: %w", r.CAID.Pos, err)
		}
		t.caID = id
	}
	t.verifier.Schemes = ParseConstraints(r.Constraints, false)
	t.chain = ParseCertConstraints(r.Constraints, false)
	t.sign = signerOptions(l.Constraints)
	return t, nil
}

// signerOptions are how a local auth round's constraints make us sign:
// only their schemes, and RSASSA-PSS alone when they name no PKCS#1 one.
func signerOptions(constraints []string) SignerOptions {
	o := SignerOptions{Schemes: ParseConstraints(constraints, false)}
	rsa, pss := 0, 0
	for _, sc := range o.Schemes {
		if sc.Key == KeyRSA {
			rsa++
			if sc.PSS {
				pss++
			}
		}
	}
	o.RSAPSS = rsa > 0 && rsa == pss
	return o
}

// SignerOptions are the options to sign with on the connection.
func (t *ConnTrust) SignerOptions() SignerOptions {
	if t == nil {
		return SignerOptions{}
	}
	return t.sign
}

// UsesCert reports whether we may authenticate with c on the connection:
// it is one of its local certs, or it names none.
func (t *ConnTrust) UsesCert(c *x509.Certificate) bool {
	return t == nil || len(t.local) == 0 || containsCert(t.local, c)
}

// CertReq is the CERTREQ data naming the CAs the connection trusts: its
// remote cacerts, or every CA of trust without them.
func (t *ConnTrust) CertReq(trust *TrustStore) []byte {
	if t != nil && t.anchors != nil {
		return t.anchors.CertReqData()
	}
	return trust.CertReqData()
}

// VerifyPeer checks the peer's certificates (DER, end entity first) and
// AUTH payload for the connection at time now: the pinned certificate, the
// chain up to a CA of trust that the connection accepts, its ca_id, that
// the end entity carries the identity the peer claimed, the AUTH signature
// and the chain's signatures against the connection's constraints. Errors
// say what the connection required.
func (t *ConnTrust) VerifyPeer(trust *TrustStore, remote identity.ID, certs [][]byte, method wire.AuthMethod, authData, signedOctets []byte, now time.Time) error {
	if t == nil {
		t = &ConnTrust{}
	}
	if len(certs) == 0 {
		if len(t.pinned) == 0 {
			return errors.New("peer sent no certificate")
		}
		return t.verifyPinned(trust, remote, method, authData, signedOctets, now)
	}
	end, chain, err := t.verifyChain(trust, remote, certs, now)
	if err != nil {
		return err
	}
	// The AUTH payload first, as before the chain's signature schemes: a
	// peer that signs with a refused scheme hears about its AUTH.
	if err := t.verifier.VerifyCert(end, method, authData, signedOctets); err != nil {
		return err
	}
	return CheckChainSchemes(chain, t.chain)
}

// VerifyChain checks a certificate chain the peer presented outside an
// AUTH payload (EAP-TLS, RFC 5216) as VerifyPeer checks the CERT payloads:
// the pinned certificate, the chain up to a CA the connection accepts, its
// ca_id and signature constraints, and that the end entity carries the
// identity (any with identity.Any).
func (t *ConnTrust) VerifyChain(trust *TrustStore, id identity.ID, certs [][]byte, now time.Time) error {
	if t == nil {
		t = &ConnTrust{}
	}
	if len(certs) == 0 {
		return errors.New("peer sent no certificate")
	}
	_, chain, err := t.verifyChain(trust, id, certs, now)
	if err != nil {
		return err
	}
	return CheckChainSchemes(chain, t.chain)
}

func (t *ConnTrust) verifyChain(trust *TrustStore, remote identity.ID, certs [][]byte, now time.Time) (*x509.Certificate, []*x509.Certificate, error) {
	end, err := x509.ParseCertificate(certs[0])
	if err != nil {
		return nil, nil, fmt.Errorf("peer's certificate: %w", err)
	}
	if len(t.pinned) > 0 && !containsCert(t.pinned, end) {
		return nil, nil, fmt.Errorf("peer certificate %s is not the one connection %s pins in remote certs (%s)",
			identity.DNString(end.RawSubject), t.name, subjects(t.pinned))
	}
	var chain []*x509.Certificate
	if t.anchors == nil {
		chain, err = trust.VerifiedChain(end, certs[1:], now)
	} else {
		chain, err = t.verifyScoped(trust, end, certs[1:], now)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := t.checkCAID(chain); err != nil {
		return nil, nil, err
	}
	if !remote.IsAny() {
		if err := MatchIdentity(end, remote); err != nil {
			return nil, nil, err
		}
	}
	return end, chain, nil
}

// verifyPinned authenticates a peer that sent no certificate with the
// connection's remote certs, as strongSwan does: any of them that carries
// the peer's identity and verifies its AUTH payload.
func (t *ConnTrust) verifyPinned(trust *TrustStore, remote identity.ID, method wire.AuthMethod, authData, signedOctets []byte, now time.Time) error {
	var errs []error
	for _, c := range t.pinned {
		if err := MatchIdentity(c, remote); err != nil {
			errs = append(errs, err)
			continue
		}
		err := t.VerifyPeer(trust, remote, [][]byte{c.Raw}, method, authData, signedOctets, now)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("peer sent no certificate, and none of the remote certs of connection %s authenticates it: %w", t.name, errors.Join(errs...))
}

// verifyScoped checks that the peer's chain leads to one of the CAs the
// connection's remote cacerts name: with those as the only trust anchors,
// and the peer's CERT payloads and every CA of trust as intermediates.
// When it does not, the error says where the chain does end.
func (t *ConnTrust) verifyScoped(trust *TrustStore, end *x509.Certificate, inter [][]byte, now time.Time) ([]*x509.Certificate, error) {
	// every CA cygnet trusts may be an intermediate below the
	// connection's anchors; they are parsed already (passed as DER, each
	// was parsed again for every IKE_AUTH)
	var cas []*x509.Certificate
	for _, c := range trust.certs {
		if isCA(c) {
			cas = append(cas, c)
		}
	}
	chain, err := t.anchors.verifyWith(end, inter, cas, now)
	if err == nil || !errors.Is(err, ErrUntrusted) {
		return chain, err
	}
	chain, gerr := trust.VerifiedChain(end, inter, now)
	if gerr != nil {
		return nil, fmt.Errorf("%w; connection %s requires %s", gerr, t.name, subjects(t.cacerts))
	}
	return nil, fmt.Errorf("peer certificate chain ends at %s, connection %s requires %s",
		identity.DNString(chain[len(chain)-1].RawSubject), t.name, subjects(t.cacerts))
}

// checkCAID checks remote ca_id: one of the CA certificates of the verified
// chain (not the end entity) has a subject the identity matches.
func (t *ConnTrust) checkCAID(chain []*x509.Certificate) error {
	if t.caID.IsAny() {
		return nil
	}
	var cas []*x509.Certificate
	if len(chain) > 1 {
		cas = chain[1:]
	}
	for _, c := range cas {
		if t.caID.Matches(identity.ID{Type: wire.ID_DER_ASN1_DN, Data: c.RawSubject}) {
			return nil
		}
	}
	have := "no CA"
	if len(cas) > 0 {
		have = subjects(cas)
	}
	return fmt.Errorf("peer certificate chain (CAs: %s) has no CA %s, which connection %s requires (ca_id)", have, t.caID, t.name)
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

// ConfigProblems refuses, with their lines, a connection's identity and
// auth settings that cygnet would otherwise accept and not honour: a local
// id with wildcards (it is sent as it is), a local ca_id, a remote ca_id
// that is no identity, signature constraints that allow no scheme cygnet
// implements (so would constrain nothing), and local constraints that allow
// no scheme for the key of the connection's own certificate.
func ConfigProblems(c *config.Connection) error {
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
		schemes := ParseConstraints(a.Constraints, false)
		pos := a.Pos
		if p, ok := a.Set["auth"]; ok {
			pos = p
		}
		if schemes == nil && constrains(a.Constraints) {
			errs = append(errs, fmt.Errorf("%s: connections.%s.%s.auth = %s allows no signature scheme cygnet implements (SHA-256, SHA-384, SHA-512 with RSA, RSASSA-PSS or ECDSA; Ed25519)",
				pos, c.Name, a.Name, a.AuthText))
			continue
		}
		for _, cert := range x509s(a.Certs) {
			kt := keyTypeOf(cert)
			ok := schemes == nil
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

func keyTypeOf(c *x509.Certificate) KeyType {
	switch c.PublicKeyAlgorithm {
	case x509.RSA:
		return KeyRSA
	case x509.ECDSA:
		return KeyECDSA
	case x509.Ed25519:
		return KeyEd25519
	}
	return 0
}
