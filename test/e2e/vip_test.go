package e2e

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// Remote access: a road warrior gets a virtual IP (and DNS servers and
// split-tunnel subnets) from the gateway's pool in IKE_AUTH's configuration
// payload, and its traffic leaves from that address.

var (
	vipPool4 = netip.MustParsePrefix("10.99.3.0/28")
	vipPool6 = netip.MustParsePrefix("fd00:99:3::/120")
	vip4     = netip.MustParseAddr("10.99.3.1") // the first address of each pool
	vip6     = netip.MustParseAddr("fd00:99:3::1")
)

// rwGateway is the gateway (B) of a road warrior connection "rw": any
// client address, the client's side dynamic (its virtual IP), B's subnets
// local, virtual IPs from pools.
func rwGateway(pools string, local ...netip.Prefix) testnet.TunnelConfig {
	return testnet.TunnelConfig{
		Name: "rw", LocalAddrs: testnet.UnderlayB.String(),
		LocalID: "b." + testnet.CertDomain, RemoteID: "a." + testnet.CertDomain,
		Extra:    "pools = " + pools,
		Children: []testnet.ChildConfig{{Name: "net", LocalTS: local}},
	}
}

// rwClient is the road warrior (A): it asks for virtual IPs and sends its
// traffic for remote from them.
func rwClient(vips string, remote ...netip.Prefix) testnet.TunnelConfig {
	return testnet.TunnelConfig{
		Name: "home", LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(),
		LocalID: "a." + testnet.CertDomain, RemoteID: "b." + testnet.CertDomain,
		Extra:    "vips = " + vips,
		Children: []testnet.ChildConfig{{Name: "net", RemoteTS: remote}},
	}
}

// listPools runs `cygnet list-pools --json` as an operator would.
func listPools(t *testing.T, c *cygnet) []control.Pool {
	t.Helper()
	out, err := exec.Command(cygnetBin, "--socket", c.socket, "list-pools", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("cygnet list-pools: %v: %s", err, out)
	}
	var pools []control.Pool
	if err := json.Unmarshal(out, &pools); err != nil {
		t.Fatalf("cygnet list-pools --json: %v: %s", err, out)
	}
	return pools
}

// waitPool polls list-pools until the pool reads as want (leases compared
// whole), or fails the test.
func waitPool(t *testing.T, c *cygnet, want control.Pool) {
	t.Helper()
	var got []control.Pool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = listPools(t, c)
		if len(got) == 1 && got[0].Name == want.Name && got[0].Base == want.Base && got[0].Size == want.Size &&
			got[0].Online == want.Online && got[0].Offline == want.Offline && slices.Equal(got[0].Leases, want.Leases) {
			return
		}
	}
	t.Fatalf("list-pools: %+v, want %+v", got, want)
}

