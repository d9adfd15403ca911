package transform

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func fixedIV(iv []byte) func(uint64, []byte) {
	return func(_ uint64, dst []byte) { copy(dst, iv) }
}

// espBuf lays out SPI | seq-lo | IV room | payload | ICV room.
func espBuf(spi, seqLo uint32, ivLen int, payload []byte, icvLen int) []byte {
	b := make([]byte, 8+ivLen+len(payload)+icvLen)
	binary.BigEndian.PutUint32(b, spi)
	binary.BigEndian.PutUint32(b[4:], seqLo)
	copy(b[8+ivLen:], payload)
	return b
}

func TestGCMSpecVectors(t *testing.T) {
	for i, tc := range gcmSpecCases {
		t.Run(fmt.Sprintf("case%d", i+1), func(t *testing.T) {
			blk, err := aes.NewCipher(unhex(t, tc.key))
			if err != nil {
				t.Fatal(err)
			}
			iv := unhex(t, tc.iv)
			g, err := cipher.NewGCMWithNonceSize(blk, len(iv))
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, tc.ct+tc.tag)
			got := g.Seal(nil, iv, unhex(t, tc.pt), unhex(t, tc.aad))
			if !bytes.Equal(got, want) {
				t.Fatalf("seal = %x, want %x", got, want)
			}
			pt, err := g.Open(nil, iv, want, unhex(t, tc.aad))
			if err != nil || !bytes.Equal(pt, unhex(t, tc.pt)) {
				t.Fatalf("open = %x, %v", pt, err)
			}
		})
	}
}

func TestGCMESPDraftVectors(t *testing.T) {
	for i, tc := range mcgrewESPCases {
		t.Run(fmt.Sprintf("case%d", i+1), func(t *testing.T) {
			key, nonce, aad := unhex(t, tc.key), unhex(t, tc.nonce), unhex(t, tc.aad)
			x, err := NewESP(EncrAESGCM16, len(key)*8, IntegNone, append(key, nonce[:4]...), Options{IV: fixedIV(nonce[4:])})
			if err != nil {
				t.Fatal(err)
			}
			spi := binary.BigEndian.Uint32(aad)
			esn := len(aad) == 12
			seq := uint64(binary.BigEndian.Uint32(aad[len(aad)-4:]))
			if esn {
				seq |= uint64(binary.BigEndian.Uint32(aad[4:])) << 32
			}
			pt := unhex(t, tc.pt)
			b := espBuf(spi, uint32(seq), 8, pt, 16)
			if err := x.Seal(b, seq, esn); err != nil {
				t.Fatal(err)
			}
			want := append(append(append([]byte{}, b[:8]...), nonce[4:]...), unhex(t, tc.ct+tc.tag)...)
			if !bytes.Equal(b, want) {
				t.Fatalf("sealed\n%x\nwant\n%x", b, want)
			}
			if err := x.Open(b, seq, esn); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b[16:len(b)-16], pt) {
				t.Fatalf("opened %x, want %x", b[16:len(b)-16], pt)
			}
		})
	}
}

func TestAESCTRVectors(t *testing.T) {
	for i, tc := range rfc3686Cases {
		t.Run(fmt.Sprintf("vector%d", i+1), func(t *testing.T) {
			key := unhex(t, tc.key)
			iv := unhex(t, tc.iv)
			km := append(key, make([]byte, 32)...)
			x, err := NewESP(EncrAESCTR, (len(key)-4)*8, IntegHMACSHA256_128, km, Options{IV: fixedIV(iv)})
			if err != nil {
				t.Fatal(err)
			}
			pt := unhex(t, tc.pt)
			b := espBuf(1, 1, 8, pt, 16)
			if err := x.Seal(b, 1, false); err != nil {
				t.Fatal(err)
			}
			if got, want := b[16:len(b)-16], unhex(t, tc.ct); !bytes.Equal(got, want) {
				t.Fatalf("ciphertext %x, want %x", got, want)
			}
			if !bytes.Equal(b[8:16], iv) {
				t.Fatalf("IV %x, want %x", b[8:16], iv)
			}
			if err := x.Open(b, 1, false); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b[16:len(b)-16], pt) {
				t.Fatalf("opened %x, want %x", b[16:len(b)-16], pt)
			}
		})
	}
}

