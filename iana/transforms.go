// Package iana is the one table of IKEv2 transform IDs (IANA "Internet
// Key Exchange Version 2 (IKEv2) Parameters", Transform Type Values 1-5):
// encryption algorithms, PRFs, integrity algorithms, key exchange methods
// and ESN. ike/wire (the SA payload), ike/crypto (the IKE SA's keys and key
// exchanges) and transform (the data plane's ESP and AH algorithms) all
// name their algorithms with these constants and nothing else.
//
// It is a package of its own, with no imports but strconv, so that the data
// plane can use the IDs without pulling in any IKE code: transform must
// stay importable by esp, ah and dataplane alone.
package iana

import "strconv"

// EncrID is a Transform Type 1 (encryption algorithm) ID.
type EncrID uint16

// Encryption algorithm transform IDs.
const (
	ENCR_DES_IV64             EncrID = 1
	ENCR_DES                  EncrID = 2
	ENCR_3DES                 EncrID = 3
	ENCR_RC5                  EncrID = 4
	ENCR_IDEA                 EncrID = 5
	ENCR_CAST                 EncrID = 6
	ENCR_BLOWFISH             EncrID = 7
	ENCR_3IDEA                EncrID = 8
	ENCR_DES_IV32             EncrID = 9
	ENCR_NULL                 EncrID = 11
	ENCR_AES_CBC              EncrID = 12
	ENCR_AES_CTR              EncrID = 13
	ENCR_AES_CCM_8            EncrID = 14
	ENCR_AES_CCM_12           EncrID = 15
	ENCR_AES_CCM_16           EncrID = 16
	ENCR_AES_GCM_8            EncrID = 18
	ENCR_AES_GCM_12           EncrID = 19
	ENCR_AES_GCM_16           EncrID = 20
	ENCR_NULL_AUTH_AES_GMAC   EncrID = 21
	ENCR_CAMELLIA_CBC         EncrID = 23
	ENCR_CAMELLIA_CTR         EncrID = 24
	ENCR_CAMELLIA_CCM_8       EncrID = 25
	ENCR_CAMELLIA_CCM_12      EncrID = 26
	ENCR_CAMELLIA_CCM_16      EncrID = 27
	ENCR_CHACHA20_POLY1305    EncrID = 28
	ENCR_KUZNYECHIK_MGM_KTREE EncrID = 32
	ENCR_MAGMA_MGM_KTREE      EncrID = 33
)

var encrNames = map[EncrID]string{
	ENCR_DES_IV64: "ENCR_DES_IV64", ENCR_DES: "ENCR_DES", ENCR_3DES: "ENCR_3DES", ENCR_RC5: "ENCR_RC5",
	ENCR_IDEA: "ENCR_IDEA", ENCR_CAST: "ENCR_CAST", ENCR_BLOWFISH: "ENCR_BLOWFISH", ENCR_3IDEA: "ENCR_3IDEA",
	ENCR_DES_IV32: "ENCR_DES_IV32", ENCR_NULL: "ENCR_NULL", ENCR_AES_CBC: "ENCR_AES_CBC",
	ENCR_AES_CTR: "ENCR_AES_CTR", ENCR_AES_CCM_8: "ENCR_AES_CCM_8", ENCR_AES_CCM_12: "ENCR_AES_CCM_12",
	ENCR_AES_CCM_16: "ENCR_AES_CCM_16", ENCR_AES_GCM_8: "ENCR_AES_GCM_8", ENCR_AES_GCM_12: "ENCR_AES_GCM_12",
	ENCR_AES_GCM_16: "ENCR_AES_GCM_16", ENCR_NULL_AUTH_AES_GMAC: "ENCR_NULL_AUTH_AES_GMAC",
	ENCR_CAMELLIA_CBC: "ENCR_CAMELLIA_CBC", ENCR_CAMELLIA_CTR: "ENCR_CAMELLIA_CTR",
	ENCR_CAMELLIA_CCM_8: "ENCR_CAMELLIA_CCM_8", ENCR_CAMELLIA_CCM_12: "ENCR_CAMELLIA_CCM_12",
	ENCR_CAMELLIA_CCM_16: "ENCR_CAMELLIA_CCM_16", ENCR_CHACHA20_POLY1305: "ENCR_CHACHA20_POLY1305",
	ENCR_KUZNYECHIK_MGM_KTREE: "ENCR_KUZNYECHIK_MGM_KTREE", ENCR_MAGMA_MGM_KTREE: "ENCR_MAGMA_MGM_KTREE",
}