// TestVIPStrongSwanClientCygnetGateway: a strongSwan road warrior with
// vips = 0.0.0.0 connects to a cygnet gateway with a pool. It gets the
// pool's first address, list-pools shows the lease, pings from the virtual
// IP cross the tunnel as ESP only, a reload keeps the lease, and when it
// reconnects it gets the same address back.
func TestVIPStrongSwanClientCygnetGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pool := testnet.PoolsSwanctl(testnet.PoolConfig{Name: "rw4", Addrs: vipPool4.String(), DNS: []string{"10.99.2.53"}})
	gw := startCygnet(t, p.B, rwGateway("rw4", testnet.SubnetB).Swanctl()+pool, nil, "")
	sw := testnet.StartStrongSwan(t, p.A, nil)
	if err := sw.Load(rwClient("0.0.0.0", testnet.SubnetB).Swanctl()); err != nil {
		t.Fatal(err)
	}
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)
	if err := sw.Initiate("home", "net"); err != nil {
		t.Fatalf("strongSwan initiating: %v\n%s", err, sw.LogTail(40))
	}
	sa, ch := gw.waitChild("net", 10*time.Second)
	if !slices.Equal(sa.RemoteVIPs, []string{vip4.String()}) || len(sa.LocalVIPs) != 0 {
		t.Errorf("gateway list-sas: remote_vips %v local_vips %v, want [%s] []", sa.RemoteVIPs, sa.LocalVIPs, vip4)
	}
	if !slices.Equal(ch.RemoteTS, []string{vip4.String() + "/32"}) || !slices.Equal(ch.LocalTS, []string{testnet.SubnetB.String()}) {
		t.Errorf("gateway's Child SA %v === %v, want %s === %s/32", ch.LocalTS, ch.RemoteTS, testnet.SubnetB, vip4)
	}
	_, swChild, err := sw.WaitChildSA("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(swChild.LocalTS, []string{vip4.String() + "/32"}) {
		t.Errorf("strongSwan's local selector %v, want its virtual IP %s/32", swChild.LocalTS, vip4)
	}
	// The fields are always there, [] when empty.
	if out, err := exec.Command(cygnetBin, "--socket", gw.socket, "list-sas", "--json").CombinedOutput(); err != nil ||
		!strings.Contains(string(out), `"local_vips": []`) || !strings.Contains(string(out), `"remote_vips": [`+"\n"+`      "10.99.3.1"`) {
		t.Errorf("list-sas --json: %v\n%s", err, out)
	}
	online := control.Pool{Name: "rw4", Base: "10.99.3.1", Size: 14, Online: 1,
		Leases: []control.Lease{{Address: vip4.String(), Identity: "a." + testnet.CertDomain, Status: "online"}}}
	waitPool(t, gw, online)

	// A reload that widens the pool keeps the lease.
	wider := testnet.PoolsSwanctl(testnet.PoolConfig{Name: "rw4", Addrs: "10.99.3.0/27", DNS: []string{"10.99.2.53"}})
	if err := gw.reload(rwGateway("rw4", testnet.SubnetB).Swanctl() + wider); err != nil {
		t.Fatal(err)
	}
	online.Size = 30
	waitPool(t, gw, online)

	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)
	testnet.PingFrom(t, p.B, testnet.HostB, vip4, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetB, vipPool4)
	t.Logf("on %s: %s", p.IfB, s)

	// The client goes and comes back: its lease waits for it offline.
	if err := sw.Terminate("home"); err != nil {
		t.Fatal(err)
	}
	offline := online
	offline.Online, offline.Offline = 0, 1
	offline.Leases = []control.Lease{{Address: vip4.String(), Identity: "a." + testnet.CertDomain, Status: "offline"}}
	waitPool(t, gw, offline)
	if err := sw.Initiate("home", "net"); err != nil {
		t.Fatalf("strongSwan initiating again: %v", err)
	}
	if sa, _ := gw.waitChild("net", 10*time.Second); !slices.Equal(sa.RemoteVIPs, []string{vip4.String()}) {
		t.Errorf("reconnected client got %v, want its old %s", sa.RemoteVIPs, vip4)
	}
	waitPool(t, gw, online)
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 2)
}

