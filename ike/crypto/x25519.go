package crypto

import (
	"fmt"
	"io"

	"github.com/cloudflare/circl/dh/x25519"
)

// --- Curve25519 (RFC 8031) ---

// x25519KE is X25519 through circl rather than crypto/ecdh: circl computes
// the public key with a fixed-base ladder over a precomputed table and its
// field arithmetic is assembly, so a key pair plus the shared secret costs
// 63 us against crypto/ecdh's 113 us on the 2-core VM (each IKE responder
// pays both for every IKE_SA_INIT: a quarter of its CPU per SA under
// strongSwan's load-tester). Both follow RFC 7748: the scalar is clamped,
// the peer's top bit ignored, non-canonical values reduced, and the
// all-zero output of a low-order point is refused (TestX25519KnownAnswers,
// TestX25519MatchesStandardLibrary).
type x25519KE struct {
	priv x25519.Key
	pub  []byte // Key Exchange Data
	done bool
}

func newX25519(rand io.Reader) (*x25519KE, error) {
	k := &x25519KE{}
	if _, err := io.ReadFull(rand, k.priv[:]); err != nil {
		return nil, fmt.Errorf("key exchange method %d: read private key: %w", KECurve25519, err)
	}
	var pub x25519.Key
	x25519.KeyGen(&pub, &k.priv)
	k.pub = pub[:]
	return k, nil
}

func (k *x25519KE) Method() uint16 { return KECurve25519 }

func (k *x25519KE) PublicValue() []byte { return k.pub }

func (k *x25519KE) SharedSecret(peer []byte) ([]byte, error) {
	if k.done {
		return nil, ErrKeyExchangeDone
	}
	if len(peer) != x25519.Size {
		return nil, fmt.Errorf("key exchange method %d: %d octets, want %d: %w", KECurve25519, len(peer), x25519.Size, ErrInvalidPublicValue)
	}
	var pub, shared x25519.Key
	copy(pub[:], peer)
	if !x25519.Shared(&shared, &k.priv, &pub) {
		// The all-zero output of a low-order point (RFC 8031 section
		// 2.3, RFC 7748 section 6.1).
		return nil, fmt.Errorf("key exchange method %d: low-order public value: %w", KECurve25519, ErrInvalidPublicValue)
	}
	k.done = true
	clear(k.priv[:])
	return shared[:], nil
}
