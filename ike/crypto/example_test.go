package crypto_test

import (
	"bytes"
	"crypto/rand"
	"fmt"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
)

// The IKE_SA_INIT key exchange, the key schedule and SK payload protection
// as the two ends of an IKE SA use them.
func Example() {
	suite := ikecrypto.Suite{Encr: ikecrypto.EncrAESGCM16, EncrKeyBits: 128, PRF: ikecrypto.PRFHMACSHA2256}
	ni, nr := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(ni)
	_, _ = rand.Read(nr)
	spiI, spiR := uint64(0x1111), uint64(0x2222)

	// Initiator: KEi.
	ke, err := ikecrypto.NewKeyExchange(ikecrypto.KECurve25519, rand.Reader)
	if err != nil {
		panic(err)
	}
	// Responder: KEr and g^ir in one step (works for DH groups and KEMs).
	ker, girR, err := ikecrypto.Encapsulate(ikecrypto.KECurve25519, ke.PublicValue(), rand.Reader)
	if err != nil {
		panic(err)
	}
	// Initiator: g^ir.
	girI, err := ke.SharedSecret(ker)
	if err != nil {
		panic(err)
	}

	keysI, _ := ikecrypto.DeriveIKESAKeys(suite, girI, ni, nr, spiI, spiR)
	keysR, _ := ikecrypto.DeriveIKESAKeys(suite, girR, ni, nr, spiI, spiR)
	defer keysI.Wipe()
	defer keysR.Wipe()
	fmt.Println(keysI)

	outI, _, _ := keysI.Protectors(true, rand.Reader)
	_, inR, _ := keysR.Protectors(false, rand.Reader)

	// ad: IKE header and SK generic header, lengths already final.
	ad := make([]byte, 32)
	body, _ := outI.Seal(nil, ad, []byte("IDi, AUTH, SA, TSi, TSr"))
	plain, err := inR.Open(nil, ad, body)
	fmt.Println(string(plain), err, bytes.Equal(body[:8], []byte{0, 0, 0, 0, 0, 0, 0, 1}))
	// Output:
	// IKESAKeys{PRF_HMAC_SHA2_256 ENCR_AES_GCM_16/128 NONE, keys redacted}
	// IDi, AUTH, SA, TSi, TSr <nil> true
}
