package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Errors of SK payload protection. Callers count drops by reason with
// errors.Is.
var (
	// ErrIntegrity means the ICV (or AEAD tag) did not verify: the message
	// was altered or was not protected with this key.
	ErrIntegrity = errors.New("SK payload integrity check failed")
	// ErrSKTooShort means the Encrypted payload body cannot even hold the IV,
	// one block of ciphertext and the ICV.
	ErrSKTooShort = errors.New("SK payload too short")
	// ErrSKBlockAlignment means CBC ciphertext is not a whole number of blocks.
	ErrSKBlockAlignment = errors.New("SK payload ciphertext not a multiple of the block size")
	// ErrSKPadding means the Pad Length octet points before the plaintext.
	ErrSKPadding = errors.New("SK payload pad length exceeds decrypted data")
	// ErrIVExhausted means the AEAD IV counter ran out; the IKE SA must be
	// rekeyed (never reached in practice with a 64-bit counter).
	ErrIVExhausted = errors.New("SK payload IV counter exhausted")
	// ErrNoRandom means a CBC protector was built without a randomness source.
	ErrNoRandom = errors.New("SK payload protector needs a random source for CBC IVs")
)

const (
	aeadIVLen   = 8  // RFC 5282 section 3.1, RFC 7634 section 3
	aeadICVLen  = 16 // ENCR_AES_GCM_16, ChaCha20-Poly1305
	aeadSaltLen = 4
)

// Protector encrypts and authenticates the content of the Encrypted (SK)
// payload of one direction of an IKE SA (RFC 7296 section 3.14, RFC 5282,
// RFC 7634). It works on the payload body that follows the SK generic
// header:
//
//	IV | encrypted(inner payloads | Padding | Pad Length) | ICV
//
// The associated data ad passed to Seal and Open is the message from the
// first octet of the IKE header through the last octet of the SK generic
// header, with the length fields already set for the final message; with
// AES-CBC the ICV covers ad followed by IV and ciphertext (encrypt-then-MAC),
// with the AEAD ciphers ad is the AAD (RFC 5282 section 5.1).
//
// AEAD IVs come from a 64-bit counter and never repeat under one key; CBC IVs
// are read from the random source. Seal and Open do not allocate when dst
// has enough capacity. A Protector is not safe for concurrent use; one
// belongs to one direction of one IKE SA. Its keys are never printed.
//
// An established IKE SA is quiet most of its life (a DPD now and then), so
// Release drops the expanded cipher state (about 1 KiB per direction with
// AES-GCM) between exchanges; the next Seal or Open rebuilds it from the
// keys, which is all a Protector keeps in the meantime.
type Protector struct {
	s *protectorState
}

type protectorState struct {
	encr, integ uint16
	keyBits     int
	ivLen       int
	icvLen      int
	blockLen    int // plaintext alignment: the cipher block for CBC (16 AES, 8 3DES), 1 for AEAD

	// key is the cipher key (with the AEAD salt) followed by the
	// integrity key; c is built from it on demand.
	key    []byte
	encLen int
	newH   func() hash.Hash // HMAC hash for CBC

	nonce   [12]byte // salt | IV
	counter uint64
	rand    io.Reader

	c *cipherState // nil after Release
}

// cipherState is what Release drops: the expanded keys.
type cipherState struct {
	aead   cipher.AEAD
	cbcEnc cipher.BlockMode
	cbcDec cipher.BlockMode
	mac    hash.Hash
	sum    [64]byte
}

type ivSetter interface{ SetIV([]byte) }

