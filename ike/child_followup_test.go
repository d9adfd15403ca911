package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

const (
	hybridIKE = "aes256gcm16-prfsha384-x25519-ke1_mlkem768"
	hybridESP = "aes256gcm16-x25519-ke1_mlkem768"
)

// hybridChildPair is a pair with hybrid IKE and ESP proposals and a second
// child, net2, that is not started with the IKE SA.
func hybridChildPair(t *testing.T, espA, espB string) *pair {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	for i, c := range []*PeerConfig{ca, cb} {
		esp := []string{espA, espB}[i]
		c.Proposals = mustProposals(t, wire.ProtocolIKE, hybridIKE)
		c.Children[0].Proposals = mustProposals(t, wire.ProtocolESP, esp)
		self, other := 1+i, 2-i
		c.Children = append(c.Children, &ChildConfig{
			Name: "net2", Mode: ipsec.ModeTunnel, Protocol: ipsec.ProtoESP,
			LocalTS:   []TrafficSelector{PrefixSelector(netip.MustParsePrefix(fmt.Sprintf("10.98.%d.0/24", self)))},
			RemoteTS:  []TrafficSelector{PrefixSelector(netip.MustParsePrefix(fmt.Sprintf("10.98.%d.0/24", other)))},
			Proposals: mustProposals(t, wire.ProtocolESP, esp),
		})
	}
	return newPair(t, ca, cb, testPSK, testPSK)
}

