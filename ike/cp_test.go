package ike

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
	"github.com/cygnet-ipsec/cygnet/lease"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// leasePools is the daemon's adapter in miniature: AddressPools over a
// lease.Set, identities by their string.
type leasePools struct {
	set     *lease.Set
	dns     []netip.Addr
	subnets []netip.Prefix
}

func (p *leasePools) Acquire(pools []string, peer identity.ID, requested netip.Addr) (VirtualIP, error) {
	a, pool, err := p.set.Acquire(pools, peer.String(), requested)
	if err != nil {
		return VirtualIP{}, err
	}
	v := VirtualIP{Addr: a, Pool: pool.Name()}
	for _, d := range p.dns {
		if d.Is4() == a.Is4() {
			v.DNS = append(v.DNS, d)
		}
	}
	for _, s := range p.subnets {
		if s.Addr().Is4() == a.Is4() {
			v.Subnets = append(v.Subnets, s)
		}
	}
	return v, nil
}

func (p *leasePools) Release(v VirtualIP, peer identity.ID) {
	p.set.Release(v.Pool, peer.String(), v.Addr)
}

// anyPSK gives every pair of identities the same key.
type anyPSK struct{}

func (anyPSK) SharedKey(local, remote identity.ID) ([]byte, bool) {
	return []byte("cygnet-test-psk-0123456789"), true
}

// hub is a gateway and several clients, datagrams routed by address.
type hub struct {
	t       *testing.T
	clock   *fakeClock
	gw      *peer
	clients []*peer
}

func (h *hub) peerAt(a netip.Addr) *peer {
	if h.gw.addr == a {
		return h.gw
	}
	for _, c := range h.clients {
		if c.addr == a {
			return c
		}
	}
	return nil
}

func (h *hub) pump() {
	for range 200 {
		moved := false
		for _, from := range append([]*peer{h.gw}, h.clients...) {
			q := from.out
			from.out = nil
			for _, d := range q {
				moved = true
				if to := h.peerAt(d.remote.Addr()); to != nil {
					to.m.HandleIKE(d.b, d.remote, d.local)
				}
			}
		}
		if !moved {
			return
		}
	}
	h.t.Fatal("hub: peers kept talking for 200 rounds")
}

func newPeer(name, addr string, cfg *PeerConfig, clock *fakeClock, pools AddressPools, seed byte) *peer {
	p := &peer{name: name, addr: netip.MustParseAddr(addr), logs: &bytes.Buffer{}, keys: map[uint32][4][]byte{}}
	var s [32]byte
	s[0] = seed
	p.m = NewManager(Config{
		Conns: []*PeerConfig{cfg}, Creds: anyPSK{}, Transport: p, Installer: p, Clock: clock,
		Rand: rand.NewChaCha8(s), Pools: pools,
		Log: slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return p
}

var dynamicTS = []TrafficSelector{{Dynamic: true}}

// gatewayConfig serves road warriors from pools, protecting 10.1.0.0/16 and
// fd01::/64; the remote selector is dynamic, the client's virtual IP.
func gatewayConfig(t *testing.T, pools ...string) *PeerConfig {
	c := siteConfig(t, 1, 2)
	c.Name = "rw"
	c.RemoteAddrs, c.Remote = nil, netip.AddrPort{}
	c.RemoteID = identity.Any
	c.Unique = UniqueReplace
	c.Pools = pools
	c.Children[0].LocalTS = []TrafficSelector{PrefixSelector(netip.MustParsePrefix("10.1.0.0/16")), PrefixSelector(netip.MustParsePrefix("fd01::/64"))}
	c.Children[0].RemoteTS = dynamicTS
	return c
}

// clientConfig asks for the given virtual IPs and routes everything through
// the gateway at 10.99.0.1.
func clientConfig(t *testing.T, n int, vips ...string) *PeerConfig {
	c := siteConfig(t, 2, 1)
	c.Name = "home"
	c.LocalID, _ = identity.Parse(fmt.Sprintf("client%d.cygnet.test", n))
	c.LocalAddrs = nil
	for _, v := range vips {
		c.VIPs = append(c.VIPs, netip.MustParseAddr(v))
	}
	c.Children[0].LocalTS = dynamicTS
	c.Children[0].RemoteTS = []TrafficSelector{PrefixSelector(netip.MustParsePrefix("0.0.0.0/0")), PrefixSelector(netip.MustParsePrefix("::/0"))}
	return c
}

func newHub(t *testing.T, pools *leasePools, gw *PeerConfig, clients ...*PeerConfig) *hub {
	clock := &fakeClock{}
	h := &hub{t: t, clock: clock, gw: newPeer("gw", "10.99.0.1", gw, clock, pools, 1)}
	for i, c := range clients {
		h.clients = append(h.clients, newPeer(fmt.Sprint("client", i), fmt.Sprintf("10.99.0.%d", 10+i), c, clock, nil, byte(10+i)))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", h.gw.logs)
			for _, c := range h.clients {
				t.Logf("%s log:\n%s", c.name, c.logs)
			}
		}
	})
	return h
}

