package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike"
)

const eapConf = `connections {
    gw {
        local {
            auth = psk
            id = gw.cygnet.test
        }
        remote {
            auth = @REMOTE@
            eap_id = %any
        }
    }
    rw {
        remote_addrs = 192.0.2.1
        local {
            auth = @LOCAL@
            id = 192.0.2.2
            eap_id = alice
        }
        remote {
            auth = psk
            id = gw.cygnet.test
        }
    }
}
secrets {
    ike-gw {
        id = gw.cygnet.test
        secret = "a shared secret of more than twenty characters"
    }
    eap-alice {
        id = alice
        secret = alice-password
    }
    eap-any {
        secret = fallback
    }
}
`

func loadEAPConf(t *testing.T, remote, local string) ([]*ike.PeerConfig, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	text := strings.NewReplacer("@REMOTE@", remote, "@LOCAL@", local).Replace(eapConf)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, "", err
	}
	pcs, err := PeerConfigs(cfg)
	return pcs, Warnings(cfg).Error(), err
}

// auth = eap-mschapv2 and eap_id take effect on both sides; EAP secrets
// are found by identity and no longer warned about as unused.
func TestEAPConfig(t *testing.T) {
	pcs, warnings, err := loadEAPConf(t, "eap-mschapv2", "eap-mschapv2")
	if err != nil {
		t.Fatal(err)
	}
	gw, rw := pcs[0], pcs[1]
	if gw.RemoteAuth != ike.AuthEAP || gw.RemoteEAP != (ike.EAPConfig{Method: eap.TypeMSCHAPv2, AskIdentity: true}) {
		t.Errorf("gateway: %v %+v", gw.RemoteAuth, gw.RemoteEAP)
	}
	if rw.LocalAuth != ike.AuthEAP || rw.LocalEAP != (ike.EAPConfig{Method: eap.TypeMSCHAPv2, Identity: "alice"}) {
		t.Errorf("client: %v %+v", rw.LocalAuth, rw.LocalEAP)
	}
	if strings.Contains(warnings, "eap") {
		t.Errorf("EAP secrets warned about: %s", warnings)
	}
}

// auth = eap-tls takes effect on both sides (before, check-config refused
// it).
func TestEAPTLSConfig(t *testing.T) {
	pcs, _, err := loadEAPConf(t, "eap-tls", "eap-tls")
	if err != nil {
		t.Fatal(err)
	}
	gw, rw := pcs[0], pcs[1]
	if gw.RemoteAuth != ike.AuthEAP || gw.RemoteEAP != (ike.EAPConfig{Method: eap.TypeTLS, AskIdentity: true}) {
		t.Errorf("gateway: %v %+v", gw.RemoteAuth, gw.RemoteEAP)
	}
	if rw.LocalAuth != ike.AuthEAP || rw.LocalEAP != (ike.EAPConfig{Method: eap.TypeTLS, Identity: "alice"}) {
		t.Errorf("client: %v %+v", rw.LocalAuth, rw.LocalEAP)
	}
}

func TestEAPSecretLookup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	if err := os.WriteFile(path, []byte(strings.NewReplacer("@REMOTE@", "eap-md5", "@LOCAL@", "eap").Replace(eapConf)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"alice": "alice-password", "bob": "fallback"} {
		if got, ok := c.EAPSecret(id); !ok || string(got) != want {
			t.Errorf("EAPSecret(%s) = %q, %v; want %q", id, got, ok, want)
		}
	}
	pcs, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pcs[0].RemoteEAP.Method != eap.TypeMD5 || pcs[1].LocalEAP.Method != 0 {
		t.Errorf("methods: gateway %d, client %d (0: any it implements)", pcs[0].RemoteEAP.Method, pcs[1].LocalEAP.Method)
	}
}

// What cygnet does not implement is refused with its line.
func TestEAPConfigRefused(t *testing.T) {
	for _, c := range []struct{ remote, local, want string }{
		{"eap-ttls", "eap-mschapv2", ":8: auth = eap-ttls is not supported by cygnet yet"},
		{"eap-mschapv2", "eap-radius", ":15: auth = eap-radius: eap-radius is how a gateway checks its clients"},
		{"eap", "eap-mschapv2", ":8: auth = eap: name the EAP method the gateway runs"},
	} {
		_, _, err := loadEAPConf(t, c.remote, c.local)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("remote %s local %s: %v, want %q", c.remote, c.local, err, c.want)
		}
	}
}

const roundsConf = `connections {
    gw {
        local {
            auth = psk
            id = gw.cygnet.test
        }
        remote-1 {
            auth = psk
            id = rw.cygnet.test
        }
        remote-2 {
            auth = @GW2@
        }
    }
    rw {
        remote_addrs = 192.0.2.1
        local-a {
            round = 2
            auth = eap-mschapv2
            eap_id = alice
        }
        local-b {
            round = 1
            auth = @RW1@
            id = rw.cygnet.test
        }
        remote {
            auth = psk
            id = gw.cygnet.test
        }
    }
}
secrets {
    ike-gw {
        id = gw.cygnet.test
        secret = "a shared secret of more than twenty characters"
    }
}
`

