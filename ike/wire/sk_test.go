package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"net/netip"
	"reflect"
	"testing"
)

// TestEncryptedRoundTrip protects an IKE_AUTH payload chain with AES-GCM-16 the way RFC 5282 specifies, using only
// the codec's helpers (MarshalPayloads, AssociatedData, EncryptedParts, ParsePayloads) around the AEAD.
func TestEncryptedRoundTrip(t *testing.T) {
	inner := []Payload{
		&ID{IDType: ID_FQDN, Data: []byte("a.isw.test")},
		&Auth{Method: AuthSharedKey, Data: seq(32, 0x11)},
		&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
			{Type: TransformENCR, ID: uint16(ENCR_AES_GCM_16), Attributes: []TransformAttribute{KeyLengthAttribute(128)}},
			{Type: TransformESN, ID: uint16(NO_ESN)}}}}},
		&TrafficSelectors{Selectors: []TrafficSelector{{Type: TS_IPV4_ADDR_RANGE, EndPort: 0xffff,
			StartAddr: netip.MustParseAddr("10.99.1.0"), EndAddr: netip.MustParseAddr("10.99.1.255")}}},
		&TrafficSelectors{Responder: true, Selectors: []TrafficSelector{{Type: TS_IPV4_ADDR_RANGE, EndPort: 0xffff,
			StartAddr: netip.MustParseAddr("10.99.2.0"), EndAddr: netip.MustParseAddr("10.99.2.255")}}},
	}
	key, salt, iv := seq(16, 0xa0), seq(4, 0xc0), seq(8, 0xe0)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)

	// Sender.
	first, plain, err := MarshalPayloads(inner)
	if err != nil {
		t.Fatal(err)
	}
	plain = append(plain, 0) // no padding, Pad Length 0 (RFC 7296 3.14)
	m := &Message{Header: Header{SPIi: [8]byte{1}, SPIr: [8]byte{2}, Exchange: IKE_AUTH, Flags: FlagInitiator, MessageID: 1},
		Payloads: []Payload{&Encrypted{FirstPayload: first}}}
	bodyLen := len(iv) + len(plain) + aead.Overhead()
	aad, err := m.AssociatedData(bodyLen)
	if err != nil {
		t.Fatal(err)
	}
	if len(aad) != HeaderLen+4 {
		t.Fatalf("associated data of %d bytes", len(aad))
	}
	body := aead.Seal(append([]byte(nil), iv...), append(salt, iv...), plain, aad)
	m.Payloads[0].(*Encrypted).Body = body
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:len(aad)], aad) || len(out) != len(aad)+bodyLen {
		t.Fatal("marshalled message does not start with the associated data")
	}

	// Receiver.
	r, err := ParseMessage(out)
	if err != nil {
		t.Fatal(err)
	}
	rAAD, rBody, err := r.EncryptedParts()
	if err != nil {
		t.Fatal(err)
	}
	pt, err := aead.Open(nil, append(salt, rBody[:8]...), rBody[8:], rAAD)
	if err != nil {
		t.Fatalf("AEAD open: %v", err)
	}
	padLen := int(pt[len(pt)-1])
	got, err := ParsePayloads(r.Payloads[0].(*Encrypted).FirstPayload, pt[:len(pt)-1-padLen])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalise(got), normalise(inner)) {
		t.Fatalf("decrypted chain differs: %s", PayloadSummary(got))
	}
	if s := PayloadSummary(got); s != "IDi AUTH SA TSi TSr" {
		t.Fatalf("summary %q", s)
	}

	// Tampering with the authenticated header is detected.
	out[19] ^= byte(FlagResponse)
	r, _ = ParseMessage(out)
	rAAD, rBody, _ = r.EncryptedParts()
	if _, err := aead.Open(nil, append(salt, rBody[:8]...), rBody[8:], rAAD); err == nil {
		t.Fatal("flipped R flag not detected")
	}
}

// TestFragmentAssociatedData: for SKF the associated data runs through Fragment Number and Total Fragments
// (RFC 7383 2.5).
func TestFragmentAssociatedData(t *testing.T) {
	m := &Message{Header: Header{Exchange: IKE_AUTH, MessageID: 1}, Payloads: []Payload{
		&EncryptedFragment{FirstPayload: PayloadIDi, Number: 1, Total: 2}}}
	aad, err := m.AssociatedData(40)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "0000000000000000 0000000000000000 35 20 23 00 00000001 0000004c 23 00 0030 0001 0002")
	if !bytes.Equal(aad, want) {
		t.Fatalf("got  %x\nwant %x", aad, want)
	}
	if _, err := (&Message{Payloads: []Payload{&Nonce{Data: seq(16, 0)}}}).AssociatedData(10); err == nil {
		t.Fatal("associated data of a message without SK")
	}
	if _, _, err := m.EncryptedParts(); err == nil {
		t.Fatal("EncryptedParts of a built message")
	}
}
