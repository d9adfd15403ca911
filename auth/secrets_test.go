package auth

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

func fqdn(s string) ID { return ID{Type: wire.ID_FQDN, Data: []byte(s)} }

func addrID(s string) ID {
	a := netip.MustParseAddr(s)
	if a.Is4() {
		return ID{Type: wire.ID_IPV4_ADDR, Data: a.AsSlice()}
	}
	return ID{Type: wire.ID_IPV6_ADDR, Data: a.AsSlice()}
}

func TestIDPatternMatch(t *testing.T) {
	dn := ID{Type: wire.ID_DER_ASN1_DN, Data: dnDER(t, "C=CH", "O=strongSwan", "CN=moon.strongswan.org")}
	for _, tc := range []struct {
		pattern string
		id      ID
		want    int
	}{
		{"%any", fqdn("x"), matchAny},
		{"", ID{}, matchAny},
		{"*", addrID("10.0.0.1"), matchAny},
		{"moon.strongswan.org", fqdn("moon.strongswan.org"), matchPerfect},
		{"@moon.strongswan.org", fqdn("MOON.strongswan.org"), matchPerfect},
		{"moon.strongswan.org", fqdn("sun.strongswan.org"), matchNone},
		{"*.strongswan.org", fqdn("moon.strongswan.org"), matchOneWildcard},
		{"*.strongswan.org", fqdn("strongswan.org"), matchNone},
		{"*.strongswan.org", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("a.strongswan.org")}, matchNone},
		{"*@strongswan.org", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("carol@strongswan.org")}, matchOneWildcard},
		{"carol@strongswan.org", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("Carol@strongswan.org")}, matchPerfect},
		{"@@carol", ID{Type: wire.ID_RFC822_ADDR, Data: []byte("carol")}, matchPerfect},
		{"carol@strongswan.org", fqdn("carol@strongswan.org"), matchNone},
		{"192.168.0.1", addrID("192.168.0.1"), matchPerfect},
		{"192.168.0.1", addrID("192.168.0.2"), matchNone},
		{"192.168.0.0/24", addrID("192.168.0.2"), matchOneWildcard},
		{"192.168.0.1/32", addrID("192.168.0.1"), matchPerfect},
		{"192.168.0.0/24", addrID("192.168.1.2"), matchNone},
		{"0.0.0.0/0", addrID("1.2.3.4"), matchMaxWildcards},
		{"fec0::/16", addrID("fec0::1"), matchOneWildcard},
		{"fec0::1", addrID("fec0::1"), matchPerfect},
		{"fec0::/16", addrID("10.0.0.1"), matchNone},
		{"@#0102ab", ID{Type: wire.ID_KEY_ID, Data: []byte{1, 2, 0xab}}, matchPerfect},
		{"C=CH, O=strongSwan, CN=moon.strongswan.org", dn, matchPerfect},
		{"C=ch, O=STRONGSWAN, CN=moon.strongswan.org", dn, matchPerfect},
		{"C=CH, O=strongSwan, CN=*", dn, matchPerfect - 1},
		{"C=*, O=*, CN=*", dn, matchPerfect - 3},
		{"C=CH, CN=moon.strongswan.org", dn, matchNone},
		{"CN=moon.strongswan.org, O=strongSwan, C=CH", dn, matchNone},
		{"/C=CH/O=strongSwan/CN=moon.strongswan.org", dn, matchPerfect},
		{"C=CH, O=strongSwan, CN=moon.strongswan.org", fqdn("moon.strongswan.org"), matchNone},
	} {
		p, err := ParseIDPattern(tc.pattern)
		if err != nil {
			t.Errorf("ParseIDPattern(%q): %v", tc.pattern, err)
			continue
		}
		if got := p.Match(tc.id); got != tc.want {
			t.Errorf("%q.Match(%v) = %d, want %d", tc.pattern, tc.id, got, tc.want)
		}
	}
	for _, bad := range []string{"C=CH, XY=1", "@#12g4", "@#", "C=CH, noequals"} {
		if _, err := ParseIDPattern(bad); err == nil {
			t.Errorf("ParseIDPattern(%q) succeeded", bad)
		}
	}
}

