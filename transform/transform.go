package transform

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ESPHeaderLen is the length of the ESP header (SPI and low 32 bits of the
// sequence number) that starts every buffer handed to ESP.Seal and ESP.Open.
const ESPHeaderLen = 8

// Sentinel errors. Callers tell drop reasons apart with errors.Is.
var (
	// ErrAuth means the ICV did not verify; the packet was not decrypted.
	ErrAuth = errors.New("ICV check failed")
	// ErrLength means the buffer cannot hold a packet of this algorithm
	// (too short, or ciphertext not a multiple of the block size).
	ErrLength = errors.New("bad ESP payload length")
	// ErrLegacyRefused means a legacy algorithm was asked for without
	// Options.AllowLegacy.
	ErrLegacyRefused = errors.New("legacy algorithm refused (enable it with transform.Options.AllowLegacy)")
	// ErrUnsupported means the algorithm, key size or combination is not
	// implemented or not allowed.
	ErrUnsupported = errors.New("unsupported transform")
	// ErrKeyLength means the key material has the wrong length.
	ErrKeyLength = errors.New("wrong key material length")
	// ErrWiped means the transform's keys were wiped.
	ErrWiped = errors.New("transform used after Wipe")
)

// ESP is an ESP algorithm (encryption and integrity, or a combined mode)
// keyed for one SA.
//
// The buffer handed to Seal and Open is the whole ESP packet as it is on the
// wire: SPI (4) | sequence number low 32 bits (4) | IV (IVLen) | payload |
// ICV (ICVLen). On Seal the payload is the plaintext including padding, pad
// length and next header, and its length is a multiple of BlockSize; Seal
// fills the IV, encrypts the payload in place and fills the ICV. Open
// verifies the ICV in constant time first and only then decrypts the
// payload in place. seq is the full 64-bit sequence number; with esn its
// high 32 bits are authenticated as RFC 4303 section 2.2.1 says.
type ESP interface {
	// Name describes the algorithm, e.g. "AES-GCM-16 128".
	Name() string
	// IVLen is the length of the explicit IV carried in each packet.
	IVLen() int
	// BlockSize is the alignment the payload (plaintext, padding, pad
	// length and next header) must have: the cipher's block size, at least 4.
	BlockSize() int
	// ICVLen is the length of the ICV at the end of the packet.
	ICVLen() int
	// Seal fills the IV, encrypts the payload and fills the ICV, in place.
	Seal(esp []byte, seq uint64, esn bool) error
	// Open verifies the ICV, then decrypts the payload in place.
	Open(esp []byte, seq uint64, esn bool) error
	// Wipe zeroes the key copies the transform holds; later calls fail
	// with ErrWiped.
	Wipe()
}

// OpenerTo is implemented by the ESP transforms that can decrypt out of
// place. OpenTo verifies the ICV of the ESP packet src, then decrypts its
// payload into dst, which is at least as long and does not overlap it: it
// copies the SPI, sequence number and IV into dst too, but not the ICV. A
// packet that must be copied into a buffer of its own anyway (a segment of
// a coalesced datagram) is then copied by its decryption.
type OpenerTo interface {
	OpenTo(dst, src []byte, seq uint64, esn bool) error
}

// Integrity is an integrity-only algorithm keyed for one SA, for AH
// (RFC 4302). The ICV is computed over the concatenation of parts (the
// caller zeroes mutable fields and the ICV field first, as AH requires);
// with esn the high 32 bits of seq are appended to the input for the ICV
// computation only, as RFC 4302 section 2.5.1 says.
//
// For AES-GMAC (RFC 4543 section 4) the ICV field carries the 8-octet IV
// followed by the 16-octet tag: Sum fills both, Verify reads the IV from the
// field. ICVLen counts the whole field.
//
// To avoid an allocation per call, pass parts from a slice the caller keeps
// (integ.Sum(icv, seq, esn, st.parts[:n]...)).
type Integrity interface {
	// Name describes the algorithm, e.g. "HMAC-SHA-256-128".
	Name() string
	// ICVLen is the length of the AH Integrity Check Value field this
	// algorithm fills, IV included.
	ICVLen() int
	// Sum computes the ICV over parts and writes it to icv[:ICVLen()].
	Sum(icv []byte, seq uint64, esn bool, parts ...[]byte) error
	// Verify checks icv[:ICVLen()] against parts in constant time; it
	// returns ErrAuth on mismatch.
	Verify(icv []byte, seq uint64, esn bool, parts ...[]byte) error
	// Wipe zeroes the key copies the transform holds; later calls fail
	// with ErrWiped.
	Wipe()
}

// Options tune how a transform is built.
type Options struct {
	// AllowLegacy permits 3DES-CBC and HMAC-SHA1-96, which are refused
	// otherwise with ErrLegacyRefused.
	AllowLegacy bool
	// AllowNoIntegrity permits an encryption algorithm other than ENCR_NULL
	// without an integrity algorithm: confidentiality-only ESP, which RFC
	// 4303 section 3.2 allows but which cannot detect forgery. It exists
	// for interoperability tests (e.g. the RFC 3602 packets) only.
	AllowNoIntegrity bool
	// Rand is the source of CBC IVs, safe for concurrent use; nil means
	// crypto/rand (on Linux 6.11+ served by the vDSO getrandom, so no
	// batching is needed).
	Rand io.Reader
	// IV, if set, replaces the IV generation: it must fill iv for the
	// packet with sequence number seq. It exists for known-answer and
	// interoperability tests; counter-mode IVs must never repeat under a
	// key, which the default (the sequence number) guarantees.
	IV func(seq uint64, iv []byte)
}

// KeyLen returns the length of the key material NewESP expects for the
// combination: encryption key (and salt or nonce) followed by the integrity
// key. IKE derives this many octets per direction.
func KeyLen(encr EncrID, encrKeyBits int, integ IntegID) (int, error) {
	ek, _, err := encrKeyLen(encr, encrKeyBits)
	if err != nil {
		return 0, err
	}
	ik, err := integKeyLen(integ)
	if err != nil {
		return 0, err
	}
	return ek + ik, nil
}

// encrKeyLen returns the octets of key material the encryption algorithm
// takes (salt included) and the salt/nonce length within it.
func encrKeyLen(encr EncrID, bits int) (total, salt int, err error) {
	switch encr {
	case EncrNull:
		if bits != 0 {
			return 0, 0, fmt.Errorf("%v with %d-bit key: %w", encr, bits, ErrUnsupported)
		}
		return 0, 0, nil
	case EncrAESCBC:
		if bits != 128 && bits != 192 && bits != 256 {
			return 0, 0, fmt.Errorf("%v with %d-bit key: %w", encr, bits, ErrUnsupported)
		}
		return bits / 8, 0, nil
	case EncrAESCTR, EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrNullAuthAESGMAC:
		if bits != 128 && bits != 192 && bits != 256 {
			return 0, 0, fmt.Errorf("%v with %d-bit key: %w", encr, bits, ErrUnsupported)
		}
		return bits/8 + 4, 4, nil
	case EncrAESCCM8, EncrAESCCM12, EncrAESCCM16:
		// RFC 4309 section 7.1: a 3-octet salt follows the key
		if bits != 128 && bits != 192 && bits != 256 {
			return 0, 0, fmt.Errorf("%v with %d-bit key: %w", encr, bits, ErrUnsupported)
		}
		return bits/8 + 3, 3, nil
	case EncrChaCha20Poly1305:
		if bits != 0 && bits != 256 {
			return 0, 0, fmt.Errorf("%v with %d-bit key: %w", encr, bits, ErrUnsupported)
		}
		return 32 + 4, 4, nil
	case Encr3DES:
		if bits != 0 && bits != 192 {
			return 0, 0, fmt.Errorf("%v with %d-bit key: %w", encr, bits, ErrUnsupported)
		}
		return 24, 0, nil
	}
	return 0, 0, fmt.Errorf("%v: %w", encr, ErrUnsupported)
}

func integKeyLen(integ IntegID) (int, error) {
	switch integ {
	case IntegNone:
		return 0, nil
	case IntegHMACSHA1_96:
		return 20, nil
	case IntegAESXCBC96, IntegAESCMAC96:
		return 16, nil // RFC 3566 section 4.1, RFC 4494 section 2.1
	case IntegHMACSHA256_128:
		return 32, nil
	case IntegHMACSHA384_192:
		return 48, nil
	case IntegHMACSHA512_256:
		return 64, nil
	case IntegAES128GMAC:
		return 16 + 4, nil
	case IntegAES192GMAC:
		return 24 + 4, nil
	case IntegAES256GMAC:
		return 32 + 4, nil
	}
	return 0, fmt.Errorf("%v: %w", integ, ErrUnsupported)
}

func isAEAD(encr EncrID) bool {
	switch encr {
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrAESCCM8, EncrAESCCM12, EncrAESCCM16,
		EncrChaCha20Poly1305, EncrNullAuthAESGMAC:
		return true
	}
	return false
}

// NewESP builds an ESP algorithm from IKEv2 identifiers and key material:
// the encryption key (with the 4-octet salt of RFC 4106/4543/7634, the
// 3-octet salt of RFC 4309 or the 4-octet nonce of RFC 3686 appended)
// followed by the integrity key.
// encrKeyBits is the Key Length attribute (0 where the algorithm has a fixed
// key size). AEADs take IntegNone; the other ciphers need an HMAC. The key
// material is copied; the caller may wipe its copy.
func NewESP(encr EncrID, encrKeyBits int, integ IntegID, key []byte, opts Options) (ESP, error) {
	ek, saltLen, err := encrKeyLen(encr, encrKeyBits)
	if err != nil {
		return nil, err
	}
	ik, err := integKeyLen(integ)
	if err != nil {
		return nil, err
	}
	if encr == Encr3DES && !opts.AllowLegacy {
		return nil, fmt.Errorf("%v: %w", encr, ErrLegacyRefused)
	}
	if integ == IntegHMACSHA1_96 && !opts.AllowLegacy {
		return nil, fmt.Errorf("%v: %w", integ, ErrLegacyRefused)
	}
	switch {
	case isAEAD(encr) && integ != IntegNone:
		return nil, fmt.Errorf("%v with %v (combined mode takes no integrity algorithm): %w", encr, integ, ErrUnsupported)
	case !isAEAD(encr) && integ == IntegNone && encr != EncrNull && opts.AllowNoIntegrity:
	case !isAEAD(encr) && !isHMAC(integ):
		return nil, fmt.Errorf("%v with %v (needs an HMAC, XCBC or CMAC integrity algorithm): %w", encr, integ, ErrUnsupported)
	}
	if len(key) != ek+ik {
		return nil, fmt.Errorf("%v/%v: %d octets, want %d: %w", encr, integ, len(key), ek+ik, ErrKeyLength)
	}
	ekey, ikey := key[:ek-saltLen], key[ek:]
	var salt [4]byte
	copy(salt[:], key[ek-saltLen:ek])

	switch encr {
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrAESCCM8, EncrAESCCM12, EncrAESCCM16, EncrChaCha20Poly1305:
		return newAEADESP(encr, ekey, salt, opts)
	case EncrNullAuthAESGMAC:
		return newGMACESP(ekey, salt, opts)
	}
	var mac *hmacIntegrity
	if integ != IntegNone {
		if mac, err = newHMAC(integ, ikey); err != nil {
			return nil, err
		}
	}
	var blk cipher.Block
	switch encr {
	case EncrAESCBC, EncrAESCTR:
		blk, err = aes.NewCipher(ekey)
	case Encr3DES:
		blk, err = des.NewTripleDESCipher(ekey)
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", encr, err)
	}
	return newEncThenMAC(encr, len(ekey)*8, blk, salt, mac, opts), nil
}

// NewIntegrity builds an integrity-only algorithm for AH from its IKEv2
// identifier and key (for AES-GMAC: the AES key with the 4-octet salt
// appended). The key is copied.
func NewIntegrity(integ IntegID, key []byte, opts Options) (Integrity, error) {
	ik, err := integKeyLen(integ)
	if err != nil {
		return nil, err
	}
	if integ == IntegNone {
		return nil, fmt.Errorf("%v as AH integrity: %w", integ, ErrUnsupported)
	}
	if integ == IntegHMACSHA1_96 && !opts.AllowLegacy {
		return nil, fmt.Errorf("%v: %w", integ, ErrLegacyRefused)
	}
	if len(key) != ik {
		return nil, fmt.Errorf("%v: %d octets, want %d: %w", integ, len(key), ik, ErrKeyLength)
	}
	if isHMAC(integ) {
		return newHMAC(integ, key)
	}
	var salt [4]byte
	copy(salt[:], key[ik-4:])
	return newGMACIntegrity(integ, key[:ik-4], salt, opts)
}

// counterIV writes the default counter-mode IV: the 64-bit sequence number.
func counterIV(iv []byte, seq uint64, opts *Options) {
	if opts.IV != nil {
		opts.IV(seq, iv)
		return
	}
	binary.BigEndian.PutUint64(iv, seq)
}
