package radius

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 2865 section 7.1: user nemo, password arctangent, secret xyzzy5461.
const (
	rfcRequest = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb 98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d" +
		"93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8 01 10 05 06 00 00 00 03"
	rfcAccept = "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf 9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00" +
		"0e 06 c0 a8 01 03"
)

func TestRFC2865Example(t *testing.T) {
	secret := []byte("xyzzy5461")
	req, err := Parse(unhex(t, rfcRequest))
	if err != nil {
		t.Fatal(err)
	}
	if req.Code != CodeAccessRequest || len(req.Attributes) != 4 {
		t.Fatalf("request %v with %d attributes", req.Code, len(req.Attributes))
	}
	if u, _ := req.Get(TypeUserName); string(u) != "nemo" {
		t.Fatalf("User-Name %q", u)
	}
	hidden, err := HidePassword([]byte("arctangent"), secret, req.Authenticator)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := req.Get(TypeUserPassword); !bytes.Equal(hidden, pw) {
		t.Fatalf("hidden password %x, RFC has %x", hidden, pw)
	}
	enc, err := req.Encode()
	if err != nil || !bytes.Equal(enc, unhex(t, rfcRequest)) {
		t.Fatalf("re-encoded %x, %v", enc, err)
	}
	acc := unhex(t, rfcAccept)
	p, err := VerifyResponse(acc, 0, req.Authenticator, secret)
	if err != nil || p.Code != CodeAccessAccept {
		t.Fatalf("RFC Access-Accept: %v, %v", p, err)
	}
	if _, err := VerifyResponse(acc, 0, req.Authenticator, []byte("xyzzy5462")); !errors.Is(err, ErrResponseAuthenticator) {
		t.Fatalf("wrong secret: %v", err)
	}
	bad := bytes.Clone(acc)
	bad[len(bad)-1] ^= 1
	if _, err := VerifyResponse(bad, 0, req.Authenticator, secret); !errors.Is(err, ErrResponseAuthenticator) {
		t.Fatalf("altered attribute: %v", err)
	}
	if _, err := VerifyResponse(acc, 1, req.Authenticator, secret); !errors.Is(err, ErrIdentifier) {
		t.Fatalf("other identifier: %v", err)
	}
}

