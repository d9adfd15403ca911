package daemon

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// confWithAddrs writes a swanctl.conf whose connection has the given
// local_addrs and remote_addrs lines.
func confWithAddrs(t *testing.T, local, remote string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "swanctl.conf")
	body := "connections {\n    gw {\n        local_addrs = " + local + "\n        remote_addrs = " + remote + `
        local { auth = psk }
        remote { auth = psk }
    }
}
secrets { ike { secret = "a shared secret of more than twenty characters" } }
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func matches(list []netip.Prefix, a string) bool {
	addr := netip.MustParseAddr(a)
	if list == nil {
		return true
	}
	for _, p := range list {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// TestAddrsRangesAndNames: ranges, %any4/%any6 and host names in
// local_addrs/remote_addrs restrict the addresses a connection answers,
// as in strongSwan; a name that does not resolve is refused with its line
// instead of matching every address.
func TestAddrsRangesAndNames(t *testing.T) {
	old := lookupHost
	defer func() { lookupHost = old }()
	lookupHost = func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "gw.example.net" {
			return []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")}, nil
		}
		return nil, errors.New("no such host")
	}
	load := func(local, remote string) (*peerResult, error) {
		cfg, err := LoadConfig(confWithAddrs(t, local, remote))
		if err != nil {
			return nil, err
		}
		pcs, err := PeerConfigs(cfg)
		if err != nil {
			return nil, err
		}
		return &peerResult{local: pcs[0].LocalAddrs, remote: pcs[0].RemoteAddrs, to: pcs[0].Remote}, nil
	}

	r, err := load("%any4", "192.0.2.10-192.0.2.20, 10.9.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{
		"192.0.2.10": true, "192.0.2.15": true, "192.0.2.20": true, "192.0.2.9": false, "192.0.2.21": false,
		"10.9.200.1": true, "10.8.0.1": false, "2001:db8::1": false,
	} {
		if got := matches(r.remote, a); got != want {
			t.Errorf("remote_addrs = 192.0.2.10-192.0.2.20, 10.9.0.0/16: %s matches %v, want %v (%v)", a, got, want, r.remote)
		}
	}
	if !matches(r.local, "192.0.2.1") || matches(r.local, "2001:db8::1") {
		t.Errorf("local_addrs = %%any4 gives %v, want IPv4 only", r.local)
	}
	if r.to.IsValid() {
		t.Errorf("a range has no address to initiate to, got %v", r.to)
	}

	r, err = load("%any", "gw.example.net")
	if err != nil {
		t.Fatal(err)
	}
	if r.to != netip.MustParseAddrPort("198.51.100.7:500") {
		t.Errorf("initiating to gw.example.net goes to %v, want 198.51.100.7:500", r.to)
	}
	if !matches(r.remote, "2001:db8::7") || matches(r.remote, "198.51.100.8") || r.local != nil {
		t.Errorf("remote_addrs = gw.example.net gives %v (local %v)", r.remote, r.local)
	}

	r, err = load("%any", "192.0.2.99, %any")
	if err != nil {
		t.Fatal(err)
	}
	if r.remote != nil || r.to != netip.MustParseAddrPort("192.0.2.99:500") {
		t.Errorf("remote_addrs = 192.0.2.99, %%any: accepts %v (want any), initiates to %v (want 192.0.2.99:500)", r.remote, r.to)
	}

	_, err = load("%any", "nx.example.net")
	if err == nil || !strings.Contains(err.Error(), `swanctl.conf:4: connections.gw.remote_addrs: cannot resolve host name "nx.example.net": no such host`) {
		t.Errorf("unresolvable remote_addrs: %v", err)
	}
}

type peerResult struct {
	local, remote []netip.Prefix
	to            netip.AddrPort
}

// protectRecorder is a Routes that records what Protect is asked to
// protect.
type protectRecorder struct{ protected []netip.Prefix }

func (r *protectRecorder) AddRule() error                                     { return nil }
func (r *protectRecorder) LinkUp(string) error                                { return nil }
func (r *protectRecorder) AddRoutes(string, []netip.Prefix, netip.Addr) error { return nil }
func (r *protectRecorder) DelRoutes(string, []netip.Prefix) error             { return nil }
func (r *protectRecorder) AddAddress(string, netip.Prefix) error              { return nil }
func (r *protectRecorder) DelAddress(string, netip.Prefix) error              { return nil }
func (r *protectRecorder) Protect(p []netip.Prefix) error {
	r.protected = p
	return nil
}

// TestProtectNamedHostsOnly: a host-to-host child (dynamic selectors) keeps
// the peers remote_addrs names unreachable in clear text, but not the
// pieces of a range that happen to be one address long.
func TestProtectNamedHostsOnly(t *testing.T) {
	path := confWithAddrs(t, "%any", "192.0.2.7, 192.0.2.10-192.0.2.20")
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(body), "        remote { auth = psk }\n", "        remote { auth = psk }\n        children { host { mode = transport } }\n", 1)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	pcs, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &protectRecorder{}
	p := &packetPath{routes: r}
	if err := p.Protect(pcs); err != nil {
		t.Fatal(err)
	}
	if len(r.protected) != 1 || r.protected[0] != netip.MustParsePrefix("192.0.2.7/32") {
		t.Errorf("protected %v, want only 192.0.2.7/32 (not 192.0.2.20/32, the last piece of the range)", r.protected)
	}
}
