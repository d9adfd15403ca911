package transform

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// ctrBatch is how many AES-CTR keystream blocks are made per XOR pass.
const ctrBatch = 8

// ctrScratch holds the counter block and a batch of keystream.
type ctrScratch struct {
	ctr [16]byte
	ks  [16 * ctrBatch]byte
}

// encThenMAC is a cipher (AES-CBC, 3DES-CBC, AES-CTR or NULL) followed by
// an HMAC over SPI | seq-lo | IV | ciphertext [| seq-hi].
type encThenMAC struct {
	name   string
	encr   EncrID
	blk    cipher.Block // nil for ENCR_NULL
	nonce  [4]byte      // RFC 3686 nonce for AES-CTR
	mac    *hmacIntegrity
	ivLen  int
	icvLen int
	align  int
	opts   Options
	rand   io.Reader
	ctrs   sync.Pool
	wiped  atomic.Bool
}

func newEncThenMAC(encr EncrID, bits int, blk cipher.Block, nonce [4]byte, mac *hmacIntegrity, opts Options) *encThenMAC {
	t := &encThenMAC{encr: encr, blk: blk, nonce: nonce, mac: mac, opts: opts, rand: opts.Rand}
	if t.rand == nil {
		t.rand = rand.Reader
	}
	switch encr {
	case EncrNull:
		t.name, t.ivLen, t.align = "NULL", 0, 4
	case EncrAESCBC:
		t.name, t.ivLen, t.align = fmt.Sprintf("AES-CBC %d", bits), 16, 16
	case Encr3DES:
		t.name, t.ivLen, t.align = "3DES-CBC", 8, 8
	case EncrAESCTR:
		t.name, t.ivLen, t.align = fmt.Sprintf("AES-CTR %d", bits), 8, 4
		t.ctrs.New = func() any { return new(ctrScratch) }
	}
	if mac != nil {
		t.name += " " + mac.name
		t.icvLen = mac.icvLen
	} else {
		t.name += " without integrity"
	}
	return t
}

func (t *encThenMAC) Name() string   { return t.name }
func (t *encThenMAC) IVLen() int     { return t.ivLen }
func (t *encThenMAC) BlockSize() int { return t.align }
func (t *encThenMAC) ICVLen() int    { return t.icvLen }

// split checks the length and returns IV, payload and ICV.
func (t *encThenMAC) split(esp []byte) (iv, payload, icv []byte, err error) {
	n := len(esp) - 8 - t.ivLen - t.icvLen
	if n < 4 || n%t.align != 0 {
		return nil, nil, nil, fmt.Errorf("%s: %d octets: %w", t.name, len(esp), ErrLength)
	}
	iv = esp[8 : 8+t.ivLen]
	payload = esp[8+t.ivLen : len(esp)-t.icvLen]
	icv = esp[len(esp)-t.icvLen:]
	return iv, payload, icv, nil
}

func (t *encThenMAC) Seal(esp []byte, seq uint64, esn bool) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	iv, payload, icv, err := t.split(esp)
	if err != nil {
		return err
	}
	switch t.encr {
	case EncrAESCBC, Encr3DES:
		if t.opts.IV != nil {
			t.opts.IV(seq, iv)
		} else if _, err := io.ReadFull(t.rand, iv); err != nil {
			return fmt.Errorf("%s: IV: %w", t.name, err)
		}
		cbcEncrypt(t.blk, iv, payload)
	case EncrAESCTR:
		counterIV(iv, seq, &t.opts)
		t.ctr(iv, payload)
	}
	if t.mac != nil {
		t.mac.seal(icv, esp[:len(esp)-len(icv)], seq, esn)
	}
	return nil
}

func (t *encThenMAC) Open(esp []byte, seq uint64, esn bool) error {
	if t.wiped.Load() {
		return ErrWiped
	}
	iv, payload, icv, err := t.split(esp)
	if err != nil {
		return err
	}
	if t.mac != nil && !t.mac.verify(icv, esp[:len(esp)-len(icv)], seq, esn) {
		return ErrAuth
	}
	switch t.encr {
	case EncrAESCBC, Encr3DES:
		cbcDecrypt(t.blk, iv, payload)
	case EncrAESCTR:
		t.ctr(iv, payload)
	}
	return nil
}

func (t *encThenMAC) Wipe() {
	t.wiped.Store(true)
	clear(t.nonce[:])
	if t.mac != nil {
		t.mac.Wipe()
	}
}

// cbcEncrypt encrypts p in place in CBC mode. It works on the packet
// buffer directly, so nothing escapes to the heap.
func cbcEncrypt(b cipher.Block, iv, p []byte) {
	bs := b.BlockSize()
	prev := iv
	for i := 0; i < len(p); i += bs {
		blk := p[i : i+bs]
		subtle.XORBytes(blk, blk, prev)
		b.Encrypt(blk, blk)
		prev = blk
	}
}

// cbcDecrypt decrypts p in place, last block first, so the previous
// ciphertext block is still intact when each block needs it.
func cbcDecrypt(b cipher.Block, iv, p []byte) {
	bs := b.BlockSize()
	for i := len(p) - bs; i >= 0; i -= bs {
		blk := p[i : i+bs]
		b.Decrypt(blk, blk)
		if i == 0 {
			subtle.XORBytes(blk, blk, iv)
		} else {
			subtle.XORBytes(blk, blk, p[i-bs:i])
		}
	}
}

// ctr XORs p with the RFC 3686 keystream: counter block = nonce | IV |
// block counter, the counter starting at 1.
func (t *encThenMAC) ctr(iv, p []byte) {
	s := t.ctrs.Get().(*ctrScratch)
	copy(s.ctr[:4], t.nonce[:])
	copy(s.ctr[4:12], iv)
	n := uint32(1)
	for len(p) > 0 {
		k := 0
		for ; k < ctrBatch && k*16 < len(p); k++ {
			binary.BigEndian.PutUint32(s.ctr[12:], n)
			t.blk.Encrypt(s.ks[k*16:k*16+16], s.ctr[:])
			n++
		}
		m := subtle.XORBytes(p, p, s.ks[:k*16])
		p = p[m:]
	}
	t.ctrs.Put(s)
}