// TestVIPCygnetClientStrongSwanGateway: a cygnet road warrior with
// vips = 0.0.0.0, :: connects to a strongSwan gateway with an IPv4 and an
// IPv6 pool, each with DNS servers and a split-tunnel subnet. cygnet puts
// both virtual IPs on its TUN, routes the gateway's subnets through it from
// them, shows the DNS servers and subnets it received, and takes the
// addresses away when the tunnel goes.
func TestVIPCygnetClientStrongSwanGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pools := testnet.PoolsSwanctl(
		testnet.PoolConfig{Name: "p4", Addrs: vipPool4.String(), DNS: []string{"10.99.2.53"}, Subnets: []string{testnet.SubnetB.String()}},
		testnet.PoolConfig{Name: "p6", Addrs: vipPool6.String(), DNS: []string{"fd00:99:2::53"}, Subnets: []string{testnet.SubnetB6.String()}},
	)
	sw := testnet.StartStrongSwan(t, p.B, nil)
	if err := sw.Load(rwGateway("p4, p6", testnet.SubnetB, testnet.SubnetB6).Swanctl() + pools); err != nil {
		t.Fatal(err)
	}
	client := startCygnet(t, p.A, rwClient("0.0.0.0, ::", testnet.SubnetB, testnet.SubnetB6).Swanctl(), nil, "")
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)
	client.initiate("home", "net")
	sa, ch := client.waitChild("net", 10*time.Second)
	// strongSwan's mem pools skip a subnet's network address.
	if !slices.Equal(sa.LocalVIPs, []string{vip4.String(), vip6.String()}) || len(sa.RemoteVIPs) != 0 {
		t.Errorf("client list-sas: local_vips %v remote_vips %v, want [%s %s] []", sa.LocalVIPs, sa.RemoteVIPs, vip4, vip6)
	}
	if !slices.Equal(sa.DNS, []string{"10.99.2.53", "fd00:99:2::53"}) {
		t.Errorf("client list-sas: dns %v", sa.DNS)
	}
	if want := []string{vip4.String() + "/32", vip6.String() + "/128"}; !slices.Equal(ch.LocalTS, want) {
		t.Errorf("client's local selectors %v, want %v", ch.LocalTS, want)
	}
	if want := []string{testnet.SubnetB.String(), testnet.SubnetB6.String()}; !slices.Equal(ch.RemoteTS, want) {
		t.Errorf("client's remote selectors %v, want %v", ch.RemoteTS, want)
	}
	re := regexp.MustCompile(`virtual IP assigned.*vips=10\.99\.3\.1,fd00:99:3::1 dns=10\.99\.2\.53,fd00:99:2::53 subnets=10\.99\.2\.0/24,fd00:99:2::/64`)
	if !logHas(cygnetEnd{client}, re, 5*time.Second) {
		t.Errorf("client log has no line matching %s", re)
	}

	// The virtual IPs are on the TUN and the split-tunnel subnets are
	// routed into it from them.
	addrs := p.Exec(p.A, "ip", "-o", "addr", "show")
	var tun string
	for _, l := range strings.Split(addrs, "\n") {
		if f := strings.Fields(l); len(f) > 3 && strings.HasPrefix(f[3], vip4.String()+"/32") {
			tun = f[1]
		}
	}
	if tun == "" || !strings.Contains(addrs, vip6.String()+"/128") {
		t.Fatalf("virtual IPs not on a device in %s:\n%s", p.A, addrs)
	}
	for _, fam := range []struct {
		flag, subnet string
		vip          netip.Addr
	}{{"-4", testnet.SubnetB.String(), vip4}, {"-6", testnet.SubnetB6.String(), vip6}} {
		routes := p.Exec(p.A, "ip", fam.flag, "route", "show", "table", "all")
		found := false
		for _, l := range strings.Split(routes, "\n") {
			found = found || strings.HasPrefix(l, fam.subnet+" dev "+tun) && strings.Contains(l, "src "+fam.vip.String())
		}
		if !found {
			t.Errorf("no route %s dev %s src %s in %s:\n%s", fam.subnet, tun, fam.vip, p.A, routes)
		}
	}
	// Without -I: the kernel picks the virtual IP from the route.
	testnet.Ping(t, p.A, testnet.HostB, 3)
	testnet.Ping(t, p.A, testnet.HostB6, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetB, testnet.SubnetB6, vipPool4, vipPool6)
	t.Logf("on %s: %s", p.IfB, s)
	if _, swChild, err := sw.WaitChildSA("net", time.Second); err != nil || swChild.PacketsIn < 6 {
		t.Errorf("strongSwan's Child SA: %+v, %v: want the 6 pings in", swChild, err)
	}

	if err := client.terminate("home"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		addrs = p.Exec(p.A, "ip", "-o", "addr", "show")
		if !strings.Contains(addrs, vip4.String()+"/") && !strings.Contains(addrs, vip6.String()+"/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtual IPs still on a device after the tunnel went:\n%s", addrs)
		}
	}
}

