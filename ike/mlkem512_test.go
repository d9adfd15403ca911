package ike

import (
	"slices"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// ML-KEM-512 works as an additional key exchange after X25519 and as the
// only key exchange of IKE_SA_INIT.
func TestMLKEM512Establishes(t *testing.T) {
	for _, tc := range []struct {
		props string
		want  []uint16
	}{
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem512", []uint16{uint16(wire.CURVE25519), uint16(wire.ML_KEM_512)}},
		{"aes256gcm16-prfsha384-mlkem512", []uint16{uint16(wire.ML_KEM_512)}},
	} {
		t.Run(tc.props, func(t *testing.T) {
			p := hybridPair(t, tc.props, tc.props)
			a, b := establish(t, p)
			if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
				t.Fatalf("states %s / %s", a.State(), b.State())
			}
			if !slices.Equal(a.KeyExchanges(), tc.want) || !slices.Equal(b.KeyExchanges(), tc.want) {
				t.Fatalf("key exchanges %v / %v, want %v", a.KeyExchanges(), b.KeyExchanges(), tc.want)
			}
			if !equalKeys(keyMap(a.keys), keyMap(b.keys)) {
				t.Fatal("the two ends disagree on the keys")
			}
		})
	}
}
