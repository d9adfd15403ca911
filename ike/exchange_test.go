package ike

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

func establish(t *testing.T, p *pair) (a, b *IKESA) {
	t.Helper()
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	return onlySA(t, p.a), onlySA(t, p.b)
}

func TestPSKTunnelEstablishes(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
	if a.RemoteID.String() != "b.cygnet.test" || b.RemoteID.String() != "a.cygnet.test" {
		t.Fatalf("identities %s / %s", a.RemoteID, b.RemoteID)
	}
	if len(a.Children()) != 1 || len(b.Children()) != 1 {
		t.Fatalf("children %d / %d", len(a.Children()), len(b.Children()))
	}
	ca, cb := a.Children()[0], b.Children()[0]
	if ca.State() != "INSTALLED" || ca.SPIIn != cb.SPIOut || ca.SPIOut != cb.SPIIn {
		t.Fatalf("SPIs a in/out %08x/%08x b in/out %08x/%08x", ca.SPIIn, ca.SPIOut, cb.SPIIn, cb.SPIOut)
	}
	if ca.Mode != ipsec.ModeTunnel || ca.Encr != 20 || ca.EncrKeyBits != 128 || ca.Encap {
		t.Fatalf("child a: mode %v encr %d/%d encap %v", ca.Mode, ca.Encr, ca.EncrKeyBits, ca.Encap)
	}
	ka, kb := p.a.keys[ca.SPIIn], p.b.keys[cb.SPIIn]
	if len(ka[0]) != 20 || !bytes.Equal(ka[0], kb[2]) || !bytes.Equal(ka[2], kb[0]) || bytes.Equal(ka[0], ka[2]) {
		t.Fatalf("Child SA keys do not pair up: a in %x out %x, b in %x out %x", ka[0], ka[2], kb[0], kb[2])
	}
	if got := tsStrings(ca.LocalTS); len(got) != 1 || got[0] != "10.99.1.0/24" {
		t.Fatalf("local TS %v", got)
	}
	if got := tsStrings(cb.LocalTS); len(got) != 1 || got[0] != "10.99.2.0/24" {
		t.Fatalf("b local TS %v", got)
	}
	// Key material is wiped from the ChildSA once installed.
	if ca.EncrKeyIn != nil || cb.EncrKeyOut != nil {
		t.Fatal("ChildSA still holds keys after installation")
	}
}

func TestWrongPSKFailsWithReason(t *testing.T) {
	wrong := psks{"a.cygnet.test|b.cygnet.test": "not-the-same-psk"}
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, wrong)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.a.m.SAs()) != 0 || len(p.b.m.SAs()) != 0 {
		t.Fatalf("SAs left: a %d b %d", len(p.a.m.SAs()), len(p.b.m.SAs()))
	}
	if !logHas(p.b, "AUTHENTICATION_FAILED: a.cygnet.test: PSK of a.cygnet.test does not match ours") {
		t.Fatalf("responder log lacks the reason:\n%s", p.b.logs)
	}
	if !logHas(p.a, "AUTHENTICATION_FAILED: peer 10.99.0.2:500 rejected our authentication") {
		t.Fatalf("initiator log lacks the reason:\n%s", p.a.logs)
	}
	if len(p.a.childUp)+len(p.b.childUp) != 0 {
		t.Fatal("a Child SA was installed despite failed authentication")
	}
}

func TestNoProposalChosenNamesBothOffers(t *testing.T) {
	cb := siteConfig(t, 2, 1)
	cb.Proposals = mustProposals(t, wire.ProtocolIKE, "aes256-sha384-ecp384")
	p := newPair(t, siteConfig(t, 1, 2), cb, testPSK, testPSK)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.b, "NO_PROPOSAL_CHOSEN: peer offered aes128gcm16-prfsha256-x25519, we accept aes256-sha384-ecp384") {
		t.Fatalf("responder log:\n%s", p.b.logs)
	}
	if !logHas(p.a, "NO_PROPOSAL_CHOSEN: peer 10.99.0.2:500 refused IKE_SA_INIT; we offered aes128gcm16-prfsha256-x25519") {
		t.Fatalf("initiator log:\n%s", p.a.logs)
	}
	if len(p.a.m.SAs())+len(p.b.m.SAs()) != 0 {
		t.Fatal("SAs left after NO_PROPOSAL_CHOSEN")
	}
}