// RFC 3602 section 4, cases 1-4 (raw AES-CBC-128).
var rfc3602Cases = []struct{ key, iv, pt, ct string }{
	{"06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
		hex.EncodeToString([]byte("Single block msg")), "e353779c1079aeb82708942dbe77181a"},
	{"c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"},
	{"6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
		hex.EncodeToString([]byte("This is a 48-byte message (exactly 3 AES blocks)")),
		"d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684"},
	{"56e47a38c5598974bc46903dba290349", "8ce82eefbea0da3c44699ed7db51b7d9",
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
		"c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55"},
}

func TestAESCBCVectors(t *testing.T) {
	for i, tc := range rfc3602Cases {
		t.Run(fmt.Sprintf("case%d", i+1), func(t *testing.T) {
			iv := unhex(t, tc.iv)
			x, err := NewESP(EncrAESCBC, 128, IntegHMACSHA256_128, append(unhex(t, tc.key), make([]byte, 32)...), Options{IV: fixedIV(iv)})
			if err != nil {
				t.Fatal(err)
			}
			pt := unhex(t, tc.pt)
			b := espBuf(1, 1, 16, pt, 16)
			if err := x.Seal(b, 1, false); err != nil {
				t.Fatal(err)
			}
			if got, want := b[24:len(b)-16], unhex(t, tc.ct); !bytes.Equal(got, want) {
				t.Fatalf("ciphertext %x, want %x", got, want)
			}
			if err := x.Open(b, 1, false); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b[24:len(b)-16], pt) {
				t.Fatalf("opened %x, want %x", b[24:len(b)-16], pt)
			}
		})
	}
}

func TestHMACVectors(t *testing.T) {
	for i, tc := range rfc4868Cases {
		t.Run(fmt.Sprintf("%v/%d", tc.integ, i), func(t *testing.T) {
			x, err := NewIntegrity(tc.integ, unhex(t, tc.key), Options{AllowLegacy: true})
			if err != nil {
				t.Fatal(err)
			}
			want := unhex(t, tc.icv)
			if x.ICVLen() != len(want) {
				t.Fatalf("ICVLen %d, want %d", x.ICVLen(), len(want))
			}
			data := unhex(t, tc.data)
			icv := make([]byte, x.ICVLen())
			if err := x.Sum(icv, 0, false, data); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(icv, want) {
				t.Fatalf("ICV %x, want %x", icv, want)
			}
			// The same input split into several parts.
			clear(icv)
			if err := x.Sum(icv, 0, false, data[:3], nil, data[3:]); err != nil || !bytes.Equal(icv, want) {
				t.Fatalf("split ICV %x, %v; want %x", icv, err, want)
			}
			if err := x.Verify(want, 0, false, data); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			bad := append([]byte(nil), want...)
			bad[len(bad)-1] ^= 1
			if err := x.Verify(bad, 0, false, data); !errors.Is(err, ErrAuth) {
				t.Fatalf("Verify(corrupted) = %v, want ErrAuth", err)
			}
		})
	}
}

func TestLegacyRefused(t *testing.T) {
	_, err := NewESP(Encr3DES, 0, IntegHMACSHA256_128, make([]byte, 24+32), Options{})
	if !errors.Is(err, ErrLegacyRefused) || !strings.Contains(err.Error(), "AllowLegacy") {
		t.Fatalf("3DES without the switch: %v", err)
	}
	_, err = NewESP(EncrAESCBC, 128, IntegHMACSHA1_96, make([]byte, 16+20), Options{})
	if !errors.Is(err, ErrLegacyRefused) {
		t.Fatalf("HMAC-SHA1-96 without the switch: %v", err)
	}
	_, err = NewIntegrity(IntegHMACSHA1_96, make([]byte, 20), Options{})
	if !errors.Is(err, ErrLegacyRefused) {
		t.Fatalf("AH HMAC-SHA1-96 without the switch: %v", err)
	}
	if _, err := NewESP(Encr3DES, 0, IntegHMACSHA1_96, make([]byte, 24+20), Options{AllowLegacy: true}); err != nil {
		t.Fatalf("3DES with the switch: %v", err)
	}
}