// installedChild returns the one installed, not replaced Child SA of a
// name.
func installedChild(t *testing.T, sa *IKESA, name string) *ChildSA {
	t.Helper()
	var out []*ChildSA
	for _, c := range sa.Children() {
		if c.Name == name && c.state == childInstalled && c.supersededBy == nil {
			out = append(out, c)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d installed Child SAs %q", len(out), name)
	}
	return out[0]
}

// checkPair checks that a's and b's Child SA are the two ends of one SA
// pair with the same keys and key exchanges.
func checkPair(t *testing.T, p *pair, ca, cb *ChildSA, want []uint16) {
	t.Helper()
	if ca.SPIIn != cb.SPIOut || ca.SPIOut != cb.SPIIn {
		t.Errorf("SPIs a %08x/%08x b %08x/%08x do not pair up", ca.SPIIn, ca.SPIOut, cb.SPIIn, cb.SPIOut)
	}
	ka, kb := p.a.keys[ca.SPIIn], p.b.keys[cb.SPIIn]
	if len(ka[0]) == 0 || !bytes.Equal(ka[0], kb[2]) || !bytes.Equal(ka[2], kb[0]) {
		t.Error("Child SA keys do not pair up")
	}
	if !slices.Equal(ca.KeyExchanges(), want) || !slices.Equal(cb.KeyExchanges(), want) {
		t.Errorf("Child SA key exchanges a %v b %v, want %v", ca.KeyExchanges(), cb.KeyExchanges(), want)
	}
}

// With hybrid ESP proposals the Child SA made in IKE_AUTH runs no key
// exchange (RFC 9370 2.2.3); a Child SA created later and every Child SA
// rekey, by either end, runs CREATE_CHILD_SA with the X25519 exchange, then
// IKE_FOLLOWUP_KE with ML-KEM-768 (RFC 9370 2.2.4); both ends install the
// same keys and list both methods.
func TestChildHybridPFS(t *testing.T) {
	p := hybridChildPair(t, hybridESP, hybridESP)
	a, b := establish(t, p)
	both := []uint16{uint16(wire.CURVE25519), uint16(wire.ML_KEM_768)}
	checkPair(t, p, installedChild(t, a, "net"), installedChild(t, b, "net"), nil)

	for _, tc := range []struct {
		name string
		run  func() error
		from string // the initiator's peer name
	}{
		{"a creates net2", func() error { return p.a.m.Initiate("site", "net2") }, "a"},
		{"a rekeys net", func() error { return p.a.m.RekeyChild("net") }, "a"},
		{"b rekeys net", func() error { return p.b.m.RekeyChild("net") }, "b"},
		{"b rekeys net2", func() error { return p.b.m.RekeyChild("net2") }, "b"},
	} {
		seen := exchangeLog(p)
		child := "net"
		if tc.name[len(tc.name)-1] == '2' {
			child = "net2"
		}
		var old uint32
		for _, c := range a.Children() {
			if c.Name == child && c.state == childInstalled {
				old = c.SPIIn
			}
		}
		if err := tc.run(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		p.pump()
		other := map[string]string{"a": "b", "b": "a"}[tc.from]
		var got []string
		for _, s := range *seen {
			var who, ex, dir string
			var id int
			if _, err := fmt.Sscanf(s, "%s %s %d %s", &who, &ex, &id, &dir); err == nil && ex != "INFORMATIONAL" {
				got = append(got, who+" "+ex+" "+dir)
			}
		}
		want := []string{tc.from + " CREATE_CHILD_SA req", other + " CREATE_CHILD_SA resp", tc.from + " IKE_FOLLOWUP_KE req", other + " IKE_FOLLOWUP_KE resp"}
		if !slices.Equal(slices.Compact(got), want) {
			t.Errorf("%s: exchanges %q, want %q", tc.name, got, want)
		}
		ca, cb := installedChild(t, a, child), installedChild(t, b, child)
		if ca.SPIIn == old {
			t.Errorf("%s: Child SA %s keeps SPI %08x", tc.name, child, old)
		}
		checkPair(t, p, ca, cb, both)
	}
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || a.followup != nil || b.followup != nil {
		t.Errorf("IKE SAs %s/%s, followups left a %v b %v", a.State(), b.State(), a.followup, b.followup)
	}
}

// The Child SA keys of a rekey with an additional key exchange, computed
// from RFC 9370 2.2.4's formula by hand:
//
//	KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(1))
//
// with SK(0) the X25519 secret of the CREATE_CHILD_SA, SK(1) the ML-KEM-768
// secret of the IKE_FOLLOWUP_KE and the nonces of the CREATE_CHILD_SA. a's
// side is played by hand; b installs the keys.
func TestChildFollowupKnownAnswer(t *testing.T) {
	p := hybridChildPair(t, hybridESP, hybridESP)
	a, b := establish(t, p)
	old := installedChild(t, a, "net")
	kex0, _ := ikecrypto.NewKeyExchange(uint16(wire.CURVE25519), rand.NewChaCha8([32]byte{7}))
	kex1, _ := ikecrypto.NewKeyExchange(uint16(wire.ML_KEM_768), rand.NewChaCha8([32]byte{8}))
	ni := bytes.Repeat([]byte{0x4e}, 32)
	const ourSPI = 0x11223344
	var resp1, resp2 []wire.Payload
	err := a.sendRequest(wire.CREATE_CHILD_SA, []wire.Payload{
		&wire.Notify{Protocol: wire.ProtocolESP, SPI: spiBytes(old.SPIIn), NotifyType: wire.REKEY_SA},
		proposal.ToWire(old.Config.Proposals, spiBytes(ourSPI)), &wire.Nonce{Data: ni},
		&wire.KE{Method: wire.CURVE25519, Data: kex0.PublicValue()},
		toWire(old.LocalTS, false), toWire(old.RemoteTS, true),
	}, func(_ *wire.Message, r []wire.Payload) error { resp1 = r; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.pump()
	link := findNotify(resp1, wire.ADDITIONAL_KEY_EXCHANGE)
	if link == nil || payloadOf[*wire.KE](resp1) == nil || payloadOf[*wire.SA](resp1) == nil {
		t.Fatalf("CREATE_CHILD_SA response %s lacks SA, KE or ADDITIONAL_KEY_EXCHANGE", wire.PayloadSummary(resp1))
	}
	if n := len(p.b.childUp); n != 1 {
		t.Fatalf("b installed a Child SA before the IKE_FOLLOWUP_KE: %d", n)
	}
	_ = a.sendRequest(wire.IKE_FOLLOWUP_KE, []wire.Payload{&wire.KE{Method: wire.ML_KEM_768, Data: kex1.PublicValue()},
		&wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: link.Data}}, func(_ *wire.Message, r []wire.Payload) error { resp2 = r; return nil }, nil)
	p.pump()
	ke1 := payloadOf[*wire.KE](resp2)
	if ke1 == nil || ke1.Method != wire.ML_KEM_768 {
		t.Fatalf("IKE_FOLLOWUP_KE response %s lacks the ML-KEM ciphertext", wire.PayloadSummary(resp2))
	}
	sk0, err := kex0.SharedSecret(payloadOf[*wire.KE](resp1).Data)
	if err != nil {
		t.Fatal(err)
	}
	sk1, err := kex1.SharedSecret(ke1.Data)
	if err != nil {
		t.Fatal(err)
	}
	nr := payloadOf[*wire.Nonce](resp1).Data
	spiB := binary.BigEndian.Uint32(payloadOf[*wire.SA](resp1).Proposals[0].SPI)
	// AES-256-GCM: 32 octets of key and 4 of salt each way, no integrity key
	// prf+ (RFC 7296 2.13) over HMAC-SHA-384, the IKE SA's PRF, written
	// out here rather than taken from ike/crypto
	seed := slices.Concat(sk0, ni, nr, sk1)
	var km, prev []byte
	for i := byte(1); len(km) < 2*36; i++ {
		h := hmac.New(sha512.New384, skd(t, a.keys))
		h.Write(prev)
		h.Write(seed)
		h.Write([]byte{i})
		prev = h.Sum(nil)
		km = append(km, prev...)
	}
	km = km[:2*36]
	got, ok := p.b.keys[spiB]
	if !ok {
		t.Fatalf("b installed no Child SA %08x", spiB)
	}
	// b is the responder: inbound is initiator-to-responder (RFC 7296 2.17)
	if !bytes.Equal(got[0], km[:36]) || !bytes.Equal(got[2], km[36:]) {
		t.Errorf("b's Child SA keys do not follow RFC 9370 2.2.4:\n in  %x\n want %x\n out %x\n want %x", got[0], km[:36], got[2], km[36:])
	}
	n := installedChildBySPI(b, spiB)
	if n == nil || n.SPIOut != ourSPI || !slices.Equal(n.KeyExchanges(), []uint16{uint16(wire.CURVE25519), uint16(wire.ML_KEM_768)}) {
		t.Errorf("b's new Child SA: %+v", n)
	}
}

func installedChildBySPI(sa *IKESA, spi uint32) *ChildSA {
	for _, c := range sa.Children() {
		if c.SPIIn == spi {
			return c
		}
	}
	return nil
}

// A peer that answers the IKE_FOLLOWUP_KE with an error leaves the old
// Child SA in place on both ends: no new SA is installed, the SPIs reserved
// for it are released, the rekey is retried later.
func TestChildFollowupRefused(t *testing.T) {
	p := hybridChildPair(t, hybridESP, hybridESP)
	a, b := establish(t, p)
	old := installedChild(t, a, "net")
	p.drop = func(from *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil && h.Exchange == wire.IKE_FOLLOWUP_KE && !h.IsResponse() {
			// b lost its state of the exchange: it answers STATE_NOT_FOUND
			b.dropFollowup()
		}
		return false
	}
	if err := p.a.m.RekeyChild("net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.a, "STATE_NOT_FOUND: peer refused additional key exchange ML_KEM_768 of the rekey of Child SA net in IKE_FOLLOWUP_KE") {
		t.Errorf("a's log lacks the refusal:\n%s", p.a.logs)
	}
	if c := installedChild(t, a, "net"); c != old || c.State() != "INSTALLED" || c.retryAt.IsZero() {
		t.Errorf("a's Child SA after the refused rekey: %08x %s retry %v (old %08x)", c.SPIIn, c.State(), c.retryAt, old.SPIIn)
	}
	if len(p.a.childUp) != 1 || len(p.b.childUp) != 1 {
		t.Errorf("Child SAs installed: a %d b %d, want only the first", len(p.a.childUp), len(p.b.childUp))
	}
	if len(p.a.m.childSPI) != 1 || len(p.b.m.childSPI) != 1 {
		t.Errorf("SPIs still reserved: a %d b %d, want 1 each", len(p.a.m.childSPI), len(p.b.m.childSPI))
	}
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		t.Errorf("IKE SAs %s/%s", a.State(), b.State())
	}
}

// A peer without the additional key exchange refuses a hybrid-only Child
// SA and its rekey with NO_PROPOSAL_CHOSEN naming what was offered; the
// Child SA made in IKE_AUTH (no key exchange there) stays up.
func TestChildHybridNoProposalChosen(t *testing.T) {
	p := hybridChildPair(t, hybridESP, "aes256gcm16-x25519")
	a, b := establish(t, p)
	checkPair(t, p, installedChild(t, a, "net"), installedChild(t, b, "net"), nil)
	old := installedChild(t, a, "net")
	if err := p.a.m.RekeyChild("net"); err != nil {
		t.Fatal(err)
	}
	if err := p.a.m.Initiate("site", "net2"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.b, "NO_PROPOSAL_CHOSEN: peer offered ESP:AES_GCM_16_256/CURVE_25519/NO_EXT_SEQ/KE1_ML_KEM_768") &&
		!logHas(p.b, "NO_PROPOSAL_CHOSEN: peer offered") {
		t.Errorf("b's log lacks NO_PROPOSAL_CHOSEN:\n%s", p.b.logs)
	}
	if !logHas(p.a, "NO_PROPOSAL_CHOSEN: peer refused to rekey Child SA net") || !logHas(p.a, "NO_PROPOSAL_CHOSEN: peer refused Child SA net2") {
		t.Errorf("a's log lacks the refusals:\n%s", p.a.logs)
	}
	if c := installedChild(t, a, "net"); c != old {
		t.Error("the Child SA was replaced")
	}
	if len(p.a.childUp) != 1 || len(p.b.childUp) != 1 || logHas(p.a, "IKE_FOLLOWUP_KE:") {
		t.Errorf("Child SAs installed: a %d b %d, want only the first, and no IKE_FOLLOWUP_KE", len(p.a.childUp), len(p.b.childUp))
	}
}

// Both ends rekey at once with additional key exchanges (RFC 7296 2.8.1,
// 2.8.2 with RFC 9370's IKE_FOLLOWUP_KE in between): whichever nonce wins,
// one IKE SA and one Child SA are left, the same on both ends, with both
// key exchanges, and no SPI stays reserved.
func TestHybridSimultaneousRekeys(t *testing.T) {
	winners := map[string]bool{}
	for skew := range 40 {
		for _, ike := range []bool{true, false} {
			name := fmt.Sprintf("child/skew%d", skew)
			if ike {
				name = fmt.Sprintf("ike/skew%d", skew)
			}
			t.Run(name, func(t *testing.T) {
				p := hybridChildPair(t, hybridESP, hybridESP)
				a0, _ := establish(t, p)
				// shift b's random stream: other nonces, other winners
				_, _ = p.b.m.rand.Read(make([]byte, 32*skew))
				c0 := installedChild(t, a0, "net")
				for _, x := range []*peer{p.a, p.b} {
					var err error
					if ike {
						err = x.m.RekeyIKE("site", false)
					} else {
						err = x.m.RekeyChild("net")
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				p.pump()
				p.advance(rekeyGrace + time.Second)
				as, bs := establishedSAs(p.a), establishedSAs(p.b)
				if len(as) != 1 || len(bs) != 1 || as[0].SPIi != bs[0].SPIi || as[0].SPIr != bs[0].SPIr {
					t.Fatalf("IKE SAs a %d b %d (or they differ)", len(as), len(bs))
				}
				a, b := as[0], bs[0]
				both := []uint16{uint16(wire.CURVE25519), uint16(wire.ML_KEM_768)}
				if (a != a0) != ike || !slices.Equal(a.KeyExchanges(), both) || !slices.Equal(b.KeyExchanges(), both) {
					t.Errorf("IKE SA rekeyed %v (want %v), key exchanges a %v b %v", a != a0, ike, a.KeyExchanges(), b.KeyExchanges())
				}
				if len(a.Children()) != 1 || len(b.Children()) != 1 {
					t.Fatalf("Child SAs a %d b %d", len(a.Children()), len(b.Children()))
				}
				ca, cb := a.Children()[0], b.Children()[0]
				var want []uint16
				if !ike {
					want = both
				}
				checkPair(t, p, ca, cb, want)
				if (ca != c0) == ike {
					t.Errorf("Child SA rekeyed %v, want %v", ca != c0, !ike)
				}
				if len(p.a.m.childSPI) != 1 || len(p.b.m.childSPI) != 1 || a.followup != nil || b.followup != nil {
					t.Errorf("SPIs reserved a %d b %d, followups left a %v b %v", len(p.a.m.childSPI), len(p.b.m.childSPI), a.followup != nil, b.followup != nil)
				}
				if ike {
					winners[fmt.Sprintf("a started the surviving IKE SA: %v", a.Initiator)] = true
				}
			})
		}
	}
	if len(winners) != 2 {
		t.Errorf("IKE SA collisions settled only one way: %v", winners)
	}
}

// A peer that starts a Child SA rekey with additional key exchanges and
// never sends its IKE_FOLLOWUP_KE does not keep the SPI reserved for it:
// the run is given up after the half-open timeout, and a late
// IKE_FOLLOWUP_KE gets STATE_NOT_FOUND.
func TestChildFollowupAbandoned(t *testing.T) {
	p := hybridChildPair(t, hybridESP, hybridESP)
	a, b := establish(t, p)
	old := installedChild(t, a, "net")
	kex0, _ := ikecrypto.NewKeyExchange(uint16(wire.CURVE25519), rand.NewChaCha8([32]byte{7}))
	kex1, _ := ikecrypto.NewKeyExchange(uint16(wire.ML_KEM_768), rand.NewChaCha8([32]byte{8}))
	var resp1, resp2 []wire.Payload
	_ = a.sendRequest(wire.CREATE_CHILD_SA, []wire.Payload{
		&wire.Notify{Protocol: wire.ProtocolESP, SPI: spiBytes(old.SPIIn), NotifyType: wire.REKEY_SA},
		proposal.ToWire(old.Config.Proposals, spiBytes(0x11223344)), &wire.Nonce{Data: bytes.Repeat([]byte{0x4e}, 32)},
		&wire.KE{Method: wire.CURVE25519, Data: kex0.PublicValue()},
		toWire(old.LocalTS, false), toWire(old.RemoteTS, true),
	}, func(_ *wire.Message, r []wire.Payload) error { resp1 = r; return nil }, nil)
	p.pump()
	link := findNotify(resp1, wire.ADDITIONAL_KEY_EXCHANGE)
	if link == nil || b.followup == nil || len(p.b.m.childSPI) != 2 {
		t.Fatalf("b did not start the run: %s, %d SPIs reserved", wire.PayloadSummary(resp1), len(p.b.m.childSPI))
	}
	p.advance(p.b.m.opts.HalfOpenTimeout + time.Second)
	if b.followup != nil || len(p.b.m.childSPI) != 1 || !logHas(p.b, "the peer's IKE_FOLLOWUP_KE did not come") {
		t.Fatalf("after the timeout: run left %v, %d SPIs reserved", b.followup != nil, len(p.b.m.childSPI))
	}
	_ = a.sendRequest(wire.IKE_FOLLOWUP_KE, []wire.Payload{&wire.KE{Method: wire.ML_KEM_768, Data: kex1.PublicValue()},
		&wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: link.Data}}, func(_ *wire.Message, r []wire.Payload) error { resp2 = r; return nil }, nil)
	p.pump()
	if findNotify(resp2, wire.STATE_NOT_FOUND) == nil || len(p.b.childUp) != 1 {
		t.Errorf("late IKE_FOLLOWUP_KE: %s, %d Child SAs installed", wire.PayloadSummary(resp2), len(p.b.childUp))
	}
	if b.State() != "ESTABLISHED" || installedChild(t, b, "net").SPIOut != old.SPIIn {
		t.Error("b's IKE SA or Child SA did not stay")
	}
}