// String returns the IANA name, or TYPE(n) for an unnamed ID.
func (e EncrID) String() string { return name(encrNames, e, "ENCR") }

// IsAEAD reports whether e is a combined-mode cipher that needs no INTEG transform (RFC 5282, RFC 7634).
func (e EncrID) IsAEAD() bool {
	switch e {
	case ENCR_AES_CCM_8, ENCR_AES_CCM_12, ENCR_AES_CCM_16, ENCR_AES_GCM_8, ENCR_AES_GCM_12, ENCR_AES_GCM_16,
		ENCR_CAMELLIA_CCM_8, ENCR_CAMELLIA_CCM_12, ENCR_CAMELLIA_CCM_16, ENCR_CHACHA20_POLY1305,
		ENCR_KUZNYECHIK_MGM_KTREE, ENCR_MAGMA_MGM_KTREE:
		return true
	}
	return false
}

// PRFID is a Transform Type 2 (pseudorandom function) ID.
type PRFID uint16

// Pseudorandom function transform IDs.
const (
	PRF_HMAC_MD5          PRFID = 1
	PRF_HMAC_SHA1         PRFID = 2
	PRF_HMAC_TIGER        PRFID = 3
	PRF_AES128_XCBC       PRFID = 4
	PRF_HMAC_SHA2_256     PRFID = 5
	PRF_HMAC_SHA2_384     PRFID = 6
	PRF_HMAC_SHA2_512     PRFID = 7
	PRF_AES128_CMAC       PRFID = 8
	PRF_HMAC_STREEBOG_512 PRFID = 9
)

var prfNames = map[PRFID]string{
	PRF_HMAC_MD5: "PRF_HMAC_MD5", PRF_HMAC_SHA1: "PRF_HMAC_SHA1", PRF_HMAC_TIGER: "PRF_HMAC_TIGER",
	PRF_AES128_XCBC: "PRF_AES128_XCBC", PRF_HMAC_SHA2_256: "PRF_HMAC_SHA2_256",
	PRF_HMAC_SHA2_384: "PRF_HMAC_SHA2_384", PRF_HMAC_SHA2_512: "PRF_HMAC_SHA2_512",
	PRF_AES128_CMAC: "PRF_AES128_CMAC", PRF_HMAC_STREEBOG_512: "PRF_HMAC_STREEBOG_512",
}

// String returns the IANA name, or TYPE(n) for an unnamed ID.
func (p PRFID) String() string { return name(prfNames, p, "PRF") }

// IntegID is a Transform Type 3 (integrity algorithm) ID.
type IntegID uint16

// Integrity algorithm transform IDs.
const (
	AUTH_NONE              IntegID = 0
	AUTH_HMAC_MD5_96       IntegID = 1
	AUTH_HMAC_SHA1_96      IntegID = 2
	AUTH_DES_MAC           IntegID = 3
	AUTH_KPDK_MD5          IntegID = 4
	AUTH_AES_XCBC_96       IntegID = 5
	AUTH_HMAC_MD5_128      IntegID = 6
	AUTH_HMAC_SHA1_160     IntegID = 7
	AUTH_AES_CMAC_96       IntegID = 8
	AUTH_AES_128_GMAC      IntegID = 9
	AUTH_AES_192_GMAC      IntegID = 10
	AUTH_AES_256_GMAC      IntegID = 11
	AUTH_HMAC_SHA2_256_128 IntegID = 12
	AUTH_HMAC_SHA2_384_192 IntegID = 13
	AUTH_HMAC_SHA2_512_256 IntegID = 14
)

var integNames = map[IntegID]string{
	AUTH_NONE: "NONE", AUTH_HMAC_MD5_96: "AUTH_HMAC_MD5_96", AUTH_HMAC_SHA1_96: "AUTH_HMAC_SHA1_96",
	AUTH_DES_MAC: "AUTH_DES_MAC", AUTH_KPDK_MD5: "AUTH_KPDK_MD5", AUTH_AES_XCBC_96: "AUTH_AES_XCBC_96",
	AUTH_HMAC_MD5_128: "AUTH_HMAC_MD5_128", AUTH_HMAC_SHA1_160: "AUTH_HMAC_SHA1_160",
	AUTH_AES_CMAC_96: "AUTH_AES_CMAC_96", AUTH_AES_128_GMAC: "AUTH_AES_128_GMAC",
	AUTH_AES_192_GMAC: "AUTH_AES_192_GMAC", AUTH_AES_256_GMAC: "AUTH_AES_256_GMAC",
	AUTH_HMAC_SHA2_256_128: "AUTH_HMAC_SHA2_256_128", AUTH_HMAC_SHA2_384_192: "AUTH_HMAC_SHA2_384_192",
	AUTH_HMAC_SHA2_512_256: "AUTH_HMAC_SHA2_512_256",
}