// local-N / remote-N: a PSK round followed by an EAP round is read into
// the second round (ordered by round, not by name); other shapes are
// refused with their line.
func TestEAPSecondRoundConfig(t *testing.T) {
	load := func(gw2, rw1 string) ([]*ike.PeerConfig, error) {
		path := filepath.Join(t.TempDir(), "swanctl.conf")
		if err := os.WriteFile(path, []byte(strings.NewReplacer("@GW2@", gw2, "@RW1@", rw1).Replace(roundsConf)), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			return nil, err
		}
		return PeerConfigs(cfg)
	}
	pcs, err := load("eap-mschapv2\n            eap_id = %any", "psk")
	if err != nil {
		t.Fatal(err)
	}
	gw, rw := pcs[0], pcs[1]
	if gw.RemoteAuth != ike.AuthPSK || gw.RemoteRound2 == nil || !gw.RemoteRound2.ID.IsAny() ||
		gw.RemoteRound2.EAP != (ike.EAPConfig{Method: eap.TypeMSCHAPv2, AskIdentity: true}) {
		t.Errorf("gateway: round 1 %v, round 2 %+v", gw.RemoteAuth, gw.RemoteRound2)
	}
	if rw.LocalAuth != ike.AuthPSK || rw.LocalID.String() != "rw.cygnet.test" || rw.LocalRound2 == nil ||
		!rw.LocalRound2.ID.IsAny() || rw.LocalRound2.EAP != (ike.EAPConfig{Method: eap.TypeMSCHAPv2, Identity: "alice"}) {
		t.Errorf("client: round 1 %v %s, round 2 %+v", rw.LocalAuth, rw.LocalID, rw.LocalRound2)
	}
	for _, c := range []struct{ gw2, rw1, want string }{
		{"psk", "psk", ":11: connection gw: authentication rounds psk then psk; cygnet does two rounds only as a certificate or PSK followed by EAP"},
		{"eap-mschapv2", "eap-md5", ":17: connection rw: authentication rounds eap-md5 then eap-mschapv2"},
	} {
		if _, err := load(c.gw2, c.rw1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("remote-2 %s, local round 1 %s: %v, want %q", c.gw2, c.rw1, err, c.want)
		}
	}
}

// EAP on both sides is EAP-only authentication (RFC 5998): a client's
// remote auth = eap, a gateway's local auth = eap; what is not one of
// those is refused with its line.
func TestEAPOnlyConfig(t *testing.T) {
	conf := func(gwLocal, gwRemote, rwLocal, rwRemote string) string {
		return `connections {
    gw {
        local {
            ` + gwLocal + `
            id = gw.cygnet.test
        }
        remote {
            ` + gwRemote + `
        }
    }
    rw {
        remote_addrs = 192.0.2.1
        local {
            ` + rwLocal + `
            id = alice
        }
        remote {
            ` + rwRemote + `
            id = gw.cygnet.test
        }
    }
}
secrets {
    ike-1 {
        secret = "a shared secret of more than twenty characters"
    }
}
`
	}
	load := func(text string) ([]*ike.PeerConfig, error) {
		path := filepath.Join(t.TempDir(), "swanctl.conf")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			return nil, err
		}
		return PeerConfigs(cfg)
	}
	pcs, err := load(conf("auth = eap", "auth = eap-mschapv2", "auth = eap-mschapv2", "auth = eap"))
	if err != nil {
		t.Fatal(err)
	}
	gw, rw := pcs[0], pcs[1]
	if gw.LocalAuth != ike.AuthEAP || gw.RemoteAuth != ike.AuthEAP || gw.RemoteEAP.Method != eap.TypeMSCHAPv2 {
		t.Errorf("gateway: %v / %v %+v", gw.LocalAuth, gw.RemoteAuth, gw.RemoteEAP)
	}
	if rw.LocalAuth != ike.AuthEAP || rw.RemoteAuth != ike.AuthEAP || rw.LocalEAP != (ike.EAPConfig{Method: eap.TypeMSCHAPv2, Identity: "alice"}) {
		t.Errorf("client: %v / %v %+v", rw.LocalAuth, rw.RemoteAuth, rw.LocalEAP)
	}
	// EAP-TLS is mutual and derives keys too.
	if pcs, err := load(conf("auth = eap", "auth = eap-tls", "auth = eap-tls", "auth = eap")); err != nil || pcs[0].RemoteEAP.Method != eap.TypeTLS || pcs[1].LocalEAP.Method != eap.TypeTLS {
		t.Errorf("EAP-only with eap-tls: %v", err)
	}
	for _, c := range []struct{ text, want string }{
		{conf("auth = eap", "auth = eap-md5", "auth = psk", "auth = psk"), ":2: connection gw: EAP-only authentication (RFC 5998) needs a mutual method that derives keys (eap-mschapv2, eap-tls), not EAP-MD5"},
		{conf("auth = eap-mschapv2", "auth = eap-mschapv2", "auth = psk", "auth = psk"), ":2: connection gw: EAP methods named on both sides"},
		{conf("auth = psk", "auth = psk", "auth = eap-mschapv2", "auth = eap\n            eap_id = x"), ":19: connections.rw.remote.eap_id: not used with EAP-only authentication"},
	} {
		if _, err := load(c.text); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}
