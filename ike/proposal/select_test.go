package proposal

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

func mustList(t testing.TB, proto wire.ProtocolID, s string) []Proposal {
	t.Helper()
	ps, err := ParseList(proto, s, Options{AllowWeak: true})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestSelectMatrix(t *testing.T) {
	const ike, esp, ah = wire.ProtocolIKE, wire.ProtocolESP, wire.ProtocolAH
	cases := []struct {
		name         string
		proto        wire.ProtocolID
		ours, theirs string
		want         string // chosen proposal in canonical syntax, "" for NO_PROPOSAL_CHOSEN
		wantNumber   uint8
	}{
		{"our preference wins over theirs", ike,
			"aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384", "aes256-sha384-ecp384, aes128gcm16-prfsha256-x25519",
			"aes128gcm16-prfsha256-x25519", 2},
		{"within a proposal, our order of algorithms", ike,
			"aes128gcm16-aes256gcm16-prfsha256-prfsha512-x25519-ecp521", "aes256gcm16-aes128gcm16-prfsha512-prfsha256-ecp521-x25519",
			"aes128gcm16-prfsha256-x25519", 1},
		{"first peer proposal that matches our first", ike,
			"aes256gcm16-prfsha384-ecp384", "aes128gcm16-prfsha256-x25519, aes256gcm16-prfsha384-ecp384-x25519, aes256gcm16-prfsha384-ecp384",
			"aes256gcm16-prfsha384-ecp384", 2},
		{"key lengths must match", ike, "aes128-sha256-x25519", "aes256-sha256-x25519", "", 0},
		{"AES-GCM ICV lengths are different algorithms", esp, "aes128gcm16", "aes128gcm12", "", 0},
		{"PRF must match", ike, "aes128gcm16-prfsha256-x25519", "aes128gcm16-prfsha384-x25519", "", 0},
		{"integrity must match", ike, "aes128-sha256-x25519", "aes128-sha512-prfsha256-x25519", "", 0},
		{"KE must match for IKE", ike, "aes128gcm16-prfsha256-x25519", "aes128gcm16-prfsha256-ecp256", "", 0},
		{"classic picks one integrity", esp, "aes256-sha512-sha256", "aes256-sha256-sha512", "aes256-sha512", 1},
		{"AEAD against classic", esp, "aes128gcm16", "aes128-sha256", "", 0},
		{"ESN required by us", esp, "aes128gcm16-esn", "aes128gcm16", "", 0},
		{"ESN offered both ways", esp, "aes128gcm16-esn-noesn", "aes128gcm16-noesn-esn", "aes128gcm16-esn", 1},
		{"no ESN", esp, "aes128gcm16-esn-noesn", "aes128gcm16", "aes128gcm16", 1},
		{"PFS required by us", esp, "aes128gcm16-x25519", "aes128gcm16", "", 0},
		{"PFS optional for us", esp, "aes128gcm16-x25519-none", "aes128gcm16", "aes128gcm16", 1},
		{"PFS required by peer", esp, "aes128gcm16", "aes128gcm16-x25519", "", 0},
		{"PFS optional for peer", esp, "aes128gcm16", "aes128gcm16-x25519-none", "aes128gcm16", 1},
		{"PFS both", esp, "aes128gcm16-x25519-none", "aes128gcm16-none-x25519", "aes128gcm16-x25519", 1},
		{"PFS none on both", esp, "aes128gcm16-none", "aes128gcm16-none", "aes128gcm16", 1},
		{"AH", ah, "sha512-sha256", "sha256-sha384", "sha256", 1},
		{"AH GMAC", ah, "aes128gmac-sha256", "aes128gmac", "aes128gmac", 1},
		{"ESP GMAC", esp, "aes256gmac", "aes128gmac, aes256gmac", "aes256gmac", 2},
		{"ESP null", esp, "null-sha256", "null-sha256", "null-sha256", 1},
		{"additional KE", ike, "aes256gcm16-prfsha384-x25519-ke1_mlkem768", "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
			"aes256gcm16-prfsha384-x25519-ke1_mlkem768", 1},
		{"additional KE required by us", ike, "aes256gcm16-prfsha384-x25519-ke1_mlkem768", "aes256gcm16-prfsha384-x25519", "", 0},
		{"additional KE optional for us", ike, "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none", "aes256gcm16-prfsha384-x25519",
			"aes256gcm16-prfsha384-x25519", 1},
		{"additional KE offered by peer, unused by us", ike, "aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", "", 0},
		{"additional KE optional for peer", ike, "aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none",
			"aes256gcm16-prfsha384-x25519", 1},
		{"a KE method is used once", ike, "aes256gcm16-prfsha384-x25519-mlkem768-ke1_x25519-ke1_mlkem768",
			"aes256gcm16-prfsha384-x25519-ke1_x25519-ke1_mlkem768", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", 1},
		{"weak peer offer against strong config", ike, "aes128gcm16-prfsha256-x25519", "aes256-sha1-modp1024", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours, theirs := mustList(t, c.proto, c.ours), mustList(t, c.proto, c.theirs)
			for i := range theirs {
				theirs[i].SPI = []byte{byte(i), 0xaa, 0xbb, 0xcc}
			}
			got, err := Select(ours, theirs)
			if c.want == "" {
				if !errors.Is(err, ErrNoProposalChosen) {
					t.Fatalf("selected %v, want NO_PROPOSAL_CHOSEN", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != c.want || got.Number != c.wantNumber || got.Protocol != c.proto {
				t.Fatalf("selected %s (#%d), want %s (#%d)", got, got.Number, c.want, c.wantNumber)
			}
			if !reflect.DeepEqual(got.SPI, theirs[c.wantNumber-1].SPI) {
				t.Fatalf("SPI %x, want the peer's %x", got.SPI, theirs[c.wantNumber-1].SPI)
			}
			// One algorithm per type.
			seen := map[wire.TransformType]bool{}
			for _, tr := range got.Transforms {
				if seen[tr.Type] {
					t.Fatalf("two %v transforms in %s", tr.Type, got)
				}
				seen[tr.Type] = true
			}
		})
	}
}

func TestSelectErrorText(t *testing.T) {
	theirs := FromSA(&wire.SA{Proposals: []wire.Proposal{{Number: 1, Protocol: wire.ProtocolIKE, Transforms: []wire.Transform{
		{Type: wire.TransformENCR, ID: uint16(wire.ENCR_AES_CBC), Attributes: []wire.TransformAttribute{wire.KeyLengthAttribute(256)}},
		{Type: wire.TransformINTEG, ID: uint16(wire.AUTH_HMAC_SHA1_96)},
		{Type: wire.TransformPRF, ID: uint16(wire.PRF_HMAC_SHA1)},
		{Type: wire.TransformKE, ID: uint16(wire.MODP_1024)},
	}}}})
	ours, err := ParseList(wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Select(ours, theirs)
	want := "NO_PROPOSAL_CHOSEN: peer offered aes256-sha1-modp1024, we accept aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384"
	if !errors.Is(err, ErrNoProposalChosen) || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestSelectProtocolMismatch(t *testing.T) {
	_, err := Select(mustList(t, wire.ProtocolESP, "aes128gcm16"), mustList(t, wire.ProtocolAH, "sha256"))
	if !errors.Is(err, ErrNoProposalChosen) {
		t.Fatal(err)
	}
}

// TestSelectWireQuirks covers what only a peer's wire proposal can contain.
func TestSelectWireQuirks(t *testing.T) {
	ours := mustList(t, wire.ProtocolESP, "aes128gcm16-aes256gcm16")
	key := func(n uint16) []wire.TransformAttribute { return []wire.TransformAttribute{wire.KeyLengthAttribute(n)} }
	gcm := uint16(wire.ENCR_AES_GCM_16)
	cases := []struct {
		name string
		wp   wire.Proposal
		want string
	}{
		{"no ESN transform counts as NO_ESN", wire.Proposal{Protocol: wire.ProtocolESP, Transforms: []wire.Transform{
			{Type: wire.TransformENCR, ID: gcm, Attributes: key(128)}}}, "aes128gcm16"},
		{"integrity next to an AEAD is ignored", wire.Proposal{Protocol: wire.ProtocolESP, Transforms: []wire.Transform{
			{Type: wire.TransformENCR, ID: gcm, Attributes: key(256)},
			{Type: wire.TransformINTEG, ID: uint16(wire.AUTH_HMAC_SHA2_256_128)},
			{Type: wire.TransformESN, ID: 0}}}, "aes256gcm16"},
		{"unknown transform type rejects the proposal", wire.Proposal{Protocol: wire.ProtocolESP, Transforms: []wire.Transform{
			{Type: wire.TransformENCR, ID: gcm, Attributes: key(128)}, {Type: 200, ID: 1}}}, ""},
		{"transform with unknown attributes is not chosen", wire.Proposal{Protocol: wire.ProtocolESP, Transforms: []wire.Transform{
			{Type: wire.TransformENCR, ID: gcm, Attributes: append(key(128), wire.TransformAttribute{Type: 99, Data: []byte{1}})},
			{Type: wire.TransformENCR, ID: gcm, Attributes: key(256)}}}, "aes256gcm16"},
		{"missing key length attribute", wire.Proposal{Protocol: wire.ProtocolESP, Transforms: []wire.Transform{
			{Type: wire.TransformENCR, ID: gcm}}}, ""},
	}
	for _, c := range cases {
		got, err := Select(ours, []Proposal{FromWire(c.wp)})
		if c.want == "" {
			if err == nil {
				t.Errorf("%s: selected %s", c.name, got)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("%s: got %s, %v; want %s", c.name, got, err, c.want)
		}
	}
}

func TestKEMethod(t *testing.T) {
	ours := mustList(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519-ecp256")
	theirs := mustList(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-ecp256-x25519")
	got, err := Select(ours, theirs)
	if err != nil {
		t.Fatal(err)
	}
	if ke, ok := got.KEMethod(); !ok || ke != wire.CURVE25519 {
		t.Fatalf("KEMethod = %v %v", ke, ok)
	}
	// The peer sent an ECP-256 KE payload: both allow it, so prefer it over answering INVALID_KE_PAYLOAD.
	got, err = SelectPreferKE(ours, theirs, wire.ECP_256)
	if ke, _ := got.KEMethod(); err != nil || ke != wire.ECP_256 {
		t.Fatalf("SelectPreferKE: %v %v", ke, err)
	}
	// A KE payload the chosen proposal cannot use leaves our preference.
	got, err = SelectPreferKE(ours, theirs, wire.MODP_2048)
	if ke, _ := got.KEMethod(); err != nil || ke != wire.CURVE25519 {
		t.Fatalf("SelectPreferKE other: %v %v", ke, err)
	}

	esp, err := Select(mustList(t, wire.ProtocolESP, "aes128gcm16-none"), mustList(t, wire.ProtocolESP, "aes128gcm16"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := esp.KEMethod(); ok {
		t.Fatal("ESP without PFS has a KE method")
	}
	pq, err := Select(mustList(t, wire.ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke2_mlkem768"),
		mustList(t, wire.ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke2_mlkem768"))
	if err != nil {
		t.Fatal(err)
	}
	if got := pq.AdditionalKEs(); !reflect.DeepEqual(got, []wire.KEMethod{wire.KE_NONE, wire.ML_KEM_768}) {
		t.Fatalf("AdditionalKEs = %v", got)
	}
}

// TestStrongSwanCapture selects against the IKE_SA_INIT request strongSwan sent for
// proposals = aes256-sha512-ecp521, aes256gcm16-aes128gcm16-prfsha512-ecp521-modp4096,
// chacha20poly1305-prfsha256-curve25519, with the responder configuration of the interop harness (minus the
// algorithms cygnet does not implement). strongSwan, as responder, chose the same proposal and answered
// INVALID_KE_PAYLOAD asking for Curve25519.
func TestStrongSwanCapture(t *testing.T) {
	raw, err := os.ReadFile("../wire/testdata/multi-01-ike_sa_init-req.bin")
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	theirs := FromSA(m.Payloads[0].(*wire.SA))
	if got, want := Format(theirs), "aes256-sha512-ecp521, aes256gcm16-aes128gcm16-prfsha512-ecp521-modp4096, chacha20poly1305-prfsha256-x25519"; got != want {
		t.Fatalf("peer offer %s", got)
	}
	ours := mustList(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519, aes256gcm16-prfsha384-ecp384, "+
		"chacha20poly1305-prfsha256-x25519, aes128gcm16-prfsha256-ecp256, aes256-sha512-ecp521, aes128-sha256-modp2048")
	sel, err := SelectPreferKE(ours, theirs, m.Payloads[1].(*wire.KE).Method)
	if err != nil {
		t.Fatal(err)
	}
	if sel.String() != "chacha20poly1305-prfsha256-x25519" || sel.Number != 3 {
		t.Fatalf("selected %s #%d", sel, sel.Number)
	}
	ke, _ := sel.KEMethod()
	if ke == m.Payloads[1].(*wire.KE).Method {
		t.Fatal("expected an INVALID_KE_PAYLOAD case")
	}
	resp, err := wire.ParseMessage(mustRead(t, "../wire/testdata/multi-02-ike_sa_init-resp.bin"))
	if err != nil {
		t.Fatal(err)
	}
	n := resp.Payloads[0].(*wire.Notify)
	if n.NotifyType != wire.INVALID_KE_PAYLOAD || wire.KEMethod(uint16(n.Data[0])<<8|uint16(n.Data[1])) != ke {
		t.Fatalf("strongSwan asked for %x, we would ask for %v", n.Data, ke)
	}
	// The response SA, with our proposal number echoed: bytes like strongSwan's answer to the retry.
	if w := sel.Wire(nil); w.Number != 3 || len(w.Transforms) != 3 {
		t.Fatalf("wire %+v", w)
	}
	if !strings.HasPrefix(Format(ours), "aes128gcm16-prfsha256-x25519, ") {
		t.Fatal(Format(ours))
	}
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAgreesWithStrongSwan replays choices strongSwan 5.9.8 made as responder (configured with the interop
// harness's multi-proposal list) for IKE_SA_INIT requests built by this package (TestProbeResponder); Select with
// the same configuration, minus algorithms cygnet lacks (x448, SHA-1), must choose the same.
func TestAgreesWithStrongSwan(t *testing.T) {
	config := mustList(t, wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519, aes256gcm16-prfsha384-ecp384, "+
		"chacha20poly1305-prfsha256-x25519, aes128gcm16-prfsha256-ecp256, aes256-sha512-ecp521, aes128-sha256-modp2048")
	cases := []struct {
		offer    string
		sentKE   wire.KEMethod
		chosen   string
		number   uint8
		invalidK wire.KEMethod // KE strongSwan asked for with INVALID_KE_PAYLOAD, or KE_NONE
	}{
		{"default", wire.CURVE25519, "aes128gcm16-prfsha256-x25519", 1, wire.KE_NONE},
		{"aes256gcm16-prfsha384-ecp384", wire.CURVE25519, "aes256gcm16-prfsha384-ecp384", 1, wire.ECP_384},
		{"aes128-sha256-modp2048, chacha20poly1305-prfsha256-x25519", wire.CURVE25519, "chacha20poly1305-prfsha256-x25519", 2, wire.KE_NONE},
	}
	for _, c := range cases {
		got, err := SelectPreferKE(config, mustList(t, wire.ProtocolIKE, c.offer), c.sentKE)
		if err != nil {
			t.Fatalf("%s: %v", c.offer, err)
		}
		if got.String() != c.chosen || got.Number != c.number {
			t.Errorf("%s: chose %s #%d, strongSwan chose %s #%d", c.offer, got, got.Number, c.chosen, c.number)
		}
		if ke, _ := got.KEMethod(); c.invalidK != wire.KE_NONE && ke != c.invalidK {
			t.Errorf("%s: would ask for %v, strongSwan asked for %v", c.offer, ke, c.invalidK)
		}
	}
	if _, err := Select(config, mustList(t, wire.ProtocolIKE, "aes256-sha256-x25519")); !errors.Is(err, ErrNoProposalChosen) {
		t.Errorf("strongSwan answered NO_PROPOSAL_CHOSEN to aes256-sha256-x25519; we selected: %v", err)
	}
}
