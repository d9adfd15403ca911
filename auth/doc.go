// Package auth holds cygnet's authentication material and performs the
// public-key and pre-shared-key checks of IKEv2 (RFC 7296 section 2.15):
// creating and verifying AUTH payload data with RSA, ECDSA and Ed25519 keys
// (classic methods 1, 9, 10 and 11, RFC 4754, and RFC 7427 Digital Signature
// with its ASN.1 AlgorithmIdentifier prefix), validating certificate chains
// against trusted CA certificates, building and matching CERTREQ data,
// matching IKE identities (ike/identity) against certificates, the
// signature constraints of swanctl's auth option (auth = rsa/pss,
// pubkey-sha384, ...), and looking up swanctl secrets.ike PSKs by identity
// the way strongSwan does.
//
// It is the only package of cygnet that signs with private keys (config
// loads them): the daemon hands it the signed octets (ike/crypto's
// SignedOctets) for the IKE state machine, which never imports auth, and
// gets AUTH data back. The package is pure: no I/O, no goroutines, no global
// mutable state. Keys and secrets never appear in error texts or in the
// output of fmt verbs.
package auth