// NewProtector builds a Protector for encryption transform encr with key
// length keyBits (0 for ChaCha20-Poly1305) and integrity transform integ
// (IntegNone for the AEAD ciphers). encrKey includes the 4-octet salt for
// AEAD ciphers. rand supplies CBC IVs and may be nil for AEAD. Supported:
// ENCR_AES_GCM_16 (128, 256), ENCR_CHACHA20_POLY1305, and ENCR_AES_CBC (128,
// 192, 256) or the legacy ENCR_3DES with AUTH_HMAC_SHA2_256_128, _384_192,
// _512_256 or the legacy AUTH_HMAC_SHA1_96. The legacy algorithms are what
// native clients still default to; package proposal lets them through only
// when a configured proposal names them. The keys are copied.
func NewProtector(encr uint16, keyBits int, integ uint16, encrKey, integKey []byte, rand io.Reader) (*Protector, error) {
	s := &protectorState{encr: encr, integ: integ, keyBits: keyBits}
	want, _, aead, err := EncrKeyLen(encr, keyBits)
	if err != nil {
		return nil, fmt.Errorf("SK payload protector: %w", err)
	}
	if len(encrKey) != want {
		return nil, fmt.Errorf("SK payload protector: %s key is %d octets, want %d", encrName(encr, keyBits), len(encrKey), want)
	}
	if aead != (integ == IntegNone) {
		return nil, fmt.Errorf("SK payload protector: %s with %s: %w", encrName(encr, keyBits), integName(integ), ErrUnsupported)
	}
	switch encr {
	case EncrAESGCM16:
		if keyBits == 192 {
			// Allowed by RFC 5282 but nobody negotiates it; keep the
			// tested surface small.
			return nil, fmt.Errorf("SK payload protector: ENCR_AES_GCM_16/192: %w", ErrUnsupported)
		}
		s.ivLen, s.icvLen, s.blockLen = aeadIVLen, aeadICVLen, 1
	case EncrChaCha20Poly1305:
		s.ivLen, s.icvLen, s.blockLen = aeadIVLen, aeadICVLen, 1
	case EncrAESCBC, Encr3DES:
		switch integ {
		case IntegHMACSHA196:
			s.newH, s.icvLen = sha1.New, 12 // RFC 2404 section 2.2
		case IntegHMACSHA256128:
			s.newH, s.icvLen = sha256.New, 16
		case IntegHMACSHA384192:
			s.newH, s.icvLen = sha512.New384, 24
		case IntegHMACSHA512256:
			s.newH, s.icvLen = sha512.New, 32
		default:
			return nil, fmt.Errorf("SK payload protector: integrity %s: %w", integName(integ), ErrUnsupported)
		}
		wantI, _ := IntegKeyLen(integ)
		if len(integKey) != wantI {
			return nil, fmt.Errorf("SK payload protector: %s key is %d octets, want %d", integName(integ), len(integKey), wantI)
		}
		if rand == nil {
			return nil, ErrNoRandom
		}
		s.rand = rand
		// The IV is one cipher block (RFC 3602 section 3, RFC 2451
		// section 2.4): 16 octets for AES, 8 for 3DES.
		s.ivLen, s.blockLen = aes.BlockSize, aes.BlockSize
		if encr == Encr3DES {
			s.ivLen, s.blockLen = des.BlockSize, des.BlockSize
		}
		integKey = integKey[:wantI]
	default:
		return nil, fmt.Errorf("SK payload protector: %s: %w", encrName(encr, keyBits), ErrUnsupported)
	}
	if aead {
		integKey = nil
	}
	s.key = append(append(make([]byte, 0, len(encrKey)+len(integKey)), encrKey...), integKey...)
	s.encLen = len(encrKey)
	if err := s.build(); err != nil {
		return nil, err
	}
	return &Protector{s: s}, nil
}

// build makes the cipher state from the keys: at construction, and again
// on first use after Release.
func (s *protectorState) build() error {
	encrKey, integKey := s.key[:s.encLen], s.key[s.encLen:]
	c := &cipherState{}
	var err error
	switch s.encr {
	case EncrAESGCM16:
		k := len(encrKey) - aeadSaltLen
		b, err := aes.NewCipher(encrKey[:k])
		if err != nil {
			return fmt.Errorf("SK payload protector: %w", err)
		}
		if c.aead, err = cipher.NewGCM(b); err != nil {
			return fmt.Errorf("SK payload protector: %w", err)
		}
		copy(s.nonce[:aeadSaltLen], encrKey[k:])
	case EncrChaCha20Poly1305:
		if c.aead, err = chacha20poly1305.New(encrKey[:32]); err != nil {
			return fmt.Errorf("SK payload protector: %w", err)
		}
		copy(s.nonce[:aeadSaltLen], encrKey[32:])
	default: // CBC
		var block cipher.Block
		if s.encr == Encr3DES {
			block, err = des.NewTripleDESCipher(encrKey)
		} else {
			block, err = aes.NewCipher(encrKey)
		}
		if err != nil {
			return fmt.Errorf("SK payload protector: %w", err)
		}
		zero := make([]byte, block.BlockSize())
		c.cbcEnc = cipher.NewCBCEncrypter(block, zero)
		c.cbcDec = cipher.NewCBCDecrypter(block, zero)
		_, ok1 := c.cbcEnc.(ivSetter)
		_, ok2 := c.cbcDec.(ivSetter)
		if !ok1 || !ok2 {
			return errors.New("SK payload protector: CBC mode cannot reset its IV")
		}
		c.mac = hmac.New(s.newH, integKey)
	}
	s.c = c
	return nil
}

