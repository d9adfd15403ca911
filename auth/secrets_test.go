package auth

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

func fqdn(s string) identity.ID { return identity.ID{Type: wire.ID_FQDN, Data: []byte(s)} }

func addrID(s string) identity.ID {
	a := netip.MustParseAddr(s)
	if a.Is4() {
		return identity.ID{Type: wire.ID_IPV4_ADDR, Data: a.AsSlice()}
	}
	return identity.ID{Type: wire.ID_IPV6_ADDR, Data: a.AsSlice()}
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
	carolDN := identity.ID{Type: wire.ID_DER_ASN1_DN, Data: dnDER(t, "C=CH", "O=strongSwan", "CN=carol")}
	s := secrets(t,
		"any:",
		"moon:moon.strongswan.org",
		"moon-sun:moon.strongswan.org|sun.strongswan.org",
		"wild:*.strongswan.org",
		"net:10.1.0.0/16",
		"dn:C=CH, O=strongSwan, CN=*",
	)
	for _, tc := range []struct {
		local, remote identity.ID
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
	if _, _, ok := s.Lookup(identity.ID{}, identity.ID{}); ok {
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
