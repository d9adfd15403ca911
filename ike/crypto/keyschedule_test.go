package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/cygnet-ipsec/cygnet/iana"
	"strings"
	"testing"
)

var testSuite = Suite{Encr: EncrAESCBC, EncrKeyBits: 128, Integ: IntegHMACSHA256128, PRF: PRFHMACSHA2256}

func testKeys(t testing.TB, s Suite) *IKESAKeys {
	t.Helper()
	k, err := DeriveIKESAKeys(s, bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), 0x1122334455667788, 0x99aabbccddeeff00)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestIKESAKeyLengths(t *testing.T) {
	for _, c := range []struct {
		s    Suite
		lens map[string]int
	}{
		{Suite{Encr: EncrAESGCM16, EncrKeyBits: 128, PRF: PRFHMACSHA2256}, map[string]int{"SK_d": 32, "SK_ei": 20, "SK_er": 20, "SK_pi": 32, "SK_pr": 32}},
		{Suite{Encr: EncrAESGCM16, EncrKeyBits: 256, PRF: PRFHMACSHA2512}, map[string]int{"SK_d": 64, "SK_ei": 36, "SK_er": 36, "SK_pi": 64, "SK_pr": 64}},
		{Suite{Encr: EncrChaCha20Poly1305, PRF: PRFHMACSHA2384}, map[string]int{"SK_d": 48, "SK_ei": 36, "SK_er": 36, "SK_pi": 48, "SK_pr": 48}},
		{Suite{Encr: EncrAESCBC, EncrKeyBits: 192, Integ: IntegHMACSHA512256, PRF: PRFHMACSHA2256}, map[string]int{"SK_d": 32, "SK_ai": 64, "SK_ar": 64, "SK_ei": 24, "SK_er": 24, "SK_pi": 32, "SK_pr": 32}},
	} {
		got := map[string]int{}
		testKeys(t, c.s).RevealKeys(func(l string, b []byte) { got[l] = len(b) })
		if fmt.Sprint(got) != fmt.Sprint(c.lens) {
			t.Errorf("%+v: key lengths %v, want %v", c.s, got, c.lens)
		}
	}
}

func TestIKESAKeysRejectBadSuites(t *testing.T) {
	for _, s := range []Suite{
		{Encr: EncrAESGCM16, EncrKeyBits: 128, Integ: IntegHMACSHA256128, PRF: PRFHMACSHA2256}, // AEAD with integrity
		{Encr: EncrAESCBC, EncrKeyBits: 128, PRF: PRFHMACSHA2256},                              // CBC without integrity
		{Encr: EncrAESCBC, EncrKeyBits: 100, Integ: IntegHMACSHA256128, PRF: PRFHMACSHA2256},   // bad key length
		{Encr: EncrNull, Integ: IntegHMACSHA256128, PRF: PRFHMACSHA2256},                       // no encryption
		{Encr: EncrAESCBC, EncrKeyBits: 128, Integ: IntegHMACSHA256128, PRF: PRFHMACSHA1},      // legacy PRF
	} {
		if _, err := DeriveIKESAKeys(s, []byte{1}, []byte{2}, []byte{3}, 1, 2); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%+v: %v, want ErrUnsupported", s, err)
		}
	}
	s := testSuite
	s.PRF, s.AllowLegacySHA1 = PRFHMACSHA1, true
	if _, err := DeriveIKESAKeys(s, []byte{1}, []byte{2}, []byte{3}, 1, 2); err != nil {
		t.Errorf("legacy PRF with the switch: %v", err)
	}
}

// RFC 9370 section 2.2.2: after an additional key exchange in
// IKE_INTERMEDIATE, SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr) and all keys
// are recomputed with prf+ as usual.
func TestAdditionalKeyExchange(t *testing.T) {
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	k0 := testKeys(t, testSuite)
	mlkemSecret := bytes.Repeat([]byte{9}, 32)
	k1, err := k0.AdditionalKeyExchange(mlkemSecret, ni, nr, 0x1122334455667788, 0x99aabbccddeeff00)
	if err != nil {
		t.Fatal(err)
	}
	var skd0 []byte
	k0.RevealKeys(func(l string, b []byte) {
		if l == "SK_d" {
			skd0 = bytes.Clone(b)
		}
	})
	p := k0.PRF()
	skeyseed := p.Sum(nil, skd0, mlkemSecret, ni, nr)
	want, err := expandIKESAKeys(testSuite, p, skeyseed, ni, nr, 0x1122334455667788, 0x99aabbccddeeff00)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.m.buf, want.m.buf) {
		t.Fatal("keys after additional key exchange do not follow RFC 9370")
	}
	if bytes.Equal(k1.m.buf, k0.m.buf) {
		t.Fatal("additional key exchange did not change the keys")
	}
}

