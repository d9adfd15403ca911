package transform

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"sync"
)

// newGCM returns AES-GCM with a tag of tagLen octets: the standard
// library's for 12 and 16, truncGCM for RFC 4106's 8.
func newGCM(blk cipher.Block, tagLen int) (cipher.AEAD, error) {
	if tagLen == 8 {
		full, err := cipher.NewGCM(blk)
		if err != nil {
			return nil, err
		}
		t := &truncGCM{full: full, blk: blk, tagLen: 8}
		t.scratch.New = func() any { return new(truncGCMScratch) }
		return t, nil
	}
	return cipher.NewGCMWithTagSize(blk, tagLen)
}

// truncGCM is AES-GCM with its tag truncated to 8 octets (NIST SP 800-38D
// section 5.2.1.2: the leftmost octets of the full tag), which crypto/cipher
// does not offer (its tags are 12 to 16 octets). Seal runs the standard
// GCM into scratch and keeps the first 8 tag octets; Open decrypts with
// GCM's counter mode (the counter block nonce | 2, 3, ...), seals the
// plaintext again into scratch and compares the first 8 octets of that tag
// in constant time. Open therefore costs about twice a GCM-16 open: ESP
// with an 8-octet ICV is for peers that insist on it.
type truncGCM struct {
	full    cipher.AEAD
	blk     cipher.Block
	tagLen  int
	scratch sync.Pool
}

// truncGCMScratch is a call's buffer (grown to the largest packet seen)
// and counter blocks.
type truncGCMScratch struct {
	buf    []byte
	ctr, s [16]byte
}

var errGCMOpen = errors.New("gcm: message authentication failed")

func (t *truncGCM) NonceSize() int { return 12 }
func (t *truncGCM) Overhead() int  { return t.tagLen }

func (t *truncGCM) Seal(dst, nonce, plaintext, aad []byte) []byte {
	s := t.scratch.Get().(*truncGCMScratch)
	s.buf = t.full.Seal(s.buf[:0], nonce, plaintext, aad)
	ret, out := sliceForAppend(dst, len(plaintext)+t.tagLen)
	copy(out, s.buf[:len(plaintext)+t.tagLen])
	t.scratch.Put(s)
	return ret
}

func (t *truncGCM) Open(dst, nonce, ciphertext, aad []byte) ([]byte, error) {
	if len(nonce) != 12 || len(ciphertext) < t.tagLen {
		return nil, errGCMOpen
	}
	tag := ciphertext[len(ciphertext)-t.tagLen:]
	ct := ciphertext[:len(ciphertext)-t.tagLen]
	s := t.scratch.Get().(*truncGCMScratch)
	// the tag is read before out (which may be ct itself) is written; it
	// lies behind ct, so keep a copy of it in the counter block's room
	var tagCopy [16]byte
	copy(tagCopy[:], tag)
	ret, out := sliceForAppend(dst, len(ct))
	copy(s.ctr[:12], nonce)
	for i := uint32(2); len(ct) > 0; i++ {
		binary.BigEndian.PutUint32(s.ctr[12:], i)
		t.blk.Encrypt(s.s[:], s.ctr[:])
		n := subtle.XORBytes(out, ct, s.s[:])
		out, ct = out[n:], ct[n:]
	}
	out = ret[len(dst):]
	s.buf = t.full.Seal(s.buf[:0], nonce, out, aad)
	ok := subtle.ConstantTimeCompare(s.buf[len(out):len(out)+t.tagLen], tagCopy[:t.tagLen]) == 1
	t.scratch.Put(s)
	if !ok {
		clear(out)
		return nil, errGCMOpen
	}
	return ret, nil
}
