package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

var octets = []byte("IKE_SA_INIT request | Nr | prf(SK_pi, IDi') -- stand-in signed octets")

func TestSignVerifyRoundTrip(t *testing.T) {
	all := SupportedHashes()
	for _, tc := range []struct {
		key        string
		opts       SignerOptions
		peerHashes []uint16
		method     wire.AuthMethod
		scheme     SignatureScheme // for method 14
		classicLen int             // for 9/10/11
	}{
		{key: "rsa2048", peerHashes: all, method: wire.AuthDigitalSignature, scheme: RSASHA256},
		{key: "rsa2048", peerHashes: []uint16{HashSHA2384}, method: wire.AuthDigitalSignature, scheme: RSASHA384},
		{key: "rsa2048", peerHashes: []uint16{HashSHA2512}, method: wire.AuthDigitalSignature, scheme: RSASHA512},
		{key: "rsa2048", opts: SignerOptions{RSAPSS: true}, peerHashes: all, method: wire.AuthDigitalSignature, scheme: RSAPSSSHA256},
		{key: "rsa2048", opts: SignerOptions{RSAPSS: true}, peerHashes: []uint16{HashSHA2384}, method: wire.AuthDigitalSignature, scheme: RSAPSSSHA384},
		{key: "rsa2048", opts: SignerOptions{RSAPSS: true}, peerHashes: []uint16{HashSHA2512}, method: wire.AuthDigitalSignature, scheme: RSAPSSSHA512},
		{key: "rsa2048", opts: SignerOptions{AllowLegacySHA1: true}, method: wire.AuthRSASignature},
		{key: "p256", peerHashes: all, method: wire.AuthDigitalSignature, scheme: ECDSASHA256},
		{key: "p256", peerHashes: []uint16{HashSHA2512}, method: wire.AuthDigitalSignature, scheme: ECDSASHA512},
		{key: "p384", peerHashes: all, method: wire.AuthDigitalSignature, scheme: ECDSASHA384},
		{key: "p521", peerHashes: all, method: wire.AuthDigitalSignature, scheme: ECDSASHA512},
		{key: "p256", method: wire.AuthECDSASHA256P256, classicLen: 64},
		{key: "p384", method: wire.AuthECDSASHA384P384, classicLen: 96},
		{key: "p521", method: wire.AuthECDSASHA512P521, classicLen: 132},
		{key: "ed25519", peerHashes: all, method: wire.AuthDigitalSignature, scheme: Ed25519Scheme},
		{key: "ed25519", peerHashes: []uint16{HashIdentity}, method: wire.AuthDigitalSignature, scheme: Ed25519Scheme},
	} {
		t.Run(fmt.Sprintf("%s/%v/%v/%v", tc.key, tc.method, tc.scheme, tc.peerHashes), func(t *testing.T) {
			s, err := NewSigner(key(t, tc.key), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			method, data, err := s.Sign(octets, tc.peerHashes)
			if err != nil {
				t.Fatal(err)
			}
			if method != tc.method {
				t.Fatalf("method = %v, want %v", method, tc.method)
			}
			if method == wire.AuthDigitalSignature {
				algID, _ := tc.scheme.AlgorithmIdentifier()
				if int(data[0]) != len(algID) || !bytes.Equal(data[1:1+len(algID)], algID) {
					t.Fatalf("AUTH data starts %x, want length %d and %x", data[:1+len(algID)], len(algID), algID)
				}
			}
			if tc.classicLen != 0 && len(data) != tc.classicLen {
				t.Fatalf("RFC 4754 signature is %d bytes, want %d", len(data), tc.classicLen)
			}
			v := Verifier{AllowLegacySHA1: tc.opts.AllowLegacySHA1}
			if err := v.Verify(s.Public(), method, data, octets); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Any change to the signed octets or the signature must fail.
			other := append([]byte(nil), octets...)
			other[len(other)-1] ^= 1
			if err := v.Verify(s.Public(), method, data, other); !errors.Is(err, ErrSignature) {
				t.Fatalf("Verify(other octets) = %v, want ErrSignature", err)
			}
			bad := append([]byte(nil), data...)
			bad[len(bad)-1] ^= 0x80
			if err := v.Verify(s.Public(), method, bad, octets); err == nil {
				t.Fatal("Verify(flipped signature bit) succeeded")
			}
		})
	}
}

func TestSignerChoiceFollowsStrongSwan(t *testing.T) {
	all := SupportedHashes()
	for _, tc := range []struct {
		kind  KeyType
		bits  int
		pss   bool
		peer  []uint16
		want  SignatureScheme
		order []SignatureScheme
	}{
		{kind: KeyRSA, bits: 2048, peer: all, want: RSASHA256, order: []SignatureScheme{RSASHA256, RSASHA384, RSASHA512}},
		{kind: KeyRSA, bits: 3072, peer: all, want: RSASHA256},
		{kind: KeyRSA, bits: 4096, peer: all, want: RSASHA384, order: []SignatureScheme{RSASHA384, RSASHA512, RSASHA256}},
		{kind: KeyRSA, bits: 8192, peer: all, want: RSASHA512, order: []SignatureScheme{RSASHA512, RSASHA384, RSASHA256}},
		{kind: KeyRSA, bits: 4096, peer: []uint16{HashSHA2256}, want: RSASHA256},
		{kind: KeyRSA, bits: 4096, pss: true, peer: all, want: RSAPSSSHA384},
		{kind: KeyECDSA, bits: 256, peer: []uint16{HashSHA2512, HashSHA2384}, want: ECDSASHA384},
		{kind: KeyECDSA, bits: 384, peer: all, want: ECDSASHA384, order: []SignatureScheme{ECDSASHA384, ECDSASHA512}},
		{kind: KeyECDSA, bits: 521, peer: all, want: ECDSASHA512, order: []SignatureScheme{ECDSASHA512}},
		{kind: KeyEd25519, bits: 256, peer: all, want: Ed25519Scheme},
	} {
		s := &Signer{kind: tc.kind, bits: tc.bits, opts: SignerOptions{RSAPSS: tc.pss}}
		got, err := s.Choose(tc.peer)
		if err != nil || got != tc.want {
			t.Errorf("%v-%d pss=%v peer %v: Choose = %v, %v; want %v", tc.kind, tc.bits, tc.pss, tc.peer, got, err, tc.want)
		}
		if tc.order != nil && fmt.Sprint(s.Schemes()) != fmt.Sprint(tc.order) {
			t.Errorf("%v-%d: Schemes = %v, want %v", tc.kind, tc.bits, s.Schemes(), tc.order)
		}
	}
}

func TestSignRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		opts SignerOptions
		peer []uint16
		want string
		is   error
	}{
		{"RSA without 7427 and without legacy SHA-1", "rsa2048", SignerOptions{}, nil,
			"peer did not send SIGNATURE_HASH_ALGORITHMS and AUTH method 1 needs SHA-1", ErrLegacySHA1},
		{"PSS without 7427", "rsa2048", SignerOptions{RSAPSS: true, AllowLegacySHA1: true}, nil,
			"RSASSA-PSS needs RFC 7427", nil},
		{"Ed25519 without 7427", "ed25519", SignerOptions{}, nil, "Ed25519 needs RFC 7427", nil},
		{"Ed25519, peer without Identity", "ed25519", SignerOptions{}, []uint16{HashSHA2256, HashSHA2512},
			"sign with Ed25519 private key: no common hash algorithm (peer announced [SHA2_256 SHA2_512])", ErrNoCommonHash},
		{"P-384, peer only SHA-256", "p384", SignerOptions{}, []uint16{HashSHA2256}, "no common hash algorithm", ErrNoCommonHash},
		{"RSA, peer only SHA-1", "rsa2048", SignerOptions{AllowLegacySHA1: true}, []uint16{HashSHA1, 77},
			"peer announced [SHA1 HASH(77)]", ErrNoCommonHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(key(t, tc.key), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Sign(octets, tc.peer)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
	if _, err := NewSigner(key(t, "p224"), SignerOptions{}); err == nil || !strings.Contains(err.Error(), "P-224 is not supported") {
		t.Errorf("NewSigner(P-224) = %v", err)
	}
	if _, err := NewSigner(nil, SignerOptions{}); err == nil {
		t.Error("NewSigner(nil) succeeded")
	}
	s, _ := NewSigner(key(t, "p256"), SignerOptions{})
	if _, err := s.SignScheme(RSASHA256, octets); err == nil || !strings.Contains(err.Error(), "needs a RSA key") {
		t.Errorf("SignScheme(RSA with ECDSA key) = %v", err)
	}
}

func TestSignerNeverPrintsKey(t *testing.T) {
	for _, k := range []string{"rsa2048", "p256", "ed25519"} {
		s, err := NewSigner(key(t, k), SignerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
			out := fmt.Sprintf(verb, s)
			if !strings.HasSuffix(out, "private key") || len(out) > 40 {
				t.Errorf("%s of %s signer = %q", verb, k, out)
			}
		}
	}
	s, _ := NewSigner(key(t, "rsa2048"), SignerOptions{})
	if got := s.String(); got != "RSA-2048 private key" {
		t.Errorf("String() = %q", got)
	}
}

// RFC 4754 signatures are r||s with each half left-padded to the curve size,
// even when r or s has leading zero bytes.
func TestECDSARawPadding(t *testing.T) {
	raw, err := ecdsaDERToRaw(unhex(t, "3007 020101 02020080"), 32)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 64)
	want[31], want[63] = 0x01, 0x80
	if !bytes.Equal(raw, want) {
		t.Fatalf("raw = %x", raw)
	}
	if _, err := ecdsaDERToRaw(unhex(t, "3006020101020101ff"), 32); err == nil {
		t.Error("trailing garbage accepted")
	}
	long := append([]byte{0x30, 0x26, 0x02, 0x21}, bytes.Repeat([]byte{0x7f}, 33)...)
	long = append(long, 0x02, 0x01, 0x01)
	if _, err := ecdsaDERToRaw(long, 32); err == nil {
		t.Error("33-byte r accepted for P-256")
	}
	// Many signatures: some will have r or s below 2^248.
	s, _ := NewSigner(key(t, "p256"), SignerOptions{})
	for i := 0; i < 64; i++ {
		m, data, err := s.Sign(octets, nil)
		if err != nil || len(data) != 64 {
			t.Fatalf("Sign = %v, %d bytes, %v", m, len(data), err)
		}
		if err := Verify(s.Public(), m, data, octets); err != nil {
			t.Fatal(err)
		}
	}
}

// A crypto.Signer that is not one of the standard key structs (a token,
// an agent) works as long as its public key is.
type opaqueSigner struct{ crypto.Signer }

func TestSignerOpaqueKey(t *testing.T) {
	for _, k := range []string{"rsa2048", "p384"} {
		s, err := NewSigner(opaqueSigner{key(t, k)}, SignerOptions{RSAPSS: true})
		if err != nil {
			t.Fatal(err)
		}
		m, data, err := s.Sign(octets, SupportedHashes())
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(s.Public(), m, data, octets); err != nil {
			t.Fatal(err)
		}
		switch s.Public().(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		default:
			t.Fatalf("Public() = %T", s.Public())
		}
	}
}
