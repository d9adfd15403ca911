// Package crypto implements the cryptography of IKEv2 (RFC 7296): pseudorandom
// functions and prf+, the IKE SA and Child SA key schedules, Diffie-Hellman and
// KEM key exchanges, protection of the Encrypted (SK) payload, the AUTH payload
// computation and the NAT detection hash.
//
// The package is pure: no I/O, no goroutines, no global mutable state.
// Randomness is always injected as an io.Reader so that tests are
// deterministic. Algorithms are named by their IANA transform IDs (RFC 7296
// section 3.3.2 and the IANA "IKEv2 Parameters" registry) so that this package
// does not depend on the message codec.
package crypto

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"github.com/cygnet-ipsec/cygnet/iana"
)

// PRFs implemented here; the numbers are package iana's (IANA Transform
// Type 2).
const (
	PRFHMACSHA1    uint16 = uint16(iana.PRF_HMAC_SHA1)     // PRF_HMAC_SHA1, legacy only (RFC 7296)
	PRFHMACSHA2256 uint16 = uint16(iana.PRF_HMAC_SHA2_256) // PRF_HMAC_SHA2_256 (RFC 4868)
	PRFHMACSHA2384 uint16 = uint16(iana.PRF_HMAC_SHA2_384) // PRF_HMAC_SHA2_384 (RFC 4868)
	PRFHMACSHA2512 uint16 = uint16(iana.PRF_HMAC_SHA2_512) // PRF_HMAC_SHA2_512 (RFC 4868)
)

// ErrUnsupported is returned (wrapped) for a transform ID this package does not
// implement or that is disabled by policy.
var ErrUnsupported = errors.New("unsupported transform")

// ErrPRFPlusTooLong is returned when more than 255 blocks of prf+ output are
// requested (RFC 7296 section 2.13 limits the counter to one octet).
var ErrPRFPlusTooLong = errors.New("prf+ output longer than 255 PRF blocks")

// PRFOptions selects policy for NewPRF.
type PRFOptions struct {
	// AllowLegacySHA1 enables PRF_HMAC_SHA1. It exists for peers that
	// cannot do better; new configurations should not set it.
	AllowLegacySHA1 bool
}

// PRF is one of the IKEv2 HMAC-based pseudorandom functions. The zero value is
// not usable; obtain one from NewPRF. A PRF holds no key and is safe for
// concurrent use.
type PRF struct {
	id   uint16
	newH func() hash.Hash
	size int
}

// NewPRF returns the PRF for IANA transform ID id. PRF_HMAC_SHA1 is refused
// unless opts.AllowLegacySHA1 is set.
func NewPRF(id uint16, opts PRFOptions) (PRF, error) {
	switch id {
	case PRFHMACSHA2256:
		return PRF{id: id, newH: sha256.New, size: sha256.Size}, nil
	case PRFHMACSHA2384:
		return PRF{id: id, newH: sha512.New384, size: sha512.Size384}, nil
	case PRFHMACSHA2512:
		return PRF{id: id, newH: sha512.New, size: sha512.Size}, nil
	case PRFHMACSHA1:
		if !opts.AllowLegacySHA1 {
			return PRF{}, fmt.Errorf("PRF_HMAC_SHA1 needs the legacy switch: %w", ErrUnsupported)
		}
		return PRF{id: id, newH: sha1.New, size: sha1.Size}, nil
	}
	return PRF{}, fmt.Errorf("PRF transform %d: %w", id, ErrUnsupported)
}

// ID returns the IANA transform ID of the PRF.
func (p PRF) ID() uint16 { return p.id }

// Size returns the output length of the PRF in octets. For the HMAC PRFs it
// is also the preferred key length, the length of SK_d, SK_pi and SK_pr
// (RFC 7296 section 2.14).
func (p PRF) Size() int { return p.size }

// MinNonceLen returns the shortest nonce acceptable with PRF transform prf:
// at least 128 bits and at least half the PRF's key size, which for the HMAC
// PRFs is their output size (RFC 7296 2.10). Shorter nonces weaken the keys
// derived from them.
func MinNonceLen(prf uint16) int {
	size := 0
	switch prf {
	case PRFHMACSHA1:
		size = sha1.Size
	case PRFHMACSHA2256:
		size = sha256.Size
	case PRFHMACSHA2384:
		size = sha512.Size384
	case PRFHMACSHA2512:
		size = sha512.Size
	}
	return max(16, size/2)
}

// String returns the IANA name of the PRF.
func (p PRF) String() string {
	switch p.id {
	case PRFHMACSHA1:
		return "PRF_HMAC_SHA1"
	case PRFHMACSHA2256:
		return "PRF_HMAC_SHA2_256"
	case PRFHMACSHA2384:
		return "PRF_HMAC_SHA2_384"
	case PRFHMACSHA2512:
		return "PRF_HMAC_SHA2_512"
	}
	return fmt.Sprintf("PRF(%d)", p.id)
}

// Sum computes prf(key, data[0] | data[1] | ...) and appends it to dst.
func (p PRF) Sum(dst, key []byte, data ...[]byte) []byte {
	m := hmac.New(p.newH, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(dst)
}

// Plus computes n octets of prf+(key, seed) as defined in RFC 7296
// section 2.13, where seed is the concatenation of the seed parts:
//
//	prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//	T1 = prf (K, S | 0x01), T2 = prf (K, T1 | S | 0x02), ...
func (p PRF) Plus(key []byte, n int, seed ...[]byte) ([]byte, error) {
	if n < 0 || n > 255*p.size {
		return nil, fmt.Errorf("prf+ of %d octets with %s: %w", n, p, ErrPRFPlusTooLong)
	}
	out := make([]byte, 0, (n+p.size-1)/p.size*p.size)
	m := hmac.New(p.newH, key)
	var prev []byte
	for i := 1; len(out) < n; i++ {
		m.Reset()
		m.Write(prev)
		for _, s := range seed {
			m.Write(s)
		}
		m.Write([]byte{byte(i)})
		start := len(out)
		out = m.Sum(out)
		prev = out[start:]
	}
	// Do not leave the keying material beyond n octets in the backing array.
	clear(out[n:cap(out)])
	return out[:n:n], nil
}
