package ike

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

func TestParseIdentityLikeStrongSwan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		typ  wire.IDType
		text string
	}{
		{"10.99.0.1", wire.ID_IPV4_ADDR, "10.99.0.1"},
		{"fd00:99::1", wire.ID_IPV6_ADDR, "fd00:99::1"},
		{"moon.example.org", wire.ID_FQDN, "moon.example.org"},
		{"@moon", wire.ID_FQDN, "moon"},
		{"carol@example.org", wire.ID_RFC822_ADDR, "carol@example.org"},
		{"C=CH, O=strongSwan, CN=moon.strongswan.org", wire.ID_DER_ASN1_DN, "C=CH, O=strongSwan, CN=moon.strongswan.org"},
		{"%any", 0, "%any"},
	} {
		id, err := ParseIdentity(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if id.Type != tc.typ || id.String() != tc.text {
			t.Errorf("%q: type %v text %q, want %v %q", tc.in, id.Type, id.String(), tc.typ, tc.text)
		}
	}
	if _, err := ParseIdentity("C=CH, XX=1"); err == nil {
		t.Error("unknown DN attribute accepted")
	}
	a, _ := ParseIdentity("Moon.Example.ORG")
	b, _ := ParseIdentity("moon.example.org")
	if !a.Matches(b) || !AnyIdentity.Matches(b) || b.Matches(AnyIdentity) {
		t.Error("identity matching")
	}
}
