package crypto

import (
	"fmt"

	"github.com/cygnet-ipsec/cygnet/iana"
)

// Encryption algorithms used by this package; the numbers are package
// iana's (IANA Transform Type 1).
const (
	Encr3DES             uint16 = uint16(iana.ENCR_3DES)               // ENCR_3DES (RFC 2451), legacy: only when a proposal names it
	EncrAESCBC           uint16 = uint16(iana.ENCR_AES_CBC)            // ENCR_AES_CBC (RFC 3602)
	EncrAESCTR           uint16 = uint16(iana.ENCR_AES_CTR)            // ENCR_AES_CTR (RFC 5930), Child SA key lengths only
	EncrNull             uint16 = uint16(iana.ENCR_NULL)               // ENCR_NULL, Child SA (ESP) only
	EncrAESGCM8          uint16 = uint16(iana.ENCR_AES_GCM_8)          // ENCR_AES_GCM_8 (RFC 4106), Child SA key lengths only
	EncrAESGCM12         uint16 = uint16(iana.ENCR_AES_GCM_12)         // ENCR_AES_GCM_12 (RFC 4106), Child SA key lengths only
	EncrAESGCM16         uint16 = uint16(iana.ENCR_AES_GCM_16)         // ENCR_AES_GCM_16 (RFC 5282 / RFC 4106)
	EncrNullAuthAESGMAC  uint16 = uint16(iana.ENCR_NULL_AUTH_AES_GMAC) // ENCR_NULL_AUTH_AES_GMAC (RFC 4543), Child SA key lengths only
	EncrChaCha20Poly1305 uint16 = uint16(iana.ENCR_CHACHA20_POLY1305)  // ENCR_CHACHA20_POLY1305 (RFC 7634)
)

// Integrity algorithms used by this package; the numbers are package
// iana's (IANA Transform Type 3).
const (
	IntegNone          uint16 = uint16(iana.AUTH_NONE)              // NONE, with AEAD ciphers
	IntegHMACSHA196    uint16 = uint16(iana.AUTH_HMAC_SHA1_96)      // AUTH_HMAC_SHA1_96 (RFC 2404), legacy: only when a proposal names it
	IntegHMACSHA256128 uint16 = uint16(iana.AUTH_HMAC_SHA2_256_128) // AUTH_HMAC_SHA2_256_128 (RFC 4868)
	IntegHMACSHA384192 uint16 = uint16(iana.AUTH_HMAC_SHA2_384_192) // AUTH_HMAC_SHA2_384_192 (RFC 4868)
	IntegHMACSHA512256 uint16 = uint16(iana.AUTH_HMAC_SHA2_512_256) // AUTH_HMAC_SHA2_512_256 (RFC 4868)
)

// Suite is the set of transforms negotiated for an IKE SA: what the key
// schedule needs to know to cut the keys (RFC 7296 section 2.14).
type Suite struct {
	Encr        uint16 // Transform Type 1 ID
	EncrKeyBits int    // Key Length attribute in bits; 0 for ciphers with a fixed key (ChaCha20-Poly1305)
	Integ       uint16 // Transform Type 3 ID; IntegNone with an AEAD cipher
	PRF         uint16 // Transform Type 2 ID
	// AllowLegacySHA1 permits PRF_HMAC_SHA1 (see PRFOptions).
	AllowLegacySHA1 bool
}

// ChildSuite is the set of transforms negotiated for a Child SA, enough to cut
// KEYMAT into keys (RFC 7296 section 2.17).
type ChildSuite struct {
	Encr        uint16 // Transform Type 1 ID; 0 for AH
	EncrKeyBits int    // Key Length attribute in bits; 0 for fixed-key ciphers
	Integ       uint16 // Transform Type 3 ID; IntegNone with an AEAD cipher
}

// childEncrKeyLen is EncrKeyLen for Child SAs.
func childEncrKeyLen(encr uint16, keyBits int) (int, error) {
	if encr == uint16(iana.ENCR_3DES) && (keyBits == 0 || keyBits == 192) {
		return 24, nil
	}
	switch iana.EncrID(encr) {
	case iana.ENCR_AES_CCM_8, iana.ENCR_AES_CCM_12, iana.ENCR_AES_CCM_16:
		// ESP only: the key and a 3-octet salt (RFC 4309 section 7.1)
		switch keyBits {
		case 128, 192, 256:
			return keyBits/8 + 3, nil
		}
		return 0, fmt.Errorf("encryption transform %d with key length %d: %w", encr, keyBits, ErrUnsupported)
	}
	n, _, _, err := EncrKeyLen(encr, keyBits)
	return n, err
}

