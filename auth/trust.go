package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
)

// Reasons VerifyChain fails for.
var (
	// ErrUntrusted: no chain leads to a trusted certificate.
	ErrUntrusted = errors.New("not trusted")
	// ErrCertExpired: a certificate of the chain is outside its validity.
	ErrCertExpired = errors.New("certificate not valid at this time")
)

// maxChain bounds issuer walks through the store.
const maxChain = 8

// TrustStore holds the certificates cygnet trusts: CA certificates from
// swanctl's cacerts, authorities and x509ca/, and end-entity certificates
// pinned by configuration (strongSwan trusts a peer certificate it has
// loaded itself without a chain). Not safe for concurrent mutation; build it
// once, then share it read-only.
type TrustStore struct {
	certs []*x509.Certificate
	pool  *x509.CertPool
}

// NewTrustStore returns a store trusting certs.
func NewTrustStore(certs ...*x509.Certificate) *TrustStore {
	t := &TrustStore{pool: x509.NewCertPool()}
	t.Add(certs...)
	return t
}

// Add trusts more certificates; duplicates are ignored. CA certificates
// become trust anchors; an end-entity certificate is trusted only as itself
// and can never issue (Go would otherwise accept any root as an issuer).
func (t *TrustStore) Add(certs ...*x509.Certificate) {
	for _, c := range certs {
		if c == nil || t.has(c) {
			continue
		}
		t.certs = append(t.certs, c)
		if isCA(c) {
			t.pool.AddCert(c)
		}
	}
}

