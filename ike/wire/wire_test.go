package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// allPayloads has one of every payload the codec knows, plus unknown ones, in an order a message may carry them.
func allPayloads() []Payload {
	return []Payload{
		&SA{Proposals: []Proposal{
			{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
				{Type: TransformENCR, ID: uint16(ENCR_AES_GCM_16), Attributes: []TransformAttribute{KeyLengthAttribute(256)}},
				{Type: TransformPRF, ID: uint16(PRF_HMAC_SHA2_384)},
				{Type: TransformKE, ID: uint16(ECP_384)},
				{Type: TransformADDKE1, ID: uint16(ML_KEM_768)},
			}},
			{Number: 2, Protocol: ProtocolESP, SPI: []byte{0xc0, 0xff, 0xee, 0x01}, Transforms: []Transform{
				{Type: TransformENCR, ID: uint16(ENCR_AES_CBC), Attributes: []TransformAttribute{
					KeyLengthAttribute(128), {Type: 0x1234, Data: []byte("tlv")}, {Type: 0x0042, Data: []byte{}}}},
				{Type: TransformINTEG, ID: uint16(AUTH_HMAC_SHA2_256_128)},
				{Type: TransformESN, ID: uint16(NO_ESN)},
			}},
		}},
		&KE{Method: CURVE25519, Data: seq(32, 1)},
		&Nonce{Data: seq(32, 0x40)},
		&ID{IDType: ID_FQDN, Data: []byte("a.isw.test")},
		&ID{Responder: true, IDType: ID_IPV4_ADDR, Data: []byte{10, 99, 0, 2}},
		&Certificate{Encoding: CertX509Signature, Data: seq(40, 0x30)},
		&CertificateRequest{Encoding: CertX509Signature, Data: seq(20, 0x90)},
		&Auth{Method: AuthDigitalSignature, Data: seq(20, 7)},
		&Notify{NotifyType: INITIAL_CONTACT},
		&Notify{Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, NotifyType: REKEY_SA},
		&Notify{NotifyType: INVALID_KE_PAYLOAD, Data: []byte{0, 31}},
		&Delete{Protocol: ProtocolIKE},
		&Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
		&VendorID{Data: []byte("cygnet")},
		&TrafficSelectors{Selectors: []TrafficSelector{
			{Type: TS_IPV4_ADDR_RANGE, StartPort: 0, EndPort: 65535,
				StartAddr: netip.MustParseAddr("10.99.1.0"), EndAddr: netip.MustParseAddr("10.99.1.255")},
			{Type: TS_IPV6_ADDR_RANGE, IPProtocol: 17, StartPort: 500, EndPort: 500,
				StartAddr: netip.MustParseAddr("fd00:99:1::"), EndAddr: netip.MustParseAddr("fd00:99:1::ffff")},
			{Type: TS_SECLABEL, Raw: []byte("system_u:object_r:ipsec_spd_t:s0\x00")},
		}},
		&TrafficSelectors{Responder: true, Selectors: []TrafficSelector{
			{Type: TS_IPV4_ADDR_RANGE, IPProtocol: 6, StartPort: 80, EndPort: 443,
				StartAddr: netip.MustParseAddr("10.99.2.1"), EndAddr: netip.MustParseAddr("10.99.2.1")},
		}},
		&Configuration{CFGType: CFG_REQUEST, Attributes: []ConfigAttribute{
			{Type: INTERNAL_IP4_ADDRESS, Value: []byte{}}, {Type: INTERNAL_IP4_DNS, Value: []byte{}},
			{Type: INTERNAL_IP6_ADDRESS, Value: []byte{}}, {Type: APPLICATION_VERSION, Value: []byte("cygnet 0.1")},
		}},
		&EAP{Code: EAPResponse, Identifier: 7, EAPType: 1, Data: []byte("alice")},
		&EAP{Code: EAPSuccess, Identifier: 8, Data: []byte{}},
		&Unknown{Kind: 200, Body: []byte("skip me")},
		&Unknown{Kind: PayloadGSPM, Critical: true, Body: []byte{}},
	}
}

// normalise makes nil and empty byte slices compare equal for reflect.DeepEqual, as the parser returns empty
// (non-nil) slices where a builder may have used nil.
func normalise(p []Payload) []Payload {
	v := reflect.ValueOf(p)
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				if v.Len() == 0 && v.CanSet() {
					v.Set(reflect.Zero(v.Type()))
				}
				return
			}
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		}
	}
	walk(v)
	return p
}

