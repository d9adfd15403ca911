package daemon

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
)

func loadCharonText(t *testing.T, text string) ike.Options {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "strongswan.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCharon(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return IKEOptions(c)
}

// Every charon setting cygnet uses reaches the IKE Manager's options with
// strongSwan's meaning; the ike tests show each option taking effect.
func TestIKEOptionsFromStrongswanConf(t *testing.T) {
	tests := []struct {
		name, conf string
		want       ike.Options
	}{
		{"none set", "charon {\n}\n", ike.Options{}},
		{"all set", `charon {
  cookie_threshold = 2000
  cookie_threshold_ip = 40
  block_threshold = 60
  init_limit_half_open = 50000
  retransmit_timeout = 0.5
  retransmit_base = 1.2
  retransmit_tries = 7
  retransmit_limit = 30
  retransmit_jitter = 10
}`, ike.Options{CookieThreshold: 2000, CookieThresholdPerSource: 40, HalfOpenPerSource: 60, HalfOpenLimit: 50000,
			RetransmitTimeout: 500 * time.Millisecond, RetransmitBase: 1.2, RetransmitTries: 7, RetransmitLimit: 30 * time.Second, RetransmitJitter: 10}},
		{"zero disables", "charon {\n cookie_threshold = 0\n cookie_threshold_ip = 0\n block_threshold = 0\n init_limit_half_open = 0\n retransmit_tries = 0\n}\n",
			ike.Options{CookieThreshold: math.MaxInt, CookieThresholdPerSource: math.MaxInt, HalfOpenPerSource: math.MaxInt, HalfOpenLimit: math.MaxInt, RetransmitTries: -1}},
		{"dos_protection off", "charon {\n dos_protection = no\n init_limit_half_open = 100\n}\n",
			ike.Options{CookieThreshold: math.MaxInt, CookieThresholdPerSource: math.MaxInt, HalfOpenPerSource: math.MaxInt, HalfOpenLimit: 100}},
		{"block raised above cookie_threshold_ip", "charon {\n cookie_threshold_ip = 10\n}\n",
			ike.Options{CookieThresholdPerSource: 10, HalfOpenPerSource: 11}},
		{"block raised, set", "charon {\n cookie_threshold_ip = 10\n block_threshold = 4\n}\n",
			ike.Options{CookieThresholdPerSource: 10, HalfOpenPerSource: 11}},
		{"EAP-TLS with TLS 1.3", "charon {\n tls {\n  version_max = 1.3\n }\n}\n", ike.Options{EAPTLSMaxVersion: 0x0304}},
		{"EAP-TLS fragment size", "charon {\n plugins {\n  eap-tls {\n   fragment_size = 600\n  }\n }\n}\n", ike.Options{EAPTLSFragmentSize: 600}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadCharonText(t, tt.conf); got != tt.want {
				t.Fatalf("options\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestFindStrongswanConf(t *testing.T) {
	dir := t.TempDir()
	swanctl := filepath.Join(dir, "swanctl", "swanctl.conf")
	if err := os.MkdirAll(filepath.Dir(swanctl), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := FindStrongswanConf(swanctl); got != "" {
		t.Fatalf("found %q in an empty tree", got)
	}
	up := filepath.Join(dir, "strongswan.conf")
	if err := os.WriteFile(up, []byte("charon {\n retransmit_tries = nope\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := FindStrongswanConf(swanctl); got != up {
		t.Fatalf("found %q, want %q", got, up)
	}
	// a bad value refuses the start, at its line
	if _, err := LoadCharon("", swanctl); err == nil || !strings.Contains(err.Error(), up+":2: charon.retransmit_tries: invalid value") {
		t.Fatalf("bad strongswan.conf: %v", err)
	}
	if c, err := LoadCharon(NoStrongswanConf, swanctl); c != nil || err != nil {
		t.Fatalf("none: %v, %v", c, err)
	}
	beside := filepath.Join(dir, "swanctl", "strongswan.conf")
	if err := os.WriteFile(beside, []byte("charon {\n plugins {\n  eap-radius {\n   server = 10.0.0.1\n   secret = x\n  }\n }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCharon("", swanctl)
	if err != nil || c.Path != beside {
		t.Fatalf("beside swanctl.conf: %v, %v", c, err)
	}
	ws := CharonWarnings(c, nil)
	if len(ws) != 1 || ws[0].Error() != beside+":3: charon.plugins.eap-radius: no connection has auth = eap-radius, so these RADIUS settings are not used" {
		t.Fatalf("warnings %v", ws)
	}
}

// The eap-radius servers of strongswan.conf become the RADIUS client's, in
// order, with their ports, secrets and retransmission.
func TestRADIUSClientFromStrongswanConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strongswan.conf")
	text := `charon { plugins { eap-radius {
  nas_identifier = gw
  retransmit_timeout = 3
  servers {
    primary { address = 192.0.2.9
      secret = one
      auth_port = 11812
      acct_port = 11813 }
    backup { address = 2001:db8::9
      secret = two
      retransmit_tries = 7
      nas_identifier = gw-b }
  }
} } }
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCharon(path, "")
	if err != nil {
		t.Fatal(err)
	}
	rc := RADIUSClient(c.EAPRadius)
	if rc == nil || len(rc.Servers) != 2 {
		t.Fatalf("client %+v", rc)
	}
	p, b := rc.Servers[0], rc.Servers[1]
	if p.Name != "primary" || p.Addr != "192.0.2.9:11812" || p.AcctAddr != "192.0.2.9:11813" || string(p.Secret) != "one" ||
		p.NASIdentifier != "gw" || p.Timeout != 3*time.Second || p.Base != 1.4 || p.Tries != 4 {
		t.Errorf("primary %+v", p)
	}
	if b.Addr != "[2001:db8::9]:1812" || b.AcctAddr != "[2001:db8::9]:1813" || string(b.Secret) != "two" || b.Tries != 7 || b.NASIdentifier != "gw-b" {
		t.Errorf("backup %+v", b)
	}
	if RADIUSClient(nil) != nil {
		t.Error("a client without servers")
	}
}