// TestVIPStrongSwanClientIPv6: a strongSwan road warrior asks a cygnet
// gateway for an IPv4 and an IPv6 virtual IP (vips = 0.0.0.0, ::) and gets
// one from each pool; both families cross the tunnel from them.
func TestVIPStrongSwanClientIPv6(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pools := testnet.PoolsSwanctl(
		testnet.PoolConfig{Name: "rw4", Addrs: vipPool4.String()},
		testnet.PoolConfig{Name: "rw6", Addrs: vipPool6.String(), DNS: []string{"fd00:99:2::53"}},
	)
	gw := startCygnet(t, p.B, rwGateway("rw4, rw6", testnet.SubnetB, testnet.SubnetB6).Swanctl()+pools, nil, "")
	sw := testnet.StartStrongSwan(t, p.A, nil)
	if err := sw.Load(rwClient("0.0.0.0, ::", testnet.SubnetB, testnet.SubnetB6).Swanctl()); err != nil {
		t.Fatal(err)
	}
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)
	if err := sw.Initiate("home", "net"); err != nil {
		t.Fatalf("strongSwan initiating: %v\n%s", err, sw.LogTail(40))
	}
	sa, ch := gw.waitChild("net", 10*time.Second)
	if !slices.Equal(sa.RemoteVIPs, []string{vip4.String(), vip6.String()}) {
		t.Errorf("gateway list-sas: remote_vips %v, want [%s %s]", sa.RemoteVIPs, vip4, vip6)
	}
	if want := []string{vip4.String() + "/32", vip6.String() + "/128"}; !slices.Equal(ch.RemoteTS, want) {
		t.Errorf("gateway's remote selectors %v, want %v", ch.RemoteTS, want)
	}
	got := listPools(t, gw)
	if len(got) != 2 || got[1].Name != "rw6" || got[1].Online != 1 || len(got[1].Leases) != 1 || got[1].Leases[0].Address != vip6.String() {
		t.Errorf("list-pools %+v, want rw6 with %s online", got, vip6)
	}
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 2)
	testnet.PingFrom(t, p.A, vip6, testnet.HostB6, 2)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetB, testnet.SubnetB6, vipPool4, vipPool6)
	t.Logf("on %s: %s", p.IfB, s)
}

// TestVIPEAPStrongSwanClientCygnetGateway is the road warrior as phones and
// laptops are set up: a strongSwan client with vips = 0.0.0.0 and
// EAP-MSCHAPv2 (the gateway asks for the EAP identity) connects to a cygnet
// gateway that authenticates with its certificate and leases from a pool.
// alice's address comes from the pool, list-pools shows it leased to her
// EAP identity, pings from the virtual IP cross as ESP only; bob, with a
// wrong password, fails cleanly with a log line, takes no lease, and alice
// keeps her tunnel.
func TestVIPEAPStrongSwanClientCygnetGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw")
	pool := testnet.PoolsSwanctl(testnet.PoolConfig{Name: "rw4", Addrs: vipPool4.String(), DNS: []string{"10.99.2.53"}})
	gwConf := testnet.EAPConfig{
		Name: "rw", LocalAddrs: testnet.UnderlayB.String(), RemoteAddrs: "%any", GatewayID: gatewayID,
		Method: "eap-mschapv2", EAPID: "%any", LocalTS: testnet.SubnetB.String(), RemoteTS: "dynamic",
		Users: []testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}, {ID: "bob", Secret: "bob-password-2"}},
		Extra: "pools = rw4",
	}
	gw := startCygnetWithFiles(t, p.B, gwConf.Gateway()+pool, eapFiles(pki, true))
	client := func(name, id string) string {
		return testnet.EAPConfig{
			Name: name, LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(), GatewayID: gatewayID,
			Method: "eap-mschapv2", ClientID: id, EAPID: id, LocalTS: "dynamic", RemoteTS: testnet.SubnetB.String(),
			Extra: "vips = 0.0.0.0",
		}.ClientConn()
	}
	sw := startEAPStrongSwan(t, p.A, eapFiles(pki, false), testnet.EAPSwanctl([]string{client("alice", "alice"), client("bob", "bob")},
		[]testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}, {ID: "bob", Secret: "not-bobs-password"}}))
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)

	if err := sw.Initiate("alice", "net"); err != nil {
		t.Fatalf("strongSwan as alice: %v\ncygnet's log:\n%s", err, tailLines(gw.logText(), 30))
	}
	sa, ch := gw.waitChild("net", 5*time.Second)
	if !slices.Equal(sa.RemoteVIPs, []string{vip4.String()}) || sa.RemoteEAPID != "alice" {
		t.Errorf("gateway list-sas: remote_vips %v remote_eap_id %q, want [%s] alice", sa.RemoteVIPs, sa.RemoteEAPID, vip4)
	}
	if !slices.Equal(ch.RemoteTS, []string{vip4.String() + "/32"}) {
		t.Errorf("gateway's Child SA remote selector %v, want %s/32", ch.RemoteTS, vip4)
	}
	online := control.Pool{Name: "rw4", Base: "10.99.3.1", Size: 14, Online: 1,
		Leases: []control.Lease{{Address: vip4.String(), Identity: "alice", Status: "online"}}}
	waitPool(t, gw, online)
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)

	if err := sw.Initiate("bob", "net"); err == nil {
		t.Fatal("strongSwan as bob with a wrong password got a tunnel")
	}
	why := regexp.MustCompile(`AUTHENTICATION_FAILED: EAP-MSCHAPV2 method failed for identity bob`)
	if !logHas(cygnetEnd{gw}, why, 3*time.Second) {
		t.Fatalf("cygnet's log has no line matching %q:\n%s", why, tailLines(gw.logText(), 30))
	}
	if err := pollFor(5*time.Second, func() bool { return len(gw.listSAs()) == 1 }); err != nil {
		t.Errorf("cygnet lists %d IKE SAs after bob's failure, want alice's only", len(gw.listSAs()))
	}
	waitPool(t, gw, online) // bob took no address
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)
	testnet.PingFrom(t, p.B, testnet.HostB, vip4, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetB, vipPool4)
	if s.Encrypted() == 0 {
		t.Error("no ESP on the wire")
	}
	t.Logf("alice leased %s; on %s: %s", vip4, p.IfB, s)
}

