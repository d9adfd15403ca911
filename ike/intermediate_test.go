package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// exchangeLog records the exchange and message ID of every datagram.
func exchangeLog(p *pair) *[]string {
	var seen []string
	p.drop = func(from *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil {
			dir := "req"
			if h.IsResponse() {
				dir = "resp"
			}
			seen = append(seen, fmt.Sprintf("%s %v %d %s", from.name, h.Exchange, h.MessageID, dir))
		}
		return false
	}
	return &seen
}

func hybridPair(t *testing.T, propsA, propsB string) *pair {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.Proposals = mustProposals(t, wire.ProtocolIKE, propsA)
	cb.Proposals = mustProposals(t, wire.ProtocolIKE, propsB)
	return newPair(t, ca, cb, testPSK, testPSK)
}

func skd(t *testing.T, k *ikecrypto.IKESAKeys) []byte {
	t.Helper()
	var out []byte
	k.RevealKeys(func(l string, b []byte) {
		if l == "SK_d" {
			out = bytes.Clone(b)
		}
	})
	return out
}

// A hybrid X25519 + ML-KEM-768 IKE SA (RFC 9370) comes up through one
// IKE_INTERMEDIATE exchange; IKE_AUTH follows with message ID 2 and both
// ends agree on the keys and list both methods.
func TestIntermediateHybridEstablishes(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		want       []uint16
		rounds     int
		fragments  int // datagrams of the last IKE_INTERMEDIATE request
	}{
		{"x25519+mlkem768", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
			[]uint16{uint16(wire.CURVE25519), uint16(wire.ML_KEM_768)}, 1, 1},
		{"x25519+mlkem768+mlkem1024", "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024", "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024",
			[]uint16{uint16(wire.CURVE25519), uint16(wire.ML_KEM_768), uint16(wire.ML_KEM_1024)}, 2, 2},
		{"optional round taken", "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none", "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
			[]uint16{uint16(wire.CURVE25519), uint16(wire.ML_KEM_768)}, 1, 1},
		{"hybrid first, classical peer", "aes256gcm16-prfsha384-x25519-ke1_mlkem768,aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha384-x25519",
			[]uint16{uint16(wire.CURVE25519)}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := hybridPair(t, tc.a, tc.b)
			seen := exchangeLog(p)
			a, b := establish(t, p)
			if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
				t.Fatalf("states %s / %s", a.State(), b.State())
			}
			var want []string
			want = append(want, "a IKE_SA_INIT 0 req", "b IKE_SA_INIT 0 resp")
			for i := 1; i <= tc.rounds; i++ {
				want = append(want, fmt.Sprintf("a IKE_INTERMEDIATE %d req", i), fmt.Sprintf("b IKE_INTERMEDIATE %d resp", i))
			}
			want = append(want, fmt.Sprintf("a IKE_AUTH %d req", tc.rounds+1), fmt.Sprintf("b IKE_AUTH %d resp", tc.rounds+1))
			// ML-KEM-1024's 1568-octet key exceeds the 1280-octet fragment
			// size: that IKE_INTERMEDIATE goes in RFC 7383 fragments, and
			// IntAuth covers the message as if unfragmented.
			frags := 0
			for _, s := range *seen {
				if s == fmt.Sprintf("a IKE_INTERMEDIATE %d req", tc.rounds) {
					frags++
				}
			}
			if frags != tc.fragments {
				t.Errorf("last IKE_INTERMEDIATE request in %d datagrams, want %d", frags, tc.fragments)
			}
			if got := slices.Compact(slices.Clone(*seen)); !slices.Equal(got, want) {
				t.Errorf("exchanges on the wire:\n%q\nwant\n%q", got, want)
			}
			if !slices.Equal(a.KeyExchanges(), tc.want) || !slices.Equal(b.KeyExchanges(), tc.want) {
				t.Errorf("key exchanges a %v b %v, want %v", a.KeyExchanges(), b.KeyExchanges(), tc.want)
			}
			if !bytes.Equal(skd(t, a.Keys()), skd(t, b.Keys())) {
				t.Error("SK_d differs between the peers")
			}
			if len(p.a.childUp) != 1 || len(p.b.childUp) != 1 {
				t.Fatalf("Child SAs a %d b %d", len(p.a.childUp), len(p.b.childUp))
			}
			ka, kb := p.a.keys[p.a.childUp[0].SPIIn], p.b.keys[p.b.childUp[0].SPIIn]
			if !bytes.Equal(ka[0], kb[2]) || !bytes.Equal(ka[2], kb[0]) {
				t.Error("Child SA keys do not pair up")
			}
		})
	}
}