// ready rebuilds the cipher state if Release dropped it.
func (s *protectorState) ready() (*cipherState, error) {
	if s.c == nil {
		if err := s.build(); err != nil {
			return nil, err
		}
	}
	return s.c, nil
}

// Release drops the expanded cipher state until the next Seal or Open,
// which rebuild it from the keys (and allocate doing so); the IV counter
// carries on. An IKE SA releases its Protectors between exchanges so that
// a quiet SA holds only its keys. Safe on a wiped Protector.
func (p *Protector) Release() {
	if p == nil || p.s == nil || p.s.c == nil {
		return
	}
	p.s.c.wipe()
	p.s.c = nil
}

func (c *cipherState) wipe() {
	clear(c.sum[:])
	if c.mac != nil {
		c.mac.Reset()
	}
}

// IVLen returns the length of the IV field.
func (p *Protector) IVLen() int { return p.s.ivLen }

// ICVLen returns the length of the Integrity Checksum Data field.
func (p *Protector) ICVLen() int { return p.s.icvLen }

// SealedLen returns the length of the SK payload body (IV, ciphertext with
// Padding and Pad Length, ICV) that Seal produces for n octets of inner
// payloads. The caller needs it to set the length fields in ad beforehand.
func (p *Protector) SealedLen(n int) int {
	s := p.s
	padded := (n + 1 + s.blockLen - 1) / s.blockLen * s.blockLen
	return s.ivLen + padded + s.icvLen
}

// PlaintextCapacity returns the largest number of inner payload octets whose
// sealed body fits in bodyLen octets, or -1 if none does; useful for IKE
// fragmentation (RFC 7383).
func (p *Protector) PlaintextCapacity(bodyLen int) int {
	s := p.s
	c := bodyLen - s.ivLen - s.icvLen
	c = c / s.blockLen * s.blockLen
	return max(c-1, -1)
}

// Seal protects plaintext (the inner payloads) and appends the SK payload
// body, SealedLen(len(plaintext)) octets, to dst. ad is described on
// Protector. To encrypt in place, plaintext may alias exactly the region
// after the IV of the output (dst[len(dst)+IVLen():]); otherwise plaintext
// must not overlap the output.
func (p *Protector) Seal(dst, ad, plaintext []byte) ([]byte, error) {
	if p == nil || p.s == nil {
		return dst, fmt.Errorf("seal SK payload: %w", ErrWiped)
	}
	s := p.s
	c, err := s.ready()
	if err != nil {
		return dst, fmt.Errorf("seal SK payload: %w", err)
	}
	n := p.SealedLen(len(plaintext))
	ret, out := sliceForAppend(dst, n)
	iv := out[:s.ivLen]
	padded := out[s.ivLen : n-s.icvLen]
	copy(padded, plaintext)
	padLen := len(padded) - len(plaintext) - 1
	clear(padded[len(plaintext) : len(padded)-1])
	padded[len(padded)-1] = byte(padLen)

	if c.aead != nil {
		if s.counter == ^uint64(0) {
			return dst, ErrIVExhausted
		}
		s.counter++
		binary.BigEndian.PutUint64(iv, s.counter)
		copy(s.nonce[aeadSaltLen:], iv)
		c.aead.Seal(padded[:0], s.nonce[:], padded, ad)
		return ret, nil
	}
	if _, err := io.ReadFull(s.rand, iv); err != nil {
		return dst, fmt.Errorf("seal SK payload: read IV: %w", err)
	}
	c.cbcEnc.(ivSetter).SetIV(iv)
	c.cbcEnc.CryptBlocks(padded, padded)
	c.mac.Reset()
	c.mac.Write(ad)
	c.mac.Write(out[:n-s.icvLen])
	sum := c.mac.Sum(c.sum[:0])
	copy(out[n-s.icvLen:], sum[:s.icvLen])
	return ret, nil
}

