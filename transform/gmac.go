package transform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
)

// gmacScratch holds the nonce, the tag being checked and, when the
// authenticated data is not one contiguous slice, a copy of it.
type gmacScratch struct {
	iv    [8]byte
	nonce [12]byte
	tag   [16]byte
	buf   []byte
}

// gmac computes AES-GMAC: GCM with an empty plaintext over the AAD.
type gmac struct {
	aead    cipher.AEAD
	salt    [4]byte
	scratch sync.Pool
}

func (g *gmac) init(key []byte, salt [4]byte) error {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	if g.aead, err = cipher.NewGCM(blk); err != nil {
		return err
	}
	g.salt = salt
	g.scratch.New = func() any { return new(gmacScratch) }
	return nil
}

// tag writes the GMAC of aad under salt|iv to s.tag.
func (g *gmac) tag(s *gmacScratch, iv, aad []byte) {
	copy(s.nonce[:4], g.salt[:])
	copy(s.nonce[4:], iv)
	g.aead.Seal(s.tag[:0], s.nonce[:], nil, aad)
}

// gather concatenates parts (and the ESN high bits) into s.buf, unless the
// input is already one slice.
func (s *gmacScratch) gather(seq uint64, esn bool, parts [][]byte) []byte {
	if !esn && len(parts) == 1 {
		return parts[0]
	}
	s.buf = s.buf[:0]
	for _, p := range parts {
		s.buf = append(s.buf, p...)
	}
	if esn {
		s.buf = binary.BigEndian.AppendUint32(s.buf, uint32(seq>>32))
	}
	return s.buf
}

// gmacESP is ENCR_NULL_AUTH_AES_GMAC (RFC 4543 section 3): the whole ESP
// packet (SPI, sequence number, IV, payload, trailer) is authenticated,
// nothing is encrypted. With ESN the AAD is SPI | seq-hi | seq-lo.
type gmacESP struct {
	g     gmac
	name  string
	opts  Options
	wiped atomic.Bool
}

func newGMACESP(key []byte, salt [4]byte, opts Options) (*gmacESP, error) {
	t := &gmacESP{opts: opts, name: fmt.Sprintf("AES-GMAC %d", len(key)*8)}
	if err := t.g.init(key, salt); err != nil {
		return nil, fmt.Errorf("%v: %w", EncrNullAuthAESGMAC, err)
	}
	return t, nil
}

func (t *gmacESP) Name() string   { return t.name }
func (t *gmacESP) IVLen() int     { return 8 }
func (t *gmacESP) BlockSize() int { return 4 }
func (t *gmacESP) ICVLen() int    { return 16 }

// aad returns the authenticated data of the packet (everything but the ICV).
func (t *gmacESP) aad(s *gmacScratch, esp []byte, seq uint64, esn bool) []byte {
	body := esp[:len(esp)-16]
	if !esn {
		return body
	}
	s.buf = append(s.buf[:0], body[:4]...)
	s.buf = binary.BigEndian.AppendUint32(s.buf, uint32(seq>>32))
	s.buf = append(s.buf, body[4:]...)
	return s.buf
}

func (t *gmacESP) Seal(esp []byte, seq uint64, esn bool) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(esp) < 8+8+16 || (len(esp)-8-8-16)%4 != 0 {
		return fmt.Errorf("%s: %d octets: %w", t.name, len(esp), ErrLength)
	}
	counterIV(esp[8:16], seq, &t.opts)
	s := t.g.scratch.Get().(*gmacScratch)
	t.g.tag(s, esp[8:16], t.aad(s, esp, seq, esn))
	copy(esp[len(esp)-16:], s.tag[:])
	t.g.scratch.Put(s)
	return nil
}

func (t *gmacESP) Open(esp []byte, seq uint64, esn bool) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(esp) < 8+8+16 {
		return fmt.Errorf("%s: %d octets: %w", t.name, len(esp), ErrLength)
	}
	s := t.g.scratch.Get().(*gmacScratch)
	t.g.tag(s, esp[8:16], t.aad(s, esp, seq, esn))
	ok := subtle.ConstantTimeCompare(s.tag[:], esp[len(esp)-16:]) == 1
	t.g.scratch.Put(s)
	if !ok {
		return ErrAuth
	}
	return nil
}

func (t *gmacESP) Wipe() {
	t.wiped.Store(true)
	clear(t.g.salt[:])
}

// gmacIntegrity is AUTH_AES_*_GMAC for AH (RFC 4543 section 4): the ICV
// field is IV (8) | tag (16); the authenticated data is the AH input with
// the whole ICV field zeroed by the caller, plus seq-hi with ESN.
type gmacIntegrity struct {
	g     gmac
	name  string
	opts  Options
	wiped atomic.Bool
}

func newGMACIntegrity(integ IntegID, key []byte, salt [4]byte, opts Options) (*gmacIntegrity, error) {
	t := &gmacIntegrity{opts: opts, name: fmt.Sprintf("AES-GMAC %d", len(key)*8)}
	if err := t.g.init(key, salt); err != nil {
		return nil, fmt.Errorf("%v: %w", integ, err)
	}
	return t, nil
}

func (t *gmacIntegrity) Name() string { return t.name }
func (t *gmacIntegrity) ICVLen() int  { return 8 + 16 }

func (t *gmacIntegrity) Sum(icv []byte, seq uint64, esn bool, parts ...[]byte) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(icv) < 24 {
		return fmt.Errorf("%s: ICV field of %d octets: %w", t.name, len(icv), ErrLength)
	}
	s := t.g.scratch.Get().(*gmacScratch)
	counterIV(s.iv[:], seq, &t.opts)
	// icv may be the zeroed field inside parts: write it only afterwards.
	t.g.tag(s, s.iv[:], s.gather(seq, esn, parts))
	copy(icv[:8], s.iv[:])
	copy(icv[8:24], s.tag[:])
	t.g.scratch.Put(s)
	return nil
}

func (t *gmacIntegrity) Verify(icv []byte, seq uint64, esn bool, parts ...[]byte) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	if len(icv) < 24 {
		return fmt.Errorf("%s: ICV field of %d octets: %w", t.name, len(icv), ErrLength)
	}
	s := t.g.scratch.Get().(*gmacScratch)
	t.g.tag(s, icv[:8], s.gather(seq, esn, parts))
	ok := subtle.ConstantTimeCompare(s.tag[:], icv[8:24]) == 1
	t.g.scratch.Put(s)
	if !ok {
		return ErrAuth
	}
	return nil
}

func (t *gmacIntegrity) Wipe() {
	t.wiped.Store(true)
	clear(t.g.salt[:])
}