// A peer that requires the additional key exchange refuses a classical-only
// initiator cleanly, and a hybrid-only initiator fails against a classical
// responder with NO_PROPOSAL_CHOSEN naming the proposals.
func TestIntermediateMissingMethodRefused(t *testing.T) {
	p := hybridPair(t, "aes256gcm16-prfsha384-x25519-ke1_mlkem768", "aes256gcm16-prfsha384-x25519")
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(establishedSAs(p.a)) != 0 || len(establishedSAs(p.b)) != 0 {
		t.Fatal("an IKE SA came up without the required ML-KEM exchange")
	}
	if !logHas(p.b, "NO_PROPOSAL_CHOSEN: peer offered IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519/KE1_ML_KEM_768") &&
		!logHas(p.b, "NO_PROPOSAL_CHOSEN: peer offered") {
		t.Errorf("responder log lacks NO_PROPOSAL_CHOSEN:\n%s", p.b.logs)
	}
	if !logHas(p.a, "NO_PROPOSAL_CHOSEN") {
		t.Errorf("initiator log lacks NO_PROPOSAL_CHOSEN:\n%s", p.a.logs)
	}
}

// The IntAuth chain built from RFC 9242 3.3.2's formula by hand: the IKE
// header with Next Payload SK and the plaintext length, the SK payload
// header, the inner payloads, chained through prf(SK_px, IntAuth_(N-1) | ...).
func TestIntAuthKnownAnswer(t *testing.T) {
	keys, err := ikecrypto.DeriveIKESAKeys(ikecrypto.Suite{Encr: uint16(wire.ENCR_AES_GCM_16), EncrKeyBits: 256, PRF: uint16(wire.PRF_HMAC_SHA2_384)},
		bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), 0x1122334455667788, 0x99aabbccddeeff00)
	if err != nil {
		t.Fatal(err)
	}
	var h wire.Header
	binary.BigEndian.PutUint64(h.SPIi[:], 0x1122334455667788)
	binary.BigEndian.PutUint64(h.SPIr[:], 0x99aabbccddeeff00)
	h.Exchange, h.MessageID, h.Flags = wire.IKE_INTERMEDIATE, 1, wire.FlagInitiator
	h.NextPayload = wire.PayloadType(53) // SKF as received: IntAuth uses SK
	kePub := bytes.Repeat([]byte{0xab}, 10)
	payloads := []wire.Payload{&wire.KE{Method: wire.ML_KEM_768, Data: kePub}}

	// KE payload: generic header (next 0, len 4+4+10), method 36, reserved, data
	ke := append([]byte{0, 0, 0, 18, 0, 36, 0, 0}, kePub...)
	msg := append([]byte(nil), h.SPIi[:]...)
	msg = append(msg, h.SPIr[:]...)
	msg = append(msg, 46, 0x20, 43, 0x08, 0, 0, 0, 1)
	msg = binary.BigEndian.AppendUint32(msg, uint32(28+4+len(ke)))
	msg = append(msg, 34, 0) // SK header: first inner payload KE (34)
	msg = binary.BigEndian.AppendUint16(msg, uint16(4+len(ke)))
	msg = append(msg, ke...)

	in := &intermediate{}
	if err := in.addIntAuth(keys, true, h, payloads); err != nil {
		t.Fatal(err)
	}
	skpi, _ := keys.SKp(true)
	want1 := keys.PRF().Sum(nil, skpi, msg)
	if !bytes.Equal(in.intAuthI, want1) {
		t.Fatalf("IntAuth_i1 = %x, want %x", in.intAuthI, want1)
	}
	if err := in.addIntAuth(keys, true, h, payloads); err != nil {
		t.Fatal(err)
	}
	want2 := keys.PRF().Sum(nil, skpi, want1, msg)
	if !bytes.Equal(in.intAuthI, want2) {
		t.Fatalf("IntAuth_i2 = %x, want %x (chained)", in.intAuthI, want2)
	}
	in.intAuthR = []byte{9, 9}
	in.done = []uint16{36, 37}
	if got, want := in.authOctets(), append(append(bytes.Clone(want2), 9, 9), 0, 0, 0, 3); !bytes.Equal(got, want) {
		t.Errorf("IntAuth octets %x, want %x", got, want)
	}
}

