package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// TestLegacyKeyLengths: the legacy suites native clients default to cut
// 24-octet 3DES keys (RFC 2451, no Key Length attribute) and 20-octet
// HMAC-SHA1-96 keys (RFC 2404), for IKE and Child SAs alike.
func TestLegacyKeyLengths(t *testing.T) {
	if n, salt, aead, err := EncrKeyLen(Encr3DES, 0); n != 24 || salt != 0 || aead || err != nil {
		t.Fatalf("3DES: %d octets, salt %d, aead %v, %v; want 24", n, salt, aead, err)
	}
	if _, _, _, err := EncrKeyLen(Encr3DES, 128); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("3DES with a 128-bit key length: %v, want ErrUnsupported", err)
	}
	if n, err := childEncrKeyLen(Encr3DES, 0); n != 24 || err != nil {
		t.Fatalf("3DES Child SA key: %d octets, %v; want 24", n, err)
	}
	if n, err := IntegKeyLen(IntegHMACSHA196); n != 20 || err != nil {
		t.Fatalf("HMAC-SHA1-96 key: %d octets, %v; want 20", n, err)
	}
}

// TestPRFHMACSHA1RFC2202: PRF_HMAC_SHA1 against RFC 2202 section 3.
func TestPRFHMACSHA1RFC2202(t *testing.T) {
	p, err := NewPRF(PRFHMACSHA1, PRFOptions{AllowLegacySHA1: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ key, data, want string }{
		{"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", hex.EncodeToString([]byte("Hi There")), "b617318655057264e28bc0b6fb378c8ef146be00"},
		{hex.EncodeToString([]byte("Jefe")), hex.EncodeToString([]byte("what do ya want for nothing?")), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", hex.EncodeToString(bytes.Repeat([]byte{0xdd}, 50)), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
		{"0102030405060708090a0b0c0d0e0f10111213141516171819", hex.EncodeToString(bytes.Repeat([]byte{0xcd}, 50)), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
	} {
		if got := hex.EncodeToString(p.Sum(nil, unhex(t, c.key), unhex(t, c.data))); got != c.want {
			t.Errorf("RFC 2202 case %d: HMAC-SHA1 = %s, want %s", i+1, got, c.want)
		}
	}
	if MinNonceLen(PRFHMACSHA1) != 16 {
		t.Errorf("minimum nonce for PRF_HMAC_SHA1 = %d, want 16", MinNonceLen(PRFHMACSHA1))
	}
}

// TestProtectorHMACSHA196RFC2202: the SK payload's ICV with
// AUTH_HMAC_SHA1_96 is HMAC-SHA1 over the header and the body before the
// ICV, truncated to 96 bits (RFC 2404): RFC 2202's truncation vectors
// split into header (ad) and body verify, one flipped ICV bit does not.
func TestProtectorHMACSHA196RFC2202(t *testing.T) {
	for _, c := range []struct {
		name       string
		encr       uint16
		bits       int
		encrKeyLen int
		integKey   []byte
		data       []byte
		adLen      int
		icv        string
	}{
		// RFC 2202 case 5 ("Test With Truncation", HMAC-SHA-1-96):
		// 4 octets of header, an 8-octet IV and one 3DES block.
		{"3des-sha1", Encr3DES, 0, 24, bytes.Repeat([]byte{0x0c}, 20), []byte("Test With Truncation"), 4, "4c1a03424b55e07fe7f27be1"},
		// RFC 2202 case 3, truncated: 18 octets of header, a 16-octet
		// IV and one AES block.
		{"aes128-sha1", EncrAESCBC, 128, 16, bytes.Repeat([]byte{0xaa}, 20), bytes.Repeat([]byte{0xdd}, 50), 18, "125d7342b9ac11cd91a39af4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := NewProtector(c.encr, c.bits, IntegHMACSHA196, make([]byte, c.encrKeyLen), c.integKey, bytes.NewReader(nil))
			if err != nil {
				t.Fatal(err)
			}
			if p.ICVLen() != 12 {
				t.Fatalf("ICV %d octets, want 12", p.ICVLen())
			}
			ad := c.data[:c.adLen]
			body := append(bytes.Clone(c.data[c.adLen:]), unhex(t, c.icv)...)
			if _, err := p.Open(nil, ad, body); errors.Is(err, ErrIntegrity) {
				t.Fatalf("RFC 2202 ICV refused: %v", err)
			}
			body[len(body)-1] ^= 1
			if _, err := p.Open(nil, ad, body); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("flipped ICV: %v, want ErrIntegrity", err)
			}
		})
	}
}

// TestProtector3DESNIST: the SK payload's 3DES-CBC is TDEA with three
// independent keys (keying option 1); with an all-zero IV the first
// ciphertext block is the TDEA encryption of the first plaintext block,
// NIST SP 800-67 Rev. 1's example ("The qufck brown fox jump").
func TestProtector3DESNIST(t *testing.T) {
	key := unhex(t, "0123456789ABCDEF"+"23456789ABCDEF01"+"456789ABCDEF0123")
	p, err := NewProtector(Encr3DES, 0, IntegHMACSHA196, key, make([]byte, 20), bytes.NewReader(make([]byte, 8)))
	if err != nil {
		t.Fatal(err)
	}
	if p.IVLen() != 8 {
		t.Fatalf("IV %d octets, want 8 (one DES block)", p.IVLen())
	}
	pt := []byte("The qufck brown fox jump")
	body, err := p.Seal(nil, nil, pt)
	if err != nil {
		t.Fatal(err)
	}
	// IV, 24 octets of plaintext plus Pad Length padded to 32, ICV
	if len(body) != 8+32+12 {
		t.Fatalf("sealed body %d octets, want 52", len(body))
	}
	if got, want := hex.EncodeToString(body[8:16]), "a826fd8ce53b855f"; got != want {
		t.Errorf("first 3DES block %s, want %s", got, want)
	}
	in, err := NewProtector(Encr3DES, 0, IntegHMACSHA196, key, make([]byte, 20), bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := in.Open(nil, nil, body); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}
