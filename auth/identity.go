package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// ID is an IKE identity as carried in IDi/IDr payloads. It has the same
// fields as ike.Identity, so either converts to the other: auth.ID(id).
// Type 0 is %any.
type ID struct {
	Type wire.IDType
	Data []byte
}

// String prints the identity as strongSwan does.
func (id ID) String() string {
	switch id.Type {
	case 0:
		return "%any"
	case wire.ID_IPV4_ADDR, wire.ID_IPV6_ADDR:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case wire.ID_FQDN, wire.ID_RFC822_ADDR:
		return printable(id.Data)
	case wire.ID_DER_ASN1_DN:
		return DNString(id.Data)
	case wire.ID_KEY_ID:
		return fmt.Sprintf("@#%x", id.Data)
	}
	return fmt.Sprintf("%v:%x", id.Type, id.Data)
}

func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, string(b))
}

// ErrIdentityMismatch is returned (wrapped) by MatchIdentity when a
// certificate does not contain the identity the peer claims.
var ErrIdentityMismatch = errors.New("identity does not match certificate")

// MatchIdentity checks that the IKE identity (IDi/IDr payload) a peer claims
// is one its certificate vouches for, with strongSwan's rules
// (certificate_t.has_subject):
//   - ID_DER_ASN1_DN must equal the subject: byte-equal, or the same
//     attributes in the same order, PrintableStrings and e-mail addresses
//     compared without case;
//   - ID_FQDN, ID_RFC822_ADDR must equal (ignoring case) a dNSName or
//     rfc822Name subjectAltName; ID_IPV4_ADDR, ID_IPV6_ADDR an iPAddress
//     subjectAltName of the same family;
//   - ID_KEY_ID must equal the subjectKeyIdentifier or the SHA-1 of the
//     SubjectPublicKeyInfo or of the public key.
//
// Like strongSwan, the subject's CN is never compared with an FQDN or e-mail
// identity: a certificate for "CN=moon.strongswan.org" without a
// subjectAltName only proves the DN identity. Wildcards in the peer's
// identity are literal characters here. directoryName subjectAltNames are
// not considered.
func MatchIdentity(cert *x509.Certificate, idType wire.IDType, idData []byte) error {
	if cert == nil {
		return errors.New("match identity: no certificate")
	}
	id := ID{Type: idType, Data: idData}
	subject := DNString(cert.RawSubject)
	mismatch := func(have string) error {
		return fmt.Errorf("%w: certificate %q does not contain %v %q (%s)", ErrIdentityMismatch, subject, idType, id, have)
	}
	switch idType {
	case wire.ID_DER_ASN1_DN:
		if dnEqual(cert.RawSubject, idData) {
			return nil
		}
		return mismatch("subject differs")
	case wire.ID_FQDN:
		for _, n := range cert.DNSNames {
			if strings.EqualFold(n, string(idData)) {
				return nil
			}
		}
		return mismatch(sanList("DNS", cert.DNSNames))
	case wire.ID_RFC822_ADDR:
		for _, n := range cert.EmailAddresses {
			if strings.EqualFold(n, string(idData)) {
				return nil
			}
		}
		return mismatch(sanList("email", cert.EmailAddresses))
	case wire.ID_IPV4_ADDR, wire.ID_IPV6_ADDR:
		want := 4
		if idType == wire.ID_IPV6_ADDR {
			want = 16
		}
		var have []string
		for _, ip := range cert.IPAddresses {
			if len(idData) == want && len(ip) == want && bytes.Equal(ip, idData) {
				return nil
			}
			have = append(have, ip.String())
		}
		return mismatch(sanList("IP", have))
	case wire.ID_KEY_ID:
		spki := sha1.Sum(cert.RawSubjectPublicKeyInfo)
		if eq(cert.SubjectKeyId, idData) || eq(spki[:], idData) {
			return nil
		}
		if bits := subjectPublicKeyBits(cert.RawSubjectPublicKeyInfo); bits != nil {
			h := sha1.Sum(bits)
			if eq(h[:], idData) {
				return nil
			}
		}
		return mismatch("no matching key identifier")
	}
	return fmt.Errorf("%w: identity type %v cannot be matched against a certificate", ErrIdentityMismatch, idType)
}

func eq(a, b []byte) bool { return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1 }

func sanList(kind string, names []string) string {
	if len(names) == 0 {
		return "no " + kind + " subjectAltName"
	}
	return "subjectAltName " + kind + ":" + strings.Join(names, ", "+kind+":")
}

// subjectPublicKeyBits returns the content of the subjectPublicKey BIT
// STRING (for RSA the PKCS#1 RSAPublicKey), nil if malformed.
func subjectPublicKeyBits(spki []byte) []byte {
	in := cryptobyte.String(spki)
	var seq, alg cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&alg, cbasn1.SEQUENCE) {
		return nil
	}
	var bs cryptobyte.String
	if !seq.ReadASN1(&bs, cbasn1.BIT_STRING) || len(bs) < 1 || bs[0] != 0 {
		return nil
	}
	return bs[1:]
}

// strongSwan's id_match_t qualities.
const (
	matchNone         = 0
	matchAny          = 1
	matchMaxWildcards = 2
	matchOneWildcard  = 19
	matchPerfect      = 20
)