// TestVIPEAPCygnetClientStrongSwanGateway: a cygnet road warrior
// authenticating with EAP-MSCHAPv2 and asking for a virtual IP
// (vips = 0.0.0.0) connects to a strongSwan gateway with a pool. It gets
// the pool's first address, puts it on its TUN, and its pings leave from it
// through the tunnel as ESP only.
func TestVIPEAPCygnetClientStrongSwanGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw")
	gw := testnet.EAPConfig{
		Name: "rw", LocalAddrs: testnet.UnderlayB.String(), RemoteAddrs: "%any", GatewayID: gatewayID,
		Method: "eap-mschapv2", EAPID: "%any", LocalTS: testnet.SubnetB.String(), RemoteTS: "dynamic",
		Users: []testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}},
		Extra: "pools = rw4",
	}
	pool := testnet.PoolsSwanctl(testnet.PoolConfig{Name: "rw4", Addrs: vipPool4.String(), DNS: []string{"10.99.2.53"}})
	sw := startEAPStrongSwan(t, p.B, eapFiles(pki, true), gw.Gateway()+pool)
	client := testnet.EAPConfig{
		Name: "home", LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(), GatewayID: gatewayID,
		Method: "eap-mschapv2", ClientID: "alice", EAPID: "alice", LocalTS: "dynamic", RemoteTS: testnet.SubnetB.String(),
		Users: []testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}},
		Extra: "vips = 0.0.0.0",
	}
	cyg := startCygnetWithFiles(t, p.A, client.Client(), eapFiles(pki, false))
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)
	if _, err := cyg.tryInitiate("home", "net"); err != nil {
		t.Fatalf("cygnet initiating: %v\n%s", err, tailLines(cyg.logText(), 30))
	}
	sa, ch := cyg.waitChild("net", 5*time.Second)
	// strongSwan's mem pools skip a subnet's network address.
	if !slices.Equal(sa.LocalVIPs, []string{vip4.String()}) || !slices.Equal(sa.DNS, []string{"10.99.2.53"}) {
		t.Errorf("client list-sas: local_vips %v dns %v, want [%s] [10.99.2.53]", sa.LocalVIPs, sa.DNS, vip4)
	}
	if !slices.Equal(ch.LocalTS, []string{vip4.String() + "/32"}) {
		t.Errorf("client's local selector %v, want %s/32", ch.LocalTS, vip4)
	}
	if _, swChild, err := sw.WaitChildSA("net", 5*time.Second); err != nil || !slices.Equal(swChild.RemoteTS, []string{vip4.String() + "/32"}) {
		t.Errorf("strongSwan's Child SA: %v, remote selector %v, want %s/32", err, swChild.RemoteTS, vip4)
	}
	if !logHas(cygnetEnd{cyg}, regexp.MustCompile(`EAP-MSCHAPV2 method succeeded.*eap_id=alice`), 3*time.Second) {
		t.Error("no EAP success in cygnet's log")
	}
	// No source given: the route through the TUN picks the virtual IP.
	testnet.PingFrom(t, p.A, netip.Addr{}, testnet.HostB, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetB, vipPool4)
	if s.Encrypted() == 0 {
		t.Error("no ESP on the wire")
	}
	t.Logf("cygnet client got %s from strongSwan's pool; on %s: %s", vip4, p.IfB, s)
}
