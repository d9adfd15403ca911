package ike

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// A responder whose ESP proposals all name a key exchange method requires
// PFS in CREATE_CHILD_SA: a peer that proposes none is refused with
// NO_PROPOSAL_CHOSEN, both for a rekey and for a new Child SA, and the
// Child SA already installed keeps carrying traffic (RFC 7296 1.3.1, 2.8).
func TestResponderRequiresPFS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		espB     string
		accepted bool
	}{
		{"required", "aes128gcm16-x25519", false},
		{"required, two methods", "aes128gcm16-x25519-ecp256", false},
		{"optional with none", "aes128gcm16-x25519-none", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := pfsConfigs(t, "aes128gcm16", tc.espB)
			p := newPair(t, ca, cb, testPSK, testPSK)
			ma, mb := models(p)
			a, b := establish(t, p)
			oldA, oldB := a.Children()[0], b.Children()[0]

			// The rekey.
			if err := p.a.m.RekeyChild("net"); err != nil {
				t.Fatal(err)
			}
			p.pump()
			refused := logHas(p.b, "NO_PROPOSAL_CHOSEN: peer offered") && logHas(p.b, "PFS required: the peer sent no key exchange")
			if refused == tc.accepted {
				t.Fatalf("rekey without KE: refused %v, want accepted %v", refused, tc.accepted)
			}
			na, nb := installed(p.a), installed(p.b)
			if len(na) != 1 || len(nb) != 1 {
				t.Fatalf("installed Child SAs a %d b %d", len(na), len(nb))
			}
			if tc.accepted {
				if na[0] == oldA || nb[0] == oldB || nb[0].Group != 0 {
					t.Fatalf("rekey without PFS not completed: new a %v b %v group %d", na[0] != oldA, nb[0] != oldB, nb[0].Group)
				}
			} else if na[0] != oldA || nb[0] != oldB || oldA.State() != "INSTALLED" || oldB.State() != "INSTALLED" {
				t.Fatalf("refused rekey changed the Child SAs: a %s b %s", na[0].State(), nb[0].State())
			}
			if err := flows(ma, mb); err != nil {
				t.Fatalf("traffic after the rekey attempt: %v", err)
			}

			// A new Child SA of the same configuration, without KE.
			before := len(b.Children())
			if err := p.a.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			p.pump()
			if got := len(b.Children()) - before; (got == 1) != tc.accepted {
				t.Fatalf("new Child SA without KE: %d created, want accepted %v", got, tc.accepted)
			}
			if err := flows(ma, mb); err != nil {
				t.Fatalf("traffic after the CREATE_CHILD_SA attempt: %v", err)
			}
		})
	}
}

// In IKE_AUTH the first Child SA has no key exchange of its own, so a
// responder that requires PFS still accepts it (RFC 7296 1.2).
func TestPFSNotAskedInIKEAuth(t *testing.T) {
	ca, cb := pfsConfigs(t, "aes128gcm16", "aes128gcm16-x25519")
	p := newPair(t, ca, cb, testPSK, testPSK)
	a, b := establish(t, p)
	if len(a.Children()) != 1 || len(b.Children()) != 1 {
		t.Fatalf("children a %d b %d", len(a.Children()), len(b.Children()))
	}
	if c := b.Children()[0]; c.State() != "INSTALLED" || c.Group != uint16(wire.KE_NONE) {
		t.Fatalf("first child %s group %d", c.State(), c.Group)
	}
}

// The initiator holds its IKE_SA_INIT private value only until the shared
// secret is computed.
func TestInitiatorDropsKeyExchangePrivate(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	sa := onlySA(t, p.a)
	if sa.hs == nil || sa.hs.kex == nil {
		t.Fatal("no key exchange while IKE_SA_INIT is in flight")
	}
	kex := sa.hs.kex
	p.pump()
	if sa.State() != "ESTABLISHED" || sa.hs != nil {
		t.Fatalf("state %s, key exchange still held: %v", sa.State(), sa.hs != nil)
	}
	if _, err := kex.SharedSecret(kex.PublicValue()); err == nil {
		t.Fatal("the dropped key exchange still computes a secret")
	}
}
