package iana

import "testing"

// TestRegistry pins IDs against the IANA registry (and the RFCs that
// assigned them), so that an edit of the one table cannot go unnoticed.
func TestRegistry(t *testing.T) {
	for _, c := range []struct {
		got  uint16
		want uint16
		name string
	}{
		{uint16(ENCR_3DES), 3, "ENCR_3DES"},                              // RFC 2451
		{uint16(ENCR_NULL), 11, "ENCR_NULL"},                             // RFC 2410
		{uint16(ENCR_AES_CBC), 12, "ENCR_AES_CBC"},                       // RFC 3602
		{uint16(ENCR_AES_CTR), 13, "ENCR_AES_CTR"},                       // RFC 3686
		{uint16(ENCR_AES_GCM_8), 18, "ENCR_AES_GCM_8"},                   // RFC 4106
		{uint16(ENCR_AES_GCM_16), 20, "ENCR_AES_GCM_16"},                 // RFC 4106
		{uint16(ENCR_NULL_AUTH_AES_GMAC), 21, "ENCR_NULL_AUTH_AES_GMAC"}, // RFC 4543
		{uint16(ENCR_CHACHA20_POLY1305), 28, "ENCR_CHACHA20_POLY1305"},   // RFC 7634
		{uint16(PRF_HMAC_SHA2_256), 5, "PRF_HMAC_SHA2_256"},              // RFC 4868
		{uint16(PRF_HMAC_SHA2_512), 7, "PRF_HMAC_SHA2_512"},              // RFC 4868
		{uint16(AUTH_HMAC_SHA1_96), 2, "AUTH_HMAC_SHA1_96"},              // RFC 2404
		{uint16(AUTH_AES_256_GMAC), 11, "AUTH_AES_256_GMAC"},             // RFC 4543
		{uint16(AUTH_HMAC_SHA2_256_128), 12, "AUTH_HMAC_SHA2_256_128"},   // RFC 4868
		{uint16(AUTH_HMAC_SHA2_512_256), 14, "AUTH_HMAC_SHA2_512_256"},   // RFC 4868
		{uint16(MODP_2048), 14, "MODP_2048"},                             // RFC 3526
		{uint16(ECP_256), 19, "ECP_256"},                                 // RFC 5903
		{uint16(CURVE25519), 31, "CURVE_25519"},                          // RFC 8031
		{uint16(ML_KEM_768), 36, "ML_KEM_768"},                           // draft-ietf-ipsecme-ikev2-mlkem
		{uint16(ESN), 1, "ESN"},                                          // RFC 7296
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	names := map[string]string{
		ENCR_AES_GCM_16.String(): "ENCR_AES_GCM_16", PRF_HMAC_SHA2_384.String(): "PRF_HMAC_SHA2_384",
		AUTH_NONE.String(): "NONE", CURVE25519.String(): "CURVE_25519", NO_ESN.String(): "NO_ESN",
		EncrID(99).String(): "ENCR(99)", KEMethod(1234).String(): "KE(1234)",
	}
	for got, want := range names {
		if got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	if !ENCR_CHACHA20_POLY1305.IsAEAD() || ENCR_AES_CBC.IsAEAD() || ENCR_NULL_AUTH_AES_GMAC.IsAEAD() {
		t.Error("IsAEAD: ChaCha20-Poly1305 is an AEAD, AES-CBC and AES-GMAC are not")
	}
}
