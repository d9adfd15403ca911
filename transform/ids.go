package transform

import "strconv"

// EncrID is an IKEv2 Transform Type 1 (encryption algorithm) identifier,
// as registered by IANA.
type EncrID uint16

// Encryption algorithm identifiers (IANA "Transform Type 1").
const (
	Encr3DES             EncrID = 3  // ENCR_3DES (RFC 2451), legacy
	EncrNull             EncrID = 11 // ENCR_NULL (RFC 2410)
	EncrAESCBC           EncrID = 12 // ENCR_AES_CBC (RFC 3602)
	EncrAESCTR           EncrID = 13 // ENCR_AES_CTR (RFC 3686)
	EncrAESGCM16         EncrID = 20 // ENCR_AES_GCM_16 (RFC 4106)
	EncrNullAuthAESGMAC  EncrID = 21 // ENCR_NULL_AUTH_AES_GMAC (RFC 4543)
	EncrChaCha20Poly1305 EncrID = 28 // ENCR_CHACHA20_POLY1305 (RFC 7634)
)

// String returns the IANA name of the algorithm.
func (e EncrID) String() string {
	switch e {
	case Encr3DES:
		return "ENCR_3DES"
	case EncrNull:
		return "ENCR_NULL"
	case EncrAESCBC:
		return "ENCR_AES_CBC"
	case EncrAESCTR:
		return "ENCR_AES_CTR"
	case EncrAESGCM16:
		return "ENCR_AES_GCM_16"
	case EncrNullAuthAESGMAC:
		return "ENCR_NULL_AUTH_AES_GMAC"
	case EncrChaCha20Poly1305:
		return "ENCR_CHACHA20_POLY1305"
	}
	return "ENCR(" + strconv.Itoa(int(e)) + ")"
}

// IntegID is an IKEv2 Transform Type 3 (integrity algorithm) identifier,
// as registered by IANA.
type IntegID uint16

// Integrity algorithm identifiers (IANA "Transform Type 3").
const (
	IntegNone           IntegID = 0  // NONE: with an AEAD in ESP
	IntegHMACSHA1_96    IntegID = 2  // AUTH_HMAC_SHA1_96 (RFC 2404), legacy
	IntegAES128GMAC     IntegID = 9  // AUTH_AES_128_GMAC (RFC 4543), AH only
	IntegAES192GMAC     IntegID = 10 // AUTH_AES_192_GMAC (RFC 4543), AH only
	IntegAES256GMAC     IntegID = 11 // AUTH_AES_256_GMAC (RFC 4543), AH only
	IntegHMACSHA256_128 IntegID = 12 // AUTH_HMAC_SHA2_256_128 (RFC 4868)
	IntegHMACSHA384_192 IntegID = 13 // AUTH_HMAC_SHA2_384_192 (RFC 4868)
	IntegHMACSHA512_256 IntegID = 14 // AUTH_HMAC_SHA2_512_256 (RFC 4868)
)

// String returns the IANA name of the algorithm.
func (i IntegID) String() string {
	switch i {
	case IntegNone:
		return "NONE"
	case IntegHMACSHA1_96:
		return "AUTH_HMAC_SHA1_96"
	case IntegAES128GMAC:
		return "AUTH_AES_128_GMAC"
	case IntegAES192GMAC:
		return "AUTH_AES_192_GMAC"
	case IntegAES256GMAC:
		return "AUTH_AES_256_GMAC"
	case IntegHMACSHA256_128:
		return "AUTH_HMAC_SHA2_256_128"
	case IntegHMACSHA384_192:
		return "AUTH_HMAC_SHA2_384_192"
	case IntegHMACSHA512_256:
		return "AUTH_HMAC_SHA2_512_256"
	}
	return "AUTH(" + strconv.Itoa(int(i)) + ")"
}
