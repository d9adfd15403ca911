package proposal_test

import (
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

func ExampleSelect() {
	ours, _ := proposal.ParseList(wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384", proposal.Options{})
	theirs, _ := proposal.ParseList(wire.ProtocolIKE, "aes256-sha384-prfsha384-ecp384-x25519", proposal.Options{})
	chosen, _ := proposal.Select(ours, theirs)
	ke, _ := chosen.KEMethod()
	fmt.Println(chosen, chosen.Number, ke)

	weak, _ := proposal.ParseList(wire.ProtocolIKE, "aes256-sha1-modp1024", proposal.Options{AllowWeak: true})
	_, err := proposal.Select(ours, weak)
	fmt.Println(err)

	_, err = proposal.Parse(wire.ProtocolIKE, "aes256-sha1-modp1024", proposal.Options{})
	fmt.Println(err)
	// Output:
	// aes256-sha384-ecp384 1 ECP_384
	// NO_PROPOSAL_CHOSEN: peer offered aes256-sha1-modp1024, we accept aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384
	// IKE proposal "aes256-sha1-modp1024": sha1 (AUTH_HMAC_SHA1_96) is refused unless the AllowWeak (legacy algorithms) option is set: weak algorithm
}