func TestAllPayloadsRoundTrip(t *testing.T) {
	first, chain, err := MarshalPayloads(allPayloads())
	if err != nil {
		t.Fatal(err)
	}
	if first != PayloadSA {
		t.Fatalf("first = %v", first)
	}
	got, err := ParsePayloads(first, chain)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalise(got), normalise(allPayloads())) {
		for i := range got {
			if !reflect.DeepEqual(got[i], allPayloads()[i]) {
				t.Errorf("payload %d: got %+v\nwant %+v", i, got[i], allPayloads()[i])
			}
		}
	}
	_, again, err := MarshalPayloads(got)
	if err != nil || !bytes.Equal(again, chain) {
		t.Fatalf("re-marshal differs (err %v)", err)
	}

	// Each payload alone, in an unencrypted message and in an SK-protected one.
	for _, p := range allPayloads() {
		t.Run(p.Type().String(), func(t *testing.T) {
			m := &Message{Header: Header{SPIi: [8]byte{1}, Exchange: INFORMATIONAL, MessageID: 9}, Payloads: []Payload{p}}
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := ParseMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := m2.Marshal()
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("round trip: %v\n%x\n%x", err, b, b2)
			}
		})
	}
}

// TestPayloadEncodings pins the bytes of payloads written by hand from RFC 7296 section 3.
func TestPayloadEncodings(t *testing.T) {
	cases := []struct {
		name string
		p    Payload
		want string // generic header (next payload 0) + body
	}{
		{"SA", &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
			{Type: TransformENCR, ID: 20, Attributes: []TransformAttribute{KeyLengthAttribute(128)}},
			{Type: TransformPRF, ID: 5}, {Type: TransformKE, ID: 31}}}}},
			"00 00 0028 " + // SA header, 40 bytes
				"00 00 0024 01 01 00 03 " + // last proposal, 36 bytes, #1, IKE, SPI size 0, 3 transforms
				"03 00 000c 01 00 0014 800e 0080 " + // ENCR AES-GCM-16, key length 128 (TV)
				"03 00 0008 02 00 0005 " + // PRF HMAC-SHA2-256
				"00 00 0008 04 00 001f"}, // KE 31, last
		{"KE", &KE{Method: ECP_256, Data: []byte{0xaa, 0xbb}}, "00 00 000a 0013 0000 aabb"},
		{"IDi", &ID{IDType: ID_FQDN, Data: []byte("a")}, "00 00 0009 02 000000 61"},
		{"AUTH", &Auth{Method: AuthSharedKey, Data: []byte{1}}, "00 00 0009 02 000000 01"},
		{"N", &Notify{Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, NotifyType: REKEY_SA}, "00 00 000c 03 04 4009 01020304"},
		{"D", &Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{9, 9, 9, 9}}}, "00 00 000c 03 04 0001 09090909"},
		{"TSi", &TrafficSelectors{Selectors: []TrafficSelector{{Type: TS_IPV4_ADDR_RANGE, EndPort: 0xffff,
			StartAddr: netip.MustParseAddr("10.0.0.0"), EndAddr: netip.MustParseAddr("10.0.0.255")}}},
			"00 00 0018 01 000000 07 00 0010 0000 ffff 0a000000 0a0000ff"},
		{"CP", &Configuration{CFGType: CFG_REPLY, Attributes: []ConfigAttribute{{Type: INTERNAL_IP4_ADDRESS, Value: []byte{10, 0, 0, 1}}}},
			"00 00 0010 02 000000 0001 0004 0a000001"},
		{"EAP", &EAP{Code: EAPRequest, Identifier: 3, EAPType: 1}, "00 00 0009 01 03 0005 01"},
		{"EAP success", &EAP{Code: EAPSuccess, Identifier: 3}, "00 00 0008 03 03 0004"},
		{"SK", &Encrypted{FirstPayload: PayloadIDi, Body: []byte{1, 2, 3}}, "23 00 0007 010203"},
		{"SKF", &EncryptedFragment{FirstPayload: PayloadIDi, Number: 1, Total: 2, Body: []byte{1}}, "23 00 0009 0001 0002 01"},
		{"unknown critical", &Unknown{Kind: 99, Critical: true, Body: []byte{1}}, "00 80 0005 01"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bld := &Message{Payloads: []Payload{c.p}}
			b, err := bld.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, c.want)
			if got := b[HeaderLen:]; !bytes.Equal(got, want) {
				t.Fatalf("got  %x\nwant %x", got, want)
			}
			if b[16] != byte(c.p.Type()) {
				t.Fatalf("header next payload %d, want %d", b[16], c.p.Type())
			}
			m, err := ParseMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalise(m.Payloads), normalise([]Payload{c.p})) {
				t.Fatalf("parsed %+v, want %+v", m.Payloads[0], c.p)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	m := &Message{Header: Header{
		SPIi: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, SPIr: [8]byte{9, 10, 11, 12, 13, 14, 15, 16},
		Exchange: IKE_AUTH, Flags: FlagInitiator | FlagResponse, MessageID: 0x01020304,
	}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "0102030405060708 090a0b0c0d0e0f10 00 20 23 28 01020304 0000001c")
	if !bytes.Equal(b, want) {
		t.Fatalf("got  %x\nwant %x", b, want)
	}
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.SPIi != m.SPIi || h.SPIr != m.SPIr || h.Exchange != IKE_AUTH || !h.IsResponse() || !h.IsInitiator() ||
		h.MessageID != 0x01020304 || h.Length != 28 || h.Flags.String() != "IR" {
		t.Fatalf("header %+v", h)
	}
}