// IDPattern is an identity as written in swanctl.conf (secrets ids, remote
// ids): exact, or with strongSwan's wildcards ("%any", "*@example.com",
// "*.example.com", "C=CH, O=org, CN=*", "10.1.0.0/16").
type IDPattern struct {
	text   string
	any    bool
	typ    wire.IDType
	data   []byte // exact value (FQDN, RFC822, address, key id)
	suffix string // for a leading '*': the part after it
	prefix netip.Prefix
	dn     dnPattern
}

// String returns the pattern as written.
func (p IDPattern) String() string { return p.text }

// ParseIDPattern reads an identity the way strongSwan's
// identification_create_from_string does: "%any" (also "", "*", "%any6",
// "0.0.0.0", "::") matches everything; a string with '=' is a distinguished
// name; "@#hex" a key id; "@@x" an RFC822 address x; "@x" the FQDN x; with
// '@' elsewhere an RFC822 address; an IPv4 or IPv6 address (or subnet, as a
// pattern) is an address; anything else an FQDN. Typed prefixes ("fqdn:")
// and regular expressions are not supported.
func ParseIDPattern(s string) (IDPattern, error) {
	p := IDPattern{text: s}
	s = strings.TrimSpace(s)
	switch s {
	case "", "%any", "%any6", "*", "0.0.0.0", "::", "0::0":
		p.any = true
		return p, nil
	}
	switch {
	case strings.Contains(s, "="):
		dn, err := parseDNPattern(s)
		if err != nil {
			return p, fmt.Errorf("identity %q: %w", s, err)
		}
		p.typ, p.dn = wire.ID_DER_ASN1_DN, dn
		return p, nil
	case strings.HasPrefix(s, "@#"):
		b, err := hexBytes(s[2:])
		if err != nil {
			return p, fmt.Errorf("identity %q: key id: %w", s, err)
		}
		p.typ, p.data = wire.ID_KEY_ID, b
		return p, nil
	case strings.HasPrefix(s, "@@"):
		p.typ, p.data = wire.ID_RFC822_ADDR, []byte(s[2:])
	case strings.HasPrefix(s, "@"):
		p.typ, p.data = wire.ID_FQDN, []byte(s[1:])
	case strings.Contains(s, "@"):
		p.typ, p.data = wire.ID_RFC822_ADDR, []byte(s)
	default:
		if a, err := netip.ParseAddr(s); err == nil {
			p.typ = wire.ID_IPV4_ADDR
			if a.Is6() {
				p.typ = wire.ID_IPV6_ADDR
			}
			p.data = a.AsSlice()
			return p, nil
		}
		if pfx, err := netip.ParsePrefix(s); err == nil {
			p.typ = wire.ID_IPV4_ADDR
			if pfx.Addr().Is6() {
				p.typ = wire.ID_IPV6_ADDR
			}
			p.prefix = pfx.Masked()
			return p, nil
		}
		p.typ, p.data = wire.ID_FQDN, []byte(s)
	}
	if len(p.data) > 1 && p.data[0] == '*' {
		p.suffix = string(p.data[1:])
	}
	return p, nil
}

func hexBytes(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	s = strings.ReplaceAll(s, ":", "")
	if len(s) == 0 || len(s)%2 != 0 {
		return nil, errors.New("odd or empty hex string")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		var v byte
		for j := 0; j < 2; j++ {
			c := s[2*i+j]
			switch {
			case '0' <= c && c <= '9':
				v = v<<4 | (c - '0')
			case 'a' <= c && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			case 'A' <= c && c <= 'F':
				v = v<<4 | (c - 'A' + 10)
			default:
				return nil, fmt.Errorf("invalid hex digit %q", c)
			}
		}
		out[i] = v
	}
	return out, nil
}

// IsAny reports whether the pattern is %any.
func (p IDPattern) IsAny() bool { return p.any }

// Match returns strongSwan's match quality of a concrete identity against
// the pattern (id_match_t): 0 none, 1 %any, 2..19 wildcard matches (higher
// is more specific), 20 perfect.
func (p IDPattern) Match(id ID) int {
	if p.any {
		return matchAny
	}
	if id.Type != p.typ {
		return matchNone
	}
	switch p.typ {
	case wire.ID_DER_ASN1_DN:
		return p.dn.match(id.Data)
	case wire.ID_FQDN, wire.ID_RFC822_ADDR:
		if strings.EqualFold(string(p.data), string(id.Data)) {
			return matchPerfect
		}
		if p.suffix != "" && len(id.Data) >= len(p.data) &&
			strings.EqualFold(string(id.Data[len(id.Data)-len(p.suffix):]), p.suffix) {
			return matchOneWildcard
		}
	case wire.ID_IPV4_ADDR, wire.ID_IPV6_ADDR:
		a, ok := netip.AddrFromSlice(id.Data)
		if !ok {
			return matchNone
		}
		if p.prefix.IsValid() {
			switch {
			case p.prefix.Bits() == 0:
				return matchMaxWildcards
			case p.prefix.Bits() == a.BitLen() && p.prefix.Addr() == a:
				return matchPerfect
			case p.prefix.Contains(a):
				return matchOneWildcard
			}
			return matchNone
		}
		if bytes.Equal(p.data, id.Data) {
			return matchPerfect
		}
	case wire.ID_KEY_ID:
		if bytes.Equal(p.data, id.Data) {
			return matchPerfect
		}
	}
	return matchNone
}
