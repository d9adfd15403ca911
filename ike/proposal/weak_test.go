package proposal

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// TestRunnableLegacy: the legacy algorithms native clients default to
// (Windows: aes256-sha1-modp1024, 3des-sha1-modp1024) run for the IKE SA
// once a proposal names them, and modp1024 as a Child SA's key exchange;
// the other legacy algorithms stay refused with the reason.
func TestRunnableLegacy(t *testing.T) {
	for _, c := range []struct {
		proto wire.ProtocolID
		in    string
		weak  []string
		want  string // "" for runnable
	}{
		{wire.ProtocolIKE, "aes256-sha1-modp1024", []string{"AUTH_HMAC_SHA1_96", "PRF_HMAC_SHA1", "MODP_1024"}, ""},
		{wire.ProtocolIKE, "3des-sha1-modp1024", []string{"ENCR_3DES", "AUTH_HMAC_SHA1_96", "PRF_HMAC_SHA1", "MODP_1024"}, ""},
		{wire.ProtocolIKE, "aes128-sha256-prfsha1-modp2048", []string{"PRF_HMAC_SHA1"}, ""},
		{wire.ProtocolESP, "aes128-sha1-modp1024", []string{"AUTH_HMAC_SHA1_96", "MODP_1024"}, ""},
		{wire.ProtocolAH, "sha1-modp1024", []string{"AUTH_HMAC_SHA1_96", "MODP_1024"}, ""},
		{wire.ProtocolIKE, "aes128-md5-modp2048", nil, "md5: the legacy algorithm"},
		{wire.ProtocolIKE, "aes128-sha256-modp1536", nil, "modp1536: the legacy algorithm"},
		{wire.ProtocolIKE, "aes128-sha256-modp768", nil, "modp768: the legacy algorithm"},
		{wire.ProtocolESP, "des-sha1", nil, "des: the legacy algorithm"},
		{wire.ProtocolAH, "md5", nil, "md5: the legacy algorithm"},
	} {
		if _, err := Parse(c.proto, c.in, Options{}); !errors.Is(err, ErrWeak) {
			t.Errorf("%v %q without AllowWeak: %v, want ErrWeak", c.proto, c.in, err)
		}
		p, err := Parse(c.proto, c.in, Options{AllowWeak: true})
		if err != nil {
			t.Fatalf("%v %q: %v", c.proto, c.in, err)
		}
		err = p.Runnable()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v %q: %v", c.proto, c.in, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrUnsupported)):
			t.Errorf("%v %q: got %v, want %q", c.proto, c.in, err, c.want)
		}
		if c.weak != nil && !reflect.DeepEqual(p.Weak(), c.weak) {
			t.Errorf("%v %q: Weak() = %v, want %v", c.proto, c.in, p.Weak(), c.weak)
		}
	}
}
