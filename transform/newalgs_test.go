package transform

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func seqBytes(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(hex.EncodeToString([]byte{byte(i)}))
	}
	return b.String()
}

// TestXCBCVectors: RFC 3566 section 4.6, test cases 1-7 (the full 128-bit
// MAC; AES-XCBC-MAC-96 is its first 12 octets).
func TestXCBCVectors(t *testing.T) {
	key := "000102030405060708090a0b0c0d0e0f"
	for _, c := range []struct{ msg, mac string }{
		{"", "75f0251d528ac01c4573dfd584d79f29"},
		{seqBytes(3), "5b376580ae2f19afe7219ceef172756f"},
		{seqBytes(16), "d2a246fa349b68a79998a4394ff7a263"},
		{seqBytes(20), "47f51b4564966215b8985c63055ed308"},
		{seqBytes(32), "f54f0ec8d2b9f3d36807734bd5283fd4"},
		{seqBytes(34), "becbb3bccdb518a30677d5481fb6b4d8"},
		{strings.Repeat("00", 1000), "f0dafee895db30253761103b5d84528f"},
	} {
		m, err := newXCBC(unhex(t, key))
		if err != nil {
			t.Fatal(err)
		}
		checkMAC(t, "XCBC", m, unhex(t, c.msg), unhex(t, c.mac))
		checkIntegrity(t, IntegAESXCBC96, unhex(t, key), unhex(t, c.msg), unhex(t, c.mac)[:12])
	}
}

// TestCMACVectors: RFC 4493 section 4, examples 1-4 (RFC 4494's
// AES-CMAC-96 is the first 12 octets, its section 3 repeats them).
func TestCMACVectors(t *testing.T) {
	key := "2b7e151628aed2a6abf7158809cf4f3c"
	msg := "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
	m, err := newCMAC(unhex(t, key))
	if err != nil {
		t.Fatal(err)
	}
	if k1, k2 := hex.EncodeToString(m.complete[:]), hex.EncodeToString(m.partial[:]); k1 != "fbeed618357133667c85e08f7236a8de" || k2 != "f7ddac306ae266ccf90bc11ee46d513b" {
		t.Errorf("subkeys K1 %s K2 %s", k1, k2)
	}
	for _, c := range []struct {
		n   int
		mac string
	}{
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		m, _ := newCMAC(unhex(t, key))
		data := unhex(t, msg)[:c.n]
		checkMAC(t, "CMAC", m, data, unhex(t, c.mac))
		checkIntegrity(t, IntegAESCMAC96, unhex(t, key), data, unhex(t, c.mac)[:12])
	}
}

// checkMAC feeds msg whole and octet by octet, and after a Reset.
func checkMAC(t *testing.T, name string, m *aesMAC, msg, want []byte) {
	t.Helper()
	m.Write(msg)
	if got := m.Sum(nil); !bytes.Equal(got, want) {
		t.Errorf("%s(%d octets) = %x, want %x", name, len(msg), got, want)
	}
	m.Reset()
	for i := range msg {
		m.Write(msg[i : i+1])
	}
	if got := m.Sum(nil); !bytes.Equal(got, want) {
		t.Errorf("%s(%d octets, one at a time) = %x, want %x", name, len(msg), got, want)
	}
}

