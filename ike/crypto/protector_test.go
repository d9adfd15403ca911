package crypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

type protSuite struct {
	name    string
	encr    uint16
	bits    int
	integ   uint16
	keyLen  int
	integLn int
}

var protSuites = []protSuite{
	{"aes128gcm16", EncrAESGCM16, 128, IntegNone, 20, 0},
	{"aes256gcm16", EncrAESGCM16, 256, IntegNone, 36, 0},
	{"chacha20poly1305", EncrChaCha20Poly1305, 0, IntegNone, 36, 0},
	{"aes128-sha256", EncrAESCBC, 128, IntegHMACSHA256128, 16, 32},
	{"aes192-sha384", EncrAESCBC, 192, IntegHMACSHA384192, 24, 48},
	{"aes256-sha512", EncrAESCBC, 256, IntegHMACSHA512256, 32, 64},
	// the legacy suites native clients default to (named in a proposal)
	{"aes256-sha1", EncrAESCBC, 256, IntegHMACSHA196, 32, 20},
	{"3des-sha1", Encr3DES, 0, IntegHMACSHA196, 24, 20},
}

// newTestProtector returns a protector for suite s with keys derived from
// seed; two calls with the same seed give the two ends of one direction.
func newTestProtector(t testing.TB, s protSuite, seed uint64) *Protector {
	t.Helper()
	r := rand.NewChaCha8([32]byte{byte(seed)})
	key := make([]byte, s.keyLen)
	integ := make([]byte, s.integLn)
	_, _ = r.Read(key)
	_, _ = r.Read(integ)
	p, err := NewProtector(s.encr, s.bits, s.integ, key, integ, rand.NewChaCha8([32]byte{byte(seed), 1}))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testAD is an IKE header and SK generic header; the lengths do not matter
// to the protector, only that both ends use the same octets.
func testAD() []byte {
	ad := make([]byte, 32)
	copy(ad, "\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00\x2e\x20\x25\x08")
	return ad
}

// RFC 7634 Appendix B: an INFORMATIONAL request protected with
// ChaCha20-Poly1305 in IKEv2.
func TestChaCha20Poly1305RFC7634AppendixB(t *testing.T) {
	key := unhex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3")
	ad := unhex(t, "c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e202500000000090000004529000029")
	iv := unhex(t, "1011121314151617")
	ctTag := unhex(t, "610394701f8d017f7c129248896b71bfe25236efd7cdc67066906315b2")
	inner := unhex(t, "0000000c000040010000000a") // a Notify payload; Pad Length 0 follows
	body := append(bytes.Clone(iv), ctTag...)

	p, err := NewProtector(EncrChaCha20Poly1305, 0, IntegNone, key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Open(nil, ad, body)
	if err != nil || !bytes.Equal(got, inner) {
		t.Fatalf("Open = %x, %v; want %x", got, err, inner)
	}
	p.s.counter = binary.BigEndian.Uint64(iv) - 1
	if p.SealedLen(len(inner)) != len(body) {
		t.Fatalf("SealedLen = %d, want %d", p.SealedLen(len(inner)), len(body))
	}
	sealed, err := p.Seal(nil, ad, inner)
	if err != nil || !bytes.Equal(sealed, body) {
		t.Fatalf("Seal = %x, %v; want %x", sealed, err, body)
	}
}

func TestProtectorRoundTrip(t *testing.T) {
	for _, s := range protSuites {
		t.Run(s.name, func(t *testing.T) {
			out, in := newTestProtector(t, s, 1), newTestProtector(t, s, 1)
			ad := testAD()
			for n := 0; n <= 70; n++ {
				pt := bytes.Repeat([]byte{byte(n)}, n)
				body, err := out.Seal(nil, ad, pt)
				if err != nil {
					t.Fatal(err)
				}
				if len(body) != out.SealedLen(n) {
					t.Fatalf("n=%d: body %d octets, SealedLen %d", n, len(body), out.SealedLen(n))
				}
				ct := len(body) - out.IVLen() - out.ICVLen()
				if s.integ != IntegNone && ct%out.IVLen() != 0 || s.integ == IntegNone && ct != n+1 {
					t.Fatalf("n=%d: %d octets of ciphertext", n, ct)
				}
				got, err := in.Open([]byte("prefix"), ad, body)
				if err != nil || string(got) != "prefix"+string(pt) {
					t.Fatalf("n=%d: Open = %q, %v", n, got, err)
				}
				if c := out.PlaintextCapacity(len(body)); c < n || out.SealedLen(c) > len(body) {
					t.Fatalf("n=%d: PlaintextCapacity(%d) = %d", n, len(body), c)
				}
			}
			if c := out.PlaintextCapacity(out.IVLen() + out.ICVLen()); c != -1 {
				t.Errorf("capacity of an empty body = %d", c)
			}
		})
	}
}

func TestProtectorRejectsTampering(t *testing.T) {
	for _, s := range protSuites {
		t.Run(s.name, func(t *testing.T) {
			out, in := newTestProtector(t, s, 2), newTestProtector(t, s, 2)
			ad := testAD()
			body, _ := out.Seal(nil, ad, []byte("IKE payloads to protect"))
			for i := range len(ad) + len(body) {
				a, b := bytes.Clone(ad), bytes.Clone(body)
				if i < len(a) {
					a[i] ^= 0x80
				} else {
					b[i-len(a)] ^= 0x01
				}
				if _, err := in.Open(nil, a, b); !errors.Is(err, ErrIntegrity) {
					t.Fatalf("flipped octet %d: %v, want ErrIntegrity", i, err)
				}
			}
			if _, err := in.Open(nil, ad, body[:len(body)-1]); err == nil {
				t.Fatal("truncated body accepted")
			}
			_, err := in.Open(nil, ad, body[:out.IVLen()+out.ICVLen()])
			if !errors.Is(err, ErrSKTooShort) {
				t.Fatalf("body without ciphertext: %v", err)
			}
			if !strings.Contains(fmt.Sprint(ErrIntegrity), "SK payload integrity check failed") {
				t.Fatal("ErrIntegrity text changed")
			}
			// Another key.
			other := newTestProtector(t, s, 3)
			if _, err := other.Open(nil, ad, body); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("wrong key: %v", err)
			}
		})
	}
}

func TestProtectorCBCAlignmentAndPadding(t *testing.T) {
	s := protSuites[3]
	in := newTestProtector(t, s, 4)
	ad := testAD()
	if _, err := in.Open(nil, ad, make([]byte, 16+17+16)); !errors.Is(err, ErrSKBlockAlignment) {
		t.Errorf("17 octets of CBC ciphertext: %v", err)
	}
	// A correctly authenticated block whose Pad Length points before the start.
	st := in.s.c
	body := make([]byte, 16+16+in.s.icvLen)
	copy(body[:16], "0123456789abcdef")
	blk := body[16:32]
	blk[15] = 200
	st.cbcEnc.(ivSetter).SetIV(body[:16])
	st.cbcEnc.CryptBlocks(blk, blk)
	st.mac.Reset()
	st.mac.Write(ad)
	st.mac.Write(body[:32])
	copy(body[32:], st.mac.Sum(nil))
	if _, err := in.Open(nil, ad, body); !errors.Is(err, ErrSKPadding) {
		t.Errorf("pad length 200 in one block: %v, want ErrSKPadding", err)
	}
	// The largest legal Pad Length (the whole block is padding) is fine.
	blk = body[16:32]
	clear(blk)
	blk[15] = 15
	st.cbcEnc.(ivSetter).SetIV(body[:16])
	st.cbcEnc.CryptBlocks(blk, blk)
	st.mac.Reset()
	st.mac.Write(ad)
	st.mac.Write(body[:32])
	copy(body[32:], st.mac.Sum(nil))
	if got, err := in.Open(nil, ad, body); err != nil || len(got) != 0 {
		t.Errorf("all-padding block: %x, %v", got, err)
	}
}

func TestProtectorAEADPadding(t *testing.T) {
	p := newTestProtector(t, protSuites[0], 5)
	ad := testAD()
	// Padding is allowed on receive (RFC 5282 section 3): 3 octets of it.
	p.s.counter = 41
	binary.BigEndian.PutUint64(p.s.nonce[4:], 42)
	pt := []byte("abc\x00\x00\x00\x03")
	body := binary.BigEndian.AppendUint64(nil, 42)
	body = p.s.c.aead.Seal(body, p.s.nonce[:], pt, ad)
	if got, err := p.Open(nil, ad, body); err != nil || string(got) != "abc" {
		t.Fatalf("padded AEAD plaintext: %q, %v", got, err)
	}
	pt[len(pt)-1] = 7
	body = p.s.c.aead.Seal(body[:8], p.s.nonce[:], pt, ad)
	if _, err := p.Open(nil, ad, body); !errors.Is(err, ErrSKPadding) {
		t.Fatalf("pad length beyond data: %v", err)
	}
}

func TestProtectorIVs(t *testing.T) {
	for _, s := range protSuites {
		p := newTestProtector(t, s, 6)
		seen := map[string]bool{}
		for range 1000 {
			body, err := p.Seal(nil, testAD(), []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			iv := string(body[:p.IVLen()])
			if seen[iv] {
				t.Fatalf("%s: IV repeated", s.name)
			}
			seen[iv] = true
		}
	}
	p := newTestProtector(t, protSuites[0], 7)
	p.s.counter = ^uint64(0) - 1
	if _, err := p.Seal(nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Seal(nil, nil, nil); !errors.Is(err, ErrIVExhausted) {
		t.Fatalf("after 2^64-1 messages: %v, want ErrIVExhausted", err)
	}
	// CBC IVs come from the random source; a failing source is an error.
	cbc, err := NewProtector(EncrAESCBC, 128, IntegHMACSHA256128, make([]byte, 16), make([]byte, 32), bytes.NewReader(make([]byte, 20)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cbc.Seal(nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cbc.Seal(nil, nil, nil); err == nil {
		t.Fatal("Seal with an exhausted random source succeeded")
	}
}

func TestProtectorInPlace(t *testing.T) {
	for _, s := range protSuites {
		out, in := newTestProtector(t, s, 8), newTestProtector(t, s, 8)
		pt := []byte("in-place payloads: Notify, Delete, whatever")
		msg := make([]byte, 32, 32+out.SealedLen(len(pt)))
		copy(msg, testAD())
		// Put the plaintext where the ciphertext will go, then seal over it.
		region := msg[32+out.IVLen() : 32+out.IVLen()+len(pt)]
		copy(region, pt)
		msg, err := out.Seal(msg, msg[:32], region)
		if err != nil {
			t.Fatal(err)
		}
		body := msg[32:]
		got, err := in.Open(body[in.IVLen():in.IVLen()], msg[:32], body)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: in-place round trip: %q, %v", s.name, got, err)
		}
		if &got[0] != &body[in.IVLen()] {
			t.Fatalf("%s: Open did not decrypt in place", s.name)
		}
	}
}

func TestProtectorNoAllocs(t *testing.T) {
	for _, s := range protSuites {
		out, in := newTestProtector(t, s, 9), newTestProtector(t, s, 9)
		ad, pt := testAD(), make([]byte, 1024)
		buf := make([]byte, 0, 2048)
		dst := make([]byte, 0, 2048)
		body, _ := out.Seal(buf, ad, pt)
		if n := testing.AllocsPerRun(50, func() { _, _ = out.Seal(buf, ad, pt) }); n != 0 {
			t.Errorf("%s: Seal allocates %v times", s.name, n)
		}
		if n := testing.AllocsPerRun(50, func() { _, _ = in.Open(dst, ad, body) }); n != 0 {
			t.Errorf("%s: Open allocates %v times", s.name, n)
		}
	}
}

func TestNewProtectorErrors(t *testing.T) {
	for _, c := range []struct {
		encr         uint16
		bits         int
		integ        uint16
		kLen, iLen   int
		want         error
		wantContains string
	}{
		{EncrAESGCM16, 128, IntegNone, 16, 0, nil, "key is 16 octets, want 20"},
		{EncrAESGCM16, 128, IntegHMACSHA256128, 20, 32, ErrUnsupported, ""},
		{EncrAESGCM16, 192, IntegNone, 28, 0, ErrUnsupported, ""},
		{EncrAESCBC, 128, IntegNone, 16, 0, ErrUnsupported, ""},
		{EncrAESCBC, 128, IntegHMACSHA196, 16, 19, nil, "want 20"},
		{Encr3DES, 0, IntegHMACSHA256128, 16, 32, nil, "key is 16 octets, want 24"},
		{Encr3DES, 128, IntegHMACSHA256128, 16, 32, ErrUnsupported, ""},
		{Encr3DES, 0, IntegNone, 24, 0, ErrUnsupported, ""},
		{EncrAESCBC, 128, IntegHMACSHA256128, 16, 31, nil, "want 32"},
		{EncrAESCTR, 128, IntegHMACSHA256128, 20, 32, ErrUnsupported, ""},
		{EncrChaCha20Poly1305, 128, IntegNone, 36, 0, ErrUnsupported, ""},
		{2, 0, IntegNone, 0, 0, ErrUnsupported, ""}, // ENCR_DES
	} {
		_, err := NewProtector(c.encr, c.bits, c.integ, make([]byte, c.kLen), make([]byte, c.iLen), bytes.NewReader(nil))
		if err == nil || c.want != nil && !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.wantContains) {
			t.Errorf("%s/%s: %v", encrName(c.encr, c.bits), integName(c.integ), err)
		}
	}
	if _, err := NewProtector(EncrAESCBC, 128, IntegHMACSHA256128, make([]byte, 16), make([]byte, 32), nil); !errors.Is(err, ErrNoRandom) {
		t.Errorf("CBC without random source: %v", err)
	}
	p := newTestProtector(t, protSuites[0], 10)
	p.Wipe()
	p.Wipe()
	if _, err := p.Seal(nil, nil, nil); !errors.Is(err, ErrWiped) {
		t.Errorf("Seal after Wipe: %v", err)
	}
	if _, err := p.Open(nil, nil, make([]byte, 64)); !errors.Is(err, ErrWiped) {
		t.Errorf("Open after Wipe: %v", err)
	}
}

func BenchmarkProtector(b *testing.B) {
	for _, s := range protSuites {
		out, in := newTestProtector(b, s, 11), newTestProtector(b, s, 11)
		ad, pt := testAD(), make([]byte, 1024)
		buf := make([]byte, 0, 2048)
		body, _ := out.Seal(nil, ad, pt)
		dst := make([]byte, 0, 2048)
		b.Run(s.name+"/seal-1KiB", func(b *testing.B) {
			b.SetBytes(1024)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := out.Seal(buf, ad, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(s.name+"/open-1KiB", func(b *testing.B) {
			b.SetBytes(1024)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := in.Open(dst, ad, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestProtectorRelease: a released Protector rebuilds its cipher state on
// the next Seal or Open and carries on where it was: the AEAD IV counter
// does not restart (a repeated IV under one key would be fatal for GCM),
// and messages sealed before and after open on the peer's side.
func TestProtectorRelease(t *testing.T) {
	for _, s := range protSuites {
		t.Run(s.name, func(t *testing.T) {
			out, in := newTestProtector(t, s, 12), newTestProtector(t, s, 12)
			ad := testAD()
			seen := map[string]bool{}
			for i := range 6 {
				if i%2 == 1 {
					out.Release()
					in.Release()
					out.Release() // idempotent
				}
				pt := []byte(fmt.Sprintf("message %d", i))
				body, err := out.Seal(nil, ad, pt)
				if err != nil {
					t.Fatal(err)
				}
				iv := string(body[:out.IVLen()])
				if seen[iv] {
					t.Fatalf("message %d reuses IV %x after Release", i, iv)
				}
				seen[iv] = true
				got, err := in.Open(nil, ad, body)
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("message %d after Release: %q, %v", i, got, err)
				}
			}
			out.Wipe()
			out.Release()
			if _, err := out.Seal(nil, ad, nil); !errors.Is(err, ErrWiped) {
				t.Errorf("Seal after Wipe and Release: %v", err)
			}
		})
	}
}
