package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

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
// identity are literal characters here: the peer states one identity. directoryName subjectAltNames are
// not considered.
func MatchIdentity(cert *x509.Certificate, id identity.ID) error {
	if cert == nil {
		return errors.New("match identity: no certificate")
	}
	idType, idData := id.Type, id.Data
	subject := identity.DNString(cert.RawSubject)
	mismatch := func(have string) error {
		return fmt.Errorf("%w: certificate %q does not contain %v %q (%s)", ErrIdentityMismatch, subject, idType, id, have)
	}
	switch idType {
	case wire.ID_DER_ASN1_DN:
		if identity.DNEqual(cert.RawSubject, idData) {
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