// checkIntegrity runs the vector through the AH Integrity interface: Sum
// gives the truncated MAC, Verify takes it and refuses a flipped bit.
func checkIntegrity(t *testing.T, integ IntegID, key, msg, want []byte) {
	t.Helper()
	x, err := NewIntegrity(integ, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if x.ICVLen() != 12 {
		t.Errorf("%s: ICV length %d, want 12", x.Name(), x.ICVLen())
	}
	icv := make([]byte, 12)
	if err := x.Sum(icv, 1, false, msg); err != nil || !bytes.Equal(icv, want) {
		t.Errorf("%s: Sum = %x (%v), want %x", x.Name(), icv, err, want)
	}
	if err := x.Verify(icv, 1, false, msg); err != nil {
		t.Errorf("%s: Verify: %v", x.Name(), err)
	}
	icv[11] ^= 1
	if err := x.Verify(icv, 1, false, msg); !errors.Is(err, ErrAuth) {
		t.Errorf("%s: Verify of a flipped ICV = %v", x.Name(), err)
	}
}

// ccmCases: RFC 3610 section 8 packet vector #1 (13-octet nonce, 8-octet
// tag, the first 8 octets authenticated only) and NIST SP 800-38C appendix
// C examples 1-3 (nonces of 7, 8 and 12 octets, tags of 4, 6 and 8).
var ccmCases = []struct {
	key, nonce, aad, pt, ct string
	tag                     int
}{
	{"c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000003020100a0a1a2a3a4a5", "0001020304050607",
		"08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
		"588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0", 8},
	{"404142434445464748494a4b4c4d4e4f", "10111213141516", "0001020304050607", "20212223", "7162015b4dac255d", 4},
	{"404142434445464748494a4b4c4d4e4f", "1011121314151617", "000102030405060708090a0b0c0d0e0f",
		"202122232425262728292a2b2c2d2e2f", "d2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd", 6},
	{"404142434445464748494a4b4c4d4e4f", "101112131415161718191a1b", "000102030405060708090a0b0c0d0e0f10111213",
		"202122232425262728292a2b2c2d2e2f3031323334353637",
		"e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951", 8},
}

func TestCCMVectors(t *testing.T) {
	for i, c := range ccmCases {
		blk, _ := aes.NewCipher(unhex(t, c.key))
		nonce := unhex(t, c.nonce)
		a, err := newCCM(blk, len(nonce), c.tag)
		if err != nil {
			t.Fatal(err)
		}
		pt, want, aad := unhex(t, c.pt), unhex(t, c.ct), unhex(t, c.aad)
		got := a.Seal(nil, nonce, pt, aad)
		if !bytes.Equal(got, want) {
			t.Errorf("case %d: Seal = %x, want %x", i, got, want)
		}
		// in place, as ESP uses it
		buf := append(bytes.Clone(pt), make([]byte, c.tag)...)
		a.Seal(buf[:0], nonce, buf[:len(pt)], aad)
		if !bytes.Equal(buf, want) {
			t.Errorf("case %d: Seal in place = %x, want %x", i, buf, want)
		}
		out, err := a.Open(buf[:0], nonce, buf, aad)
		if err != nil || !bytes.Equal(out, pt) {
			t.Errorf("case %d: Open = %x, %v; want %x", i, out, err, pt)
		}
		for j := range want {
			bad := bytes.Clone(want)
			bad[j] ^= 0x80
			if out, err := a.Open(nil, nonce, bad, aad); err == nil {
				t.Fatalf("case %d: octet %d flipped: Open accepted %x", i, j, out)
			}
		}
	}
}

// TestGCMTruncatedICV: AES-GCM with 8- and 12-octet ICVs (RFC 4106 section
// 3) gives the McGrew & Viega vectors' tags cut to their first 8 or 12
// octets (NIST SP 800-38D section 5.2.1.2), for every case with a 96-bit
// IV, and opens only with the right truncated tag.
func TestGCMTruncatedICV(t *testing.T) {
	n := 0
	for i, c := range gcmSpecCases {
		iv := unhex(t, c.iv)
		if len(iv) != 12 {
			continue
		}
		n++
		blk, _ := aes.NewCipher(unhex(t, c.key))
		pt, aad, ct, tag := unhex(t, c.pt), unhex(t, c.aad), unhex(t, c.ct), unhex(t, c.tag)
		for _, tl := range []int{8, 12} {
			g, err := newGCM(blk, tl)
			if err != nil {
				t.Fatal(err)
			}
			want := append(bytes.Clone(ct), tag[:tl]...)
			if got := g.Seal(nil, iv, pt, aad); !bytes.Equal(got, want) {
				t.Errorf("case %d, %d-octet tag: Seal = %x, want %x", i+1, tl, got, want)
			}
			buf := bytes.Clone(want)
			out, err := g.Open(buf[:0], iv, buf, aad)
			if err != nil || !bytes.Equal(out, pt) {
				t.Errorf("case %d, %d-octet tag: Open = %x, %v", i+1, tl, out, err)
			}
			bad := bytes.Clone(want)
			bad[len(bad)-1] ^= 1
			if _, err := g.Open(nil, iv, bad, aad); err == nil {
				t.Errorf("case %d, %d-octet tag: a flipped tag opened", i+1, tl)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d vectors with a 96-bit IV", n)
	}
}

// TestNewAlgorithmKeyLengths: what IKE derives for each (RFC 4309 section
// 7.1: CCM takes a 3-octet salt; RFC 4106: GCM a 4-octet one; RFC 3566 and
// RFC 4494: 16-octet integrity keys).
func TestNewAlgorithmKeyLengths(t *testing.T) {
	for _, c := range []struct {
		encr  EncrID
		bits  int
		integ IntegID
		n     int
	}{
		{EncrAESCCM8, 128, IntegNone, 19},
		{EncrAESCCM16, 256, IntegNone, 35},
		{EncrAESGCM8, 192, IntegNone, 28},
		{EncrAESGCM12, 128, IntegNone, 20},
		{EncrAESCBC, 128, IntegAESXCBC96, 32},
		{EncrAESCTR, 256, IntegAESCMAC96, 36 + 16},
		{EncrNull, 0, IntegAESXCBC96, 16},
	} {
		if n, err := KeyLen(c.encr, c.bits, c.integ); n != c.n || err != nil {
			t.Errorf("KeyLen(%v %d %v) = %d, %v; want %d", c.encr, c.bits, c.integ, n, err, c.n)
		}
	}
	if _, err := NewESP(EncrAESCCM16, 128, IntegAESXCBC96, make([]byte, 19+16), Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("CCM with an integrity algorithm: %v", err)
	}
}

var _ cipher.AEAD = (*ccm)(nil)
var _ cipher.AEAD = (*truncGCM)(nil)