func TestVersion(t *testing.T) {
	b, _ := (&Message{Header: Header{Exchange: IKE_SA_INIT, MessageID: 5}}).Marshal()
	for _, v := range []byte{0x10, 0x30, 0xf0, 0x00} {
		b[17] = v
		h, err := ParseHeader(b)
		if !errors.Is(err, ErrInvalidMajorVersion) {
			t.Fatalf("version %#x: err %v", v, err)
		}
		if h.MessageID != 5 || h.Exchange != IKE_SA_INIT {
			t.Fatalf("version %#x: header not returned: %+v", v, h)
		}
		if _, err := ParseMessage(b); !errors.Is(err, ErrInvalidMajorVersion) {
			t.Fatalf("ParseMessage: %v", err)
		}
	}
	b[17] = 0x21 // minor versions are ignored
	m, err := ParseMessage(b)
	if err != nil || m.MinorVersion != 1 {
		t.Fatalf("minor version: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	valid := func() []byte {
		b, err := (&Message{Header: Header{Exchange: INFORMATIONAL}, Payloads: []Payload{
			&Notify{NotifyType: COOKIE, Data: seq(8, 1)}, &Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}}},
		}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// offsets: header 0..27, N at 28 (length 16), D at 44 (length 12); 56 bytes
	cases := []struct {
		name     string
		mutate   func([]byte) []byte
		sentinel error
		text     string
	}{
		{"short datagram", func(b []byte) []byte { return b[:27] }, ErrTruncated, "27 bytes, header needs 28"},
		{"length field too big", func(b []byte) []byte { b[27]++; return b }, ErrInvalidLength, "length field 57, message has 56 bytes"},
		{"length field below header", func(b []byte) []byte { b[24], b[25], b[26], b[27] = 0, 0, 0, 20; return b }, ErrInvalidLength, "below the header's 28"},
		{"trailing bytes", func(b []byte) []byte { b = append(b, 0); b[27]++; return b }, ErrInvalidLength, "1 bytes after the last payload"},
		{"zero-length payload", func(b []byte) []byte { b[30], b[31] = 0, 0; return b }, ErrInvalidLength, "payload 1 (N): length 0, need at least 4"},
		{"payload length past end", func(b []byte) []byte { b[31] = 0xff; return b }, ErrTruncated, "payload 1 (N): length 255"},
		{"payload shorter than its fields", func(b []byte) []byte {
			b[30], b[31] = 0, 6
			return b
		}, ErrTruncated, "payload 2 (D): length 258"}, // the chain's structure is checked before any body
		{"next payload but none left", func(b []byte) []byte { b[44] = byte(PayloadV); return b }, ErrTruncated, "payload 3 (V) announced but message ends"},
		{"delete count wrong", func(b []byte) []byte { b[51] = 2; return b }, ErrInvalidLength, "2 SPIs of 4 bytes in 4 bytes"},
		{"SK not last", func(b []byte) []byte { b[16] = byte(PayloadSK); return b }, ErrInvalidSyntax, "SK is not the last payload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseMessage(c.mutate(valid()))
			if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("err = %v; want %v containing %q", err, c.sentinel, c.text)
			}
		})
	}
}

