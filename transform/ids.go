package transform

import "github.com/cygnet-ipsec/cygnet/iana"

// EncrID is an IKEv2 Transform Type 1 (encryption algorithm) identifier.
// The numbers and names are package iana's, the one table cygnet has; iana
// imports nothing of IKE, so the data plane stays free of it.
type EncrID = iana.EncrID

// Encryption algorithms this package implements (or refuses as legacy).
const (
	Encr3DES             = iana.ENCR_3DES               // RFC 2451, legacy
	EncrNull             = iana.ENCR_NULL               // RFC 2410
	EncrAESCBC           = iana.ENCR_AES_CBC            // RFC 3602
	EncrAESCTR           = iana.ENCR_AES_CTR            // RFC 3686
	EncrAESCCM8          = iana.ENCR_AES_CCM_8          // RFC 4309
	EncrAESCCM12         = iana.ENCR_AES_CCM_12         // RFC 4309
	EncrAESCCM16         = iana.ENCR_AES_CCM_16         // RFC 4309
	EncrAESGCM8          = iana.ENCR_AES_GCM_8          // RFC 4106
	EncrAESGCM12         = iana.ENCR_AES_GCM_12         // RFC 4106
	EncrAESGCM16         = iana.ENCR_AES_GCM_16         // RFC 4106
	EncrNullAuthAESGMAC  = iana.ENCR_NULL_AUTH_AES_GMAC // RFC 4543
	EncrChaCha20Poly1305 = iana.ENCR_CHACHA20_POLY1305  // RFC 7634
)

// IntegID is an IKEv2 Transform Type 3 (integrity algorithm) identifier,
// from package iana like EncrID.
type IntegID = iana.IntegID

// Integrity algorithms this package implements (or refuses as legacy).
const (
	IntegNone           = iana.AUTH_NONE              // with an AEAD in ESP
	IntegHMACSHA1_96    = iana.AUTH_HMAC_SHA1_96      // RFC 2404, legacy
	IntegAESXCBC96      = iana.AUTH_AES_XCBC_96       // RFC 3566
	IntegAESCMAC96      = iana.AUTH_AES_CMAC_96       // RFC 4494
	IntegAES128GMAC     = iana.AUTH_AES_128_GMAC      // RFC 4543, AH only
	IntegAES192GMAC     = iana.AUTH_AES_192_GMAC      // RFC 4543, AH only
	IntegAES256GMAC     = iana.AUTH_AES_256_GMAC      // RFC 4543, AH only
	IntegHMACSHA256_128 = iana.AUTH_HMAC_SHA2_256_128 // RFC 4868
	IntegHMACSHA384_192 = iana.AUTH_HMAC_SHA2_384_192 // RFC 4868
	IntegHMACSHA512_256 = iana.AUTH_HMAC_SHA2_512_256 // RFC 4868
)
