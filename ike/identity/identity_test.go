package identity

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/netip"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// dnDER encodes "k=v" pairs in order; a value prefixed with "utf8:" is a
// UTF8String, "ia5:" an IA5String, anything else a PrintableString.
func dnDER(t testing.TB, pairs ...string) []byte {
	t.Helper()
	var rdn pkix.RDNSequence
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		oid, _, ok := attrOID(k)
		if !ok {
			t.Fatalf("unknown attribute %q", k)
		}
		val := asn1.RawValue{Tag: asn1.TagPrintableString, Bytes: []byte(v)}
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

func fqdn(s string) ID { return ID{Type: wire.ID_FQDN, Data: []byte(s)} }

func addrID(s string) ID { return FromAddr(netip.MustParseAddr(s)) }

func TestParseLikeStrongSwan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		typ  wire.IDType
		text string
	}{
		{"10.99.0.1", wire.ID_IPV4_ADDR, "10.99.0.1"},
		{"fd00:99::1", wire.ID_IPV6_ADDR, "fd00:99::1"},
		{"moon.example.org", wire.ID_FQDN, "moon.example.org"},
		{"@moon", wire.ID_FQDN, "moon"},
		{"*.example.org", wire.ID_FQDN, "*.example.org"},
		{"carol@example.org", wire.ID_RFC822_ADDR, "carol@example.org"},
		{"*@example.org", wire.ID_RFC822_ADDR, "*@example.org"},
		{"@@carol", wire.ID_RFC822_ADDR, "carol"},
		{"@#0102ab", wire.ID_KEY_ID, "@#0102ab"},
		{"10.1.0.0/16", IPv4Subnet, "10.1.0.0/16"},
		{"fec0::/16", IPv6Subnet, "fec0::/16"},
		{"C=CH, O=strongSwan, CN=moon.strongswan.org", wire.ID_DER_ASN1_DN, "C=CH, O=strongSwan, CN=moon.strongswan.org"},
		{"/C=CH/O=strongSwan/CN=*", wire.ID_DER_ASN1_DN, "C=CH, O=strongSwan, CN=*"},
		{"c=CH, emailAddress=a@b.c, SN=Doe, serialNumber=7", wire.ID_DER_ASN1_DN, "C=CH, E=a@b.c, SN=Doe, serialNumber=7"},
		{"%any", 0, "%any"},
		{"", 0, "%any"},
		{"0.0.0.0", 0, "%any"},
	} {
		id, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if id.Type != tc.typ || id.String() != tc.text {
			t.Errorf("%q: type %v text %q, want %v %q", tc.in, id.Type, id.String(), tc.typ, tc.text)
		}
	}
	for _, bad := range []string{"C=CH, XY=1", "@#12g4", "@#", "C=CH, noequals", "C=CH, XX=1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

// TestParseDNEncoding checks the DER strongSwan would build: one table,
// serialNumber is not SN, e-mail addresses are IA5Strings, and values that
// do not fit a PrintableString are UTF8Strings.
func TestParseDNEncoding(t *testing.T) {
	got, err := ParseDN("C=CH, SN=Doe, serialNumber=42, E=a@b.c, CN=Zürich, DC=org")
	if err != nil {
		t.Fatal(err)
	}
	want := dnDER(t, "C=CH", "SN=Doe", "serialNumber=42", "E=ia5:a@b.c", "CN=utf8:Zürich", "DC=org")
	if string(got) != string(want) {
		t.Fatalf("ParseDN = %x\nwant      %x", got, want)
	}
}

func TestMatch(t *testing.T) {
	dn := ID{Type: wire.ID_DER_ASN1_DN, Data: dnDER(t, "C=CH", "O=strongSwan", "CN=moon.strongswan.org")}
	for _, tc := range []struct {
		pattern string
		id      ID
		want    int
	}{
		{"%any", fqdn("x"), MatchAny},
		{"", ID{}, MatchAny},
		{"*", addrID("10.0.0.1"), MatchAny},
		{"moon.strongswan.org", fqdn("moon.strongswan.org"), MatchPerfect},
		{"@moon.strongswan.org", fqdn("MOON.strongswan.org"), MatchPerfect},
		{"moon.strongswan.org", fqdn("sun.strongswan.org"), MatchNone},
		{"moon.strongswan.org", ID{}, MatchNone},
		{"*.strongswan.org", fqdn("moon.strongswan.org"), MatchOneWildcard},
		{"*.strongswan.org", fqdn("a.b.STRONGSWAN.org"), MatchOneWildcard},
		{"*.strongswan.org", fqdn("strongswan.org"), MatchNone},
		{"*.strongswan.org", fqdn("moon.strongswan.org.evil"), MatchNone},
		{"*.strongswan.org", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("a.strongswan.org")}, MatchNone},
		{"*@strongswan.org", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("carol@strongswan.org")}, MatchOneWildcard},
		{"*@strongswan.org", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("carol@strongswan.com")}, MatchNone},
		{"carol@strongswan.org", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("Carol@strongswan.org")}, MatchPerfect},
		{"@@carol", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("carol")}, MatchPerfect},
		{"carol@strongswan.org", fqdn("carol@strongswan.org"), MatchNone},
		{"192.168.0.1", addrID("192.168.0.1"), MatchPerfect},
		{"192.168.0.1", addrID("192.168.0.2"), MatchNone},
		{"192.168.0.0/24", addrID("192.168.0.2"), MatchOneWildcard},
		{"192.168.0.1/32", addrID("192.168.0.1"), MatchPerfect},
		{"192.168.0.0/24", addrID("192.168.1.2"), MatchNone},
		{"0.0.0.0/0", addrID("1.2.3.4"), MatchMaxWildcards},
		{"fec0::/16", addrID("fec0::1"), MatchOneWildcard},
		{"fec0::1", addrID("fec0::1"), MatchPerfect},
		{"fec0::/16", addrID("10.0.0.1"), MatchNone},
		{"@#0102ab", ID{Type: wire.ID_KEY_ID, Data: []byte{1, 2, 0xab}}, MatchPerfect},
		{"C=CH, O=strongSwan, CN=moon.strongswan.org", dn, MatchPerfect},
		{"C=ch, O=STRONGSWAN, CN=moon.strongswan.org", dn, MatchPerfect},
		{"C=CH, O=strongSwan, CN=*", dn, MatchPerfect - 1},
		{"C=*, O=*, CN=*", dn, MatchPerfect - 3},
		{"C=CH, O=other, CN=*", dn, MatchNone},
		{"C=CH, CN=moon.strongswan.org", dn, MatchNone},
		{"C=CH, O=strongSwan, CN=moon.strongswan.org, OU=*", dn, MatchNone},
		{"CN=moon.strongswan.org, O=strongSwan, C=CH", dn, MatchNone},
		{"/C=CH/O=strongSwan/CN=moon.strongswan.org", dn, MatchPerfect},
		{"C=CH, O=strongSwan, CN=moon.strongswan.org", fqdn("moon.strongswan.org"), MatchNone},
	} {
		p, err := Parse(tc.pattern)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.pattern, err)
			continue
		}
		if got := p.Match(tc.id); got != tc.want {
			t.Errorf("%q.Match(%v) = %d, want %d", tc.pattern, tc.id, got, tc.want)
		}
		if p.Matches(tc.id) != (tc.want > MatchNone) {
			t.Errorf("%q.Matches(%v) disagrees with Match", tc.pattern, tc.id)
		}
	}
}