// String returns the IANA name, or TYPE(n) for an unnamed ID.
func (i IntegID) String() string { return name(integNames, i, "AUTH") }

// KEMethod is a Transform Type 4 (and ADDKE1..7) ID: a Diffie-Hellman group or KEM (IANA "Transform Type 4").
type KEMethod uint16

// Key exchange methods.
const (
	KE_NONE           KEMethod = 0
	MODP_768          KEMethod = 1
	MODP_1024         KEMethod = 2
	MODP_1536         KEMethod = 5
	MODP_2048         KEMethod = 14
	MODP_3072         KEMethod = 15
	MODP_4096         KEMethod = 16
	MODP_6144         KEMethod = 17
	MODP_8192         KEMethod = 18
	ECP_256           KEMethod = 19
	ECP_384           KEMethod = 20
	ECP_521           KEMethod = 21
	MODP_1024_160     KEMethod = 22
	MODP_2048_224     KEMethod = 23
	MODP_2048_256     KEMethod = 24
	ECP_192           KEMethod = 25
	ECP_224           KEMethod = 26
	ECP_224_BP        KEMethod = 27
	ECP_256_BP        KEMethod = 28
	ECP_384_BP        KEMethod = 29
	ECP_512_BP        KEMethod = 30
	CURVE25519        KEMethod = 31
	CURVE448          KEMethod = 32
	GOST3410_2012_256 KEMethod = 33
	GOST3410_2012_512 KEMethod = 34
	ML_KEM_512        KEMethod = 35
	ML_KEM_768        KEMethod = 36
	ML_KEM_1024       KEMethod = 37
)

var keNames = map[KEMethod]string{
	KE_NONE: "NONE", MODP_768: "MODP_768", MODP_1024: "MODP_1024", MODP_1536: "MODP_1536",
	MODP_2048: "MODP_2048", MODP_3072: "MODP_3072", MODP_4096: "MODP_4096", MODP_6144: "MODP_6144",
	MODP_8192: "MODP_8192", ECP_256: "ECP_256", ECP_384: "ECP_384", ECP_521: "ECP_521",
	MODP_1024_160: "MODP_1024_160", MODP_2048_224: "MODP_2048_224", MODP_2048_256: "MODP_2048_256",
	ECP_192: "ECP_192", ECP_224: "ECP_224", ECP_224_BP: "ECP_224_BP", ECP_256_BP: "ECP_256_BP",
	ECP_384_BP: "ECP_384_BP", ECP_512_BP: "ECP_512_BP", CURVE25519: "CURVE_25519", CURVE448: "CURVE_448",
	GOST3410_2012_256: "GOST3410_2012_256", GOST3410_2012_512: "GOST3410_2012_512",
	ML_KEM_512: "ML_KEM_512", ML_KEM_768: "ML_KEM_768", ML_KEM_1024: "ML_KEM_1024",
}

// String returns the IANA name, or TYPE(n) for an unnamed ID.
func (k KEMethod) String() string { return name(keNames, k, "KE") }

// ESNID is a Transform Type 5 (extended sequence numbers) ID.
type ESNID uint16

// Extended sequence number transform IDs.
const (
	NO_ESN ESNID = 0
	ESN    ESNID = 1
)

// String returns the IANA name, or TYPE(n) for an unnamed ID.
func (e ESNID) String() string {
	return name(map[ESNID]string{NO_ESN: "NO_ESN", ESN: "ESN"}, e, "ESN")
}

// name returns m[k], or prefix(k) for IDs without a name.
func name[K ~uint8 | ~uint16](m map[K]string, k K, prefix string) string {
	if s, ok := m[k]; ok {
		return s
	}
	return prefix + "(" + strconv.FormatUint(uint64(k), 10) + ")"
}
