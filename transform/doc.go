// Package transform holds the cryptographic algorithms of ESP (RFC 4303) and
// AH (RFC 4302), keyed once per Security Association and applied per packet
// in place on caller buffers without allocation.
//
// ESP algorithms are built with NewESP from the IKEv2 transform identifiers
// and the key material as the IKE key schedule produces it (encryption key,
// salt or nonce appended where the algorithm has one, then the integrity key).
// Integrity-only algorithms for AH are built with NewIntegrity.
//
// Counter-based modes (AES-GCM, ChaCha20-Poly1305, AES-CTR, AES-GMAC) derive
// their 8-octet IV from the SA's 64-bit sequence number, which never repeats
// under one key, as RFC 4106 section 3.1 allows. AES-CBC and 3DES-CBC draw a
// random IV.
//
// All values returned by this package are safe for concurrent use, except
// Wipe, which must only be called once every Seal, Open, Sum and Verify has
// returned.
package transform
