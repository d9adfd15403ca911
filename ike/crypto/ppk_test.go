package crypto

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"testing"
)

// TestWithPPKKnownAnswer checks the RFC 8784 section 3 key update against
// values computed outside Go (Python's hmac, the RFC 7296 key schedule of
// testKeys then SK_x = prf+(PPK, SK_x') with HMAC-SHA-256).
func TestWithPPKKnownAnswer(t *testing.T) {
	k := testKeys(t, testSuite)
	ppk := []byte("this is a postquantum preshared key, 32+ octets")
	before := keyMap(k)
	p, err := k.WithPPK(ppk)
	if err != nil {
		t.Fatal(err)
	}
	got := keyMap(p)
	want := map[string]string{
		"SK_d":  "e0a049fd3fad9377c85cef300c1f5dd84ae37790fbca31beb827a7842ded6def",
		"SK_pi": "7278beb064b45928027ec2dd0eaf7547f30c850f784603cda718e4629990a981",
		"SK_pr": "7d7fa2bf61d892b4db79afb4ea92f10330123b494ba18c892268f73c28bdf926",
	}
	for l, w := range want {
		if got[l] != w {
			t.Errorf("%s = %s, want %s", l, got[l], w)
		}
	}
	// SK_a and SK_e protect IKE_AUTH and stay; the old keys stay intact for
	// the initiator's NO_PPK_AUTH and its fallback.
	for _, l := range []string{"SK_ai", "SK_ar", "SK_ei", "SK_er"} {
		if got[l] != before[l] {
			t.Errorf("%s changed with the PPK", l)
		}
	}
	if after := keyMap(k); after["SK_d"] != before["SK_d"] || after["SK_pi"] != before["SK_pi"] {
		t.Error("WithPPK changed the keys it was called on")
	}
	p.Wipe()
	if after := keyMap(k); after["SK_pr"] != before["SK_pr"] {
		t.Error("wiping the PPK keys wiped the original ones")
	}
}

// TestWithPPKSHA512 checks the formula with a 64-octet PRF, one prf+ block,
// against crypto/hmac: T1 = prf(PPK, SK_x' | 0x01).
func TestWithPPKSHA512(t *testing.T) {
	k := testKeys(t, Suite{Encr: EncrAESGCM16, EncrKeyBits: 256, PRF: PRFHMACSHA2512})
	ppk := []byte("0123456789abcdef0123456789abcdef")
	before := keyMap(k)
	p, err := k.WithPPK(ppk)
	if err != nil {
		t.Fatal(err)
	}
	got := keyMap(p)
	for _, l := range []string{"SK_d", "SK_pi", "SK_pr"} {
		old, _ := hex.DecodeString(before[l])
		m := hmac.New(sha512.New, ppk)
		m.Write(old)
		m.Write([]byte{1})
		if w := hex.EncodeToString(m.Sum(nil)); got[l] != w {
			t.Errorf("%s = %s, want %s", l, got[l], w)
		}
	}
	if _, err := k.WithPPK(nil); err == nil {
		t.Error("an empty PPK was accepted")
	}
	k.Wipe()
	if _, err := k.WithPPK(ppk); err == nil {
		t.Error("WithPPK on wiped keys succeeded")
	}
}

func keyMap(k *IKESAKeys) map[string]string {
	out := map[string]string{}
	k.RevealKeys(func(l string, b []byte) { out[l] = hex.EncodeToString(b) })
	return out
}