func TestInvalidKEPayloadRetry(t *testing.T) {
	ca := siteConfig(t, 1, 2)
	ca.Proposals = mustProposals(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519-ecp256")
	cb := siteConfig(t, 2, 1)
	cb.Proposals = mustProposals(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-ecp256")
	p := newPair(t, ca, cb, testPSK, testPSK)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || a.Group != 19 || b.Group != 19 {
		t.Fatalf("states %s/%s groups %d/%d", a.State(), b.State(), a.Group, b.Group)
	}
	if !logHas(p.a, "peer asks for another key exchange method") {
		t.Fatalf("no INVALID_KE_PAYLOAD round:\n%s", p.a.logs)
	}
}

func TestTrafficSelectorsUnacceptable(t *testing.T) {
	cb := siteConfig(t, 2, 1)
	cb.Children[0].RemoteTS = []TrafficSelector{PrefixSelector(netip.MustParsePrefix("192.0.2.0/24"))}
	p := newPair(t, siteConfig(t, 1, 2), cb, testPSK, testPSK)
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatal("the IKE SA must come up even when the Child SA fails")
	}
	if len(a.Children())+len(b.Children()) != 0 {
		t.Fatal("Child SA installed with unacceptable selectors")
	}
	if !logHas(p.b, "TS_UNACCEPTABLE: peer proposed TSi [10.99.1.0/24] TSr [10.99.2.0/24]") || !logHas(p.a, "TS_UNACCEPTABLE: peer refused Child SA net") {
		t.Fatalf("logs:\n%s\n%s", p.a.logs, p.b.logs)
	}
	if len(p.a.m.childSPI)+len(p.b.m.childSPI) != 0 {
		t.Fatal("the failed Child SA's SPI is still reserved")
	}
}

func TestIdentityMismatch(t *testing.T) {
	cb := siteConfig(t, 2, 1)
	cb.RemoteID, _ = identity.Parse("someone-else.cygnet.test")
	p := newPair(t, siteConfig(t, 1, 2), cb, testPSK, testPSK)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.b, "AUTHENTICATION_FAILED: no connection for peer identity a.cygnet.test") {
		t.Fatalf("responder log:\n%s", p.b.logs)
	}
	if len(p.a.m.SAs())+len(p.b.m.SAs()) != 0 {
		t.Fatal("SAs left after identity mismatch")
	}
}

func TestNarrowingToResponderSubset(t *testing.T) {
	ca := siteConfig(t, 1, 2)
	ca.Children[0].RemoteTS = []TrafficSelector{PrefixSelector(netip.MustParsePrefix("10.99.0.0/16"))}
	p := newPair(t, ca, siteConfig(t, 2, 1), testPSK, testPSK)
	a, _ := establish(t, p)
	if len(a.Children()) != 1 {
		t.Fatal("no child")
	}
	if got := tsStrings(a.Children()[0].RemoteTS); len(got) != 1 || got[0] != "10.99.2.0/24" {
		t.Fatalf("remote TS %v, want the responder's narrowed 10.99.2.0/24", got)
	}
}

func TestRetransmissionAndCachedResponse(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	dropped := 0
	p.drop = func(from *peer, d datagram) bool {
		// Lose the responder's first IKE_AUTH response.
		if from == p.b && dropped == 0 {
			if h, err := wire.ParseHeader(d.b); err == nil && h.Exchange == wire.IKE_AUTH {
				dropped++
				return true
			}
		}
		return false
	}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if onlySA(t, p.a).State() == "ESTABLISHED" {
		t.Fatal("established without the IKE_AUTH response")
	}
	p.advance(4 * time.Second)
	a, b := onlySA(t, p.a), onlySA(t, p.b)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatalf("states after retransmit %s/%s", a.State(), b.State())
	}
	if len(p.b.childUp) != 1 {
		t.Fatalf("responder installed %d Child SAs; a retransmitted request must be answered from the cache", len(p.b.childUp))
	}
	if !logHas(p.b, "retransmitting cached response") {
		t.Fatal("responder did not answer from its cache")
	}
}

func TestUnreachablePeerGivesUp(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	p.drop = func(*peer, datagram) bool { return true }
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	// 4 + 7.2 + 13 + 23.3 + 42 + 75.6 s: strongSwan's schedule.
	for range 40 {
		p.advance(5 * time.Second)
	}
	if len(p.a.m.SAs()) != 0 {
		t.Fatal("initiator still holds the SA after the retransmission limit")
	}
	if !logHas(p.a, "giving up after 5 retransmits of IKE_SA_INIT") {
		t.Fatalf("log:\n%s", p.a.logs)
	}
}

func TestDeleteChildAndIKE(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	a, b := establish(t, p)
	spiA, spiB := a.Children()[0].SPIIn, b.Children()[0].SPIIn
	if err := p.a.m.TerminateChild("net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(a.Children())+len(b.Children()) != 0 {
		t.Fatal("children left after DELETE")
	}
	if len(p.a.deleted) != 1 || p.a.deleted[0] != spiA || len(p.b.deleted) != 1 || p.b.deleted[0] != spiB {
		t.Fatalf("deleted a %v b %v", p.a.deleted, p.b.deleted)
	}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(a.Children()) != 1 || len(b.Children()) != 1 {
		t.Fatal("CREATE_CHILD_SA did not bring the child back")
	}
	if a.Children()[0].Group != 31 {
		t.Fatalf("CREATE_CHILD_SA child group %d, want PFS with x25519", a.Children()[0].Group)
	}
	if err := p.b.m.TerminateIKE("site"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.a.m.SAs())+len(p.b.m.SAs()) != 0 {
		t.Fatal("IKE SAs left after DELETE")
	}
	if len(p.a.deleted) != 2 || len(p.b.deleted) != 2 {
		t.Fatalf("Child SAs not removed with the IKE SA: a %v b %v", p.a.deleted, p.b.deleted)
	}
}

