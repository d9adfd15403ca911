package ike

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
)

// A road warrior authenticating with EAP-MSCHAPv2 asks for a virtual IP in
// its first IKE_AUTH request; the gateway answers it in its last response,
// after EAP, and leases the address under the EAP identity: a reconnect
// with another IKE identity gets the same address back.
func TestEAPClientGetsVirtualIP(t *testing.T) {
	p, _ := eapPair(t, eap.TypeMSCHAPv2, "alice-secret")
	pools := newPools(t, "10.3.0.0/28")
	pools.dns = []netip.Addr{netip.MustParseAddr("10.1.0.53")}
	p.b.m.pools = pools
	ca, cb := p.a.m.conns[0], p.b.m.conns[0]
	ca.VIPs = []netip.Addr{netip.MustParseAddr("0.0.0.0")}
	ca.Children[0].LocalTS = dynamicTS
	cb.Pools, cb.RemoteID = []string{"pool0"}, identity.Any
	cb.Children[0].RemoteTS = dynamicTS

	a, b := establish(t, p)
	if got := addrsString(a.LocalVIPs()); got != "10.3.0.1" {
		t.Fatalf("client VIP %q, want 10.3.0.1", got)
	}
	if got := addrsString(a.DNS()); got != "10.1.0.53" {
		t.Fatalf("client DNS %q", got)
	}
	if got := endpointStrings(b.Children()[0].RemoteTS); !slices.Equal(got, []string{"10.3.0.1/32"}) {
		t.Fatalf("gateway remote TS %v, want the VIP", got)
	}
	if got := endpointStrings(a.Children()[0].LocalTS); !slices.Equal(got, []string{"10.3.0.1/32"}) {
		t.Fatalf("client local TS %v, want the VIP", got)
	}
	if b.RemoteEAPID != "alice" {
		t.Fatalf("gateway's remote EAP id %q", b.RemoteEAPID)
	}
	if l := pools.set.Pool("pool0").Leases(); len(l) != 1 || l[0].Identity != "alice" || l[0].Online != 1 {
		t.Fatalf("leases %+v, want one online lease for alice", l)
	}

	// alice comes back under another IKE identity: same address.
	if err := p.a.m.TerminateIKE("site"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if l := pools.set.Pool("pool0").Leases(); len(l) != 1 || l[0].Online != 0 {
		t.Fatalf("after terminate: leases %+v, want alice's offline", l)
	}
	laptop, err := identity.Parse("laptop.cygnet.test")
	if err != nil {
		t.Fatal(err)
	}
	ca.LocalID = laptop
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	a2 := established(t, p.a)
	if got := addrsString(a2.LocalVIPs()); got != "10.3.0.1" {
		t.Fatalf("reconnected client VIP %q, want 10.3.0.1 again", got)
	}
}