// Open verifies the SK payload body (everything after the SK generic header)
// against ad, decrypts it and appends the inner payloads, without Padding and
// Pad Length, to dst. Nothing is decrypted unless the ICV verifies; the ICV is
// compared in constant time. To decrypt in place pass
// body[IVLen():IVLen()] as dst; any other overlap of dst and body is a
// programming error. Errors: ErrSKTooShort, ErrSKBlockAlignment,
// ErrIntegrity, ErrSKPadding (all wrapped).
func (p *Protector) Open(dst, ad, body []byte) ([]byte, error) {
	if p == nil || p.s == nil {
		return dst, fmt.Errorf("open SK payload: %w", ErrWiped)
	}
	s := p.s
	c, err := s.ready()
	if err != nil {
		return dst, fmt.Errorf("open SK payload: %w", err)
	}
	if len(body) < s.ivLen+s.blockLen+s.icvLen {
		return dst, fmt.Errorf("open SK payload: %d octets: %w", len(body), ErrSKTooShort)
	}
	iv := body[:s.ivLen]
	ct := body[s.ivLen:]
	var plain []byte
	if c.aead != nil {
		copy(s.nonce[aeadSaltLen:], iv)
		ret, err := c.aead.Open(dst, s.nonce[:], ct, ad)
		if err != nil {
			return dst, fmt.Errorf("open SK payload: %w", ErrIntegrity)
		}
		plain = ret[len(dst):]
		dst = ret
	} else {
		icv := ct[len(ct)-s.icvLen:]
		ct = ct[:len(ct)-s.icvLen]
		if len(ct)%s.blockLen != 0 {
			return dst, fmt.Errorf("open SK payload: %d octets of ciphertext: %w", len(ct), ErrSKBlockAlignment)
		}
		c.mac.Reset()
		c.mac.Write(ad)
		c.mac.Write(body[:len(body)-s.icvLen])
		sum := c.mac.Sum(c.sum[:0])
		if subtle.ConstantTimeCompare(sum[:s.icvLen], icv) != 1 {
			return dst, fmt.Errorf("open SK payload: %w", ErrIntegrity)
		}
		ret, out := sliceForAppend(dst, len(ct))
		c.cbcDec.(ivSetter).SetIV(iv)
		c.cbcDec.CryptBlocks(out, ct)
		plain = out
		dst = ret
	}
	padLen := int(plain[len(plain)-1])
	if padLen+1 > len(plain) {
		return dst[:len(dst)-len(plain)], fmt.Errorf("open SK payload: pad length %d with %d octets: %w", padLen, len(plain), ErrSKPadding)
	}
	return dst[:len(dst)-padLen-1], nil
}

// Wipe drops the cipher state. The expanded keys inside the standard
// library's cipher objects cannot be overwritten from here; dropping every
// reference is the best this package can do. Idempotent.
func (p *Protector) Wipe() {
	if p == nil || p.s == nil {
		return
	}
	clear(p.s.nonce[:])
	clear(p.s.key)
	if p.s.c != nil {
		p.s.c.wipe()
	}
	p.s = nil
}

// String describes the algorithms, never the keys.
func (p *Protector) String() string {
	if p == nil || p.s == nil {
		return "Protector{wiped}"
	}
	return fmt.Sprintf("Protector{%s %s}", encrName(p.s.encr, p.s.keyBits), integName(p.s.integ))
}

// Format makes every fmt verb print String.
func (p *Protector) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, p.String()) }

// sliceForAppend extends in by n octets, reallocating only when the capacity
// is too small, and returns the whole slice and the new tail.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}