func TestConstructorErrors(t *testing.T) {
	cases := []struct {
		encr  EncrID
		bits  int
		integ IntegID
		klen  int
		want  error
	}{
		{EncrAESGCM16, 128, IntegHMACSHA256_128, 20 + 32, ErrUnsupported},
		{EncrAESCBC, 128, IntegNone, 16, ErrUnsupported},
		{EncrAESCBC, 128, IntegAES128GMAC, 16 + 20, ErrUnsupported},
		{EncrNull, 0, IntegNone, 0, ErrUnsupported},
		{EncrAESGCM16, 100, IntegNone, 20, ErrUnsupported},
		{EncrAESGCM16, 128, IntegNone, 16, ErrKeyLength},
		{EncrChaCha20Poly1305, 256, IntegNone, 32, ErrKeyLength},
		{EncrID(99), 128, IntegNone, 16, ErrUnsupported},
	}
	for _, c := range cases {
		if _, err := NewESP(c.encr, c.bits, c.integ, make([]byte, c.klen), Options{}); !errors.Is(err, c.want) {
			t.Errorf("NewESP(%v, %d, %v, %d octets) = %v, want %v", c.encr, c.bits, c.integ, c.klen, err, c.want)
		}
	}
	if n, err := KeyLen(EncrAESGCM16, 256, IntegNone); n != 36 || err != nil {
		t.Errorf("KeyLen(GCM 256) = %d, %v", n, err)
	}
	if n, err := KeyLen(EncrAESCBC, 128, IntegHMACSHA512_256); n != 16+64 || err != nil {
		t.Errorf("KeyLen(CBC 128 + SHA-512) = %d, %v", n, err)
	}
}

// suite lists every ESP algorithm combination the package offers.
type suiteEntry struct {
	encr  EncrID
	bits  int
	integ IntegID
}

func allSuites() []suiteEntry {
	s := []suiteEntry{
		{EncrAESGCM16, 128, IntegNone},
		{EncrAESGCM16, 256, IntegNone},
		{EncrChaCha20Poly1305, 256, IntegNone},
		{EncrNullAuthAESGMAC, 128, IntegNone},
		{EncrNullAuthAESGMAC, 256, IntegNone},
		{EncrNullAuthAESGMAC, 192, IntegNone},
	}
	for _, e := range []EncrID{EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrAESCCM8, EncrAESCCM12, EncrAESCCM16} {
		for _, bits := range []int{128, 192, 256} {
			if e != EncrAESGCM16 || bits == 192 {
				s = append(s, suiteEntry{e, bits, IntegNone})
			}
		}
	}
	for _, integ := range []IntegID{IntegHMACSHA256_128, IntegHMACSHA384_192, IntegHMACSHA512_256, IntegHMACSHA1_96, IntegAESXCBC96, IntegAESCMAC96} {
		s = append(s,
			suiteEntry{EncrAESCBC, 128, integ},
			suiteEntry{EncrAESCBC, 256, integ},
			suiteEntry{EncrAESCTR, 128, integ},
			suiteEntry{EncrAESCTR, 256, integ},
			suiteEntry{EncrNull, 0, integ},
			suiteEntry{Encr3DES, 0, integ},
		)
	}
	return s
}

func newSuite(t testing.TB, s suiteEntry) ESP {
	t.Helper()
	n, err := KeyLen(s.encr, s.bits, s.integ)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, n)
	for i := range key {
		key[i] = byte(i*7 + 1)
	}
	x, err := NewESP(s.encr, s.bits, s.integ, key, Options{AllowLegacy: true})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func (s suiteEntry) String() string { return fmt.Sprintf("%v-%d-%v", s.encr, s.bits, s.integ) }

func TestRoundTripAndTamper(t *testing.T) {
	for _, s := range allSuites() {
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/esn=%v", s, esn), func(t *testing.T) {
				x := newSuite(t, s)
				payload := make([]byte, 3*x.BlockSize()*4)
				for i := range payload {
					payload[i] = byte(i)
				}
				seq := uint64(0x1_0000_0005)
				b := espBuf(0x1234, uint32(seq), x.IVLen(), payload, x.ICVLen())
				if err := x.Seal(b, seq, esn); err != nil {
					t.Fatal(err)
				}
				sealed := append([]byte(nil), b...)
				if x.IVLen() > 0 && x.IVLen() == 8 && s.encr != Encr3DES {
					if got := binary.BigEndian.Uint64(b[8:16]); got != seq {
						t.Errorf("counter IV = %#x, want the sequence number %#x", got, seq)
					}
				}
				if err := x.Open(b, seq, esn); err != nil {
					t.Fatal(err)
				}
				if got := b[8+x.IVLen() : len(b)-x.ICVLen()]; !bytes.Equal(got, payload) {
					t.Fatalf("round trip: %x, want %x", got, payload)
				}
				for i := range sealed {
					c := append([]byte(nil), sealed...)
					c[i] ^= 0x40
					if err := x.Open(c, seq, esn); !errors.Is(err, ErrAuth) {
						t.Fatalf("byte %d flipped: Open = %v, want ErrAuth", i, err)
					}
				}
				// A different high half of the sequence number must fail
				// with ESN and must not matter without.
				c := append([]byte(nil), sealed...)
				err := x.Open(c, seq+1<<32, esn)
				if esn && !errors.Is(err, ErrAuth) {
					t.Fatalf("wrong seq-hi with ESN: %v, want ErrAuth", err)
				}
				if !esn && err != nil {
					t.Fatalf("seq-hi without ESN: %v", err)
				}
				x.Wipe()
				if err := x.Seal(b, seq, esn); !errors.Is(err, ErrWiped) {
					t.Fatalf("Seal after Wipe = %v", err)
				}
			})
		}
	}
}

