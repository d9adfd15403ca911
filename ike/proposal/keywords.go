package proposal

import (
	"strconv"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// support says whether cygnet implements an algorithm and whether it is acceptable by default.
type support uint8

const (
	supported   support = iota
	weak                // implemented, refused unless Options.AllowWeak is set
	unsupported         // known keyword, not implemented by cygnet
)

// keyword is one algorithm name of strongSwan's proposal syntax. The first keyword listed for a (type, ID, key
// length) is the canonical one used when formatting.
type keyword struct {
	name   string
	typ    wire.TransformType
	id     uint16
	keyLen uint16
	level  support
}

func enc(name string, id wire.EncrID, keyLen uint16, level support) keyword {
	return keyword{name, wire.TransformENCR, uint16(id), keyLen, level}
}
func integ(name string, id wire.IntegID, level support) keyword {
	return keyword{name, wire.TransformINTEG, uint16(id), 0, level}
}
func prf(name string, id wire.PRFID, level support) keyword {
	return keyword{name, wire.TransformPRF, uint16(id), 0, level}
}
func ke(name string, id wire.KEMethod, level support) keyword {
	return keyword{name, wire.TransformKE, uint16(id), 0, level}
}

// keywords follows the names of strongSwan's proposal_keywords_static.txt (the subset that matters to cygnet users),
// canonical spelling first.
var keywords = func() []keyword {
	k := []keyword{
		enc("null", wire.ENCR_NULL, 0, weak), // no confidentiality (RFC 2410): named, warned, for debugging
		enc("3des", wire.ENCR_3DES, 0, weak),
		enc("des", wire.ENCR_DES, 0, weak),
		enc("aes128", wire.ENCR_AES_CBC, 128, supported),
		enc("aes", wire.ENCR_AES_CBC, 128, supported),
		enc("aes192", wire.ENCR_AES_CBC, 192, supported),
		enc("aes256", wire.ENCR_AES_CBC, 256, supported),
		enc("aes128ctr", wire.ENCR_AES_CTR, 128, supported),
		enc("aes192ctr", wire.ENCR_AES_CTR, 192, supported),
		enc("aes256ctr", wire.ENCR_AES_CTR, 256, supported),
		enc("chacha20poly1305", wire.ENCR_CHACHA20_POLY1305, 0, supported),
		enc("aes128gmac", wire.ENCR_NULL_AUTH_AES_GMAC, 128, supported),
		enc("aes192gmac", wire.ENCR_NULL_AUTH_AES_GMAC, 192, supported),
		enc("aes256gmac", wire.ENCR_NULL_AUTH_AES_GMAC, 256, supported),
		enc("camellia128", wire.ENCR_CAMELLIA_CBC, 128, unsupported),
		enc("camellia", wire.ENCR_CAMELLIA_CBC, 128, unsupported),
		enc("camellia192", wire.ENCR_CAMELLIA_CBC, 192, unsupported),
		enc("camellia256", wire.ENCR_CAMELLIA_CBC, 256, unsupported),
		enc("camellia128ctr", wire.ENCR_CAMELLIA_CTR, 128, unsupported),
		enc("camellia192ctr", wire.ENCR_CAMELLIA_CTR, 192, unsupported),
		enc("camellia256ctr", wire.ENCR_CAMELLIA_CTR, 256, unsupported),
		enc("blowfish128", wire.ENCR_BLOWFISH, 128, unsupported),
		enc("blowfish", wire.ENCR_BLOWFISH, 128, unsupported),
		enc("blowfish192", wire.ENCR_BLOWFISH, 192, unsupported),
		enc("blowfish256", wire.ENCR_BLOWFISH, 256, unsupported),
		enc("cast128", wire.ENCR_CAST, 128, unsupported),

		integ("sha1", wire.AUTH_HMAC_SHA1_96, weak),
		integ("sha", wire.AUTH_HMAC_SHA1_96, weak),
		integ("sha1_160", wire.AUTH_HMAC_SHA1_160, unsupported),
		integ("sha256", wire.AUTH_HMAC_SHA2_256_128, supported),
		integ("sha2_256", wire.AUTH_HMAC_SHA2_256_128, supported),
		integ("sha384", wire.AUTH_HMAC_SHA2_384_192, supported),
		integ("sha2_384", wire.AUTH_HMAC_SHA2_384_192, supported),
		integ("sha512", wire.AUTH_HMAC_SHA2_512_256, supported),
		integ("sha2_512", wire.AUTH_HMAC_SHA2_512_256, supported),
		integ("md5", wire.AUTH_HMAC_MD5_96, weak),
		integ("md5_128", wire.AUTH_HMAC_MD5_128, unsupported),
		integ("aesxcbc", wire.AUTH_AES_XCBC_96, supported), // ESP and AH (Runnable refuses it for IKE SAs)
		integ("aescmac", wire.AUTH_AES_CMAC_96, supported),

		prf("prfsha1", wire.PRF_HMAC_SHA1, weak),
		prf("prfsha256", wire.PRF_HMAC_SHA2_256, supported),
		prf("prfsha384", wire.PRF_HMAC_SHA2_384, supported),
		prf("prfsha512", wire.PRF_HMAC_SHA2_512, supported),
		prf("prfmd5", wire.PRF_HMAC_MD5, weak),
		prf("prfaesxcbc", wire.PRF_AES128_XCBC, unsupported),
		prf("prfaescmac", wire.PRF_AES128_CMAC, unsupported),

		ke("none", wire.KE_NONE, supported),
		ke("modpnone", wire.KE_NONE, supported),
		ke("modp768", wire.MODP_768, weak),
		ke("modp1024", wire.MODP_1024, weak),
		ke("modp1536", wire.MODP_1536, weak),
		ke("modp2048", wire.MODP_2048, supported),
		ke("modp3072", wire.MODP_3072, supported),
		ke("modp4096", wire.MODP_4096, supported),
		ke("modp6144", wire.MODP_6144, unsupported),
		ke("modp8192", wire.MODP_8192, unsupported),
		ke("ecp192", wire.ECP_192, unsupported),
		ke("ecp224", wire.ECP_224, unsupported),
		ke("ecp256", wire.ECP_256, supported),
		ke("ecp384", wire.ECP_384, supported),
		ke("ecp521", wire.ECP_521, supported),
		ke("modp1024s160", wire.MODP_1024_160, unsupported),
		ke("modp2048s224", wire.MODP_2048_224, unsupported),
		ke("modp2048s256", wire.MODP_2048_256, unsupported),
		ke("ecp224bp", wire.ECP_224_BP, unsupported),
		ke("ecp256bp", wire.ECP_256_BP, unsupported),
		ke("ecp384bp", wire.ECP_384_BP, unsupported),
		ke("ecp512bp", wire.ECP_512_BP, unsupported),
		ke("x25519", wire.CURVE25519, supported),
		ke("curve25519", wire.CURVE25519, supported),
		ke("x448", wire.CURVE448, unsupported),
		ke("curve448", wire.CURVE448, unsupported),
		ke("mlkem512", wire.ML_KEM_512, supported),
		ke("mlkem768", wire.ML_KEM_768, supported),
		ke("mlkem1024", wire.ML_KEM_1024, supported),

		{"noesn", wire.TransformESN, uint16(wire.NO_ESN), 0, supported},
		{"esn", wire.TransformESN, uint16(wire.ESN), 0, supported},
	}
	// AES-GCM and AES-CCM with their ICV-length aliases (8/64, 12/96, 16/128, bare = 16): all run in ESP;
	// Runnable refuses for IKE SAs what the SK payload protector lacks (CCM, short ICVs, AES-192).
	for _, ks := range []uint16{128, 192, 256} {
		level := supported
		p := "aes" + strconv.Itoa(int(ks))
		for _, v := range []struct {
			gcm, ccm wire.EncrID
			names    []string
		}{
			{wire.ENCR_AES_GCM_16, wire.ENCR_AES_CCM_16, []string{"16", "128", ""}},
			{wire.ENCR_AES_GCM_12, wire.ENCR_AES_CCM_12, []string{"12", "96"}},
			{wire.ENCR_AES_GCM_8, wire.ENCR_AES_CCM_8, []string{"8", "64"}},
		} {
			for _, n := range v.names {
				k = append(k, enc(p+"gcm"+n, v.gcm, ks, level), enc(p+"ccm"+n, v.ccm, ks, level))
			}
		}
	}
	return k
}()

type algKey struct {
	typ    wire.TransformType
	id     uint16
	keyLen uint16
}

var (
	byName      = map[string]*keyword{}
	byAlgorithm = map[algKey]*keyword{}
)

func init() {
	for i := range keywords {
		k := &keywords[i]
		byName[k.name] = k
		ak := algKey{k.typ, k.id, k.keyLen}
		if _, ok := byAlgorithm[ak]; !ok {
			byAlgorithm[ak] = k
		}
	}
}

// integPRF maps integrity algorithms to the PRF of the same hash, used when an IKE proposal names no PRF.
var integPRF = map[uint16]wire.PRFID{
	uint16(wire.AUTH_HMAC_SHA1_96):      wire.PRF_HMAC_SHA1,
	uint16(wire.AUTH_HMAC_SHA2_256_128): wire.PRF_HMAC_SHA2_256,
	uint16(wire.AUTH_HMAC_SHA2_384_192): wire.PRF_HMAC_SHA2_384,
	uint16(wire.AUTH_HMAC_SHA2_512_256): wire.PRF_HMAC_SHA2_512,
	uint16(wire.AUTH_HMAC_MD5_96):       wire.PRF_HMAC_MD5,
}

// gmacInteg maps AES-GMAC key lengths to the AH integrity transform IDs.
var gmacInteg = map[uint16]wire.IntegID{
	128: wire.AUTH_AES_128_GMAC, 192: wire.AUTH_AES_192_GMAC, 256: wire.AUTH_AES_256_GMAC,
}