func TestDPDDetectsDeadPeer(t *testing.T) {
	ca := siteConfig(t, 1, 2)
	ca.DPDDelay = 10 * time.Second
	p := newPair(t, ca, siteConfig(t, 2, 1), testPSK, testPSK)
	establish(t, p)
	p.advance(11 * time.Second)
	if !logHas(p.a, "sending DPD") {
		t.Fatal("no DPD after dpd_delay of silence")
	}
	p.drop = func(*peer, datagram) bool { return true }
	for range 60 {
		p.advance(5 * time.Second)
	}
	if len(p.a.m.SAs()) != 0 {
		t.Fatal("dead peer not detected")
	}
}

func TestEncapForcesNATPort(t *testing.T) {
	ca := siteConfig(t, 1, 2)
	ca.Encap = true
	p := newPair(t, ca, siteConfig(t, 2, 1), testPSK, testPSK)
	a, b := establish(t, p)
	if a.Remote.Port() != 4500 || b.Remote.Port() != 4500 || !a.UDPEncap() || !b.UDPEncap() {
		t.Fatalf("a remote %v encap %v, b remote %v encap %v", a.Remote, a.UDPEncap(), b.Remote, b.UDPEncap())
	}
	if !a.Children()[0].Encap || !b.Children()[0].Encap {
		t.Fatal("Child SAs not UDP-encapsulated")
	}
}

func TestMalformedInputIsCountedNotFatal(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	src := netip.MustParseAddrPort("10.99.0.1:500")
	dst := netip.MustParseAddrPort("10.99.0.2:500")
	p.b.m.HandleIKE([]byte{1, 2, 3}, dst, src)
	p.b.m.HandleIKE(make([]byte, 28), dst, src)
	if p.b.m.Stats.Malformed != 2 {
		t.Fatalf("malformed counter %d", p.b.m.Stats.Malformed)
	}
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Fatal("junk stopped the responder from serving")
	}
}

func TestHardLifetimeDeletesChildWithPeer(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	a, b := establish(t, p)
	p.a.m.ChildExpired(a.Children()[0].UniqueID, false, "time")
	if len(a.Children()) != 1 || !logHas(p.a, "soft lifetime") {
		t.Fatal("a soft expiry must keep the Child SA")
	}
	// The soft expiry rekeyed it; the replaced pair leaves after its grace.
	p.pump()
	p.advance(rekeyGrace)
	if len(a.Children()) != 1 || len(b.Children()) != 1 || len(p.b.deleted) != 1 {
		t.Fatalf("after the rekey: a %d children, b %d, b deleted %v", len(a.Children()), len(b.Children()), p.b.deleted)
	}
	p.b.deleted = nil
	p.a.m.ChildExpired(a.Children()[0].UniqueID, true, "bytes")
	p.pump()
	if len(a.Children())+len(b.Children()) != 0 || len(p.b.deleted) != 1 {
		t.Fatalf("after hard expiry: a %d children, b %d, b deleted %v", len(a.Children()), len(b.Children()), p.b.deleted)
	}
	if !logHas(p.a, `reason="hard bytes lifetime reached"`) {
		t.Fatalf("log:\n%s", p.a.logs)
	}
}

// An attacker who sends an IKE_SA_INIT with the initiator's SPI and address
// first must not capture the real exchange: only an identical message is a
// retransmission (RFC 7296 2.1).
func TestSpoofedInitWithSameSPI(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	spoofed := false
	p.drop = func(from *peer, d datagram) bool {
		if from != p.a || spoofed {
			return false
		}
		spoofed = true
		fake := append([]byte(nil), d.b...)
		fake[len(fake)-40] ^= 0xff // somewhere in the payloads; same SPI, same source
		p.b.m.HandleIKE(fake, d.remote, d.local)
		p.b.out = nil // the answer goes to the attacker's spoofed source, not to A
		return false
	}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	a := onlySA(t, p.a)
	if a.State() != "ESTABLISHED" || len(a.Children()) != 1 {
		t.Fatalf("real exchange captured by a spoofed IKE_SA_INIT: state %s", a.State())
	}
	if n := len(p.b.m.SAs()); n != 2 {
		t.Fatalf("responder has %d SAs, want the spoofed half-open one and the real one", n)
	}
}
