package auth

import (
	"crypto"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// FuzzVerify feeds arbitrary AUTH payloads to Verify with every key type:
// it must never panic, and nothing but the real signature may verify.
func FuzzVerify(f *testing.F) {
	keys := []crypto.Signer{
		fixtureKey(f, "rsa.key"), fixtureKey(f, "ec256.key"), fixtureKey(f, "ec384.key"),
		fixtureKey(f, "ec521.key"), fixtureKey(f, "ed25519.key"),
	}
	msg := readFixture(f, "octets.bin")
	// Seeds: a valid payload of each kind, and RFC 7427 prefixes with
	// truncated or empty signatures.
	for i, k := range keys {
		s, err := NewSigner(k, SignerOptions{AllowLegacySHA1: true, RSAPSS: i == 0})
		if err != nil {
			f.Fatal(err)
		}
		m, d, err := s.Sign(msg, SupportedHashes())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), uint8(m), d)
		if m, d, err := s.Sign(msg, nil); err == nil {
			f.Add(uint8(i), uint8(m), d)
		}
	}
	for _, tc := range rfc7427Blobs {
		der := unhex(f, tc.der)
		f.Add(uint8(0), uint8(wire.AuthDigitalSignature), rfc7427Data(der, []byte{1, 2, 3}))
		f.Add(uint8(4), uint8(wire.AuthDigitalSignature), rfc7427Data(der, nil))
	}
	f.Add(uint8(1), uint8(wire.AuthDigitalSignature), []byte{0xff})
	f.Add(uint8(1), uint8(wire.AuthECDSASHA256P256), make([]byte, 64))
	f.Fuzz(func(t *testing.T, keyIdx, method uint8, data []byte) {
		k := keys[int(keyIdx)%len(keys)]
		_ = Verifier{AllowLegacySHA1: true}.Verify(k.Public(), wire.AuthMethod(method), data, msg)
		if Verify(k.Public(), wire.AuthMethod(method), data, msg[1:]) == nil {
			t.Fatalf("AUTH data %x verified over other octets", data)
		}
	})
}

// FuzzParseAlgorithmIdentifier checks the RFC 7427 AlgorithmIdentifier
// parser never panics and that whatever it accepts encodes to DER that
// parses to the same scheme.
func FuzzParseAlgorithmIdentifier(f *testing.F) {
	for _, tc := range rfc7427Blobs {
		f.Add(unhex(f, tc.der))
	}
	for _, s := range []string{
		"300d06092a864886f70d01010a3000",
		"304606092a864886f70d01010a3039a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120a303020101",
		"300906072a8648ce3d0401",
		"300c06082a8648ce3d0403020500",
		"301306092a864886f70d01010a3006a30402020101",
	} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		sc, err := ParseAlgorithmIdentifier(der)
		if err != nil {
			return
		}
		enc, err := sc.AlgorithmIdentifier()
		if err != nil {
			t.Fatalf("accepted %x as %+v but cannot encode it: %v", der, sc, err)
		}
		again, err := ParseAlgorithmIdentifier(enc)
		if err != nil || again != sc {
			t.Fatalf("%x -> %+v -> %x -> %+v, %v", der, sc, enc, again, err)
		}
	})
}
