package wire

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func readCaptures(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata: %v", err)
	}
	out := make(map[string][]byte)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestCapturesRoundTrip parses every message strongSwan 5.9.8 sent in the captures and marshals it back to the
// identical bytes.
func TestCapturesRoundTrip(t *testing.T) {
	for name, b := range readCaptures(t) {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMessage(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			t.Log(m)
			out, err := m.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if !bytes.Equal(out, b) {
				t.Fatalf("round trip differs:\n got %x\nwant %x", out, b)
			}
		})
	}
}

func parseCapture(t testing.TB, name string) *Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCaptureIKESAInit checks the fields of strongSwan's IKE_SA_INIT request for aes128gcm16-prfsha256-x25519.
func TestCaptureIKESAInit(t *testing.T) {
	m := parseCapture(t, "psk-01-ike_sa_init-req.bin")
	if m.Exchange != IKE_SA_INIT || m.IsResponse() || !m.IsInitiator() || m.MessageID != 0 || m.SPIr != [8]byte{} {
		t.Fatalf("header %+v", m.Header)
	}
	if got := PayloadSummary(m.Payloads); got != "SA KE No N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) "+
		"N(IKEV2_FRAGMENTATION_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS) N(REDIRECT_SUPPORTED)" {
		t.Fatalf("payloads %s", got)
	}
	sa := m.Payloads[0].(*SA)
	want := []Transform{
		{Type: TransformENCR, ID: uint16(ENCR_AES_GCM_16), Attributes: []TransformAttribute{KeyLengthAttribute(128)}},
		{Type: TransformPRF, ID: uint16(PRF_HMAC_SHA2_256)},
		{Type: TransformKE, ID: uint16(CURVE25519)},
	}
	if len(sa.Proposals) != 1 || sa.Proposals[0].Number != 1 || sa.Proposals[0].Protocol != ProtocolIKE ||
		len(sa.Proposals[0].SPI) != 0 || !reflect.DeepEqual(sa.Proposals[0].Transforms, want) {
		t.Fatalf("SA %+v", sa)
	}
	if kl, ok := sa.Proposals[0].Transforms[0].KeyLength(); !ok || kl != 128 {
		t.Fatalf("key length %d %v", kl, ok)
	}
	ke := m.Payloads[1].(*KE)
	if ke.Method != CURVE25519 || len(ke.Data) != 32 {
		t.Fatalf("KE %v with %d bytes", ke.Method, len(ke.Data))
	}
	if n := m.Payloads[2].(*Nonce); len(n.Data) != 32 {
		t.Fatalf("nonce of %d bytes", len(n.Data))
	}
	natd := m.Payloads[3].(*Notify)
	if natd.Protocol != ProtocolNone || len(natd.SPI) != 0 || len(natd.Data) != 20 {
		t.Fatalf("NAT-D %+v", natd)
	}
	// RFC 7427: two-octet hash algorithm identifiers; strongSwan sends SHA2-256, SHA2-384, SHA2-512, Identity.
	if sh := m.Payloads[6].(*Notify); !bytes.Equal(sh.Data, []byte{0, 2, 0, 3, 0, 4, 0, 5}) {
		t.Fatalf("SIGNATURE_HASH_ALGORITHMS data %x", sh.Data)
	}
}

