package transform

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"
)

// aeadScratch holds the per-packet nonce and AAD. It lives in a sync.Pool
// because slices of a stack array passed to cipher.AEAD (an interface)
// escape and would be allocated per packet.
type aeadScratch struct {
	nonce [12]byte
	aad   [12]byte
}

// aeadESP is AES-GCM (RFC 4106), AES-CCM (RFC 4309) or ChaCha20-Poly1305
// (RFC 7634) in ESP: nonce = salt | IV (a 4-octet salt, 3 for CCM),
// AAD = SPI | [seq-hi |] seq-lo, an ICV of 16 octets (GCM and CCM also 8
// or 12).
type aeadESP struct {
	name    string
	aead    cipher.AEAD
	salt    [4]byte
	saltLen int
	icvLen  int
	opts    Options
	scratch sync.Pool
	wiped   atomic.Bool
}

// aeadICVLen is the ICV length of a combined-mode algorithm.
func aeadICVLen(encr EncrID) int {
	switch encr {
	case EncrAESGCM8, EncrAESCCM8:
		return 8
	case EncrAESGCM12, EncrAESCCM12:
		return 12
	}
	return 16
}

func newAEADESP(encr EncrID, key []byte, salt [4]byte, opts Options) (*aeadESP, error) {
	t := &aeadESP{salt: salt, saltLen: 4, icvLen: aeadICVLen(encr), opts: opts}
	var err error
	switch encr {
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16:
		var blk cipher.Block
		if blk, err = aes.NewCipher(key); err == nil {
			t.aead, err = newGCM(blk, t.icvLen)
		}
		t.name = fmt.Sprintf("AES-GCM-%d %d", t.icvLen, len(key)*8)
	case EncrAESCCM8, EncrAESCCM12, EncrAESCCM16:
		var blk cipher.Block
		if blk, err = aes.NewCipher(key); err == nil {
			t.aead, err = newCCM(blk, 3+8, t.icvLen)
		}
		t.saltLen = 3
		t.name = fmt.Sprintf("AES-CCM-%d %d", t.icvLen, len(key)*8)
	case EncrChaCha20Poly1305:
		t.aead, err = chacha20poly1305.New(key)
		t.name = "ChaCha20-Poly1305"
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", encr, err)
	}
	t.scratch.New = func() any { return new(aeadScratch) }
	return t, nil
}

func (t *aeadESP) Name() string   { return t.name }
func (t *aeadESP) IVLen() int     { return 8 }
func (t *aeadESP) BlockSize() int { return 4 }
func (t *aeadESP) ICVLen() int    { return t.icvLen }

// prepare fills the nonce (s.nonce[:t.saltLen+8]) from the IV in the
// packet and returns the AAD.
func (t *aeadESP) prepare(s *aeadScratch, esp []byte, seq uint64, esn bool) []byte {
	copy(s.nonce[:t.saltLen], t.salt[:t.saltLen])
	copy(s.nonce[t.saltLen:], esp[8:16])
	if !esn {
		return esp[:8]
	}
	copy(s.aad[:4], esp[:4])
	binary.BigEndian.PutUint32(s.aad[4:], uint32(seq>>32))
	copy(s.aad[8:], esp[4:8])
	return s.aad[:12]
}

func (t *aeadESP) Seal(esp []byte, seq uint64, esn bool) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(esp) < 8+8+t.icvLen || (len(esp)-8-8-t.icvLen)%4 != 0 {
		return fmt.Errorf("%s: %d octets: %w", t.name, len(esp), ErrLength)
	}
	counterIV(esp[8:16], seq, &t.opts)
	s := t.scratch.Get().(*aeadScratch)
	aad := t.prepare(s, esp, seq, esn)
	pt := esp[16 : len(esp)-t.icvLen]
	t.aead.Seal(pt[:0], s.nonce[:t.saltLen+8], pt, aad)
	t.scratch.Put(s)
	return nil
}

func (t *aeadESP) Open(esp []byte, seq uint64, esn bool) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(esp) < 8+8+t.icvLen {
		return fmt.Errorf("%s: %d octets: %w", t.name, len(esp), ErrLength)
	}
	s := t.scratch.Get().(*aeadScratch)
	aad := t.prepare(s, esp, seq, esn)
	ct := esp[16:]
	_, err := t.aead.Open(ct[:0], s.nonce[:t.saltLen+8], ct, aad)
	t.scratch.Put(s)
	if err != nil {
		return ErrAuth
	}
	return nil
}

// OpenTo is Open out of place (OpenerTo).
func (t *aeadESP) OpenTo(dst, src []byte, seq uint64, esn bool) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(src) < 8+8+t.icvLen || len(dst) < len(src) {
		return fmt.Errorf("%s: %d octets into %d: %w", t.name, len(src), len(dst), ErrLength)
	}
	copy(dst[:16], src[:16])
	s := t.scratch.Get().(*aeadScratch)
	aad := t.prepare(s, src, seq, esn)
	_, err := t.aead.Open(dst[16:16], s.nonce[:t.saltLen+8], src[16:], aad)
	t.scratch.Put(s)
	if err != nil {
		return ErrAuth
	}
	return nil
}

func (t *aeadESP) Wipe() {
	t.wiped.Store(true)
	clear(t.salt[:])
}