// TestMalformedPayloadBodies feeds payload bodies that break each payload's own rules.
func TestMalformedPayloadBodies(t *testing.T) {
	cases := []struct {
		t        PayloadType
		body     string
		sentinel error
		text     string
	}{
		{PayloadSA, "", ErrTruncated, "proposal 1 announced"},
		{PayloadSA, "00 00 0007 01 01 00 00", ErrInvalidLength, "proposal 1: length 7"},
		{PayloadSA, "01 00 0008 01 01 00 00", ErrInvalidSyntax, "last-substructure field 1"},
		{PayloadSA, "00 00 0008 01 01 00 00", ErrInvalidSyntax, "proposal 1 has no transforms"},
		{PayloadSA, "00 00 0010 01 01 00 02 00 00 0008 01 00 000c", ErrInvalidSyntax, "announces 2 transforms, carries 1"},
		{PayloadSA, "00 00 0010 01 01 00 01 00 00 0007 01 00 000c", ErrInvalidLength, "transform 1: length 7"},
		{PayloadSA, "00 00 0010 01 01 00 01 02 00 0008 01 00 000c", ErrInvalidSyntax, "transform 1: last-substructure field 2"},
		{PayloadSA, "00 00 0012 01 01 00 01 00 00 000a 01 00 000c 800e", ErrTruncated, "attribute 14 value"},
		{PayloadSA, "00 00 0014 01 01 00 01 00 00 000c 01 00 000c 0001 0004", ErrTruncated, "attribute 1 value"},
		{PayloadSA, "00 00 000c 01 03 04 00 01020304", ErrInvalidSyntax, "no transforms"},
		{PayloadSA, "00 00 0009 01 03 04 00 01", ErrTruncated, "SPI size 4"},
		{PayloadSA, "02 00 0010 01 01 00 01 00 00 0008 01 00 000c", ErrTruncated, "proposal 2 announced"},
		{PayloadSA, "00 00 0010 01 01 00 01 00 00 0008 01 00 000c ff", ErrInvalidLength, "1 bytes after the last proposal"},
		{PayloadKE, "0013 00", ErrTruncated, "KE payload body of 3 bytes"},
		{PayloadIDi, "02", ErrTruncated, "ID payload body of 1 bytes"},
		{PayloadCERT, "", ErrTruncated, "empty CERT payload"},
		{PayloadAUTH, "02 0000", ErrTruncated, "AUTH payload body"},
		{PayloadNonce, "0102030405060708090a0b0c0d0e0f", ErrInvalidLength, "nonce of 15 bytes"},
		{PayloadN, "03 04 4009 010203", ErrTruncated, "SPI size 4, 3 bytes left"},
		{PayloadD, "03 04 00", ErrTruncated, "delete body of 3 bytes"},
		{PayloadTSi, "00 000000", ErrInvalidSyntax, "no traffic selectors"},
		{PayloadTSi, "01 000000 07 00 0014 0000ffff 0a000000 0a0000ff 00000000", ErrInvalidLength, "TS_IPV4_ADDR_RANGE of length 20, want 16"},
		{PayloadTSi, "02 000000 07 00 0010 0000ffff 0a000000 0a0000ff", ErrTruncated, "traffic selector 2 of 2 header"},
		{PayloadTSi, "01 000000 07 00 0003", ErrInvalidLength, "traffic selector 1: length 3"},
		{PayloadTSr, "01 000000 08 00 0028 0000ffff", ErrTruncated, "traffic selector 1: length 40"},
		{PayloadCP, "01 0000", ErrTruncated, "CP payload body"},
		{PayloadCP, "01 000000 0001 0004 0a00", ErrTruncated, "configuration attribute 1"},
		{PayloadEAP, "02 01 0006 01", ErrInvalidLength, "EAP length field 6, payload carries 5 bytes"},
		{PayloadEAP, "02 01 0004", ErrTruncated, "EAP code 2 without a type"},
		{PayloadSKF, "0000 0001 00", ErrInvalidSyntax, "fragment number 0 of 1"},
		{PayloadSKF, "0003 0002 00", ErrInvalidSyntax, "fragment number 3 of 2"},
		{PayloadSKF, "0001 00", ErrTruncated, "SKF body of 3 bytes"},
		{PayloadSK, "", ErrInvalidLength, "SK payload with an encrypted body of 0 bytes"},
		{PayloadSKF, "0001 0001", ErrInvalidLength, "SKF payload with an encrypted body of 0 bytes"},
		{PayloadD, "01 00 ffff", ErrInvalidSyntax, "65535 SPIs of size 0"},
		{PayloadD, "03 00 0001", ErrInvalidSyntax, "1 SPIs of size 0"},
		{PayloadD, "03 01 0002 aabb", ErrInvalidSyntax, "ESP SPI size 1, must be 4"},
		{PayloadD, "01 04 0001 aabbccdd", ErrInvalidSyntax, "IKE SPI size 4, must be 0"},
	}
	for _, c := range cases {
		body := unhex(t, c.body)
		chain := append([]byte{0, 0, byte((len(body) + 4) >> 8), byte(len(body) + 4)}, body...)
		b := append(make([]byte, HeaderLen), chain...)
		b[16], b[17], b[18] = byte(c.t), 0x20, byte(INFORMATIONAL)
		b[26], b[27] = byte(len(b)>>8), byte(len(b))
		_, err := ParseMessage(b)
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%v %s: err = %v; want %v containing %q", c.t, c.body, err, c.sentinel, c.text)
		}
		if !strings.Contains(err.Error(), "parse "+c.t.String()+" payload") {
			t.Errorf("%v: error lacks payload context: %v", c.t, err)
		}
	}
}

