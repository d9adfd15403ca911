package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// RFC 4868 section 2.7.1 PRF test vectors (the RFC 4231 HMAC cases).
func TestPRFKnownAnswers(t *testing.T) {
	cases := []struct {
		key, data string
		want      [3]string // SHA2-256, -384, -512
	}{
		{strings.Repeat("\x0b", 20), "Hi There", [3]string{
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
			"afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
			"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"}},
		{"Jefe", "what do ya want for nothing?", [3]string{
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
			"af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
			"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"}},
		{strings.Repeat("\xaa", 131), "Test Using Larger Than Block-Size Key - Hash Key First", [3]string{
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
			"4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
			"80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"}},
	}
	for _, c := range cases {
		for i, id := range []uint16{PRFHMACSHA2256, PRFHMACSHA2384, PRFHMACSHA2512} {
			p, err := NewPRF(id, PRFOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Split the data to check that the parts are concatenated.
			d := []byte(c.data)
			got := hex.EncodeToString(p.Sum(nil, []byte(c.key), d[:3], d[3:]))
			if got != c.want[i] {
				t.Errorf("%s(%q) = %s, want %s", p, c.data, got, c.want[i])
			}
		}
	}
}

func TestPRFLegacySHA1NeedsSwitch(t *testing.T) {
	if _, err := NewPRF(PRFHMACSHA1, PRFOptions{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("PRF_HMAC_SHA1 without the switch: %v, want ErrUnsupported", err)
	}
	p, err := NewPRF(PRFHMACSHA1, PRFOptions{AllowLegacySHA1: true})
	if err != nil {
		t.Fatal(err)
	}
	// RFC 2202 test case 2.
	if got := hex.EncodeToString(p.Sum(nil, []byte("Jefe"), []byte("what do ya want for nothing?"))); got != "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" {
		t.Errorf("HMAC-SHA1 = %s", got)
	}
	if _, err := NewPRF(1, PRFOptions{AllowLegacySHA1: true}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("PRF_HMAC_MD5: %v, want ErrUnsupported", err)
	}
}

func TestPRFPlus(t *testing.T) {
	p, _ := NewPRF(PRFHMACSHA2256, PRFOptions{})
	key, seed := []byte("key"), []byte("seed")
	long, err := p.Plus(key, 100, seed)
	if err != nil {
		t.Fatal(err)
	}
	// T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02), ...
	t1 := p.Sum(nil, key, seed, []byte{1})
	t2 := p.Sum(nil, key, t1, seed, []byte{2})
	if !bytes.Equal(long[:32], t1) || !bytes.Equal(long[32:64], t2) {
		t.Fatalf("prf+ blocks do not follow RFC 7296 section 2.13")
	}
	short, _ := p.Plus(key, 33, seed[:2], seed[2:])
	if !bytes.Equal(short, long[:33]) {
		t.Errorf("prf+ of 33 octets is not a prefix of prf+ of 100 octets")
	}
	if _, err := p.Plus(key, 255*32, seed); err != nil {
		t.Errorf("255 blocks: %v", err)
	}
	if _, err := p.Plus(key, 255*32+1, seed); !errors.Is(err, ErrPRFPlusTooLong) {
		t.Errorf("256 blocks: %v, want ErrPRFPlusTooLong", err)
	}
}