// RFC 9370 section 2.2.4: with additional key exchanges in a rekey, the seed
// is SK(0) | Ni | Nr | SK(1) | ... | SK(n).
func TestRekeyAndChildWithAdditionalKeyExchanges(t *testing.T) {
	k := testKeys(t, testSuite)
	ni, nr := []byte("nonce-i"), []byte("nonce-r")
	sk0, sk1 := []byte("sk0"), []byte("sk1")
	p := k.PRF()
	skd := bytes.Clone(k.m.d())

	r, err := k.Rekey(testSuite, ni, nr, 5, 6, sk0, sk1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := expandIKESAKeys(testSuite, p, p.Sum(nil, skd, sk0, ni, nr, sk1), ni, nr, 5, 6)
	if !bytes.Equal(r.m.buf, want.m.buf) {
		t.Error("IKE SA rekey with additional key exchange: wrong SKEYSEED seed order")
	}

	c, err := k.DeriveChildSAKeys(ChildSuite{Encr: EncrAESGCM16, EncrKeyBits: 128}, ni, nr, sk0, sk1)
	if err != nil {
		t.Fatal(err)
	}
	km, _ := p.Plus(skd, 40, sk0, ni, nr, sk1)
	if !bytes.Equal(c.m.buf, km) {
		t.Error("Child SA KEYMAT with additional key exchange: wrong seed order")
	}
	ei, ai := c.InitiatorToResponder()
	er, ar := c.ResponderToInitiator()
	if !bytes.Equal(ei, km[:20]) || !bytes.Equal(er, km[20:]) || len(ai) != 0 || len(ar) != 0 {
		t.Error("Child SA keys not cut in RFC 7296 section 2.17 order")
	}
}

func TestChildSAKeyOrder(t *testing.T) {
	k := testKeys(t, testSuite)
	c, err := k.DeriveChildSAKeys(ChildSuite{Encr: EncrAESCBC, EncrKeyBits: 128, Integ: IntegHMACSHA256128}, []byte("ni"), []byte("nr"))
	if err != nil {
		t.Fatal(err)
	}
	km, _ := k.PRF().Plus(k.m.d(), 2*(16+32), []byte("ni"), []byte("nr"))
	ei, ai := c.InitiatorToResponder()
	er, ar := c.ResponderToInitiator()
	got := append(append(append(bytes.Clone(ei), ai...), er...), ar...)
	if !bytes.Equal(got, km) || len(ei) != 16 || len(ai) != 32 {
		t.Errorf("KEYMAT not split as encr_i | integ_i | encr_r | integ_r")
	}
	if _, err := k.DeriveChildSAKeys(ChildSuite{Encr: 99}, nil, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown cipher: %v", err)
	}
	if _, err := k.DeriveChildSAKeys(ChildSuite{Encr: EncrAESGCM16, EncrKeyBits: 128}, nil, nil, nil); err == nil {
		t.Errorf("empty shared secret accepted")
	}
}

func TestKeysNeverPrinted(t *testing.T) {
	k := testKeys(t, testSuite)
	c, _ := k.DeriveChildSAKeys(ChildSuite{Encr: EncrAESGCM16, EncrKeyBits: 128}, []byte("a"), []byte("b"))
	out, in, err := k.Protectors(true, bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		K  *IKESAKeys
		V  IKESAKeys
		C  *ChildSAKeys
		P  *Protector
		PV Protector
		I  *Protector
	}
	h := holder{K: k, V: *k, C: c, P: out, PV: *out, I: in}
	var secrets [][]byte
	k.RevealKeys(func(_ string, b []byte) { secrets = append(secrets, bytes.Clone(b)) })
	c.RevealKeys(func(_ string, b []byte) { secrets = append(secrets, bytes.Clone(b)) })
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, v := range []any{k, c, out, h} {
			s := fmt.Sprintf(verb, v)
			for _, sec := range secrets {
				if strings.Contains(strings.ToLower(s), fmt.Sprintf("%x", sec[:8])) || strings.Contains(s, fmt.Sprint(sec[:4])) ||
					strings.Contains(s, fmt.Sprintf("%q", sec[:4])) {
					t.Fatalf("%s of %T leaks key material: %s", verb, v, s)
				}
			}
		}
	}
	if s := k.String(); !strings.Contains(s, "PRF_HMAC_SHA2_256") || !strings.Contains(s, "redacted") {
		t.Errorf("String() = %q", s)
	}
}

