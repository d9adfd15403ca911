package transform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// aesMAC is a CBC-MAC over AES with a final-block subkey: AES-XCBC-MAC
// (RFC 3566) or AES-CMAC (RFC 4493). Both MAC every block but the last
// with the CBC chain, then XOR the last block with one subkey when it is
// complete and, padded with 0x80 0x00..., with another when it is not (an
// empty message is one incomplete block). They differ in the chain key and
// the subkeys:
//
//   - XCBC: K1 = E(K, 0x01^16) keys the chain, K2 = E(K, 0x02^16) is the
//     complete-block subkey and K3 = E(K, 0x03^16) the padded one;
//   - CMAC: K keys the chain, L = E(K, 0^128), K1 = dbl(L) is the
//     complete-block subkey and K2 = dbl(K1) the padded one.
//
// It implements hash.Hash so it takes the place of an HMAC in
// hmacIntegrity's pooled states; the buffers live in the struct, so the
// block cipher calls (through an interface) allocate nothing per packet.
type aesMAC struct {
	blk      cipher.Block // keys the CBC chain
	complete [16]byte     // subkey for a complete last block
	partial  [16]byte     // subkey for a padded last block
	x        [16]byte     // chaining value
	buf      [16]byte     // the last, still unprocessed block
	n        int          // octets in buf
	tmp      [16]byte
}

// newXCBC keys AES-XCBC-MAC (RFC 3566 section 4): a 128-bit key only.
func newXCBC(key []byte) (*aesMAC, error) {
	if len(key) != 16 {
		return nil, fmt.Errorf("AES-XCBC-MAC with a %d-octet key: %w", len(key), ErrKeyLength)
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES-XCBC-MAC: %w", err)
	}
	m := &aesMAC{}
	var k1 [16]byte
	for i, c := range []byte{1, 2, 3} {
		var in [16]byte
		for j := range in {
			in[j] = c
		}
		switch i {
		case 0:
			blk.Encrypt(k1[:], in[:])
		case 1:
			blk.Encrypt(m.complete[:], in[:])
		case 2:
			blk.Encrypt(m.partial[:], in[:])
		}
	}
	m.blk, err = aes.NewCipher(k1[:])
	clear(k1[:])
	if err != nil {
		return nil, fmt.Errorf("AES-XCBC-MAC: %w", err)
	}
	return m, nil
}

// newCMAC keys AES-CMAC (RFC 4493 section 2.3).
func newCMAC(key []byte) (*aesMAC, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES-CMAC: %w", err)
	}
	m := &aesMAC{blk: blk}
	var l [16]byte
	blk.Encrypt(l[:], l[:])
	dbl(&m.complete, &l)
	dbl(&m.partial, &m.complete)
	clear(l[:])
	return m, nil
}

// dbl multiplies by x in GF(2^128) (RFC 4493's "K << 1, XOR Rb if the top
// bit was set"), in constant time.
func dbl(out, in *[16]byte) {
	msb := in[0] >> 7
	for i := range 15 {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[15] = in[15]<<1 ^ byte(subtle.ConstantTimeByteEq(msb, 1))*0x87
}

func (m *aesMAC) Size() int      { return 16 }
func (m *aesMAC) BlockSize() int { return 16 }

func (m *aesMAC) Reset() {
	clear(m.x[:])
	m.n = 0
}

// Write MACs every full block except the last one seen, which stays in buf
// until Sum knows whether more follows.
func (m *aesMAC) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if m.n == 16 {
			subtle.XORBytes(m.x[:], m.x[:], m.buf[:])
			m.blk.Encrypt(m.x[:], m.x[:])
			m.n = 0
		}
		c := copy(m.buf[m.n:], p)
		m.n += c
		p = p[c:]
	}
	return n, nil
}

// Sum appends the 16-octet MAC to b; the state is not changed.
func (m *aesMAC) Sum(b []byte) []byte {
	if m.n == 16 {
		subtle.XORBytes(m.tmp[:], m.buf[:], m.complete[:])
	} else {
		copy(m.tmp[:], m.buf[:m.n])
		m.tmp[m.n] = 0x80
		clear(m.tmp[m.n+1:])
		subtle.XORBytes(m.tmp[:], m.tmp[:], m.partial[:])
	}
	subtle.XORBytes(m.tmp[:], m.tmp[:], m.x[:])
	m.blk.Encrypt(m.tmp[:], m.tmp[:])
	return append(b, m.tmp[:]...)
}
