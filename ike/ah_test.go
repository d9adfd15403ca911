package ike

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// ahConfigs are siteConfig with an AH child proposing ah (and, for b, bAH).
func ahConfigs(t *testing.T, aAH, bAH string) (*PeerConfig, *PeerConfig) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	for _, x := range []struct {
		c *PeerConfig
		s string
	}{{ca, aAH}, {cb, bAH}} {
		x.c.Children[0].Protocol = ipsec.ProtoAH
		x.c.Children[0].Proposals = mustProposals(t, wire.ProtocolAH, x.s)
	}
	return ca, cb
}

// TestAHChildNegotiated: a child with AH proposals comes up as AH in
// IKE_AUTH (integrity only, ESN as negotiated, two integrity keys and no
// encryption keys from KEYMAT), and a CREATE_CHILD_SA rekey with PFS
// replaces it with another AH Child SA; the DELETE names protocol AH.
func TestAHChildNegotiated(t *testing.T) {
	ca, cb := ahConfigs(t, "aescmac-sha256-x25519-esn", "sha256-x25519-esn-noesn")
	p := newPair(t, ca, cb, testPSK, testPSK)
	a, b := establish(t, p)
	ka, kb := a.Children(), b.Children()
	if len(ka) != 1 || len(kb) != 1 {
		t.Fatalf("children a %d b %d", len(ka), len(kb))
	}
	for _, c := range []*ChildSA{ka[0], kb[0]} {
		if c.Protocol != ipsec.ProtoAH || c.Encr != 0 || c.Integ != uint16(wire.AUTH_HMAC_SHA2_256_128) || !c.ESN {
			t.Fatalf("Child SA %v encr %d integ %d esn %v, want AH HMAC-SHA2-256-128 with ESN", c.Protocol, c.Encr, c.Integ, c.ESN)
		}
	}
	keysA, keysB := p.a.keys[ka[0].SPIIn], p.b.keys[kb[0].SPIIn]
	if len(keysA[0]) != 0 || len(keysA[2]) != 0 || len(keysA[1]) != 32 || len(keysA[3]) != 32 ||
		string(keysA[1]) != string(keysB[3]) || string(keysA[3]) != string(keysB[1]) {
		t.Fatalf("AH keys: encr %d/%d integ %d/%d octets, or they do not pair up", len(keysA[0]), len(keysA[2]), len(keysA[1]), len(keysA[3]))
	}

	old := ka[0]
	if err := p.a.m.RekeyChild("net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	na, nb := installed(p.a), installed(p.b)
	if len(na) != 1 || len(nb) != 1 || na[0] == old {
		t.Fatalf("after the rekey: installed a %d b %d", len(na), len(nb))
	}
	for _, c := range []*ChildSA{na[0], nb[0]} {
		if c.Protocol != ipsec.ProtoAH || c.Integ != uint16(wire.AUTH_HMAC_SHA2_256_128) || c.Group != uint16(wire.CURVE25519) {
			t.Fatalf("rekeyed Child SA %v integ %d group %d, want AH with PFS x25519", c.Protocol, c.Integ, c.Group)
		}
	}
	if na[0].SPIIn != nb[0].SPIOut || na[0].SPIOut != nb[0].SPIIn || na[0].SPIIn == old.SPIIn {
		t.Fatalf("rekeyed SPIs a %08x/%08x b %08x/%08x", na[0].SPIIn, na[0].SPIOut, nb[0].SPIIn, nb[0].SPIOut)
	}
	// b switched on a's DELETE (protocol AH, a's inbound SPI), found by
	// protocol and SPI, and removes the old pair after the grace time
	if kb[0].State() != "REKEYED" {
		t.Fatalf("b's old Child SA is %s after a's DELETE, want REKEYED", kb[0].State())
	}
	p.advance(rekeyGrace)
	if len(p.b.deleted) != 1 || p.b.deleted[0] != old.SPIOut {
		t.Fatalf("b deleted %x, want the old SA %08x", p.b.deleted, old.SPIOut)
	}
}

// TestAHAgainstESP: a child that offers AH gets NO_PROPOSAL_CHOSEN from a
// peer that accepts ESP only; no Child SA is installed at either end.
func TestAHAgainstESP(t *testing.T) {
	ca, _ := ahConfigs(t, "sha256", "sha256")
	p := newPair(t, ca, siteConfig(t, 2, 1), testPSK, testPSK)
	a, b := establish(t, p)
	if len(a.Children())+len(b.Children())+len(p.a.childUp)+len(p.b.childUp) != 0 {
		t.Fatalf("a Child SA came up between AH and ESP")
	}
	if !logHas(p.a, "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("a's log does not name NO_PROPOSAL_CHOSEN")
	}
}