func TestHasWildcards(t *testing.T) {
	for s, want := range map[string]bool{
		"%any": true, "*.example.org": true, "*@example.org": true, "C=CH, CN=*": true, "10.0.0.0/8": true,
		"moon.example.org": false, "C=CH, CN=a*b": false, "10.0.0.1": false, "@#01": false,
	} {
		id, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if id.HasWildcards() != want {
			t.Errorf("%q.HasWildcards() = %v", s, !want)
		}
	}
}

func TestDNString(t *testing.T) {
	for _, tc := range []struct {
		der  []byte
		want string
	}{
		{dnDER(t, "C=CH", "O=strongSwan Project", "CN=moon.strongswan.org"), "C=CH, O=strongSwan Project, CN=moon.strongswan.org"},
		{dnDER(t, "DC=org", "DC=example", "OU=utf8:Zürich", "E=ia5:a@b.c", "serialNumber=42"), "DC=org, DC=example, OU=Zürich, E=a@b.c, serialNumber=42"},
		{dnDER(t, "CN=utf8:evil\nname"), "CN=evil?name"},
		{[]byte{0x30, 0x01}, "#3001"},
	} {
		if got := DNString(tc.der); got != tc.want {
			t.Errorf("DNString = %q, want %q", got, tc.want)
		}
	}
	for id, want := range map[*ID]string{
		{}: "%any",
		{Type: wire.ID_DER_ASN1_DN, Data: dnDER(t, "CN=x")}:  "CN=x",
		{Type: wire.ID_IPV4_ADDR, Data: []byte{10, 0, 0, 1}}: "10.0.0.1",
		{Type: wire.ID_FQDN, Data: []byte("a.b")}:            "a.b",
		{Type: wire.ID_KEY_ID, Data: []byte{0xab}}:           "@#ab",
		{Type: wire.ID_NULL, Data: []byte{1}}:                "ID_NULL:01",
	} {
		if got := id.String(); got != want {
			t.Errorf("ID%+v.String() = %q, want %q", *id, got, want)
		}
	}
}

