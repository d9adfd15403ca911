package daemon

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/dataplane"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// kernelRoutes is a Routes that keeps the routes it was told about, as the
// kernel's table would: a prefix and its source hint, and a count of the
// netlink calls made.
type kernelRoutes struct {
	protectRecorder
	table map[netip.Prefix]netip.Addr
	calls int
}

func (k *kernelRoutes) AddRoutes(_ string, ps []netip.Prefix, src netip.Addr) error {
	k.calls++
	for _, p := range ps {
		k.table[p] = src
	}
	return nil
}

func (k *kernelRoutes) DelRoutes(_ string, ps []netip.Prefix) error {
	k.calls++
	for _, p := range ps {
		delete(k.table, p)
	}
	return nil
}

func endpoints(prefixes ...string) []spd.Endpoint {
	var out []spd.Endpoint
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		out = append(out, spd.Endpoint{Addrs: spd.PrefixRange(p)})
	}
	return out
}

// A route goes with its last holder; when the holder whose source hint is
// in the kernel goes first, the route gets the hint of the one before; and
// taking one holder out does not touch the routes of the others.
func TestRouteHolders(t *testing.T) {
	k := &kernelRoutes{table: map[netip.Prefix]netip.Addr{}}
	p := &packetPath{routes: k, tun: "cygnet0", log: slog.New(slog.DiscardHandler)}
	remote := endpoints("10.9.0.0/16")
	a, b, trap := &dataplane.Route{Name: "a"}, &dataplane.Route{Name: "b"}, &dataplane.Route{Name: "trap"}
	vipA, vipB := netip.MustParseAddr("10.3.0.1"), netip.MustParseAddr("10.3.0.2")

	if err := p.addRoutes(trap, endpoints("10.1.0.0/16"), remote); err != nil {
		t.Fatal(err)
	}
	if err := p.addRoutes(a, endpoints(vipA.String()+"/32"), remote); err != nil {
		t.Fatal(err)
	}
	if err := p.addRoutes(b, endpoints(vipB.String()+"/32"), remote); err != nil {
		t.Fatal(err)
	}
	pfx := netip.MustParsePrefix("10.9.0.0/16")
	if got := k.table[pfx]; got != vipB {
		t.Fatalf("route source %v, want the latest holder's %v", got, vipB)
	}
	// a goes: b's hint stays, nothing is written
	calls := k.calls
	p.dropRoutesLocked(a, remote)
	if got, ok := k.table[pfx]; !ok || got != vipB || k.calls != calls {
		t.Fatalf("after a went: route %v %v, %d netlink calls, want %v and none", got, ok, k.calls-calls, vipB)
	}
	// b goes: the trap's hint comes back (no host address in 10.1/16
	// here, so none)
	p.dropRoutesLocked(b, remote)
	if got, ok := k.table[pfx]; !ok || got.IsValid() {
		t.Fatalf("after b went: route %v %v, want the trap's route without a source", got, ok)
	}
	// the trap goes: the route goes
	p.dropRoutesLocked(trap, remote)
	if _, ok := k.table[pfx]; ok || len(p.routeHolders) != 0 {
		t.Fatalf("after the last holder went: route still there (%v), holders %v", k.table, p.routeHolders)
	}
	// a holder that moved (NAT mapping change) is forgotten, its
	// successor takes the route
	if err := p.addRoutes(a, endpoints(vipA.String()+"/32"), remote); err != nil {
		t.Fatal(err)
	}
	p.forgetRoutesLocked(a, remote)
	if err := p.addRoutes(b, endpoints(vipA.String()+"/32"), remote); err != nil {
		t.Fatal(err)
	}
	p.dropRoutesLocked(b, remote)
	if _, ok := k.table[pfx]; ok {
		t.Fatal("the moved Child SA's route outlived it")
	}
}