func secrets(t *testing.T, entries ...string) *Secrets {
	t.Helper()
	s := &Secrets{}
	for _, e := range entries {
		name, ids, _ := strings.Cut(e, ":")
		var owners []string
		if ids != "" {
			owners = strings.Split(ids, "|")
		}
		if err := s.Add(name, []byte("psk-"+name), owners...); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestSecretsLookupPrecedence(t *testing.T) {
	moon, sun := fqdn("moon.strongswan.org"), fqdn("sun.strongswan.org")
	carolDN := ID{Type: wire.ID_DER_ASN1_DN, Data: dnDER(t, "C=CH", "O=strongSwan", "CN=carol")}
	s := secrets(t,
		"any:",
		"moon:moon.strongswan.org",
		"moon-sun:moon.strongswan.org|sun.strongswan.org",
		"wild:*.strongswan.org",
		"net:10.1.0.0/16",
		"dn:C=CH, O=strongSwan, CN=*",
	)
	for _, tc := range []struct {
		local, remote ID
		want          string
	}{
		{moon, sun, "moon-sun"},                         // both perfect
		{sun, moon, "moon-sun"},                         // symmetric
		{moon, fqdn("venus.strongswan.org"), "wild"},    // remote wildcard beats %any
		{moon, addrID("192.168.1.1"), "any"},            // remote %any beats remote none, whatever the local match
		{moon, addrID("10.1.2.3"), "net"},               // subnet
		{moon, carolDN, "dn"},                           // DN wildcard
		{addrID("10.1.0.1"), addrID("10.1.0.2"), "net"}, // both in the subnet
		{fqdn("x.example"), fqdn("y.example"), "any"},
	} {
		got, name, ok := s.Lookup(tc.local, tc.remote)
		if !ok || name != tc.want || string(got) != "psk-"+tc.want {
			t.Errorf("Lookup(%v, %v) = %q %q %v, want %q", tc.local, tc.remote, got, name, ok, tc.want)
		}
	}

	// A secret naming only the local identity serves every peer; of two such
	// secrets the later one wins, as in strongSwan.
	s = secrets(t, "moon:moon.strongswan.org", "moon-sun:moon.strongswan.org|sun.strongswan.org")
	if _, name, _ := s.Lookup(moon, fqdn("venus")); name != "moon-sun" {
		t.Errorf("local-only tie: got %q, want the later secret", name)
	}
	s = secrets(t, "first:", "second:")
	if _, name, _ := s.Lookup(moon, sun); name != "second" {
		t.Errorf("%%any tie: got %q, want the later secret", name)
	}
	// The remote match outranks the local one.
	s = secrets(t, "local:moon.strongswan.org", "remote:*.strongswan.org")
	if _, name, _ := s.Lookup(moon, sun); name != "remote" {
		t.Errorf("got %q, want the remote wildcard match", name)
	}
	s = secrets(t, "remote:*.strongswan.org", "local:moon.strongswan.org")
	if _, name, _ := s.Lookup(moon, sun); name != "remote" {
		t.Errorf("got %q, want the remote wildcard match regardless of order", name)
	}
	// No match at all.
	s = secrets(t, "moon:moon.strongswan.org")
	if k, _, ok := s.Lookup(sun, fqdn("venus")); ok || k != nil {
		t.Errorf("Lookup without a match = %q, %v", k, ok)
	}
	// %any local identity (unknown yet) only matches %any secrets.
	if _, _, ok := s.Lookup(ID{}, ID{}); ok {
		t.Error("%any identities matched a specific secret")
	}
}

func TestSecretsFromConfig(t *testing.T) {
	pos := config.Pos{File: "swanctl.conf", Line: 7}
	s, err := NewSecrets([]*config.SharedSecret{
		{Name: "ike-1", Pos: pos, Secret: config.NewSecret([]byte("0123456789")), Owners: []config.Value{{Text: "moon.strongswan.org"}, {Text: "sun.strongswan.org"}}},
		{Name: "ike-2", Pos: pos, Secret: config.NewSecret([]byte("other"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	k, ok := s.SharedKey(fqdn("moon.strongswan.org"), fqdn("sun.strongswan.org"))
	if !ok || string(k) != "0123456789" {
		t.Fatalf("SharedKey = %q, %v", k, ok)
	}
	k[0] = 'X' // the caller's copy
	if k, _ := s.SharedKey(fqdn("moon.strongswan.org"), fqdn("sun.strongswan.org")); string(k) != "0123456789" {
		t.Fatalf("secret changed through a returned slice: %q", k)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, "0123456789") || strings.Contains(out, "3031323334") {
			t.Errorf("%s prints the secret: %s", verb, out)
		}
	}
	if s.Len() != 2 || s.String() != "2 IKE secrets" {
		t.Errorf("Len/String = %d %q", s.Len(), s.String())
	}
	_, err = NewSecrets([]*config.SharedSecret{{Name: "ike-bad", Pos: pos, Owners: []config.Value{{Text: "C=CH, XX=y"}}}})
	if err == nil || !strings.Contains(err.Error(), "swanctl.conf:7") || !strings.Contains(err.Error(), `secrets.ike-bad: identity "C=CH, XX=y": unknown distinguished name attribute "XX"`) {
		t.Fatalf("bad id: %v", err)
	}
}