func TestLengthChecks(t *testing.T) {
	for _, s := range allSuites() {
		x := newSuite(t, s)
		for _, n := range []int{0, 7, 8 + x.IVLen() + x.ICVLen() - 1} {
			if err := x.Open(make([]byte, n), 1, false); !errors.Is(err, ErrLength) {
				t.Errorf("%v: Open(%d octets) = %v, want ErrLength", s, n, err)
			}
		}
		if x.BlockSize() > 4 {
			b := make([]byte, 8+x.IVLen()+x.BlockSize()+4+x.ICVLen())
			if err := x.Seal(b, 1, false); !errors.Is(err, ErrLength) {
				t.Errorf("%v: Seal(unaligned) = %v, want ErrLength", s, err)
			}
		}
	}
}

func TestCBCRandomIV(t *testing.T) {
	x := newSuite(t, suiteEntry{EncrAESCBC, 128, IntegHMACSHA256_128})
	a := espBuf(1, 1, 16, make([]byte, 32), 16)
	b := espBuf(1, 1, 16, make([]byte, 32), 16)
	if err := x.Seal(a, 1, false); err != nil {
		t.Fatal(err)
	}
	if err := x.Seal(b, 1, false); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[8:24], b[8:24]) {
		t.Fatal("two CBC packets got the same IV")
	}
}