func TestParseBounds(t *testing.T) {
	good := unhex(t, rfcAccept)
	cases := map[string][]byte{
		"short header":         good[:19],
		"length beyond data":   good[:len(good)-1],
		"length below header":  append([]byte{2, 0, 0, 19}, good[4:]...),
		"attribute length 1":   append(append([]byte(nil), good[:20]...), 6, 1),
		"attribute past end":   append([]byte{2, 0, 0, 23}, append(bytes.Clone(good[4:20]), 6, 6, 0)...),
		"attribute half there": append([]byte{2, 0, 0, 21}, append(bytes.Clone(good[4:20]), 6)...),
	}
	for name, b := range cases {
		if name == "attribute length 1" {
			b[3] = 22
		}
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// padding after Length is ignored
	p, err := Parse(append(bytes.Clone(good), 0xff, 0xff))
	if err != nil || len(p.Attributes) != 3 {
		t.Fatalf("padded packet: %v, %v", p, err)
	}
	big := make([]byte, 4097)
	big[2], big[3] = 0x10, 0x01
	if _, err := Parse(big); !errors.Is(err, ErrTooLong) {
		t.Fatalf("4097 octets: %v", err)
	}
}

func TestEAPSplitJoin(t *testing.T) {
	msg := make([]byte, 600)
	msg[0], msg[1], msg[2], msg[3] = 2, 7, 600>>8, 600&0xff
	for i := 4; i < len(msg); i++ {
		msg[i] = byte(i)
	}
	attrs := SplitEAP(msg)
	if len(attrs) != 3 || len(attrs[0].Value) != 253 || len(attrs[2].Value) != 94 {
		t.Fatalf("split into %d attributes", len(attrs))
	}
	p := &Packet{Code: CodeAccessChallenge}
	p.Add(TypeState, []byte("s"))
	p.Attributes = append(p.Attributes, attrs...)
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := q.EAPMessage()
	if err != nil || !ok || !bytes.Equal(got, msg) {
		t.Fatalf("joined %d octets, %v, %v", len(got), ok, err)
	}
	q.Attributes = q.Attributes[:len(q.Attributes)-1] // lose the last piece
	if _, _, err := q.EAPMessage(); err == nil {
		t.Fatal("truncated EAP message accepted")
	}
}

// TestSignAccessRequest checks the Message-Authenticator against an
// independent computation of RFC 3579 3.2.
func TestSignAccessRequest(t *testing.T) {
	secret := []byte("s3cret")
	p := &Packet{Code: CodeAccessRequest, Identifier: 9, Authenticator: [16]byte{1, 2, 3}}
	p.Add(TypeUserName, []byte("alice"))
	p.Attributes = append(p.Attributes, SplitEAP([]byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'})...)
	raw, err := p.Sign(secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 20+7+12+18 || raw[len(raw)-18] != byte(TypeMessageAuthenticator) {
		t.Fatalf("signed request %x", raw)
	}
	zeroed := bytes.Clone(raw)
	clear(zeroed[len(zeroed)-16:])
	mac := hmac.New(md5.New, secret)
	mac.Write(zeroed)
	if !bytes.Equal(mac.Sum(nil), raw[len(raw)-16:]) {
		t.Fatal("Message-Authenticator differs from HMAC-MD5 over the zeroed packet")
	}
}

// serverReply builds a response as a RADIUS server does: Message-
// Authenticator, then Response Authenticator.
func serverReply(t testing.TB, code Code, id uint8, reqAuth [16]byte, secret []byte, attrs []Attribute, withMA bool) []byte {
	t.Helper()
	p := &Packet{Code: code, Identifier: id, Authenticator: reqAuth, Attributes: attrs}
	if withMA {
		p.Add(TypeMessageAuthenticator, make([]byte, 16))
	}
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if withMA {
		mac := hmac.New(md5.New, secret)
		mac.Write(raw)
		copy(raw[len(raw)-16:], mac.Sum(nil))
	}
	h := md5.New()
	h.Write(raw)
	h.Write(secret)
	copy(raw[4:20], h.Sum(nil))
	return raw
}

func TestVerifyMessageAuthenticator(t *testing.T) {
	secret := []byte("s3cret")
	reqAuth := [16]byte{9, 9, 9}
	eap := SplitEAP([]byte{1, 2, 0, 6, 4, 0})
	ok := serverReply(t, CodeAccessChallenge, 5, reqAuth, secret, eap, true)
	if _, err := VerifyResponse(ok, 5, reqAuth, secret); err != nil {
		t.Fatal(err)
	}
	noMA := serverReply(t, CodeAccessChallenge, 5, reqAuth, secret, eap, false)
	if _, err := VerifyResponse(noMA, 5, reqAuth, secret); !errors.Is(err, ErrNoMessageAuth) {
		t.Fatalf("EAP without Message-Authenticator: %v", err)
	}
	// a wrong Message-Authenticator with a correct Response Authenticator
	bad := bytes.Clone(ok)
	bad[len(bad)-1] ^= 1
	h := md5.New()
	h.Write(bad[:4])
	h.Write(reqAuth[:])
	h.Write(bad[20:])
	h.Write(secret)
	copy(bad[4:20], h.Sum(nil))
	if _, err := VerifyResponse(bad, 5, reqAuth, secret); !errors.Is(err, ErrMessageAuthenticator) {
		t.Fatalf("altered Message-Authenticator: %v", err)
	}
}

func TestMSK(t *testing.T) {
	secret := []byte("s3cret")
	reqAuth := [16]byte{0xaa, 0xbb}
	send := bytes.Repeat([]byte{0x11}, 32)
	recv := bytes.Repeat([]byte{0x22}, 32)
	p := &Packet{Code: CodeAccessAccept}
	p.Add(TypeVendorSpecific, EncryptMPPEKey(false, send, secret, reqAuth, 0x1234))
	p.Add(TypeVendorSpecific, EncryptMPPEKey(true, recv, secret, reqAuth, 0x5678))
	msk, err := MSK(p, reqAuth, secret)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msk, append(bytes.Clone(recv), send...)) {
		t.Fatalf("MSK %x, want Recv-Key | Send-Key", msk)
	}
	// RFC 2548 2.4.2 by hand for the first block of the Send-Key
	v := p.Attributes[0].Value
	h := md5.New()
	h.Write(secret)
	h.Write(reqAuth[:])
	h.Write(v[6:8])
	b := h.Sum(nil)
	if v[6]&0x80 == 0 || v[8]^b[0] != 32 || v[9]^b[1] != 0x11 {
		t.Fatalf("Send-Key first block does not follow RFC 2548: %x", v)
	}
	// short keys are padded to 64 octets
	p = &Packet{Code: CodeAccessAccept}
	p.Add(TypeVendorSpecific, EncryptMPPEKey(false, send[:16], secret, reqAuth, 1))
	p.Add(TypeVendorSpecific, EncryptMPPEKey(true, recv[:16], secret, reqAuth, 2))
	if msk, err := MSK(p, reqAuth, secret); err != nil || len(msk) != 64 || !bytes.Equal(msk[32:], make([]byte, 32)) {
		t.Fatalf("short keys: %x, %v", msk, err)
	}
	if _, err := MSK(p, reqAuth, []byte("other")); err == nil {
		t.Fatal("wrong secret gave an MSK")
	}
	p.Attributes = p.Attributes[:1]
	if _, err := MSK(p, reqAuth, secret); !errors.Is(err, ErrNoMSK) {
		t.Fatalf("one key: %v", err)
	}
}

func TestParseAllocation(t *testing.T) {
	// the densest packet: 2035 empty attributes
	b := make([]byte, 4090)
	b[0], b[2], b[3] = 2, 4090>>8, 4090&0xff
	for i := 20; i < len(b); i += 2 {
		b[i], b[i+1] = 1, 2
	}
	n := alloctest.Bytes(func() { _, _ = Parse(b) })
	if n > alloctest.Budget(len(b)) {
		t.Fatalf("Parse of %d octets allocated %d", len(b), n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(unhexF(rfcRequest))
	f.Add(unhexF(rfcAccept))
	f.Add([]byte{11, 1, 0, 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 79, 6, 1, 2, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p *Packet
		var err error
		if n := alloctest.Approx(func() { p, err = Parse(b) }); n > alloctest.Budget(len(b)) {
			t.Fatalf("Parse of %d octets allocated %d", len(b), n)
		}
		if err != nil {
			return
		}
		_, _, _ = p.EAPMessage()
		_, _ = MSK(p, [16]byte{}, []byte("x"))
		_, _ = VerifyResponse(b, p.Identifier, [16]byte{}, []byte("x"))
		enc, err := p.Encode()
		if err != nil {
			t.Fatalf("parsed packet does not encode: %v", err)
		}
		if !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func unhexF(s string) []byte {
	b, _ := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	return b
}