// TestTruncations cuts every capture at every length, both with the header length left as it was and with it
// patched to the cut length, so that the payload parsers see every truncation. All must fail cleanly.
func TestTruncations(t *testing.T) {
	for name, full := range readCaptures(t) {
		for n := 0; n < len(full); n++ {
			b := append([]byte(nil), full[:n]...)
			if _, err := ParseMessage(b); err == nil {
				t.Fatalf("%s cut at %d: no error", name, n)
			}
			if n >= HeaderLen {
				b[24], b[25], b[26], b[27] = 0, 0, byte(n>>8), byte(n)
				_, err := ParseMessage(b)
				if err == nil {
					t.Fatalf("%s cut at %d with patched length: no error", name, n)
				}
				if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrInvalidLength) && !errors.Is(err, ErrInvalidSyntax) {
					t.Fatalf("%s cut at %d: error without sentinel: %v", name, n, err)
				}
			}
		}
	}
}

// TestCorruptLengths sets every 16-bit window of every IKE_SA_INIT capture to a range of values: no panics, and
// whatever parses re-marshals to a stable form.
func TestCorruptLengths(t *testing.T) {
	for name, full := range readCaptures(t) {
		if !strings.Contains(name, "ike_sa_init") {
			continue
		}
		for off := HeaderLen; off+1 < len(full); off++ {
			for _, v := range []uint16{0, 1, 3, 4, 5, 7, 8, 0x7fff, 0xffff} {
				b := append([]byte(nil), full...)
				b[off], b[off+1] = byte(v>>8), byte(v)
				checkStable(t, b)
			}
		}
	}
}

func checkStable(t testing.TB, b []byte) {
	t.Helper()
	m, err := ParseMessage(b)
	if err != nil {
		return
	}
	out, err := m.Marshal()
	if err != nil {
		t.Fatalf("parsed message does not marshal: %v\n%x", err, b)
	}
	m2, err := ParseMessage(out)
	if err != nil {
		t.Fatalf("re-marshalled message does not parse: %v\nin  %x\nout %x", err, b, out)
	}
	out2, err := m2.Marshal()
	if err != nil || !bytes.Equal(out, out2) {
		t.Fatalf("parse-marshal not stable: %v\n%x\n%x", err, out, out2)
	}
}

