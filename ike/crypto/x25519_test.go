package crypto

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestX25519MatchesStandardLibrary checks circl's X25519 against
// crypto/ecdh's on random scalars and random peer values, including values
// with the top bit set and non-canonical ones (u >= 2^255-19), which RFC
// 7748 section 5 says to mask and reduce, not refuse.
func TestX25519MatchesStandardLibrary(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	peers := [][]byte{
		// 2^255-19+1 (non-canonical 1... a low-order point once reduced is
		// refused by both) and 2^255-19+9 (the base point, non-canonical).
		append([]byte{0xee + 1}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...),
		append([]byte{0xee + 9}, append(bytes.Repeat([]byte{0xff}, 30), 0x7f)...),
	}
	for range 200 {
		p := make([]byte, 32)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		peers = append(peers, p)
	}
	for i, peer := range peers {
		scalar := make([]byte, 32)
		for j := range scalar {
			scalar[j] = byte(rng.Uint32())
		}
		std, err := ecdh.X25519().NewPrivateKey(scalar)
		if err != nil {
			t.Fatal(err)
		}
		ke, err := NewKeyExchange(KECurve25519, bytes.NewReader(scalar))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ke.PublicValue(), std.PublicKey().Bytes()) {
			t.Fatalf("%d: public key %x, crypto/ecdh %x", i, ke.PublicValue(), std.PublicKey().Bytes())
		}
		stdPeer, err := ecdh.X25519().NewPublicKey(peer)
		if err != nil {
			t.Fatal(err)
		}
		want, stdErr := std.ECDH(stdPeer)
		got, err := ke.SharedSecret(peer)
		if (err != nil) != (stdErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("%d: peer %x: shared %x (%v), crypto/ecdh %x (%v)", i, peer, got, err, want, stdErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidPublicValue) {
			t.Fatalf("%d: %v, want ErrInvalidPublicValue", i, err)
		}
		if err == nil {
			if _, err := ke.SharedSecret(peer); !errors.Is(err, ErrKeyExchangeDone) {
				t.Fatalf("%d: second SharedSecret: %v, want ErrKeyExchangeDone", i, err)
			}
		}
	}
}
