package auth

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// dnDER encodes "k=v" pairs in order; a value prefixed with "utf8:" is a
// UTF8String, "ia5:" an IA5String.
func dnDER(t testing.TB, pairs ...string) []byte {
	t.Helper()
	var rdn pkix.RDNSequence
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		oid, ok := dnOIDs[k]
		if !ok {
			t.Fatalf("unknown attribute %q", k)
		}
		var val any = v
		switch {
		case strings.HasPrefix(v, "utf8:"):
			val = asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(v[5:])}
		case strings.HasPrefix(v, "ia5:"):
			val = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(v[4:])}
		}
		rdn = append(rdn, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: val}})
	}
	b, err := asn1.Marshal(rdn)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMatchIdentity(t *testing.T) {
	ca := makeCert(t, certSpec{subject: name("CA"), ca: true, key: key(t, "p256")}, nil, nil)
	moon := makeCert(t, certSpec{
		subject: name("moon.strongswan.org"),
		dns:     []string{"moon.strongswan.org", "vpn.strongswan.org"},
		emails:  []string{"moon@strongswan.org"},
		ips:     []net.IP{net.IPv4(192, 168, 0, 1).To4(), net.ParseIP("fec0::1")},
		key:     key(t, "p384"),
		ski:     []byte{0xde, 0xad, 0xbe, 0xef},
	}, ca, key(t, "p256"))
	bare := makeCert(t, certSpec{subject: name("sun.strongswan.org"), key: key(t, "p384")}, ca, key(t, "p256"))
	spki := sha1.Sum(moon.RawSubjectPublicKeyInfo)
	pkBits := sha1.Sum(subjectPublicKeyBits(moon.RawSubjectPublicKeyInfo))

	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		typ  wire.IDType
		data []byte
		want string // "" for a match
	}{
		{"DN equal", moon, wire.ID_DER_ASN1_DN, moon.RawSubject, ""},
		{"DN re-encoded", moon, wire.ID_DER_ASN1_DN, dnDER(t, "C=CH", "O=strongSwan", "CN=moon.strongswan.org"), ""},
		{"DN printable case", moon, wire.ID_DER_ASN1_DN, dnDER(t, "C=ch", "O=STRONGSWAN", "CN=Moon.StrongSwan.org"), ""},
		{"DN UTF8String vs PrintableString, same bytes", moon, wire.ID_DER_ASN1_DN, dnDER(t, "C=CH", "O=utf8:strongSwan", "CN=moon.strongswan.org"), ""},
		{"DN UTF8String other case", moon, wire.ID_DER_ASN1_DN, dnDER(t, "C=CH", "O=utf8:STRONGSWAN", "CN=moon.strongswan.org"),
			`certificate "C=CH, O=strongSwan, CN=moon.strongswan.org" does not contain ID_DER_ASN1_DN "C=CH, O=STRONGSWAN, CN=moon.strongswan.org" (subject differs)`},
		{"DN other CN", moon, wire.ID_DER_ASN1_DN, dnDER(t, "C=CH", "O=strongSwan", "CN=sun.strongswan.org"), "subject differs"},
		{"DN reordered", moon, wire.ID_DER_ASN1_DN, dnDER(t, "CN=moon.strongswan.org", "O=strongSwan", "C=CH"), "subject differs"},
		{"DN missing RDN", moon, wire.ID_DER_ASN1_DN, dnDER(t, "O=strongSwan", "CN=moon.strongswan.org"), "subject differs"},
		{"DN wildcard is literal", moon, wire.ID_DER_ASN1_DN, dnDER(t, "C=CH", "O=strongSwan", "CN=*"), "subject differs"},
		{"DN garbage", moon, wire.ID_DER_ASN1_DN, []byte{0x30, 0x01}, "subject differs"},
		{"FQDN SAN", moon, wire.ID_FQDN, []byte("vpn.strongswan.org"), ""},
		{"FQDN SAN case", moon, wire.ID_FQDN, []byte("MOON.strongswan.org"), ""},
		{"FQDN not in SAN", moon, wire.ID_FQDN, []byte("sun.strongswan.org"),
			`certificate "C=CH, O=strongSwan, CN=moon.strongswan.org" does not contain ID_FQDN "sun.strongswan.org" (subjectAltName DNS:moon.strongswan.org, DNS:vpn.strongswan.org)`},
		{"FQDN only in CN (strongSwan does not use CN)", bare, wire.ID_FQDN, []byte("sun.strongswan.org"),
			`does not contain ID_FQDN "sun.strongswan.org" (no DNS subjectAltName)`},
		{"FQDN suffix", moon, wire.ID_FQDN, []byte("strongswan.org"), "does not contain"},
		{"RFC822 SAN", moon, wire.ID_RFC822_ADDR, []byte("Moon@strongswan.org"), ""},
		{"RFC822 other", moon, wire.ID_RFC822_ADDR, []byte("sun@strongswan.org"), "(subjectAltName email:moon@strongswan.org)"},
		{"IPv4 SAN", moon, wire.ID_IPV4_ADDR, []byte{192, 168, 0, 1}, ""},
		{"IPv4 other", moon, wire.ID_IPV4_ADDR, []byte{192, 168, 0, 2}, `does not contain ID_IPV4_ADDR "192.168.0.2" (subjectAltName IP:192.168.0.1, IP:fec0::1)`},
		{"IPv6 SAN", moon, wire.ID_IPV6_ADDR, net.ParseIP("fec0::1"), ""},
		{"IPv4 as mapped IPv6", moon, wire.ID_IPV6_ADDR, net.IPv4(192, 168, 0, 1).To16(), "does not contain"},
		{"IPv4 with 5 bytes", moon, wire.ID_IPV4_ADDR, []byte{192, 168, 0, 1, 0}, "does not contain"},
		{"key id SPKI SHA-1", moon, wire.ID_KEY_ID, spki[:], ""},
		{"key id public key SHA-1", moon, wire.ID_KEY_ID, pkBits[:], ""},
		{"key id subjectKeyIdentifier", moon, wire.ID_KEY_ID, moon.SubjectKeyId, ""},
		{"key id other", moon, wire.ID_KEY_ID, []byte{1, 2, 3}, "no matching key identifier"},
		{"key id empty", moon, wire.ID_KEY_ID, nil, "no matching key identifier"},
		{"ID_NULL", moon, wire.ID_NULL, nil, "identity type ID_NULL cannot be matched against a certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := MatchIdentity(tc.cert, identity.ID{Type: tc.typ, Data: tc.data})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrIdentityMismatch) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
	if err := MatchIdentity(nil, identity.ID{Type: wire.ID_FQDN}); err == nil {
		t.Fatal("nil certificate accepted")
	}
}

// dnOIDs are the attributes the tests use.
var dnOIDs = map[string]asn1.ObjectIdentifier{
	"C": {2, 5, 4, 6}, "O": {2, 5, 4, 10}, "OU": {2, 5, 4, 11}, "CN": {2, 5, 4, 3},
}
