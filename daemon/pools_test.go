package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
)

func loadPoolConf(t *testing.T, text string) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err == nil {
		_, err = PeerConfigs(cfg)
	}
	return err
}

const rwConf = `connections {
    home {
        remote_addrs = 192.0.2.2
        vips = 0.0.0.0
        local { auth = psk
            id = a }
        remote { auth = psk
            id = b }
        children {
            net {
                remote_ts = 10.1.0.0/16
                start_action = trap
            }
        }
    }
}
secrets { ike-1 { secret = "a shared secret of more than twenty characters" } }
`

func TestPoolAndVIPRefusals(t *testing.T) {
	for _, c := range []struct{ name, conf, want string }{
		{"trap with vips", rwConf, "swanctl.conf:12: connections.home.children.net.start_action: not implemented by cygnet yet (trap policies with virtual IPs)"},
		{"two ranges", strings.Replace(rwConf, "start_action = trap", "", 1) + "pools {\n    p {\n        addrs = 10.3.0.0/24, 10.4.0.0/24\n    }\n}\n",
			"swanctl.conf:20: pools.p.addrs: one subnet or range per pool"},
		{"huge", strings.Replace(rwConf, "start_action = trap", "", 1) + "pools {\n    p {\n        addrs = fd00::/64\n    }\n}\n",
			"swanctl.conf:20: pools.p.addrs: pool p: range fd00::1-fd00::ffff:ffff:ffff:ffff holds more than 16777216 addresses"},
		{"no addrs", strings.Replace(rwConf, "start_action = trap", "", 1) + "pools {\n    p {\n        dns = 10.3.0.1\n    }\n}\n",
			"swanctl.conf:19: pools.p: no addrs"},
	} {
		err := loadPoolConf(t, c.conf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if err := loadPoolConf(t, strings.Replace(rwConf, "start_action = trap", "start_action = start", 1)); err != nil {
		t.Errorf("vips with start_action = start: %v", err)
	}
}

func TestPoolManagerLeasesAndList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	conf := strings.Replace(rwConf, "start_action = trap", "", 1) +
		"pools {\n    p {\n        addrs = 10.3.0.10-10.3.0.11\n        dns = 10.1.0.53, fd01::53\n        subnet = 10.1.0.0/16\n        netmask = 255.255.255.0\n    }\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	m := newPoolManager()
	if err := m.configure(cfg); err != nil {
		t.Fatal(err)
	}
	carol, _ := identity.Parse("carol@example.org")
	dave, _ := identity.Parse("dave@example.org")
	v, err := m.Acquire([]string{"p"}, carol, netip.IPv4Unspecified())
	if err != nil {
		t.Fatal(err)
	}
	if v.Addr.String() != "10.3.0.10" || v.Pool != "p" || len(v.DNS) != 2 || v.Subnets[0].String() != "10.1.0.0/16" || v.Netmask.String() != "255.255.255.0" {
		t.Fatalf("lease %+v", v)
	}
	w, err := m.Acquire([]string{"p"}, dave, netip.IPv4Unspecified())
	if err != nil || w.Addr.String() != "10.3.0.11" {
		t.Fatalf("dave: %+v %v", w, err)
	}
	m.Release(v, carol)
	got := m.list()
	want := control.Pool{Name: "p", Base: "10.3.0.10", Size: 2, Online: 1, Offline: 1, Leases: []control.Lease{
		{Address: "10.3.0.10", Identity: "carol@example.org", Status: "offline"},
		{Address: "10.3.0.11", Identity: "dave@example.org", Status: "online"},
	}}
	if len(got) != 1 || got[0].Name != want.Name || got[0].Base != want.Base || got[0].Size != want.Size ||
		got[0].Online != want.Online || got[0].Offline != want.Offline || len(got[0].Leases) != 2 ||
		got[0].Leases[0] != want.Leases[0] || got[0].Leases[1] != want.Leases[1] {
		t.Fatalf("list-pools %+v, want %+v", got, want)
	}
	// A reload keeps the leases.
	if err := m.configure(cfg); err != nil {
		t.Fatal(err)
	}
	if got := m.list(); got[0].Online != 1 || got[0].Offline != 1 {
		t.Fatalf("after reload %+v", got)
	}
}
