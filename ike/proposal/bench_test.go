package proposal

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

func BenchmarkParseList(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseList(wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519, aes256-sha384-ecp384, default", Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSelect selects from the IKE defaults against a peer whose only acceptable proposal is its last.
func BenchmarkSelect(b *testing.B) {
	ours := Default(wire.ProtocolIKE)
	theirs := mustList(b, wire.ProtocolIKE, "aes128gcm12-prfsha256-x25519, aes128-sha256-mlkem768, aes128gcm16-prfsha512-ecp521")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Select(ours, theirs); err != nil {
			b.Fatal(err)
		}
	}
}
