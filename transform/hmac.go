package transform

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
)

// isHMAC reports whether integ is one of the MACs hmacIntegrity runs: the
// HMACs and the AES-based XCBC and CMAC, each truncated to its ICV length.
func isHMAC(integ IntegID) bool {
	switch integ {
	case IntegHMACSHA1_96, IntegHMACSHA256_128, IntegHMACSHA384_192, IntegHMACSHA512_256,
		IntegAESXCBC96, IntegAESCMAC96:
		return true
	}
	return false
}

// macState is one keyed HMAC instance with room for its output; instances
// are pooled because a hash.Hash is not safe for concurrent use.
type macState struct {
	h   hash.Hash
	hi  [4]byte
	sum [64]byte
}

// hmacIntegrity is HMAC truncated to half the hash output (RFC 4868,
// RFC 2404), or AES-XCBC-MAC-96 (RFC 3566) or AES-CMAC-96 (RFC 4494)
// truncated to 96 bits, usable for AH directly and inside ESP.
type hmacIntegrity struct {
	name   string
	key    []byte
	icvLen int
	states sync.Pool
	wiped  atomic.Bool
}

func newHMAC(integ IntegID, key []byte) (*hmacIntegrity, error) {
	var fn func() hash.Hash
	t := &hmacIntegrity{key: append([]byte(nil), key...)}
	switch integ {
	case IntegHMACSHA1_96:
		fn, t.icvLen, t.name = sha1.New, 12, "HMAC-SHA1-96"
	case IntegHMACSHA256_128:
		fn, t.icvLen, t.name = sha256.New, 16, "HMAC-SHA-256-128"
	case IntegHMACSHA384_192:
		fn, t.icvLen, t.name = sha512.New384, 24, "HMAC-SHA-384-192"
	case IntegHMACSHA512_256:
		fn, t.icvLen, t.name = sha512.New, 32, "HMAC-SHA-512-256"
	case IntegAESXCBC96, IntegAESCMAC96:
		return newAESMACIntegrity(integ, t)
	default:
		return nil, fmt.Errorf("%v: %w", integ, ErrUnsupported)
	}
	t.states.New = func() any { return &macState{h: hmac.New(fn, t.key)} }
	// Build one instance now so a bad key fails here, not per packet.
	t.states.Put(t.states.New())
	return t, nil
}

// newAESMACIntegrity finishes t as AES-XCBC-MAC-96 or AES-CMAC-96: each
// pooled state holds its own keyed aesMAC.
func newAESMACIntegrity(integ IntegID, t *hmacIntegrity) (*hmacIntegrity, error) {
	mk := newXCBC
	t.icvLen, t.name = 12, "AES-XCBC-MAC-96"
	if integ == IntegAESCMAC96 {
		mk, t.name = newCMAC, "AES-CMAC-96"
	}
	if len(t.key) != 16 {
		return nil, fmt.Errorf("%s with a %d-octet key: %w", t.name, len(t.key), ErrKeyLength)
	}
	first, err := mk(t.key)
	if err != nil {
		return nil, err
	}
	t.states.New = func() any {
		m, err := mk(t.key)
		if err != nil {
			panic("transform: " + err.Error()) // the same key was accepted above
		}
		return &macState{h: m}
	}
	t.states.Put(&macState{h: first})
	return t, nil
}

func (t *hmacIntegrity) Name() string { return t.name }
func (t *hmacIntegrity) ICVLen() int  { return t.icvLen }

// compute returns the state holding the full HMAC of a, b, the parts and,
// with esn, seq-hi. The caller puts the state back.
func (t *hmacIntegrity) compute(seq uint64, esn bool, a []byte, parts [][]byte) *macState {
	st := t.states.Get().(*macState)
	st.h.Reset()
	st.h.Write(a)
	for _, p := range parts {
		st.h.Write(p)
	}
	if esn {
		binary.BigEndian.PutUint32(st.hi[:], uint32(seq>>32))
		st.h.Write(st.hi[:])
	}
	st.h.Sum(st.sum[:0])
	return st
}

func (t *hmacIntegrity) Sum(icv []byte, seq uint64, esn bool, parts ...[]byte) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(icv) < t.icvLen {
		return fmt.Errorf("%s: ICV field of %d octets: %w", t.name, len(icv), ErrLength)
	}
	st := t.compute(seq, esn, nil, parts)
	copy(icv[:t.icvLen], st.sum[:])
	t.states.Put(st)
	return nil
}

func (t *hmacIntegrity) Verify(icv []byte, seq uint64, esn bool, parts ...[]byte) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(icv) < t.icvLen {
		return fmt.Errorf("%s: ICV field of %d octets: %w", t.name, len(icv), ErrLength)
	}
	st := t.compute(seq, esn, nil, parts)
	ok := subtle.ConstantTimeCompare(st.sum[:t.icvLen], icv[:t.icvLen]) == 1
	t.states.Put(st)
	if !ok {
		return ErrAuth
	}
	return nil
}

// seal writes the ICV of data (plus seq-hi with esn) to icv.
func (t *hmacIntegrity) seal(icv, data []byte, seq uint64, esn bool) {
	st := t.compute(seq, esn, data, nil)
	copy(icv, st.sum[:t.icvLen])
	t.states.Put(st)
}

// verify checks icv against data (plus seq-hi with esn) in constant time.
func (t *hmacIntegrity) verify(icv, data []byte, seq uint64, esn bool) bool {
	st := t.compute(seq, esn, data, nil)
	ok := subtle.ConstantTimeCompare(st.sum[:t.icvLen], icv) == 1
	t.states.Put(st)
	return ok
}

// Wipe zeroes the raw key copy. The HMAC pads inside pooled hash states
// belong to the standard library and are dropped with the transform.
func (t *hmacIntegrity) Wipe() {
	t.wiped.Store(true)
	clear(t.key)
}
