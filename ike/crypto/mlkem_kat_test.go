package crypto

import (
	"bytes"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"encoding/json"
	"os"
	"testing"
)

// TestMLKEMKnownAnswer checks ML-KEM-768 and ML-KEM-1024 as IKE carries
// them against NIST's ACVP vectors (the first of each test, taken from the
// files circl ships; testdata/mlkem*-acvp.json names the source):
//
//   - the initiator's Key Exchange Data is the encapsulation key that
//     ML-KEM.KeyGen_internal makes from the seed d | z read from the random
//     source, exactly as NIST's keyGen vector has it;
//   - the responder's Key Exchange Data is the ciphertext of
//     ML-KEM.Encaps_internal for the peer's key and the message m, and the
//     secret that goes into SKEYSEED is K: checked through crypto/mlkem's
//     deterministic test entry point, as Encapsulate takes its randomness
//     from crypto/rand for these sizes, then decapsulated by the KE state.
func TestMLKEMKnownAnswer(t *testing.T) {
	for _, tc := range []struct {
		method uint16
		file   string
		encaps func(ek, m []byte) (k, c []byte, err error)
	}{
		{KEMLKEM768, "testdata/mlkem768-acvp.json", func(ek, m []byte) ([]byte, []byte, error) {
			k, err := mlkem.NewEncapsulationKey768(ek)
			if err != nil {
				return nil, nil, err
			}
			return mlkemtest.Encapsulate768(k, m)
		}},
		{KEMLKEM1024, "testdata/mlkem1024-acvp.json", func(ek, m []byte) ([]byte, []byte, error) {
			k, err := mlkem.NewEncapsulationKey1024(ek)
			if err != nil {
				return nil, nil, err
			}
			return mlkemtest.Encapsulate1024(k, m)
		}},
	} {
		b, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		var v acvp512 // the same three vectors for every parameter set
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		seed := append(append([]byte(nil), v.KeyGen.D...), v.KeyGen.Z...)
		ke, err := NewKeyExchange(tc.method, bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ke.PublicValue(), v.KeyGen.EK) {
			t.Fatalf("method %d: KE data from d|z differs from ACVP keyGen (%d octets)", tc.method, len(ke.PublicValue()))
		}
		k, c, err := tc.encaps(v.Encapsulation.EK, v.Encapsulation.M)
		if err != nil || !bytes.Equal(c, v.Encapsulation.C) || !bytes.Equal(k, v.Encapsulation.K) {
			t.Fatalf("method %d: encapsulation differs from ACVP (%v)", tc.method, err)
		}
		if n, _ := KeyExchangeDataLen(tc.method, false); len(c) != n {
			t.Fatalf("method %d: ciphertext of %d octets, KE data length %d", tc.method, len(c), n)
		}
		// The KE state decapsulates what the deterministic encapsulation
		// makes for its own key from the vector's m.
		k, c, err = tc.encaps(ke.PublicValue(), v.Encapsulation.M)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ke.SharedSecret(c)
		if err != nil || !bytes.Equal(got, k) {
			t.Fatalf("method %d: decapsulated %x, want %x (%v)", tc.method, got, k, err)
		}
	}
}