// TestGMACCrossCheck compares AES-GMAC with an independent computation:
// GCM with an empty plaintext over the same AAD (RFC 4543 has no vectors).
func TestGMACCrossCheck(t *testing.T) {
	key := unhex(t, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
	salt := unhex(t, "cafebabe")
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	x, err := NewESP(EncrNullAuthAESGMAC, 256, IntegNone, append(append([]byte{}, key...), salt...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, esn := range []bool{false, true} {
		seq := uint64(0xa1b2c3d4_00000007)
		payload := []byte("GMAC authenticates, does not encrypt\x01\x02\x02\x04")
		b := espBuf(0xdeadbeef, uint32(seq), 8, payload, 16)
		if err := x.Seal(b, seq, esn); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b[16:len(b)-16], payload) {
			t.Fatal("GMAC changed the payload")
		}
		aad := append([]byte(nil), b[:4]...)
		if esn {
			aad = binary.BigEndian.AppendUint32(aad, uint32(seq>>32))
		}
		aad = append(aad, b[4:len(b)-16]...)
		nonce := append(append([]byte{}, salt...), b[8:16]...)
		want := g.Seal(nil, nonce, nil, aad)
		if !bytes.Equal(b[len(b)-16:], want) {
			t.Fatalf("esn=%v: tag %x, independent GCM %x", esn, b[len(b)-16:], want)
		}
	}

	// AH: ICV field = IV | tag over the parts (and seq-hi with ESN).
	ah, err := NewIntegrity(IntegAES256GMAC, append(append([]byte{}, key...), salt...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ah.ICVLen() != 24 {
		t.Fatalf("AH GMAC ICVLen = %d, want 24", ah.ICVLen())
	}
	hdr, body := []byte("ip header, zeroed fields"), []byte("payload")
	for _, esn := range []bool{false, true} {
		seq := uint64(0x00000002_00000009)
		icv := make([]byte, 24)
		if err := ah.Sum(icv, seq, esn, hdr, body); err != nil {
			t.Fatal(err)
		}
		if got := binary.BigEndian.Uint64(icv[:8]); got != seq {
			t.Fatalf("AH GMAC IV %#x, want %#x", got, seq)
		}
		aad := append(append([]byte{}, hdr...), body...)
		if esn {
			aad = binary.BigEndian.AppendUint32(aad, uint32(seq>>32))
		}
		want := g.Seal(nil, append(append([]byte{}, salt...), icv[:8]...), nil, aad)
		if !bytes.Equal(icv[8:], want) {
			t.Fatalf("esn=%v: AH tag %x, independent GCM %x", esn, icv[8:], want)
		}
		if err := ah.Verify(icv, seq, esn, hdr, body); err != nil {
			t.Fatal(err)
		}
		icv[3] ^= 1 // the IV is an input: changing it must fail
		if err := ah.Verify(icv, seq, esn, hdr, body); !errors.Is(err, ErrAuth) {
			t.Fatalf("tampered IV: %v", err)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	for _, s := range allSuites() {
		for _, esn := range []bool{false, true} {
			x := newSuite(t, s)
			b := espBuf(1, 1, x.IVLen(), make([]byte, 1408), x.ICVLen())
			n := testing.AllocsPerRun(50, func() {
				if err := x.Seal(b, 7, esn); err != nil {
					t.Fatal(err)
				}
				if err := x.Open(b, 7, esn); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%v esn=%v: %.1f allocations per Seal+Open", s, esn, n)
			}
		}
	}
	ah, _ := NewIntegrity(IntegHMACSHA256_128, make([]byte, 32), Options{})
	gm, _ := NewIntegrity(IntegAES128GMAC, make([]byte, 20), Options{})
	xc, _ := NewIntegrity(IntegAESXCBC96, make([]byte, 16), Options{})
	cm, _ := NewIntegrity(IntegAESCMAC96, make([]byte, 16), Options{})
	parts := [][]byte{make([]byte, 20), make([]byte, 24), make([]byte, 1400)}
	icv := make([]byte, 24)
	for _, x := range []Integrity{ah, gm, xc, cm} {
		n := testing.AllocsPerRun(50, func() {
			_ = x.Sum(icv, 3, true, parts...)
			if err := x.Verify(icv, 3, true, parts...); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s: %.1f allocations per Sum+Verify", x.Name(), n)
		}
	}
}

// TestOpenTo checks every out-of-place opener against Open in place: the
// same payload and header in dst, src left as it was, a flipped octet
// refused, a short dst refused, and no allocation.
func TestOpenTo(t *testing.T) {
	var n int
	for _, s := range allSuites() {
		x := newSuite(t, s)
		o, ok := x.(OpenerTo)
		if !ok {
			continue
		}
		n++
		for _, esn := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/esn=%v", s, esn), func(t *testing.T) {
				payload := make([]byte, 1400)
				for i := range payload {
					payload[i] = byte(i * 3)
				}
				seq := uint64(0x2_0000_0009)
				src := espBuf(0x4321, uint32(seq), x.IVLen(), payload, x.ICVLen())
				if err := x.Seal(src, seq, esn); err != nil {
					t.Fatal(err)
				}
				sealed := append([]byte(nil), src...)
				dst := make([]byte, len(src)+32)
				if err := o.OpenTo(dst, src, seq, esn); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(src, sealed) {
					t.Fatal("OpenTo changed its source")
				}
				if !bytes.Equal(dst[:16], src[:16]) {
					t.Errorf("header and IV %x, want %x", dst[:16], src[:16])
				}
				if got := dst[8+x.IVLen() : len(src)-x.ICVLen()]; !bytes.Equal(got, payload) {
					t.Fatal("OpenTo's payload differs from the plaintext")
				}
				for _, i := range []int{0, 9, 20, len(src) - 1} {
					c := append([]byte(nil), sealed...)
					c[i] ^= 0x08
					if err := o.OpenTo(dst, c, seq, esn); !errors.Is(err, ErrAuth) {
						t.Fatalf("octet %d flipped: OpenTo = %v, want ErrAuth", i, err)
					}
				}
				if err := o.OpenTo(dst[:len(src)-1], src, seq, esn); !errors.Is(err, ErrLength) {
					t.Fatalf("short dst: %v, want ErrLength", err)
				}
				if a := testing.AllocsPerRun(20, func() { _ = o.OpenTo(dst, src, seq, esn) }); a != 0 && !raceEnabled {
					t.Errorf("%v allocations per OpenTo", a)
				}
			})
		}
	}
	if n == 0 {
		t.Fatal("no transform opens out of place")
	}
}
