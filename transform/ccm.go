package transform

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"sync"
)

// ccm is AES-CCM (NIST SP 800-38C, RFC 3610) as a cipher.AEAD: CBC-MAC
// over B0, the length-prefixed additional data and the plaintext, then CTR
// mode for the payload and the tag. The nonce is 15-L octets (RFC 4309's
// ESP nonce is 11: salt | IV, so L = 4); tags of 4 to 16 even octets.
//
// The standard library has no CCM and the Go CCM packages around allocate
// per call; this one keeps its blocks in pooled scratch, so ESP stays free
// of per-packet allocations. It is checked against the RFC 3610 and SP
// 800-38C vectors and, in ESP, against scapy's AES-CCM and strongSwan.
type ccm struct {
	blk      cipher.Block
	nonceLen int
	tagLen   int
	scratch  sync.Pool
}

// ccmScratch holds a call's blocks.
type ccmScratch struct {
	x, a, s [16]byte // MAC chain, counter block, keystream block
	s0      [16]byte // E(A0), masks the tag
}

var errCCMOpen = errors.New("ccm: message authentication failed")

// newCCM returns CCM over blk (a 16-octet block cipher) with the given
// nonce and tag lengths.
func newCCM(blk cipher.Block, nonceLen, tagLen int) (*ccm, error) {
	if blk.BlockSize() != 16 || nonceLen < 7 || nonceLen > 13 || tagLen < 4 || tagLen > 16 || tagLen%2 != 0 {
		return nil, ErrUnsupported
	}
	c := &ccm{blk: blk, nonceLen: nonceLen, tagLen: tagLen}
	c.scratch.New = func() any { return new(ccmScratch) }
	return c, nil
}

func (c *ccm) NonceSize() int { return c.nonceLen }
func (c *ccm) Overhead() int  { return c.tagLen }

// maxLen is the longest message the length field of L = 15-nonceLen
// octets can count.
func (c *ccm) maxLen() uint64 {
	l := 15 - c.nonceLen
	if l >= 8 {
		return 1<<63 - 1
	}
	return 1<<(8*l) - 1
}

// mac runs the CBC-MAC over B0, the additional data and the plaintext and
// leaves the full MAC in s.x.
func (c *ccm) mac(s *ccmScratch, nonce, plaintext, aad []byte) {
	l := 15 - c.nonceLen
	b := &s.a // B0, built in the counter block's room
	b[0] = byte((c.tagLen-2)/2)<<3 | byte(l-1)
	if len(aad) > 0 {
		b[0] |= 0x40
	}
	copy(b[1:], nonce)
	n := uint64(len(plaintext))
	for i := 15; i > c.nonceLen; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	clear(s.x[:])
	c.absorb(s, b[:])
	if len(aad) > 0 {
		// a(len) prefix: 2 octets below 2^16-2^8, else 0xfffe | 4 octets
		// (ESP's AAD is 8 or 12 octets)
		var pre [6]byte
		p := pre[:2]
		if len(aad) < 0xff00 {
			binary.BigEndian.PutUint16(pre[:], uint16(len(aad)))
		} else {
			pre[0], pre[1] = 0xff, 0xfe
			binary.BigEndian.PutUint32(pre[2:], uint32(len(aad)))
			p = pre[:6]
		}
		c.absorbPadded(s, p, aad)
	}
	c.absorbPadded(s, nil, plaintext)
}

// absorb MACs one 16-octet block.
func (c *ccm) absorb(s *ccmScratch, blk []byte) {
	subtle.XORBytes(s.x[:], s.x[:], blk)
	c.blk.Encrypt(s.x[:], s.x[:])
}

// absorbPadded MACs pre | data, zero-padded to whole blocks.
func (c *ccm) absorbPadded(s *ccmScratch, pre, data []byte) {
	if len(pre)+len(data) == 0 {
		return
	}
	// the first block may mix the prefix and data
	k := copy(s.s[:], pre)
	m := copy(s.s[k:], data)
	data = data[m:]
	clear(s.s[k+m:])
	c.absorb(s, s.s[:])
	for len(data) >= 16 {
		c.absorb(s, data[:16])
		data = data[16:]
	}
	if len(data) > 0 {
		copy(s.s[:], data)
		clear(s.s[len(data):])
		c.absorb(s, s.s[:])
	}
}

// ctr XORs src into dst with the keystream of counters 1, 2, ... and puts
// E(A0) in s.s0.
func (c *ccm) ctr(s *ccmScratch, nonce, dst, src []byte) {
	l := 15 - c.nonceLen
	clear(s.a[:])
	s.a[0] = byte(l - 1)
	copy(s.a[1:], nonce)
	c.blk.Encrypt(s.s0[:], s.a[:])
	for i := uint64(1); len(src) > 0; i++ {
		v := i
		for j := 15; j > c.nonceLen; j-- {
			s.a[j] = byte(v)
			v >>= 8
		}
		c.blk.Encrypt(s.s[:], s.a[:])
		n := subtle.XORBytes(dst, src, s.s[:])
		dst, src = dst[n:], src[n:]
	}
}

// Seal encrypts and authenticates plaintext as cipher.AEAD does; dst and
// plaintext may overlap exactly.
func (c *ccm) Seal(dst, nonce, plaintext, aad []byte) []byte {
	if len(nonce) != c.nonceLen || uint64(len(plaintext)) > c.maxLen() {
		panic("transform: ccm: bad nonce or message length") // as crypto/cipher's AEADs do
	}
	ret, out := sliceForAppend(dst, len(plaintext)+c.tagLen)
	s := c.scratch.Get().(*ccmScratch)
	c.mac(s, nonce, plaintext, aad)
	c.ctr(s, nonce, out, plaintext)
	subtle.XORBytes(out[len(plaintext):], s.x[:c.tagLen], s.s0[:c.tagLen])
	c.scratch.Put(s)
	return ret
}

// Open decrypts and checks ciphertext as cipher.AEAD does; on a bad tag the
// output is zeroed and errCCMOpen returned.
func (c *ccm) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != c.nonceLen || len(ciphertext) < c.tagLen || uint64(len(ciphertext)-c.tagLen) > c.maxLen() {
		return nil, errCCMOpen
	}
	tag := ciphertext[len(ciphertext)-c.tagLen:]
	ct := ciphertext[:len(ciphertext)-c.tagLen]
	ret, out := sliceForAppend(dst, len(ct))
	s := c.scratch.Get().(*ccmScratch)
	c.ctr(s, nonce, out, ct)
	c.mac(s, nonce, out, aad)
	subtle.XORBytes(s.x[:c.tagLen], s.x[:c.tagLen], s.s0[:c.tagLen])
	ok := subtle.ConstantTimeCompare(s.x[:c.tagLen], tag) == 1
	c.scratch.Put(s)
	if !ok {
		clear(out)
		return nil, errCCMOpen
	}
	return ret, nil
}

// sliceForAppend extends in by n octets (reallocating if needed) and
// returns the whole slice and the new tail, as crypto/cipher does.
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
