package auth

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// attribute is one AttributeTypeAndValue of a distinguished name, in DER
// order, with multi-valued RDNs flattened as strongSwan does.
type attribute struct {
	oid   asn1.ObjectIdentifier
	tag   cbasn1.Tag
	value []byte
}

var errBadDN = errors.New("malformed distinguished name")

// dnAttrs are the attribute names strongSwan prints and parses.
var dnAttrs = []struct {
	name string
	oid  asn1.ObjectIdentifier
}{
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}},
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 4}},
	{"serialNumber", asn1.ObjectIdentifier{2, 5, 4, 5}},
	{"street", asn1.ObjectIdentifier{2, 5, 4, 9}},
	{"T", asn1.ObjectIdentifier{2, 5, 4, 12}},
	{"D", asn1.ObjectIdentifier{2, 5, 4, 13}},
	{"G", asn1.ObjectIdentifier{2, 5, 4, 42}},
	{"I", asn1.ObjectIdentifier{2, 5, 4, 43}},
	{"dnQualifier", asn1.ObjectIdentifier{2, 5, 4, 46}},
	{"pseudonym", asn1.ObjectIdentifier{2, 5, 4, 65}},
	{"E", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}},
}

// dnAliases are other spellings strongSwan accepts when parsing.
var dnAliases = map[string]string{
	"COUNTRYNAME": "C", "STATEORPROVINCENAME": "ST", "S": "ST", "LOCALITYNAME": "L",
	"ORGANIZATIONNAME": "O", "ORGANIZATIONALUNITNAME": "OU", "COMMONNAME": "CN",
	"SURNAME": "SN", "SERIALNUMBER": "SERIALNUMBER", "EMAIL": "E", "EMAILADDRESS": "E",
	"TITLE": "T", "DESCRIPTION": "D", "GN": "G", "GIVENNAME": "G", "INITIALS": "I",
	"USERID": "UID", "DCOMPONENT": "DC", "STREETADDRESS": "STREET",
}

var oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

func attrOID(name string) asn1.ObjectIdentifier {
	n := strings.ToUpper(strings.TrimSpace(name))
	if a, ok := dnAliases[n]; ok {
		n = a
	}
	for _, a := range dnAttrs {
		if strings.ToUpper(a.name) == n {
			return a.oid
		}
	}
	return nil
}

func attrName(oid asn1.ObjectIdentifier) string {
	for _, a := range dnAttrs {
		if a.oid.Equal(oid) {
			return a.name
		}
	}
	return oid.String()
}

// parseDNAttrs reads a DER Name (RDNSequence).
func parseDNAttrs(der []byte) ([]attribute, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errBadDN
	}
	var out []attribute
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) || set.Empty() {
			return nil, errBadDN
		}
		for !set.Empty() {
			var atv cryptobyte.String
			var a attribute
			var val cryptobyte.String
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1ObjectIdentifier(&a.oid) ||
				!atv.ReadAnyASN1(&val, &a.tag) || !atv.Empty() {
				return nil, errBadDN
			}
			a.value = val
			out = append(out, a)
		}
	}
	return out, nil
}

// DNString formats a DER distinguished name as strongSwan prints it, in
// encoding order: "C=CH, O=strongSwan Project, CN=moon.strongswan.org".
// Undecodable input is printed as hex.
func DNString(der []byte) string {
	attrs, err := parseDNAttrs(der)
	if err != nil {
		return "#" + hex.EncodeToString(der)
	}
	parts := make([]string, 0, len(attrs))
	for _, a := range attrs {
		parts = append(parts, attrName(a.oid)+"="+attrValueString(a))
	}
	return strings.Join(parts, ", ")
}

func attrValueString(a attribute) string {
	switch a.tag {
	case cbasn1.UTF8String, cbasn1.PrintableString, cbasn1.IA5String, cbasn1.T61String, cbasn1.Tag(26):
		return strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return '?'
			}
			return r
		}, string(a.value))
	}
	return "#" + hex.EncodeToString(a.value)
}

// valueCaseless reports whether strongSwan compares a value of this type
// without regard to case: PrintableString, and IA5String e-mail addresses.
func valueCaseless(oid asn1.ObjectIdentifier, tag cbasn1.Tag) bool {
	return tag == cbasn1.PrintableString || (tag == cbasn1.IA5String && oid.Equal(oidEmail))
}

// dnEqual compares two DER distinguished names the way strongSwan does for
// an identity without wildcards: byte-equal, or the same attributes in the
// same order with equal values, ignoring case when both values are
// PrintableStrings or IA5String e-mail addresses.
func dnEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	x, err := parseDNAttrs(a)
	if err != nil {
		return false
	}
	y, err := parseDNAttrs(b)
	if err != nil || len(x) != len(y) {
		return false
	}
	for i := range x {
		if !x[i].oid.Equal(y[i].oid) || len(x[i].value) != len(y[i].value) {
			return false
		}
		if x[i].tag == y[i].tag && valueCaseless(x[i].oid, x[i].tag) {
			if !strings.EqualFold(string(x[i].value), string(y[i].value)) {
				return false
			}
		} else if !bytes.Equal(x[i].value, y[i].value) {
			return false
		}
	}
	return true
}

// dnPattern is a distinguished name written in swanctl.conf, whose values
// may be "*" wildcards.
type dnPattern struct {
	names []asn1.ObjectIdentifier
	vals  []string
}

// parseDNPattern reads "C=CH, O=strongSwan, CN=*" (',' or '/' separated,
// "\," escapes a comma).
func parseDNPattern(s string) (dnPattern, error) {
	var p dnPattern
	s = strings.TrimSpace(s)
	sep := ','
	if strings.HasPrefix(s, "/") {
		sep, s = '/', s[1:]
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case rune(s[i]) == sep:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	for _, part := range parts {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return p, fmt.Errorf("distinguished name element %q has no '='", part)
		}
		oid := attrOID(k)
		if oid == nil {
			return p, fmt.Errorf("unknown distinguished name attribute %q", strings.TrimSpace(k))
		}
		p.names = append(p.names, oid)
		p.vals = append(p.vals, strings.TrimSpace(v))
	}
	if len(p.names) == 0 {
		return p, errors.New("empty distinguished name")
	}
	return p, nil
}

// isPrintable reports whether strongSwan would encode s as a
// PrintableString.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(" '()+,-./:=?", c) >= 0) {
			return false
		}
	}
	return true
}

// match returns strongSwan's match quality of the DER name against the
// pattern: perfect minus one per wildcard, or none.
func (p dnPattern) match(der []byte) int {
	attrs, err := parseDNAttrs(der)
	if err != nil || len(attrs) != len(p.names) {
		return matchNone
	}
	wc := 0
	for i, a := range attrs {
		if !a.oid.Equal(p.names[i]) {
			return matchNone
		}
		v := p.vals[i]
		switch {
		case v == "*":
			wc++
		case len(v) != len(a.value):
			return matchNone
		case (a.tag == cbasn1.PrintableString && isPrintable(v) && !p.names[i].Equal(oidEmail)) ||
			(a.tag == cbasn1.IA5String && p.names[i].Equal(oidEmail)):
			if !strings.EqualFold(v, string(a.value)) {
				return matchNone
			}
		default:
			if v != string(a.value) {
				return matchNone
			}
		}
	}
	return matchPerfect - min(wc, matchOneWildcard-matchMaxWildcards)
}
