package ike

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
)

// flipPSK gives the right PSK for the first lookup and another one after:
// a responder that verifies the initiator's AUTH but computes its own
// with a different key.
type flipPSK struct{ calls int }

func (f *flipPSK) SharedKey(local, remote identity.ID) ([]byte, bool) {
	f.calls++
	if f.calls == 1 {
		return testPSK.SharedKey(local, remote)
	}
	return []byte("a-different-psk-0123456789"), true
}

// When the initiator refuses the responder's AUTH, the responder has
// already installed its IKE SA and first Child SA; the initiator tells it
// with AUTHENTICATION_FAILED in an INFORMATIONAL, and both end up with
// nothing (RFC 7296 2.21.2).
func TestInitiatorTellsResponderItsAuthFailed(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, &flipPSK{})
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.a.m.SAs()) != 0 || len(p.b.m.SAs()) != 0 {
		t.Fatalf("SAs left: a %d b %d", len(p.a.m.SAs()), len(p.b.m.SAs()))
	}
	if !logHas(p.a, "AUTHENTICATION_FAILED: PSK of b.cygnet.test does not match ours") {
		t.Fatal("initiator log lacks the reason")
	}
	if !logHas(p.b, "AUTHENTICATION_FAILED: peer 10.99.0.1:500 rejected our authentication as b.cygnet.test") {
		t.Fatal("responder log lacks the notification")
	}
	if len(p.b.childUp) != 1 || len(p.b.deleted) != 1 || p.b.deleted[0] != p.b.childUp[0].SPIIn {
		t.Fatalf("responder's Child SA: installed %d, deleted %v", len(p.b.childUp), p.b.deleted)
	}
}