func TestWipe(t *testing.T) {
	k := testKeys(t, testSuite)
	buf := k.m.buf
	k.Wipe()
	if !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Fatal("Wipe left key material")
	}
	k.Wipe() // idempotent
	if _, err := k.DeriveChildSAKeys(ChildSuite{}, nil, nil); !errors.Is(err, ErrWiped) {
		t.Errorf("DeriveChildSAKeys after Wipe: %v", err)
	}
	if _, _, err := k.Protectors(true, nil); !errors.Is(err, ErrWiped) {
		t.Errorf("Protectors after Wipe: %v", err)
	}
	if _, err := k.Rekey(testSuite, nil, nil, 1, 2, []byte{1}); !errors.Is(err, ErrWiped) {
		t.Errorf("Rekey after Wipe: %v", err)
	}
	if s := fmt.Sprint(k); s != "IKESAKeys{wiped}" {
		t.Errorf("wiped keys print as %q", s)
	}
	k2 := testKeys(t, testSuite)
	c, _ := k2.DeriveChildSAKeys(ChildSuite{Encr: EncrAESGCM16, EncrKeyBits: 128}, []byte("a"), []byte("b"))
	cb := c.m.buf
	c.Wipe()
	if !bytes.Equal(cb, make([]byte, len(cb))) {
		t.Fatal("ChildSAKeys.Wipe left key material")
	}
	if e, i := c.InitiatorToResponder(); e != nil || i != nil {
		t.Error("wiped Child SA keys still returned")
	}
}

// TestChildSAKeysAH: an AH Child SA takes integrity keys only, AES-GMAC's
// with its 4-octet salt (RFC 4543 section 4), from KEYMAT; AES-XCBC-96 and
// AES-CMAC-96 take 128-bit keys.
func TestChildSAKeysAH(t *testing.T) {
	k := testKeys(t, testSuite)
	for _, c := range []struct {
		integ uint16
		n     int
	}{
		{IntegHMACSHA256128, 32},
		{uint16(iana.AUTH_AES_128_GMAC), 20},
		{uint16(iana.AUTH_AES_192_GMAC), 28},
		{uint16(iana.AUTH_AES_256_GMAC), 36},
		{uint16(iana.AUTH_AES_XCBC_96), 16},
		{uint16(iana.AUTH_AES_CMAC_96), 16},
	} {
		keys, err := k.DeriveChildSAKeys(ChildSuite{Integ: c.integ}, []byte("ni"), []byte("nr"))
		if err != nil {
			t.Fatalf("%v: %v", iana.IntegID(c.integ), err)
		}
		km, _ := k.PRF().Plus(k.m.d(), 2*c.n, []byte("ni"), []byte("nr"))
		ei, ai := keys.InitiatorToResponder()
		er, ar := keys.ResponderToInitiator()
		if len(ei) != 0 || len(er) != 0 || !bytes.Equal(ai, km[:c.n]) || !bytes.Equal(ar, km[c.n:]) {
			t.Errorf("%v: keys %d/%d octets, want integrity keys of %d cut from KEYMAT", iana.IntegID(c.integ), len(ai), len(ar), c.n)
		}
	}
}

// TestChildSAKeysCCM: AES-CCM in ESP takes the key and a 3-octet salt per
// direction (RFC 4309 section 7.1).
func TestChildSAKeysCCM(t *testing.T) {
	k := testKeys(t, testSuite)
	for _, bits := range []int{128, 192, 256} {
		keys, err := k.DeriveChildSAKeys(ChildSuite{Encr: uint16(iana.ENCR_AES_CCM_16), EncrKeyBits: bits}, []byte("ni"), []byte("nr"))
		if err != nil {
			t.Fatal(err)
		}
		ei, ai := keys.InitiatorToResponder()
		if len(ei) != bits/8+3 || len(ai) != 0 {
			t.Errorf("CCM %d: %d+%d octets, want %d+0", bits, len(ei), len(ai), bits/8+3)
		}
	}
}