func (t *TrustStore) has(c *x509.Certificate) bool {
	for _, x := range t.certs {
		if bytes.Equal(x.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// Certificates returns the trusted certificates, in the order added.
func (t *TrustStore) Certificates() []*x509.Certificate {
	return append([]*x509.Certificate(nil), t.certs...)
}

func isCA(c *x509.Certificate) bool {
	return c.IsCA || (!c.BasicConstraintsValid && c.Version < 3 && bytes.Equal(c.RawIssuer, c.RawSubject))
}

// VerifyChain checks that the peer's end-entity certificate chains up to a
// trusted certificate at time now, using the DER certificates of the peer's
// other CERT payloads as intermediates. Any extended key usage is accepted,
// since IPsec certificates rarely carry serverAuth. Go's rules apply
// otherwise: certificates signed with SHA-1 or MD5 are refused, name
// constraints are enforced, revocation is not checked.
func (t *TrustStore) VerifyChain(end *x509.Certificate, intermediates [][]byte, now time.Time) error {
	_, err := t.verify(end, intermediates, now)
	return err
}

// VerifiedChain is VerifyChain returning the chain that verified, end entity
// first and trusted certificate last.
func (t *TrustStore) VerifiedChain(end *x509.Certificate, intermediates [][]byte, now time.Time) ([]*x509.Certificate, error) {
	return t.verify(end, intermediates, now)
}

func (t *TrustStore) verify(end *x509.Certificate, intermediates [][]byte, now time.Time) ([]*x509.Certificate, error) {
	return t.verifyWith(end, intermediates, nil, now)
}

// verifyWith is verify with more intermediates that are parsed already
// (another store's CA certificates).
func (t *TrustStore) verifyWith(end *x509.Certificate, intermediates [][]byte, parsedInter []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	if end == nil {
		return nil, errors.New("verify certificate: no certificate")
	}
	for _, c := range t.certs {
		if !isCA(c) && bytes.Equal(c.Raw, end.Raw) {
			if now.Before(c.NotBefore) || now.After(c.NotAfter) {
				return nil, expiredError(c, now)
			}
			return []*x509.Certificate{c}, nil
		}
	}
	inter := x509.NewCertPool()
	var parsed []*x509.Certificate
	for i, der := range intermediates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("verify certificate %s: CERT payload %d: %w", identity.DNString(end.RawSubject), i+1, err)
		}
		inter.AddCert(c)
		parsed = append(parsed, c)
	}
	for _, c := range parsedInter {
		inter.AddCert(c)
		parsed = append(parsed, c)
	}
	chains, err := end.Verify(x509.VerifyOptions{
		Roots:         t.pool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		return chains[0], nil
	}
	subject, issuer := identity.DNString(end.RawSubject), identity.DNString(end.RawIssuer)
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
		return nil, expiredError(invalid.Cert, now)
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return nil, fmt.Errorf("certificate %s issued by %s is %w: no trusted CA certificate for %s (trusted: %s)",
			subject, issuer, ErrUntrusted, identity.DNString(lastIssuer(end, parsed)), t.names())
	}
	return nil, fmt.Errorf("certificate %s issued by %s is %w: %v", subject, issuer, ErrUntrusted, err)
}

func expiredError(c *x509.Certificate, now time.Time) error {
	return fmt.Errorf("certificate %s: %w: %s is outside %s..%s", identity.DNString(c.RawSubject), ErrCertExpired,
		now.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
}

// lastIssuer follows issuer names through the peer's intermediates to the
// name the chain is missing.
func lastIssuer(end *x509.Certificate, inter []*x509.Certificate) []byte {
	cur := end
	for range maxChain {
		var next *x509.Certificate
		for _, c := range inter {
			if c != cur && bytes.Equal(c.RawSubject, cur.RawIssuer) && !bytes.Equal(c.RawSubject, c.RawIssuer) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		cur = next
	}
	return cur.RawIssuer
}

func (t *TrustStore) names() string {
	if len(t.certs) == 0 {
		return "none"
	}
	n := make([]string, len(t.certs))
	for i, c := range t.certs {
		n[i] = `"` + identity.DNString(c.RawSubject) + `"`
	}
	return strings.Join(n, ", ")
}

// Issuers returns the certificates of the store that end chains up to,
// nearest first, by issuer name and signature (not by validity). It stops
// at a self-signed certificate. Our own CERT payloads are end followed by
// the ones of these that are not self-signed.
func (t *TrustStore) Issuers(end *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	cur := end
	for range maxChain {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) && cur.CheckSignatureFrom(cur) == nil {
			break
		}
		var next *x509.Certificate
		for _, c := range t.certs {
			if isCA(c) && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil || next == cur {
			break
		}
		out = append(out, next)
		cur = next
	}
	return out
}

// CertReqData returns the Certification Authority field of a CERTREQ
// payload (RFC 7296 section 3.7): the concatenated SHA-1 hashes of the
// SubjectPublicKeyInfo of every trusted CA certificate, without duplicates.
func (t *TrustStore) CertReqData() []byte {
	var out []byte
	for _, c := range t.certs {
		if !isCA(c) {
			continue
		}
		h := sha1.Sum(c.RawSubjectPublicKeyInfo)
		if !containsHash(out, h[:]) {
			out = append(out, h[:]...)
		}
	}
	return out
}

func containsHash(list, h []byte) bool {
	for i := 0; i+sha1.Size <= len(list); i += sha1.Size {
		if bytes.Equal(list[i:i+sha1.Size], h) {
			return true
		}
	}
	return false
}

// ParseCertReq splits the Certification Authority field of a received
// X.509 CERTREQ into its SHA-1 key hashes.
func ParseCertReq(data []byte) ([][sha1.Size]byte, error) {
	if len(data)%sha1.Size != 0 {
		return nil, fmt.Errorf("CERTREQ: %d bytes is not a multiple of %d", len(data), sha1.Size)
	}
	out := make([][sha1.Size]byte, len(data)/sha1.Size)
	for i := range out {
		copy(out[i][:], data[i*sha1.Size:])
	}
	return out, nil
}

// MatchesCertReq reports whether end is issued, directly or through CA
// certificates of the store, under a CA that the peer named in a CERTREQ
// (the concatenated Certification Authority fields of its X.509 CERTREQ
// payloads). Malformed data names nothing.
func (t *TrustStore) MatchesCertReq(certReq []byte, end *x509.Certificate) bool {
	if len(certReq)%sha1.Size != 0 {
		return false
	}
	for _, c := range t.Issuers(end) {
		h := sha1.Sum(c.RawSubjectPublicKeyInfo)
		if containsHash(certReq, h[:]) {
			return true
		}
	}
	return false
}

// SelectCert chooses which of our end-entity certificates to send: the
// first one issued under a CA the peer asked for in its CERTREQ, or, when
// the peer sent none or asked only for CAs we do not chain to, the first.
// It returns nil only for no candidates.
func (t *TrustStore) SelectCert(certReq []byte, candidates []*x509.Certificate) *x509.Certificate {
	for _, c := range candidates {
		if t.MatchesCertReq(certReq, c) {
			return c
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	return candidates[0]
}