func TestDNEqual(t *testing.T) {
	a := dnDER(t, "C=CH", "O=strongSwan", "CN=moon")
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{dnDER(t, "C=ch", "O=STRONGSWAN", "CN=Moon"), true},
		{dnDER(t, "C=CH", "O=utf8:strongSwan", "CN=moon"), true},
		{dnDER(t, "C=CH", "O=utf8:STRONGSWAN", "CN=moon"), false},
		{dnDER(t, "C=CH", "O=strongSwan", "CN=*"), false}, // no wildcards in equality
		{dnDER(t, "CN=moon", "O=strongSwan", "C=CH"), false},
		{[]byte{0x30, 0x01}, false},
	} {
		if got := DNEqual(a, tc.b); got != tc.want {
			t.Errorf("DNEqual(%s, %s) = %v", DNString(a), DNString(tc.b), got)
		}
	}
}

// FuzzDN runs the distinguished name decoder, formatter, comparison and
// pattern matching on arbitrary bytes.
func FuzzDN(f *testing.F) {
	f.Add(dnDER(f, "C=CH", "O=strongSwan", "CN=moon.strongswan.org"), "C=CH, O=strongSwan, CN=*")
	f.Add(dnDER(f, "E=ia5:a@b.c", "OU=utf8:x"), "E=A@B.C, OU=x")
	f.Add([]byte{0x30, 0x00}, "%any")
	f.Add([]byte{0x30, 0x03, 0x31, 0x01, 0x30}, "/CN=a/O=b")
	f.Fuzz(func(t *testing.T, der []byte, pattern string) {
		_ = DNString(der)
		if attrs, err := parseDNAttrs(der); err == nil && len(attrs) > 0 {
			// A copy with other bytes must compare by content, not identity.
			cp := append([]byte(nil), der...)
			if !DNEqual(der, cp) {
				t.Fatalf("valid DN %x not equal to its copy", der)
			}
		}
		p, err := Parse(pattern)
		if err != nil {
			return
		}
		_ = p.String()
		_ = p.HasWildcards()
		for _, typ := range []wire.IDType{wire.ID_DER_ASN1_DN, wire.ID_FQDN, wire.ID_IPV4_ADDR, wire.ID_KEY_ID} {
			if m := p.Match(ID{Type: typ, Data: der}); m < MatchNone || m > MatchPerfect {
				t.Fatalf("match quality %d", m)
			}
		}
	})
}