// TestCaptureMultiProposal checks a three-proposal SA and the INVALID_KE_PAYLOAD answer and retry.
func TestCaptureMultiProposal(t *testing.T) {
	req := parseCapture(t, "multi-01-ike_sa_init-req.bin")
	sa := req.Payloads[0].(*SA)
	if len(sa.Proposals) != 3 {
		t.Fatalf("%d proposals", len(sa.Proposals))
	}
	for i, p := range sa.Proposals {
		if int(p.Number) != i+1 || p.Protocol != ProtocolIKE {
			t.Fatalf("proposal %d: %+v", i, p)
		}
	}
	// aes256gcm16-aes128gcm16-prfsha512-ecp521-modp4096
	p2 := sa.Proposals[1].Transforms
	if len(p2) != 5 || p2[0].ID != uint16(ENCR_AES_GCM_16) || p2[1].ID != uint16(ENCR_AES_GCM_16) ||
		p2[3].Type != TransformKE || p2[3].ID != uint16(ECP_521) || p2[4].ID != uint16(MODP_4096) {
		t.Fatalf("proposal 2 transforms %+v", p2)
	}
	if ke := req.Payloads[1].(*KE); ke.Method != ECP_521 {
		t.Fatalf("first KE %v", ke.Method)
	}

	resp := parseCapture(t, "multi-02-ike_sa_init-resp.bin")
	n := resp.Payloads[0].(*Notify)
	if len(resp.Payloads) != 1 || n.NotifyType != INVALID_KE_PAYLOAD || !bytes.Equal(n.Data, []byte{0, byte(CURVE25519)}) {
		t.Fatalf("INVALID_KE_PAYLOAD response %v %x", resp, n.Data)
	}
	retry := parseCapture(t, "multi-03-ike_sa_init-req.bin")
	if ke := retry.Payloads[1].(*KE); ke.Method != CURVE25519 || len(ke.Data) != 32 {
		t.Fatalf("retry KE %v", ke.Method)
	}
	// strongSwan's retry moves the proposal with the requested group to the front and renumbers; the responder
	// echoes the number of the proposal it chose.
	if p := retry.Payloads[0].(*SA).Proposals[0]; p.Number != 1 || p.Transforms[0].ID != uint16(ENCR_CHACHA20_POLY1305) {
		t.Fatalf("retry's first proposal %+v", p)
	}
	chosen := parseCapture(t, "multi-04-ike_sa_init-resp.bin").Payloads[0].(*SA)
	if len(chosen.Proposals) != 1 || chosen.Proposals[0].Number != 1 || len(chosen.Proposals[0].Transforms) != 3 {
		t.Fatalf("chosen %+v", chosen)
	}
}

// TestCaptureCertReq checks CERTREQ in the responder's IKE_SA_INIT: SHA-1 hashes of the CA public key.
func TestCaptureCertReq(t *testing.T) {
	m := parseCapture(t, "cert-02-ike_sa_init-resp.bin")
	var cr *CertificateRequest
	for _, p := range m.Payloads {
		if q, ok := p.(*CertificateRequest); ok {
			cr = q
		}
	}
	if cr == nil || cr.Encoding != CertX509Signature || len(cr.Data)%20 != 0 || len(cr.Data) == 0 {
		t.Fatalf("CERTREQ %+v", cr)
	}
}

// TestCaptureEncrypted checks the IKE_AUTH request down to its SK payload and the AEAD associated data.
func TestCaptureEncrypted(t *testing.T) {
	for _, name := range []string{"psk-03-ike_auth-req.bin", "cert-04-ike_auth-resp.bin", "psk-06-informational-resp.bin"} {
		m := parseCapture(t, name)
		if len(m.Payloads) != 1 {
			t.Fatalf("%s: %v", name, m)
		}
		sk := m.Payloads[0].(*Encrypted)
		aad, body, err := m.EncryptedParts()
		if err != nil {
			t.Fatal(err)
		}
		if len(aad) != HeaderLen+4 || !bytes.Equal(body, sk.Body) || !bytes.Equal(append(aad[:len(aad):len(aad)], body...), m.Raw()) {
			t.Fatalf("%s: aad %d bytes, body %d bytes", name, len(aad), len(body))
		}
		built, err := m.AssociatedData(len(sk.Body))
		if err != nil || !bytes.Equal(built, aad) {
			t.Fatalf("%s: AssociatedData %x, received %x (%v)", name, built, aad, err)
		}
	}
	if m := parseCapture(t, "psk-03-ike_auth-req.bin"); m.Payloads[0].(*Encrypted).FirstPayload != PayloadIDi {
		t.Fatal("IKE_AUTH request SK does not start with IDi")
	}
	if m := parseCapture(t, "psk-06-informational-resp.bin"); m.Payloads[0].(*Encrypted).FirstPayload != PayloadNone {
		t.Fatal("empty INFORMATIONAL response SK is not empty")
	}
}
