package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func charonFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return filepath.Join(dir, "strongswan.conf")
}

// TestLoadCharonDebianLayout: Debian's stock strongswan.conf (plugin
// sections with only "load", empty sections of other programs) loads
// without a problem or a warning.
func TestLoadCharonDebianLayout(t *testing.T) {
	path := charonFiles(t, map[string]string{
		"strongswan.conf":                     "charon {\n\tload_modular = yes\n\tplugins {\n\t\tinclude strongswan.d/charon/*.conf\n\t}\n}\ninclude strongswan.d/*.conf\n",
		"strongswan.d/charon/eap-radius.conf": "eap-radius {\n    # accounting = no\n    load = yes\n    dae {\n    }\n    forward {\n    }\n    servers {\n    }\n    xauth {\n    }\n}\n",
		"strongswan.d/charon/aes.conf":        "aes {\n    load = yes\n}\n",
		"strongswan.d/charon-logging.conf":    "charon {\n    filelog {\n    }\n    syslog {\n        # identifier =\n    }\n}\n",
		"strongswan.d/pki.conf":               "pki {\n    # load =\n    scep {\n    }\n}\n",
	})
	c, err := LoadCharon(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 || c.EAPRadius != nil || !c.DoSProtection || c.CookieThreshold.Set || len(c.Files) != 5 {
		t.Fatalf("stock layout: warnings %v, eap-radius %v, files %v", c.Warnings, c.EAPRadius, c.Files)
	}
}

func TestLoadCharonSettings(t *testing.T) {
	path := charonFiles(t, map[string]string{"strongswan.conf": `charon {
  cookie_threshold = 1000
  cookie_threshold_ip = 20
  block_threshold = 50
  init_limit_half_open = 20000
  retransmit_timeout = 0.5
  retransmit_base = 1.5
  retransmit_tries = 3
  retransmit_limit = 10
  retransmit_jitter = 15
  plugins {
    eap-radius {
      accounting = yes
      nas_identifier = gw1
      retransmit_tries = 2
      servers {
        primary {
          address = 10.0.0.1
          secret = s1
          auth_port = 11812
          acct_port = 11813
        }
        backup {
          address = radius2.example
          secret = "s 2"
          port = 1645
          retransmit_timeout = 1.5
        }
      }
    }
  }
}
`})
	c, err := LoadCharon(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Fatalf("warnings: %v", c.Warnings)
	}
	ints := map[string]IntSetting{"cookie_threshold": c.CookieThreshold, "cookie_threshold_ip": c.CookieThresholdIP,
		"block_threshold": c.BlockThreshold, "init_limit_half_open": c.InitLimitHalfOpen, "retransmit_tries": c.RetransmitTries,
		"retransmit_limit": c.RetransmitLimit, "retransmit_jitter": c.RetransmitJitter}
	want := map[string]int{"cookie_threshold": 1000, "cookie_threshold_ip": 20, "block_threshold": 50,
		"init_limit_half_open": 20000, "retransmit_tries": 3, "retransmit_limit": 10, "retransmit_jitter": 15}
	for k, v := range ints {
		if !v.Set || v.Value != want[k] || v.Pos.Line == 0 {
			t.Errorf("%s = %+v, want %d", k, v, want[k])
		}
	}
	if c.CookieThreshold.Pos.String() != path+":2" {
		t.Errorf("cookie_threshold at %s", c.CookieThreshold.Pos)
	}
	if c.RetransmitTimeout.Value != 0.5 || c.RetransmitBase.Value != 1.5 {
		t.Errorf("retransmit_timeout %v base %v", c.RetransmitTimeout, c.RetransmitBase)
	}
	r := c.EAPRadius
	if r == nil || !r.Accounting || len(r.Servers) != 2 {
		t.Fatalf("eap-radius %+v", r)
	}
	p, b := r.Servers[0], r.Servers[1]
	if p.Name != "primary" || p.Address != "10.0.0.1" || string(p.Secret.Bytes()) != "s1" || p.AuthPort != 11812 || p.AcctPort != 11813 ||
		p.NASIdentifier != "gw1" || p.RetransmitTries != 2 || p.RetransmitTimeout != 2*time.Second {
		t.Errorf("primary %+v", p)
	}
	if b.Address != "radius2.example" || string(b.Secret.Bytes()) != "s 2" || b.AuthPort != 1645 || b.AcctPort != 1813 ||
		b.RetransmitTimeout != 1500*time.Millisecond || b.RetransmitBase != 1.4 {
		t.Errorf("backup %+v", b)
	}
}

func TestLoadCharonSingleServer(t *testing.T) {
	path := charonFiles(t, map[string]string{"strongswan.conf": "charon { plugins { eap-radius {\n server = 192.0.2.7\n secret = x\n port = 1645\n} } }\n"})
	c, err := LoadCharon(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.EAPRadius == nil || len(c.EAPRadius.Servers) != 1 || c.EAPRadius.Servers[0].Address != "192.0.2.7" || c.EAPRadius.Servers[0].AuthPort != 1645 {
		t.Fatalf("eap-radius %+v", c.EAPRadius)
	}
}

func TestLoadCharonProblems(t *testing.T) {
	path := charonFiles(t, map[string]string{"strongswan.conf": `charon {
  cookie_threshold = many
  block_threshold = -1
  retransmit_timeout = 0
  retransmit_base = 0.5
  retransmit_jitter = 101
  dos_protection = perhaps
  plugins { eap-radius {
    secrets = oops
    servers {
      a {
        address = 10.0.0.1
      }
      b {
        secret = x
        auth_prot = 1
      }
      c {
        address = 10.0.0.3
        secret = y
        auth_port = 70000
      }
    }
  } }
}
`})
	_, err := LoadCharon(path)
	if err == nil {
		t.Fatal("loaded")
	}
	got := strings.ReplaceAll(err.Error(), path, "F")
	want := `F:2: charon.cookie_threshold: invalid value "many": want a whole number from 0 to 2147483647
F:3: charon.block_threshold: invalid value "-1": want a whole number from 0 to 2147483647
F:4: charon.retransmit_timeout: invalid value "0": want seconds from 0.001 to 3600
F:5: charon.retransmit_base: invalid value "0.5": want a factor from 1 to 10
F:6: charon.retransmit_jitter: invalid value "101": want a whole number from 0 to 100
F:7: charon.dos_protection: invalid value "perhaps": want yes or no
F:9: charon.plugins.eap-radius: unknown option "secrets" (did you mean "secret"?)
F:11: charon.plugins.eap-radius.servers.a: no secret
F:14: charon.plugins.eap-radius.servers.b: no address
F:16: charon.plugins.eap-radius.servers.b: unknown option "auth_prot" (did you mean "auth_port"?)
F:21: charon.plugins.eap-radius.servers.c.auth_port: invalid value "70000": want a UDP port from 1 to 65535`
	if got != want {
		t.Fatalf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestLoadCharonWarnings(t *testing.T) {
	path := charonFiles(t, map[string]string{"strongswan.conf": `charon {
  cookie_treshold = 5
  port = 600
  dos_protection = no
  block_threshold = 9
  retransmit_jitter = 50
  filelog {
    log { path = /var/log/charon.log }
  }
  plugins {
    attr { dns = 1.1.1.1 }
    aes { load = yes }
    eap-radius { sockets = 4 }
  }
}
swanctl { load = pem }
`})
	c, err := LoadCharon(path)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(c.Warnings.Error(), path, "F")
	want := `F:2: charon.cookie_treshold: not supported by cygnet; ignored (did you mean "cookie_threshold"?)
F:3: charon.port: not supported by cygnet; ignored
F:5: charon.dos_protection = no disables cookies and blocking: this threshold has no effect
F:6: charon.retransmit_jitter: 50% is more than strongSwan's maximum; 20% is used
F:8: charon.filelog.log.path: not supported by cygnet; ignored
F:11: charon.plugins.attr.dns: cygnet has no attr plugin; ignored
F:13: charon.plugins.eap-radius.sockets: not supported by cygnet; ignored
F:16: swanctl.load: a setting of another strongSwan program, not used by cygnet; ignored`
	if got != want {
		t.Fatalf("warnings:\n%s\nwant:\n%s", got, want)
	}
	if c.DoSProtection || c.RetransmitJitter.Value != 20 {
		t.Fatalf("dos_protection %v jitter %d", c.DoSProtection, c.RetransmitJitter.Value)
	}
}

// FuzzLoadCharon checks that reading the charon section of whatever parses
// never panics and that every problem and warning has a line in the input.
func FuzzLoadCharon(f *testing.F) {
	f.Add([]byte("charon {\n cookie_threshold = 10\n retransmit_timeout = 0.5\n plugins {\n  eap-radius {\n   servers { a { address = 1.2.3.4\n secret = x } }\n  }\n }\n}\n"))
	f.Add([]byte("charon { plugins { eap-radius { server = x\n port = 0x10 } aes { load = yes } } filelog { x { y = 1 } } }\nswanctl { k = v }\n"))
	f.Add([]byte("charon { dos_protection = no\n block_threshold = 1e9\n retransmit_base = NaN }\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		root, ctx := parseSource(noFiles{}, "f.conf", src)
		if len(ctx.problems) > 0 {
			return
		}
		c, problems := buildCharon("f.conf", root)
		lines := strings.Count(string(src), "\n") + 1
		for _, p := range append(problems, c.Warnings...) {
			if p.Pos.Line < 1 || p.Pos.Line > lines {
				t.Fatalf("line %d outside 1..%d: %v", p.Pos.Line, lines, p)
			}
		}
	})
}

// TestLoadCharonTLS: charon.tls.version_max lets EAP-TLS use TLS 1.3; a
// version cygnet does not speak is refused with its line, libtls's other
// settings are warned about.
func TestLoadCharonTLS(t *testing.T) {
	path := charonFiles(t, map[string]string{"strongswan.conf": "charon {\n  tls {\n    version_max = 1.3\n    cipher = x\n  }\n}\n"})
	c, err := LoadCharon(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLSVersionMax != 0x0304 {
		t.Errorf("TLSVersionMax %#x, want 0x0304", c.TLSVersionMax)
	}
	if got := strings.ReplaceAll(c.Warnings.Error(), path, "F"); got != "F:4: charon.tls.cipher: not supported by cygnet; ignored" {
		t.Errorf("warnings: %s", got)
	}
	path = charonFiles(t, map[string]string{"strongswan.conf": "charon {\n  tls {\n    version_max = 1.1\n  }\n}\n"})
	if _, err := LoadCharon(path); err == nil || !strings.Contains(err.Error(), `:3: charon.tls.version_max: invalid value "1.1": want 1.2 or 1.3`) {
		t.Errorf("version_max = 1.1: %v", err)
	}
}

// TestLoadCharonEAPTLS: charon.plugins.eap-tls.fragment_size is used and
// checked; settings cygnet does not have are warned about.
func TestLoadCharonEAPTLS(t *testing.T) {
	path := charonFiles(t, map[string]string{"strongswan.conf": "charon {\n  plugins {\n    eap-tls {\n      load = yes\n      fragment_size = 600\n      include_length = no\n      max_message_count = 40\n    }\n  }\n}\n"})
	c, err := LoadCharon(path)
	if err != nil {
		t.Fatal(err)
	}
	if !c.EAPTLSFragmentSize.Set || c.EAPTLSFragmentSize.Value != 600 {
		t.Errorf("fragment size %+v", c.EAPTLSFragmentSize)
	}
	want := `F:6: charon.plugins.eap-tls.include_length: cygnet always includes the TLS message length in the first packet; ignored
F:7: charon.plugins.eap-tls.max_message_count: not supported by cygnet; ignored`
	if got := strings.ReplaceAll(c.Warnings.Error(), path, "F"); got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
	path = charonFiles(t, map[string]string{"strongswan.conf": "charon {\n  plugins {\n    eap-tls {\n      fragment_size = 10\n    }\n  }\n}\n"})
	if _, err := LoadCharon(path); err == nil || !strings.Contains(err.Error(), ":4: charon.plugins.eap-tls.fragment_size: invalid value") {
		t.Errorf("fragment_size = 10: %v", err)
	}
}