// childIntegKeyLen is IntegKeyLen for Child SAs, which also run the
// integrity algorithms of ESP and AH that the IKE SA protector does not:
// AES-GMAC (AH) takes the AES key and a 4-octet salt from KEYMAT (RFC 4543
// section 4), AES-XCBC-96 and AES-CMAC-96 a 128-bit key.
func childIntegKeyLen(integ uint16) (int, error) {
	switch iana.IntegID(integ) {
	case iana.AUTH_AES_128_GMAC:
		return 16 + 4, nil
	case iana.AUTH_AES_192_GMAC:
		return 24 + 4, nil
	case iana.AUTH_AES_256_GMAC:
		return 32 + 4, nil
	case iana.AUTH_AES_XCBC_96, iana.AUTH_AES_CMAC_96:
		return 16, nil // RFC 3566 section 4.1, RFC 4494 section 2.1
	}
	return IntegKeyLen(integ)
}

// EncrKeyLen returns the number of keying octets that the encryption transform
// encr with key length keyBits takes from prf+ (RFC 7296 sections 2.14 and
// 2.17): the cipher key plus, for AEAD and counter modes, the salt or nonce
// that follows it (4 octets for AES-GCM, RFC 5282 section 7.1 and RFC 4106
// section 8.1; ChaCha20-Poly1305, RFC 7634 section 4; AES-CTR, RFC 5930).
// salt is the length of that trailing salt, and aead tells whether the cipher
// provides integrity itself.
func EncrKeyLen(encr uint16, keyBits int) (n, salt int, aead bool, err error) {
	aesKey := func() (int, error) {
		switch keyBits {
		case 128, 192, 256:
			return keyBits / 8, nil
		}
		return 0, fmt.Errorf("encryption transform %d with key length %d: %w", encr, keyBits, ErrUnsupported)
	}
	switch encr {
	case 0, EncrNull:
		return 0, 0, false, nil
	case Encr3DES:
		// Legacy 3DES-CBC (RFC 2451): three 8-octet DES keys, no Key
		// Length attribute; run only when a configured proposal names it.
		if keyBits != 0 && keyBits != 192 {
			return 0, 0, false, fmt.Errorf("ENCR_3DES with key length %d: %w", keyBits, ErrUnsupported)
		}
		return 24, 0, false, nil
	case EncrAESCBC:
		k, err := aesKey()
		return k, 0, false, err
	case EncrAESCTR:
		k, err := aesKey()
		return k + 4, 4, false, err
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrNullAuthAESGMAC:
		k, err := aesKey()
		return k + 4, 4, true, err
	case EncrChaCha20Poly1305:
		if keyBits != 0 && keyBits != 256 {
			return 0, 0, false, fmt.Errorf("ENCR_CHACHA20_POLY1305 with key length %d: %w", keyBits, ErrUnsupported)
		}
		return 32 + 4, 4, true, nil
	}
	return 0, 0, false, fmt.Errorf("encryption transform %d: %w", encr, ErrUnsupported)
}

// IntegKeyLen returns the key length in octets of integrity transform integ
// (RFC 4868 section 2.1.1 for the SHA-2 ones: the full hash output length).
func IntegKeyLen(integ uint16) (int, error) {
	switch integ {
	case IntegNone:
		return 0, nil
	case IntegHMACSHA196:
		return 20, nil
	case IntegHMACSHA256128:
		return 32, nil
	case IntegHMACSHA384192:
		return 48, nil
	case IntegHMACSHA512256:
		return 64, nil
	}
	return 0, fmt.Errorf("integrity transform %d: %w", integ, ErrUnsupported)
}

func encrName(encr uint16, bits int) string {
	var n string
	switch encr {
	case Encr3DES:
		return "ENCR_3DES"
	case EncrAESCBC:
		n = "ENCR_AES_CBC"
	case EncrAESCTR:
		n = "ENCR_AES_CTR"
	case EncrNull:
		return "ENCR_NULL"
	case EncrAESGCM8:
		n = "ENCR_AES_GCM_8"
	case EncrAESGCM12:
		n = "ENCR_AES_GCM_12"
	case EncrAESGCM16:
		n = "ENCR_AES_GCM_16"
	case EncrNullAuthAESGMAC:
		n = "ENCR_NULL_AUTH_AES_GMAC"
	case EncrChaCha20Poly1305:
		return "ENCR_CHACHA20_POLY1305"
	case 0:
		return "none"
	default:
		n = fmt.Sprintf("ENCR(%d)", encr)
	}
	if bits != 0 {
		n += fmt.Sprintf("/%d", bits)
	}
	return n
}

func integName(integ uint16) string {
	switch integ {
	case IntegNone:
		return "NONE"
	case IntegHMACSHA196:
		return "AUTH_HMAC_SHA1_96"
	case IntegHMACSHA256128:
		return "AUTH_HMAC_SHA2_256_128"
	case IntegHMACSHA384192:
		return "AUTH_HMAC_SHA2_384_192"
	case IntegHMACSHA512256:
		return "AUTH_HMAC_SHA2_512_256"
	}
	return fmt.Sprintf("INTEG(%d)", integ)
}
