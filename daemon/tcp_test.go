package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/dataplane"
	"github.com/cygnet-ipsec/cygnet/ike"
)

func tcpConf(connLines string) string {
	return `connections {
    gw {
` + connLines + `
        local {
            auth = psk
            id = a
        }
        remote {
            auth = psk
            id = b
        }
        children {
            net {
                local_ts = 10.1.0.0/16
                remote_ts = 10.2.0.0/16
            }
        }
    }
}
secrets {
    ike-1 {
        secret = 0123456789abcdefghijklmnop
    }
}
`
}

func loadTCPConf(t *testing.T, connLines string) ([]*ike.PeerConfig, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	if err := os.WriteFile(path, []byte(tcpConf(connLines)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return PeerConfigs(cfg)
}

// TestEncapTCPConfig: encap_tcp reaches the data plane as a gateway per
// remote host; what cannot work is refused with its line.
func TestEncapTCPConfig(t *testing.T) {
	pcs, err := loadTCPConf(t, "        remote_addrs = 192.0.2.2, 192.0.2.3\n        encap_tcp = fallback\n        tcp_fallback_timeout = 3s")
	if err != nil {
		t.Fatal(err)
	}
	gws := tcpGateways(pcs)
	want := dataplane.TCPGateway{Mode: dataplane.TCPFallback, After: 3 * time.Second}
	if len(gws) != 2 || gws[netip.MustParseAddr("192.0.2.2")] != want || gws[netip.MustParseAddr("192.0.2.3")] != want {
		t.Errorf("gateways %+v, want both hosts with %+v", gws, want)
	}
	pcs, err = loadTCPConf(t, "        remote_addrs = 192.0.2.2\n        encap_tcp = yes")
	if err != nil {
		t.Fatal(err)
	}
	if g := tcpGateways(pcs); g[netip.MustParseAddr("192.0.2.2")].Mode != dataplane.TCPAlways {
		t.Errorf("encap_tcp = yes: %+v", g)
	}
	if pcs, err = loadTCPConf(t, "        remote_addrs = 192.0.2.2"); err != nil || len(tcpGateways(pcs)) != 0 {
		t.Errorf("no encap_tcp: gateways %v, %v", tcpGateways(pcs), err)
	}
	for _, c := range []struct{ lines, want string }{
		{"        remote_addrs = %any\n        encap_tcp = yes", ":4: connections.gw.encap_tcp: needs a remote host"},
		{"        remote_addrs = 192.0.2.0/24\n        encap_tcp = fallback", ":4: connections.gw.encap_tcp: needs a remote host"},
		{"        remote_addrs = 192.0.2.2\n        tcp_fallback_timeout = 3s", ":4: connections.gw.tcp_fallback_timeout: only used with encap_tcp = fallback"},
		{"        remote_addrs = 192.0.2.2\n        encap_tcp = maybe", ":4"},
		{"        remote_addrs = 192.0.2.2\n        encap_tcp = yes\n        children {\n            t {\n                mode = transport\n            }\n        }", ":4: connections.gw.encap_tcp: only with tunnel-mode children; connections.gw.children.t is not"},
	} {
		_, err := loadTCPConf(t, c.lines)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.lines, err, c.want)
		}
	}
}

// TestEncapTCPOneConnectionPerGateway: two connections to one gateway over
// TCP would share its one TCP connection: refused at the second's line.
func TestEncapTCPOneConnectionPerGateway(t *testing.T) {
	one := tcpConf("        remote_addrs = 192.0.2.2\n        encap_tcp = yes")
	body := one[len("connections {\n") : strings.Index(one, "\nsecrets")-len("}")]
	conf := "connections {\n" + strings.Replace(body, "    gw {", "    gw2 {", 1) + body + "}\n" + one[strings.Index(one, "secrets"):]
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, conf)
	}
	_, err = PeerConfigs(cfg)
	if err == nil || !strings.Contains(err.Error(), "connections.gw.encap_tcp: connections.gw2 reaches 192.0.2.2 over TCP too") {
		t.Fatalf("%v\n%s", err, conf)
	}
}
