package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// The IKE state machine signs its AUTH payload with whatever hashes the peer
// announced in SIGNATURE_HASH_ALGORITHMS, and verifies the peer's with the
// key of its (already chain-checked) certificate.
func Example() {
	key, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	signer, err := auth.NewSigner(key, auth.SignerOptions{})
	if err != nil {
		panic(err)
	}
	signedOctets := []byte("from ike/crypto SignedOctets")

	// Peer sent SIGNATURE_HASH_ALGORITHMS: RFC 7427 Digital Signature.
	method, data, _ := signer.Sign(signedOctets, []uint16{auth.HashSHA2256, auth.HashSHA2384})
	fmt.Println(method, data[0], auth.Verify(key.Public(), method, data, signedOctets))

	// Peer sent none: RFC 4754 ECDSA with SHA-384 on P-384.
	method, data, _ = signer.Sign(signedOctets, nil)
	fmt.Println(method, len(data), auth.Verify(key.Public(), method, data, signedOctets))

	// What we announce ourselves.
	fmt.Println(auth.SupportedHashes())

	// A tampered payload.
	data[0] ^= 1
	fmt.Println(auth.Verify(key.Public(), wire.AuthECDSASHA384P384, data, signedOctets))
	// Output:
	// DIGITAL_SIGNATURE 12 <nil>
	// ECDSA_SHA384_P384 96 <nil>
	// [2 3 4 5]
	// AUTH: ECDSA signature does not verify (ECDSA_SHA384_P384)
}

// PSKs are looked up the way strongSwan's credential manager does.
func ExampleSecrets_Lookup() {
	s := &auth.Secrets{}
	_ = s.Add("ike-default", []byte("fallback"))
	_ = s.Add("ike-moon-sun", []byte("moon-sun"), "moon.strongswan.org", "sun.strongswan.org")
	_ = s.Add("ike-roadwarriors", []byte("rw"), "*@strongswan.org")

	moon := identity.ID{Type: wire.ID_FQDN, Data: []byte("moon.strongswan.org")}
	for _, peer := range []identity.ID{
		{Type: wire.ID_FQDN, Data: []byte("sun.strongswan.org")},
		{Type: wire.ID_RFC822_ADDR, Data: []byte("carol@strongswan.org")},
		{Type: wire.ID_IPV4_ADDR, Data: []byte{192, 168, 0, 100}},
	} {
		_, name, _ := s.Lookup(moon, peer)
		fmt.Println(peer, "->", name)
	}
	// Output:
	// sun.strongswan.org -> ike-moon-sun
	// carol@strongswan.org -> ike-roadwarriors
	// 192.168.0.100 -> ike-default
}