// A hybrid IKE SA is rekeyed with CREATE_CHILD_SA and one IKE_FOLLOWUP_KE
// per additional key exchange (RFC 9370 2.2.4), no new IKE_SA_INIT: both
// ends get the same keys and list both methods. A peer's IKE SA rekey with
// IKE_FOLLOWUP_KE, played by hand, gets keys from all the shared secrets.
func TestHybridIKERekeyFollowup(t *testing.T) {
	const hybrid = "aes256gcm16-prfsha384-x25519-ke1_mlkem768"
	p := hybridPair(t, hybrid, hybrid)
	a, _ := establish(t, p)
	seen := exchangeLog(p)
	if err := p.a.m.RekeyIKE("site", false); err != nil {
		t.Fatal(err)
	}
	p.pump()
	// IKE_SA_INIT 0, IKE_INTERMEDIATE 1, IKE_AUTH 2; then the rekey and
	// the old IKE SA's DELETE
	wantEx := []string{"a CREATE_CHILD_SA 3 req", "b CREATE_CHILD_SA 3 resp", "a IKE_FOLLOWUP_KE 4 req", "b IKE_FOLLOWUP_KE 4 resp",
		"a INFORMATIONAL 5 req", "b INFORMATIONAL 5 resp"}
	if got := slices.Compact(slices.Clone(*seen)); !slices.Equal(got, wantEx) {
		t.Errorf("exchanges on the wire:\n%q\nwant\n%q", got, wantEx)
	}
	ups, upsB := establishedSAs(p.a), establishedSAs(p.b)
	if len(ups) != 1 || ups[0] == a || len(upsB) != 1 {
		t.Fatalf("after the rekey a has %d established IKE SAs (old one kept: %v), b %d", len(ups), len(ups) == 1 && ups[0] == a, len(upsB))
	}
	want := []uint16{uint16(wire.CURVE25519), uint16(wire.ML_KEM_768)}
	if got, gotB := ups[0].KeyExchanges(), upsB[0].KeyExchanges(); !slices.Equal(got, want) || !slices.Equal(gotB, want) {
		t.Errorf("new IKE SA key exchanges a %v b %v, want %v", got, gotB, want)
	}
	if ups[0].SPIi != upsB[0].SPIi || !ups[0].Initiator || !bytes.Equal(skd(t, ups[0].Keys()), skd(t, upsB[0].Keys())) {
		t.Error("the rekeyed IKE SAs differ between the peers")
	}
	if len(ups[0].Children()) != 1 {
		t.Errorf("the Child SA did not move to the new IKE SA: %d", len(ups[0].Children()))
	}

	// The peer's hybrid rekey as strongSwan 6 sends it (RFC 9370 2.2.4),
	// played through a's IKE SA: CREATE_CHILD_SA with SA, Ni, KE(x25519),
	// then IKE_FOLLOWUP_KE with KE(ML-KEM-768) and the link b handed out.
	n := ups[0]
	kex0, _ := ikecrypto.NewKeyExchange(uint16(wire.CURVE25519), rand.NewChaCha8([32]byte{5}))
	kex1, _ := ikecrypto.NewKeyExchange(uint16(wire.ML_KEM_768), rand.NewChaCha8([32]byte{6}))
	ni := bytes.Repeat([]byte{0x4e}, 32)
	spiI := uint64(0x0102030405060708)
	var resp1, resp2 []wire.Payload
	err := n.sendRequest(wire.CREATE_CHILD_SA, []wire.Payload{
		proposal.ToWire(n.cfg.Proposals, ikeSPIBytes(spiI)), &wire.Nonce{Data: ni},
		&wire.KE{Method: wire.CURVE25519, Data: kex0.PublicValue()},
	}, func(_ *wire.Message, r []wire.Payload) error { resp1 = r; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.pump()
	link := findNotify(resp1, wire.ADDITIONAL_KEY_EXCHANGE)
	if link == nil || payloadOf[*wire.KE](resp1) == nil {
		t.Fatalf("CREATE_CHILD_SA response %s lacks KE or ADDITIONAL_KEY_EXCHANGE\n%s", wire.PayloadSummary(resp1), p.b.logs)
	}
	// a wrong link is STATE_NOT_FOUND and leaves the exchange open
	var bad []wire.Payload
	_ = n.sendRequest(wire.IKE_FOLLOWUP_KE, []wire.Payload{&wire.KE{Method: wire.ML_KEM_768, Data: kex1.PublicValue()},
		&wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: []byte("wrong")}}, func(_ *wire.Message, r []wire.Payload) error { bad = r; return nil }, nil)
	p.pump()
	if findNotify(bad, wire.STATE_NOT_FOUND) == nil {
		t.Errorf("IKE_FOLLOWUP_KE with a wrong link: %s, want STATE_NOT_FOUND", wire.PayloadSummary(bad))
	}
	_ = n.sendRequest(wire.IKE_FOLLOWUP_KE, []wire.Payload{&wire.KE{Method: wire.ML_KEM_768, Data: kex1.PublicValue()},
		&wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: link.Data}}, func(_ *wire.Message, r []wire.Payload) error { resp2 = r; return nil }, nil)
	p.pump()
	ke1 := payloadOf[*wire.KE](resp2)
	if ke1 == nil || ke1.Method != wire.ML_KEM_768 {
		t.Fatalf("IKE_FOLLOWUP_KE response %s lacks the ML-KEM ciphertext\n%s", wire.PayloadSummary(resp2), p.b.logs)
	}
	sk0, err := kex0.SharedSecret(payloadOf[*wire.KE](resp1).Data)
	if err != nil {
		t.Fatal(err)
	}
	sk1, err := kex1.SharedSecret(ke1.Data)
	if err != nil {
		t.Fatal(err)
	}
	sa := payloadOf[*wire.SA](resp1)
	spiR := binary.BigEndian.Uint64(sa.Proposals[0].SPI)
	nr := payloadOf[*wire.Nonce](resp1).Data
	// SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr | SK(1)) (RFC 9370 2.2.4)
	want2, err := n.keys.Rekey(n.suite, ni, nr, spiI, spiR, sk0, sk1)
	if err != nil {
		t.Fatal(err)
	}
	var nb *IKESA
	for _, x := range establishedSAs(p.b) {
		if x.SPIi == spiI {
			nb = x
		}
	}
	if nb == nil {
		t.Fatalf("b has no IKE SA %016x after the IKE_FOLLOWUP_KE", spiI)
	}
	if !bytes.Equal(skd(t, nb.Keys()), skd(t, want2)) {
		t.Error("b's rekeyed IKE SA keys do not follow RFC 9370 2.2.4")
	}
	if !slices.Equal(nb.KeyExchanges(), want) {
		t.Errorf("b's rekeyed IKE SA key exchanges %v, want %v", nb.KeyExchanges(), want)
	}
}

// An IKE_INTERMEDIATE request after IKE_AUTH is refused with INVALID_SYNTAX;
// the established IKE SA stays.
func TestIntermediateAfterAuthRefused(t *testing.T) {
	p := hybridPair(t, "aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha384-x25519")
	a, b := establish(t, p)
	var resp []wire.Payload
	err := a.sendRequest(wire.IKE_INTERMEDIATE, []wire.Payload{&wire.KE{Method: wire.ML_KEM_768, Data: make([]byte, 1184)}},
		func(_ *wire.Message, r []wire.Payload) error { resp = r; return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.pump()
	if findNotify(resp, wire.INVALID_SYNTAX) == nil {
		t.Errorf("response %s, want INVALID_SYNTAX", wire.PayloadSummary(resp))
	}
	if b.State() != "ESTABLISHED" {
		t.Errorf("b's IKE SA after a stray IKE_INTERMEDIATE: %s", b.State())
	}
}