func (h *hub) connect(i int) *IKESA {
	h.t.Helper()
	c := h.clients[i]
	if err := c.m.Initiate("home", "net"); err != nil {
		h.t.Fatal(err)
	}
	h.pump()
	sa := onlySA(h.t, c)
	if sa.State() != "ESTABLISHED" || len(sa.Children()) != 1 {
		h.t.Fatalf("%s: IKE SA %s with %d Child SAs", c.name, sa.State(), len(sa.Children()))
	}
	return sa
}

func newPools(t *testing.T, prefixes ...string) *leasePools {
	var ps []*lease.Pool
	for i, s := range prefixes {
		p, err := lease.FromPrefix(fmt.Sprint("pool", i), netip.MustParsePrefix(s))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	set := lease.NewSet()
	set.Replace(ps)
	return &leasePools{set: set}
}

func endpointStrings(es []spd.Endpoint) []string {
	var out []string
	for _, e := range es {
		out = append(out, FormatTS(e))
	}
	return out
}

func TestVirtualIPFromPool(t *testing.T) {
	pools := newPools(t, "10.3.0.0/28")
	pools.dns = []netip.Addr{netip.MustParseAddr("10.1.0.53")}
	pools.subnets = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	h := newHub(t, pools, gatewayConfig(t, "pool0"), clientConfig(t, 1, "0.0.0.0"))
	sa := h.connect(0)
	if got := addrsString(sa.LocalVIPs()); got != "10.3.0.1" {
		t.Fatalf("client VIP %q, want 10.3.0.1", got)
	}
	if got := addrsString(sa.DNS()); got != "10.1.0.53" {
		t.Fatalf("client DNS %q", got)
	}
	if got := prefixesString(sa.SplitSubnets()); got != "10.1.0.0/16" {
		t.Fatalf("client subnets %q", got)
	}
	child := sa.Children()[0]
	if got := endpointStrings(child.LocalTS); !slices.Equal(got, []string{"10.3.0.1/32"}) {
		t.Fatalf("client local TS %v, want the VIP", got)
	}
	if got := endpointStrings(child.RemoteTS); !slices.Equal(got, []string{"10.1.0.0/16", "fd01::/64"}) {
		t.Fatalf("client remote TS %v", got)
	}
	gw := onlySA(t, h.gw)
	if got := addrsString(gw.RemoteVIPs()); got != "10.3.0.1" {
		t.Fatalf("gateway remote VIPs %q", got)
	}
	if got := endpointStrings(gw.Children()[0].RemoteTS); !slices.Equal(got, []string{"10.3.0.1/32"}) {
		t.Fatalf("gateway remote TS %v, want the VIP", got)
	}
	if l := pools.set.Pool("pool0").Leases(); len(l) != 1 || l[0].Identity != "client1.cygnet.test" || l[0].Online != 1 {
		t.Fatalf("leases %+v", l)
	}
}

func TestIPv6VirtualIPAndSplitSubnets(t *testing.T) {
	pools := newPools(t, "10.3.0.0/28", "fd03::/120")
	pools.dns = []netip.Addr{netip.MustParseAddr("fd01::53")}
	pools.subnets = []netip.Prefix{netip.MustParsePrefix("fd01::/64"), netip.MustParsePrefix("10.1.2.0/24")}
	h := newHub(t, pools, gatewayConfig(t, "pool0", "pool1"), clientConfig(t, 1, "0.0.0.0", "::"))
	sa := h.connect(0)
	if got := addrsString(sa.LocalVIPs()); got != "10.3.0.1,fd03::1" {
		t.Fatalf("client VIPs %q", got)
	}
	if got := addrsString(sa.DNS()); got != "fd01::53" {
		t.Fatalf("client DNS %q", got)
	}
	if got := prefixesString(sa.SplitSubnets()); got != "10.1.2.0/24,fd01::/64" {
		t.Fatalf("client subnets %q", got)
	}
	if got := endpointStrings(sa.Children()[0].LocalTS); !slices.Equal(got, []string{"10.3.0.1/32", "fd03::1/128"}) {
		t.Fatalf("client local TS %v", got)
	}
}

func TestSecondClientNeverGetsAddressInUse(t *testing.T) {
	pools := newPools(t, "10.3.0.0/30") // two addresses: .1 and .2
	h := newHub(t, pools, gatewayConfig(t, "pool0"),
		clientConfig(t, 1, "0.0.0.0"), clientConfig(t, 2, "0.0.0.0"), clientConfig(t, 3, "0.0.0.0"),
		clientConfig(t, 4, "10.3.0.1")) // asks by name for client 1's address
	a, b := h.connect(0), h.connect(1)
	if addrsString(a.LocalVIPs()) == addrsString(b.LocalVIPs()) {
		t.Fatalf("both clients got %v", a.LocalVIPs())
	}
	// The pool is full: the third client is told so and fails cleanly.
	for _, i := range []int{2, 3} {
		if err := h.clients[i].m.Initiate("home", "net"); err != nil {
			t.Fatal(err)
		}
		h.pump()
		if n := len(h.clients[i].m.SAs()); n != 0 {
			t.Fatalf("client %d holds %d IKE SAs from a full pool", i+1, n)
		}
		if !logHas(h.clients[i], "INTERNAL_ADDRESS_FAILURE: peer 10.99.0.1:500 has no virtual IP for us") {
			t.Fatalf("client %d log lacks the reason", i+1)
		}
	}
	if !logHas(h.gw, "INTERNAL_ADDRESS_FAILURE: no virtual IP for client3.cygnet.test from pools pool0") {
		t.Fatal("gateway log lacks the reason")
	}
	if p := pools.set.Pool("pool0"); p.Online() != 2 {
		t.Fatalf("%d online leases, want 2", p.Online())
	}
	// The clients that got no address deleted their IKE SAs at the
	// gateway too.
	if n := len(h.gw.m.SAs()); n != 2 {
		t.Fatalf("gateway holds %d IKE SAs, want the 2 clients with addresses", n)
	}
}

func TestReconnectingClientGetsSameAddress(t *testing.T) {
	pools := newPools(t, "10.3.0.0/24")
	h := newHub(t, pools, gatewayConfig(t, "pool0"), clientConfig(t, 1, "0.0.0.0"), clientConfig(t, 2, "0.0.0.0"))
	first := addrsString(h.connect(0).LocalVIPs())
	h.connect(1)
	if err := h.clients[0].m.TerminateIKE("home"); err != nil {
		t.Fatal(err)
	}
	h.pump()
	if p := pools.set.Pool("pool0"); p.Online() != 1 || p.Offline() != 1 {
		t.Fatalf("after client 1 left: online %d offline %d", p.Online(), p.Offline())
	}
	if got := addrsString(h.connect(0).LocalVIPs()); got != first {
		t.Fatalf("client 1 came back to %s, had %s", got, first)
	}
}

// TestUniqueReplaceReleasesOldLease: the client restarts without telling
// the gateway (its old IKE SA is still up there) and comes back from
// another address; unique = replace gives it its address again rather than
// a second one.
func TestUniqueReplaceReleasesOldLease(t *testing.T) {
	pools := newPools(t, "10.3.0.0/24")
	cfg := clientConfig(t, 1, "0.0.0.0")
	cfg.Unique = UniqueNever // no INITIAL_CONTACT: only the gateway's policy decides
	h := newHub(t, pools, gatewayConfig(t, "pool0"), cfg, cfg)
	first := addrsString(h.connect(0).LocalVIPs())
	h.clients = h.clients[1:] // the restarted client, at another address
	if got := addrsString(h.connect(0).LocalVIPs()); got != first {
		t.Fatalf("restarted client got %s, had %s", got, first)
	}
	if p := pools.set.Pool("pool0"); p.Online() != 1 {
		t.Fatalf("%d online leases, want 1", p.Online())
	}
}

func TestClientWithoutAddressFails(t *testing.T) {
	// A gateway without pools answers no CFG_REQUEST.
	h := newHub(t, newPools(t, "10.3.0.0/24"), gatewayConfig(t), clientConfig(t, 1, "0.0.0.0"))
	if err := h.clients[0].m.Initiate("home", "net"); err != nil {
		t.Fatal(err)
	}
	h.pump()
	if len(h.clients[0].m.SAs()) != 0 || len(h.gw.m.SAs()) != 0 {
		t.Fatalf("client without a virtual IP: %d IKE SAs at the client, %d at the gateway", len(h.clients[0].m.SAs()), len(h.gw.m.SAs()))
	}
	if !logHas(h.clients[0], "assigned no virtual IP (no CFG_REPLY)") {
		t.Fatal("client log lacks the reason")
	}
}

func TestCFGRequestEncoding(t *testing.T) {
	sa := &IKESA{cfg: clientConfig(t, 1, "0.0.0.0", "fd03::7"), Initiator: true}
	req := sa.cfgRequest()
	want := []wire.ConfigAttribute{
		{Type: wire.INTERNAL_IP4_ADDRESS}, {Type: wire.INTERNAL_IP4_DNS},
		{Type: wire.INTERNAL_IP6_ADDRESS, Value: append(netip.MustParseAddr("fd03::7").AsSlice(), 128)}, {Type: wire.INTERNAL_IP6_DNS},
	}
	if req.CFGType != wire.CFG_REQUEST || len(req.Attributes) != len(want) {
		t.Fatalf("request %+v", req)
	}
	for i, a := range req.Attributes {
		if a.Type != want[i].Type || !bytes.Equal(a.Value, want[i].Value) {
			t.Fatalf("attribute %d: %v %x, want %v %x", i, a.Type, a.Value, want[i].Type, want[i].Value)
		}
	}
}

// FuzzConfigurationPayload feeds arbitrary CP payload bodies to the client
// (as a CFG_REPLY) and to the gateway (as a CFG_REQUEST): no panic, work
// bounded by the input, a client takes only well-formed addresses, and a
// gateway leases at most one address per family however many a request
// asks for.
func FuzzConfigurationPayload(f *testing.F) {
	for _, c := range []*wire.Configuration{
		{CFGType: wire.CFG_REQUEST, Attributes: []wire.ConfigAttribute{{Type: wire.INTERNAL_IP4_ADDRESS}, {Type: wire.INTERNAL_IP4_DNS}, {Type: wire.INTERNAL_IP6_ADDRESS}}},
		{CFGType: wire.CFG_REPLY, Attributes: []wire.ConfigAttribute{
			{Type: wire.INTERNAL_IP4_ADDRESS, Value: []byte{10, 3, 0, 1}}, {Type: wire.INTERNAL_IP4_NETMASK, Value: []byte{255, 255, 255, 0}},
			{Type: wire.INTERNAL_IP4_DNS, Value: []byte{10, 1, 0, 53}}, {Type: wire.INTERNAL_IP4_SUBNET, Value: []byte{10, 1, 0, 0, 255, 255, 0, 0}},
			{Type: wire.INTERNAL_IP6_ADDRESS, Value: append(netip.MustParseAddr("fd03::1").AsSlice(), 128)},
			{Type: wire.INTERNAL_IP6_SUBNET, Value: append(netip.MustParseAddr("fd01::").AsSlice(), 64)},
		}},
	} {
		first, chain, err := wire.MarshalPayloads([]wire.Payload{c})
		if err != nil || first != wire.PayloadCP {
			f.Fatal(err)
		}
		f.Add(chain[4:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 0xffff-4 {
			return
		}
		chain := append([]byte{0, 0, byte((len(body) + 4) >> 8), byte(len(body) + 4)}, body...)
		payloads, err := wire.ParsePayloads(wire.PayloadCP, chain)
		if err != nil || len(payloads) != 1 {
			return
		}
		cp := payloads[0].(*wire.Configuration)
		log := saLog{h: slog.DiscardHandler}
		client := &IKESA{cfg: clientConfig(t, 1, "0.0.0.0", "::"), log: log, m: &Manager{}, Initiator: true}
		cp.CFGType = wire.CFG_REPLY
		if _, err := alloctestBytes(func() { _ = client.acceptCFGReply(payloads) }, len(body)); err != nil {
			t.Fatal(err)
		}
		for _, v := range client.LocalVIPs() {
			if !v.IsValid() || v.IsUnspecified() {
				t.Fatalf("client took %v as its virtual IP", v)
			}
		}
		pools := newPools(t, "10.3.0.0/24", "fd03::/120")
		gw := &IKESA{cfg: gatewayConfig(t, "pool0", "pool1"), log: log, m: &Manager{pools: pools}, RemoteID: identity.Any}
		cp.CFGType = wire.CFG_REQUEST
		if _, err := alloctestBytes(func() { _, _ = gw.answerCFGRequest(payloads) }, len(body)); err != nil {
			t.Fatal(err)
		}
		if n := pools.set.Pool("pool0").Online() + pools.set.Pool("pool1").Online(); n > 2 || n != len(gw.RemoteVIPs()) {
			t.Fatalf("gateway leased %d addresses, holds %v", n, gw.RemoteVIPs())
		}
	})
}

// alloctestBytes runs f and fails when it allocated more than the budget
// for n input bytes.
func alloctestBytes(f func(), n int) (uint64, error) {
	got := alloctest.Bytes(f)
	if got > alloctest.Budget(n) {
		return got, fmt.Errorf("handling %d bytes allocated %d, budget %d", n, got, alloctest.Budget(n))
	}
	return got, nil
}

func TestVirtualIPSurvivesIKERekeyAndReauth(t *testing.T) {
	for _, reauth := range []bool{false, true} {
		t.Run(fmt.Sprint("reauth=", reauth), func(t *testing.T) {
			pools := newPools(t, "10.3.0.0/24")
			h := newHub(t, pools, gatewayConfig(t, "pool0"), clientConfig(t, 1, "0.0.0.0"))
			first := addrsString(h.connect(0).LocalVIPs())
			if err := h.clients[0].m.RekeyIKE("home", reauth); err != nil {
				t.Fatal(err)
			}
			h.pump()
			for range 3 { // deferred deletes, lingering SAs
				h.clock.now = h.clock.now.Add(30 * time.Second)
				h.gw.m.Tick()
				h.clients[0].m.Tick()
				h.pump()
			}
			sa := onlySA(t, h.clients[0])
			if got := addrsString(sa.LocalVIPs()); got != first || len(sa.Children()) != 1 {
				t.Fatalf("after the %s: VIP %q (had %q), %d Child SAs", map[bool]string{false: "rekey", true: "reauthentication"}[reauth], got, first, len(sa.Children()))
			}
			if got := endpointStrings(sa.Children()[0].LocalTS); !slices.Equal(got, []string{first + "/32"}) {
				t.Fatalf("client's local TS %v", got)
			}
			if got := addrsString(onlySA(t, h.gw).RemoteVIPs()); got != first {
				t.Fatalf("gateway holds %q for the client, want %q", got, first)
			}
			p := pools.set.Pool("pool0")
			if p.Online() != 1 || p.Offline() != 0 {
				t.Fatalf("online %d offline %d, want 1 and 0", p.Online(), p.Offline())
			}
			if err := h.clients[0].m.TerminateIKE("home"); err != nil {
				t.Fatal(err)
			}
			h.pump()
			if p.Online() != 0 || p.Offline() != 1 {
				t.Fatalf("after the client left: online %d offline %d, want 0 and 1", p.Online(), p.Offline())
			}
		})
	}
}

// TestManyClientsDistinctAddresses: 100 clients, each with its own
// identity, get 100 distinct addresses; half of them leave and all come
// back, each to the address it had.
func TestManyClientsDistinctAddresses(t *testing.T) {
	pools := newPools(t, "10.3.0.0/25")
	var clients []*PeerConfig
	for i := range 100 {
		clients = append(clients, clientConfig(t, i, "0.0.0.0"))
	}
	h := newHub(t, pools, gatewayConfig(t, "pool0"), clients...)
	had := map[int]string{}
	owner := map[string]int{}
	for i := range clients {
		a := addrsString(h.connect(i).LocalVIPs())
		if j, ok := owner[a]; ok {
			t.Fatalf("clients %d and %d both got %s", j, i, a)
		}
		had[i], owner[a] = a, i
	}
	for i := 0; i < len(clients); i += 2 {
		if err := h.clients[i].m.TerminateIKE("home"); err != nil {
			t.Fatal(err)
		}
		h.pump()
	}
	if p := pools.set.Pool("pool0"); p.Online() != 50 || p.Offline() != 50 {
		t.Fatalf("online %d offline %d, want 50 and 50", p.Online(), p.Offline())
	}
	for i := 0; i < len(clients); i += 2 {
		if got := addrsString(h.connect(i).LocalVIPs()); got != had[i] {
			t.Fatalf("client %d came back to %s, had %s", i, got, had[i])
		}
	}
	if n := len(h.gw.m.SAs()); n != 100 {
		t.Fatalf("gateway holds %d IKE SAs, want 100", n)
	}
}