func TestUnsupportedCritical(t *testing.T) {
	m := &Message{Header: Header{Exchange: IKE_SA_INIT}, Payloads: []Payload{
		&Nonce{Data: seq(16, 0)}, &Unknown{Kind: 60, Body: []byte{1}}, &Unknown{Kind: 61, Critical: true},
	}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if typ, ok := p.UnsupportedCritical(); !ok || typ != 61 {
		t.Fatalf("UnsupportedCritical = %v, %v", typ, ok)
	}
	if s := p.String(); s != "IKE_SA_INIT request 0 [ No PAYLOAD(60) PAYLOAD(61)! ]" {
		t.Fatalf("String = %q", s)
	}
	m.Payloads = m.Payloads[:2]
	if b, err = m.Marshal(); err != nil {
		t.Fatal(err)
	}
	if p, err = ParseMessage(b); err != nil {
		t.Fatal(err)
	} else if _, ok := p.UnsupportedCritical(); ok {
		t.Fatal("non-critical unknown payload reported")
	}
	// The critical bit of known payloads is ignored (RFC 7296 2.5).
	b[HeaderLen+1] = 0x80
	if p, err = ParseMessage(b); err != nil {
		t.Fatal(err)
	} else if _, ok := p.UnsupportedCritical(); ok {
		t.Fatal("known payload with critical bit reported")
	}
}

func TestMarshalErrors(t *testing.T) {
	cases := []struct {
		name string
		p    []Payload
		text string
	}{
		{"SK not last", []Payload{&Encrypted{Body: []byte{1}}, &Nonce{Data: seq(16, 0)}}, "SK must be the last payload"},
		{"empty SA", []Payload{&SA{}}, "SA payload has no proposals"},
		{"short nonce", []Payload{&Nonce{Data: []byte{1}}}, "nonce of 1 bytes"},
		{"delete SPI size", []Payload{&Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1}}}}, "1-byte SPI, SPI size is 4"},
		{"v4 TS with v6 address", []Payload{&TrafficSelectors{Selectors: []TrafficSelector{{Type: TS_IPV4_ADDR_RANGE,
			StartAddr: netip.MustParseAddr("::1"), EndAddr: netip.MustParseAddr("::1")}}}}, "TS_IPV4_ADDR_RANGE with addresses ::1-::1"},
		{"oversized payload", []Payload{&VendorID{Data: make([]byte, 70000)}}, "V payload of 70004 bytes exceeds 65535"},
		{"unknown with known type", []Payload{&Unknown{Kind: PayloadSA}}, "SA cannot be marshalled as Unknown"},
		{"fragment 0", []Payload{&EncryptedFragment{Number: 0, Total: 1}}, "fragment number 0 of 1"},
	}
	for _, c := range cases {
		_, err := (&Message{Payloads: c.p}).Marshal()
		if err == nil || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.text)
		}
	}
	if _, _, err := MarshalPayloads([]Payload{&Encrypted{Body: []byte{1}}}); err == nil {
		t.Error("SK accepted inside an encrypted chain")
	}
	if _, err := ParsePayloads(PayloadSK, []byte{0, 0, 0, 5, 1}); !errors.Is(err, ErrInvalidSyntax) {
		t.Errorf("SK accepted when parsing an inner chain: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		got  string
		want string
	}{
		{NO_PROPOSAL_CHOSEN.String(), "NO_PROPOSAL_CHOSEN"},
		{INVALID_KE_PAYLOAD.String(), "INVALID_KE_PAYLOAD"},
		{IKEV2_FRAGMENTATION_SUPPORTED.String(), "IKEV2_FRAGMENTATION_SUPPORTED"},
		{NotifyType(12345).String(), "NOTIFY(12345)"},
		{IKE_INTERMEDIATE.String(), "IKE_INTERMEDIATE"},
		{CREATE_CHILD_SA.String(), "CREATE_CHILD_SA"},
		{PayloadSKF.String(), "SKF"},
		{TransformADDKE3.String(), "ADDKE3"},
		{ENCR_AES_GCM_16.String(), "ENCR_AES_GCM_16"},
		{CURVE25519.String(), "CURVE_25519"},
		{ML_KEM_768.String(), "ML_KEM_768"},
		{AuthDigitalSignature.String(), "DIGITAL_SIGNATURE"},
		{AuthECDSASHA384P384.String(), "ECDSA_SHA384_P384"},
		{ID_FQDN.String(), "ID_FQDN"},
		{CertX509Signature.String(), "X509_CERTIFICATE_SIGNATURE"},
		{INTERNAL_IP6_SUBNET.String(), "INTERNAL_IP6_SUBNET"},
		{CFG_REPLY.String(), "CFG_REPLY"},
		{ESN.String(), "ESN"},
		{ProtocolESP.String(), "ESP"},
		{TS_IPV6_ADDR_RANGE.String(), "TS_IPV6_ADDR_RANGE"},
		{(FlagResponse | 0x01).String(), "R+0x1"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if !AUTHENTICATION_FAILED.IsError() || INITIAL_CONTACT.IsError() {
		t.Error("IsError")
	}
	if !ENCR_CHACHA20_POLY1305.IsAEAD() || ENCR_AES_CBC.IsAEAD() || ENCR_NULL_AUTH_AES_GMAC.IsAEAD() {
		t.Error("IsAEAD")
	}
}
