package daemon

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/control"
)

// VICI's list-sas names additional key exchanges ake1.. as strongSwan 6
// does, so swanctl shows every key exchange of a hybrid IKE SA.
func TestVICIListsAdditionalKeyExchanges(t *testing.T) {
	m := viciIKE(control.IKESA{Name: "tun", State: "ESTABLISHED", Version: 2, EncrAlg: "AES_GCM_16", PRFAlg: "PRF_HMAC_SHA2_384",
		DHGroup: "CURVE_25519", KeyExchanges: []string{"CURVE_25519", "ML_KEM_768", "ML_KEM_1024"}}, nil)
	for k, want := range map[string]string{"dh-group": "CURVE_25519", "ake1": "ML_KEM_768", "ake2": "ML_KEM_1024"} {
		if got, ok := m.Get(k); !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	if _, ok := m.Get("ake3"); ok {
		t.Error("ake3 present for two additional key exchanges")
	}
}

// The same for a Child SA with hybrid PFS: its PFS method as dh-group, the
// additional ones as ake1...
func TestVICIListsChildAdditionalKeyExchanges(t *testing.T) {
	m := viciChild(control.ChildSA{Name: "net", State: "INSTALLED", Mode: "TUNNEL", Protocol: "ESP", EncrAlg: "AES_GCM_16",
		DHGroup: "CURVE_25519", KeyExchanges: []string{"CURVE_25519", "ML_KEM_768"}})
	for k, want := range map[string]string{"dh-group": "CURVE_25519", "ake1": "ML_KEM_768"} {
		if got, ok := m.Get(k); !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	if _, ok := m.Get("ake2"); ok {
		t.Error("ake2 present for one additional key exchange")
	}
}
