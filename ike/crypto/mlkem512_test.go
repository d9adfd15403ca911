package crypto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
)

// acvp512 is one vector of each NIST ACVP ML-KEM-512 test (keyGen,
// encapsulation, decapsulation), taken from the files circl ships
// (testdata/mlkem512-acvp.json names the source).
type acvp512 struct {
	KeyGen struct {
		D, Z, EK hexBytes
	} `json:"keyGen"`
	Encapsulation struct {
		EK, M, C, K hexBytes
	} `json:"encapsulation"`
	Decapsulation struct {
		DK, C, K hexBytes
	} `json:"decapsulation"`
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func loadACVP512(t *testing.T) acvp512 {
	t.Helper()
	b, err := os.ReadFile("testdata/mlkem512-acvp.json")
	if err != nil {
		t.Fatal(err)
	}
	var v acvp512
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMLKEM512KnownAnswer checks the ML-KEM-512 Key Exchange Data that IKE
// carries against NIST's ACVP vectors: the initiator's KE payload is the
// encapsulation key from the seed d | z read from the random source
// (ML-KEM.KeyGen_internal), the responder's is the ciphertext for m read
// from the random source (ML-KEM.Encaps_internal), and the shared secret
// both feed into SKEYSEED is K.
func TestMLKEM512KnownAnswer(t *testing.T) {
	v := loadACVP512(t)
	seed := append(append([]byte(nil), v.KeyGen.D...), v.KeyGen.Z...)
	ke, err := NewKeyExchange(KEMLKEM512, bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ke.PublicValue(), v.KeyGen.EK) {
		t.Fatalf("encapsulation key from d|z differs from ACVP keyGen (got %d octets)", len(ke.PublicValue()))
	}

	ct, secret, err := Encapsulate(KEMLKEM512, v.Encapsulation.EK, bytes.NewReader(v.Encapsulation.M))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ct, v.Encapsulation.C) || !bytes.Equal(secret, v.Encapsulation.K) {
		t.Fatalf("encapsulation differs from ACVP: ct equal %v, K %x want %x", bytes.Equal(ct, v.Encapsulation.C), secret, v.Encapsulation.K)
	}

	// Decapsulation with the ACVP decapsulation key (dk as FIPS 203
	// encodes it) through the KE state's code path.
	var sk mlkem512.PrivateKey
	if err := sk.Unpack(v.Decapsulation.DK); err != nil {
		t.Fatal(err)
	}
	dec := &mlkemKE{method: KEMLKEM512, dk512: &sk}
	got, err := dec.SharedSecret(v.Decapsulation.C)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, v.Decapsulation.K) {
		t.Fatalf("decapsulation K %x, want %x", got, v.Decapsulation.K)
	}
	if _, err := dec.SharedSecret(v.Decapsulation.C); !errors.Is(err, ErrKeyExchangeDone) {
		t.Fatalf("second decapsulation: %v, want ErrKeyExchangeDone", err)
	}
}

// TestMLKEM512RoundTrip runs both sides as IKE does and checks the sizes
// (800-octet key, 768-octet ciphertext), implicit rejection of a tampered
// ciphertext and the refusal of malformed keys and ciphertexts.
func TestMLKEM512RoundTrip(t *testing.T) {
	v := loadACVP512(t)
	seed := append(append([]byte(nil), v.KeyGen.D...), v.KeyGen.Z...)
	for _, tamper := range []bool{false, true} {
		ke, err := NewKeyExchange(KEMLKEM512, bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := KeyExchangeDataLen(KEMLKEM512, true); len(ke.PublicValue()) != n || n != 800 {
			t.Fatalf("initiator's KE data %d octets, want 800", len(ke.PublicValue()))
		}
		ct, sR, err := Encapsulate(KEMLKEM512, ke.PublicValue(), bytes.NewReader(v.Encapsulation.M))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := KeyExchangeDataLen(KEMLKEM512, false); len(ct) != n || n != 768 || len(sR) != 32 {
			t.Fatalf("responder's KE data %d octets, secret %d", len(ct), len(sR))
		}
		if tamper {
			ct[0] ^= 1
		}
		sI, err := ke.SharedSecret(ct)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(sI, sR) == tamper {
			t.Fatalf("tampered %v: secrets equal %v", tamper, bytes.Equal(sI, sR))
		}
	}
	ke, _ := NewKeyExchange(KEMLKEM512, bytes.NewReader(seed))
	if _, err := ke.SharedSecret(make([]byte, 767)); !errors.Is(err, ErrInvalidPublicValue) {
		t.Fatalf("short ciphertext: %v", err)
	}
	if _, _, err := Encapsulate(KEMLKEM512, make([]byte, 799), bytes.NewReader(v.Encapsulation.M)); !errors.Is(err, ErrInvalidPublicValue) {
		t.Fatalf("short key: %v", err)
	}
	// A coefficient of 0xfff >= q fails the FIPS 203 modulus check.
	bad := bytes.Clone(v.KeyGen.EK)
	bad[0], bad[1] = 0xff, 0x0f
	if _, _, err := Encapsulate(KEMLKEM512, bad, bytes.NewReader(v.Encapsulation.M)); !errors.Is(err, ErrInvalidPublicValue) {
		t.Fatalf("unreduced key: %v", err)
	}
}
