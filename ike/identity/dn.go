package identity

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// dnAttrs is the one table of distinguished name attributes: the names
// strongSwan parses (without case) and prints (the first name of an OID),
// after its x501rdns table, and the string type it encodes values with
// (IA5String, or else PrintableString when the value allows it and
// UTF8String otherwise).
var dnAttrs = []struct {
	name string
	oid  asn1.ObjectIdentifier
	ia5  bool
}{
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, false},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, false},
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}, false},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 4}, false}, // surname, as in strongSwan
	{"serialNumber", asn1.ObjectIdentifier{2, 5, 4, 5}, false},
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}, false},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}, false},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}, false},
	{"STREET", asn1.ObjectIdentifier{2, 5, 4, 9}, false},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}, false},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}, false},
	{"organizationIdentifier", asn1.ObjectIdentifier{2, 5, 4, 97}, false},
	{"T", asn1.ObjectIdentifier{2, 5, 4, 12}, false},
	{"D", asn1.ObjectIdentifier{2, 5, 4, 13}, false},
	{"postalAddress", asn1.ObjectIdentifier{2, 5, 4, 16}, false},
	{"postalCode", asn1.ObjectIdentifier{2, 5, 4, 17}, false},
	{"N", asn1.ObjectIdentifier{2, 5, 4, 41}, false},
	{"G", asn1.ObjectIdentifier{2, 5, 4, 42}, false},
	{"I", asn1.ObjectIdentifier{2, 5, 4, 43}, false},
	{"ID", asn1.ObjectIdentifier{2, 5, 4, 45}, false},
	{"dnQualifier", asn1.ObjectIdentifier{2, 5, 4, 46}, false},
	{"dmdName", asn1.ObjectIdentifier{2, 5, 4, 54}, false},
	{"pseudonym", asn1.ObjectIdentifier{2, 5, 4, 65}, false},
	{"EN", asn1.ObjectIdentifier{2, 16, 840, 1, 113730, 3, 1, 3}, false},
	{"employeeNumber", asn1.ObjectIdentifier{2, 16, 840, 1, 113730, 3, 1, 3}, false},
	{"E", oidEmail, true},
	{"Email", oidEmail, true},
	{"emailAddress", oidEmail, true},
	{"UN", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 2}, true},
	{"unstructuredName", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 2}, true},
	{"UA", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 8}, false},
	{"unstructuredAddress", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 8}, false},
}

var oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// attrOID finds an attribute by name, without case; ok false if unknown.
func attrOID(name string) (oid asn1.ObjectIdentifier, ia5, ok bool) {
	name = strings.TrimSpace(name)
	for _, a := range dnAttrs {
		if strings.EqualFold(a.name, name) {
			return a.oid, a.ia5, true
		}
	}
	return nil, false, false
}

func attrName(oid asn1.ObjectIdentifier) string {
	for _, a := range dnAttrs {
		if a.oid.Equal(oid) {
			return a.name
		}
	}
	return oid.String()
}

// attribute is one AttributeTypeAndValue of a distinguished name, in DER
// order, with multi-valued RDNs flattened as strongSwan does.
type attribute struct {
	oid   asn1.ObjectIdentifier
	tag   cbasn1.Tag
	value []byte
}

var errBadDN = errors.New("malformed distinguished name")

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
			var atv, val cryptobyte.String
			var a attribute
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

// ParseDN encodes a distinguished name as strongSwan writes it ("C=CH,
// O=strongSwan, CN=moon", or "/C=CH/O=strongSwan/CN=moon"; "\," escapes the
// separator) as DER, in the order written. Values are PrintableStrings when
// they can be, UTF8Strings otherwise, e-mail addresses IA5Strings; a "*"
// value stays a literal "*", which Match takes as a wildcard.
func ParseDN(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	sep := byte(',')
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
		case s[i] == sep:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	var rdn pkix.RDNSequence
	for _, part := range parts {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("distinguished name element %q has no '='", strings.TrimSpace(part))
		}
		oid, ia5, ok := attrOID(k)
		if !ok {
			return nil, fmt.Errorf("unknown distinguished name attribute %q", strings.TrimSpace(k))
		}
		v = strings.TrimSpace(v)
		tag := asn1.TagUTF8String
		switch {
		case ia5:
			tag = asn1.TagIA5String
		case isPrintable(v):
			tag = asn1.TagPrintableString
		}
		rdn = append(rdn, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: asn1.RawValue{Tag: tag, Bytes: []byte(v)}}})
	}
	if len(rdn) == 0 {
		return nil, errors.New("empty distinguished name")
	}
	return asn1.Marshal(rdn)
}

// isPrintable reports whether s fits an ASN.1 PrintableString.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(" '()+,-./:=?", c) >= 0) {
			return false
		}
	}
	return true
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
		return printable(a.value)
	}
	return "#" + hex.EncodeToString(a.value)
}

// rdnEqual compares two attribute values as strongSwan does: without case
// when both are PrintableStrings or both IA5String e-mail addresses, byte
// for byte otherwise.
func rdnEqual(a, b attribute) bool {
	if len(a.value) != len(b.value) {
		return false
	}
	if a.tag == b.tag && (a.tag == cbasn1.PrintableString || (a.tag == cbasn1.IA5String && a.oid.Equal(oidEmail))) {
		return strings.EqualFold(string(a.value), string(b.value))
	}
	return bytes.Equal(a.value, b.value)
}

func isWildcard(v []byte) bool { return len(v) == 1 && v[0] == '*' }

// DNEqual compares two DER distinguished names the way strongSwan does for
// an identity without wildcards: byte-equal, or the same attributes in the
// same order with equal values (see rdnEqual).
func DNEqual(a, b []byte) bool {
	return bytes.Equal(a, b) || compareDN(a, b, false) == MatchPerfect
}

// matchDN is the match quality of the DN der against the pattern: perfect
// minus one per "*" value in the pattern, or none.
func matchDN(der, pattern []byte) int {
	if bytes.Equal(der, pattern) {
		return MatchPerfect
	}
	return compareDN(der, pattern, true)
}

func compareDN(der, pattern []byte, wildcards bool) int {
	x, err := parseDNAttrs(der)
	if err != nil {
		return MatchNone
	}
	y, err := parseDNAttrs(pattern)
	if err != nil || len(x) != len(y) || len(x) == 0 {
		return MatchNone
	}
	wc := 0
	for i := range x {
		if !x[i].oid.Equal(y[i].oid) {
			return MatchNone
		}
		if wildcards && isWildcard(y[i].value) {
			wc++
			continue
		}
		if !rdnEqual(x[i], y[i]) {
			return MatchNone
		}
	}
	return max(MatchPerfect-wc, MatchMaxWildcards)
}
