package proposal

import (
	"reflect"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// FuzzParse parses proposal strings for IKE, ESP and AH, with and without AllowWeak. Whatever parses must format
// to a canonical string that parses to the same transforms and formats identically, and must survive the wire
// round trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"aes128gcm16-prfsha256-x25519", "aes256-sha384-ecp384", "aes256gcm16-aes128gcm16-prfsha512-ecp521-modp4096",
		"chacha20poly1305-prfsha256-curve25519", "aes128-sha256-modp3072", "aes256ctr-sha256", "aes128gmac",
		"null-sha256", "aes128gcm16-x25519-esn", "aes128gcm16-x25519-noesn", "default", "aes256-sha1-modp1024",
		"3des-md5-modp768", "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none", "sha256-esn-noesn",
		"aes128gcm16-sha256-x25519", "aes128gcm16, default", "AES-SHA-MODPNONE", "ke7_mlkem1024",
	} {
		for proto := byte(1); proto <= 3; proto++ {
			f.Add(proto, false, s)
		}
	}
	f.Fuzz(func(t *testing.T, proto byte, weak bool, s string) {
		pr := wire.ProtocolID(proto)
		ps, err := ParseList(pr, s, Options{AllowWeak: weak})
		if err != nil {
			return
		}
		for _, p := range ps {
			c := p.String()
			q, err := Parse(pr, c, Options{AllowWeak: weak})
			if err != nil {
				t.Fatalf("canonical %q of %q does not parse: %v", c, s, err)
			}
			if !reflect.DeepEqual(q.Transforms, p.Transforms) {
				t.Fatalf("canonical %q of %q: transforms %v, want %v", c, s, q.Transforms, p.Transforms)
			}
			if q.String() != c {
				t.Fatalf("canonical %q formats as %q", c, q.String())
			}
			if w := FromWire(p.Wire(nil)); !reflect.DeepEqual(w.Transforms, p.Transforms) {
				t.Fatalf("wire round trip of %q: %v", c, w.Transforms)
			}
			if _, err := Select([]Proposal{p}, []Proposal{q}); err != nil {
				t.Fatalf("%q does not select itself: %v", c, err)
			}
		}
	})
}
