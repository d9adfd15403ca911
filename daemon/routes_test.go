package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
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
	fail  bool // AddRoutes fails and writes nothing
}

func (k *kernelRoutes) AddRoutes(_ string, ps []netip.Prefix, src netip.Addr) error {
	k.calls++
	if k.fail {
		return errors.New("netlink: no buffer space")
	}
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

// Child SAs that share a remote prefix and a source hint (a gateway's
// clients with the same remote selectors) cost one netlink request for the
// first, none for the others within routeRefresh, and none as they go
// until the last; a holder with another hint is written, and its going
// restores the one before. A route taken out behind cygnet's back comes
// back with the first Child SA after routeRefresh.
func TestRouteHoldersWriteOnlyChanges(t *testing.T) {
	k := &kernelRoutes{table: map[netip.Prefix]netip.Addr{}}
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	p := &packetPath{routes: k, tun: "cygnet0", log: slog.New(slog.DiscardHandler), clock: func() time.Time { return now }}
	remote := endpoints("10.99.1.0/24")
	pfx := netip.MustParsePrefix("10.99.1.0/24")
	// local subnets with no host address in them: no source hint
	var routes []*dataplane.Route
	for i := range 50 {
		r := &dataplane.Route{Name: "c"}
		routes = append(routes, r)
		if err := p.addRoutes(r, endpoints("10.99.2.0/24"), remote); err != nil {
			t.Fatal(err)
		}
		if k.calls != 1 {
			t.Fatalf("after %d Child SAs on one prefix: %d netlink calls, want 1", i+1, k.calls)
		}
	}
	vip := netip.MustParseAddr("10.3.0.1")
	odd := &dataplane.Route{Name: "vip"}
	if err := p.addRoutes(odd, endpoints(vip.String()+"/32"), remote); err != nil {
		t.Fatal(err)
	}
	if got := k.table[pfx]; got != vip || k.calls != 2 {
		t.Fatalf("a holder with hint %v: route %v after %d calls, want its hint after 2", vip, got, k.calls)
	}
	p.dropRoutesLocked(odd, remote)
	if got, ok := k.table[pfx]; !ok || got.IsValid() || k.calls != 3 {
		t.Fatalf("its going: route %v %v after %d calls, want no hint after 3", got, ok, k.calls)
	}
	for _, r := range routes[1:] {
		p.dropRoutesLocked(r, remote)
	}
	if _, ok := k.table[pfx]; !ok || k.calls != 3 {
		t.Fatalf("49 of 50 gone: route there %v after %d calls, want there after 3", ok, k.calls)
	}
	p.dropRoutesLocked(routes[0], remote)
	if _, ok := k.table[pfx]; ok || k.calls != 4 {
		t.Fatalf("last gone: route there %v after %d calls, want gone after 4", ok, k.calls)
	}
	// a failed write is retried by the next holder
	k.fail = true
	if err := p.addRoutes(routes[0], endpoints("10.99.2.0/24"), remote); err == nil {
		t.Fatal("failing AddRoutes: no error")
	}
	k.fail = false
	if err := p.addRoutes(routes[1], endpoints("10.99.2.0/24"), remote); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.table[pfx]; !ok {
		t.Fatal("the route a failed write left out was not written by the next holder")
	}
	// someone deletes the route (ip route flush): within routeRefresh the
	// next Child SA trusts the note, after it writes the route again
	delete(k.table, pfx)
	calls := k.calls
	now = now.Add(routeRefresh / 2)
	if err := p.addRoutes(routes[2], endpoints("10.99.2.0/24"), remote); err != nil {
		t.Fatal(err)
	}
	if k.calls != calls {
		t.Fatalf("%d netlink calls within routeRefresh, want none", k.calls-calls)
	}
	now = now.Add(routeRefresh)
	if err := p.addRoutes(routes[3], endpoints("10.99.2.0/24"), remote); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.table[pfx]; !ok || k.calls != calls+1 {
		t.Fatalf("after routeRefresh: route there %v after %d calls, want written again by 1", ok, k.calls-calls)
	}
}

// A Child SA's route stays for routeGrace after it goes: the next Child SA
// with the same remote subnet and source hint (a load-tester's clients,
// one at a time) takes it over with no netlink request, where the route
// was deleted and added again for every client. Without a new Child SA
// the route goes once the grace is over; FlushRoutes (an operator's
// terminate or unload, shutdown) takes kept routes out at once, and a
// trap's route still goes with the trap.
func TestRouteGraceChildChurn(t *testing.T) {
	k := &kernelRoutes{table: map[netip.Prefix]netip.Addr{}}
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	p := &packetPath{routes: k, tun: "cygnet0", log: slog.New(slog.DiscardHandler), clock: func() time.Time { return now }}
	local, remote := endpoints("10.99.2.0/24"), endpoints("10.99.1.0/24")
	pfx := netip.MustParsePrefix("10.99.1.0/24")

	a, b := &dataplane.Route{Name: "a"}, &dataplane.Route{Name: "b"}
	if err := p.addRoutes(a, local, remote); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.table[pfx]; !ok || k.calls != 1 {
		t.Fatalf("first Child SA: route there %v after %d netlink calls, want there after 1", ok, k.calls)
	}
	p.releaseRoutesLocked(a, remote) // DeleteChildSA
	now = now.Add(time.Millisecond)
	if err := p.addRoutes(b, local, remote); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.table[pfx]; !ok || k.calls != 1 {
		t.Fatalf("Child SA a went, b came 1 ms later: route there %v, %d netlink calls after the first add, want there and none", ok, k.calls-1)
	}
	// b's going starts the grace again; the sweeps of the event loop's
	// tick leave the route until it is over
	p.releaseRoutesLocked(b, remote)
	now = now.Add(routeGrace - time.Millisecond)
	p.expireRoutes()
	if _, ok := k.table[pfx]; !ok || k.calls != 1 {
		t.Fatalf("within the grace: route there %v after %d calls, want there after 1", ok, k.calls)
	}
	now = now.Add(time.Millisecond)
	p.expireRoutes()
	if _, ok := k.table[pfx]; ok || k.calls != 2 || len(p.routeGrace) != 0 || len(p.routeSrc) != 0 {
		t.Fatalf("grace over: route there %v after %d calls (kept %v, noted %v), want gone after 2", ok, k.calls, p.routeGrace, p.routeSrc)
	}
	// the next Child SA writes the route again
	if err := p.addRoutes(a, local, remote); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.table[pfx]; !ok || k.calls != 3 {
		t.Fatalf("a Child SA after the grace: route there %v after %d calls, want there after 3", ok, k.calls)
	}
	// an operator's terminate: the kept route goes at once
	p.releaseRoutesLocked(a, remote)
	p.FlushRoutes()
	if _, ok := k.table[pfx]; ok || k.calls != 4 {
		t.Fatalf("flushed: route there %v after %d calls, want gone after 4", ok, k.calls)
	}
	// a trap's route is not kept
	trap := &dataplane.Route{Name: "trap"}
	if err := p.addRoutes(trap, local, remote); err != nil {
		t.Fatal(err)
	}
	p.dropRoutesLocked(trap, remote)
	if _, ok := k.table[pfx]; ok || len(p.routeGrace) != 0 {
		t.Fatalf("trap uninstalled: route there %v (kept %v), want gone", ok, p.routeGrace)
	}
}

// The grace keeps only routes cygnet knows to be in the kernel: one whose
// source hint was a virtual IP that left the TUN with the Child SA (the
// kernel drops such routes) is not kept, and the next Child SA with that
// hint writes it again.
func TestRouteGraceNotForDroppedSource(t *testing.T) {
	k := &kernelRoutes{table: map[netip.Prefix]netip.Addr{}}
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	p := &packetPath{routes: k, tun: "cygnet0", log: slog.New(slog.DiscardHandler), clock: func() time.Time { return now },
		vips: map[netip.Addr]int{}}
	vip := netip.MustParseAddr("10.3.0.1")
	local, remote := endpoints(vip.String()+"/32"), endpoints("10.99.1.0/24")
	a, b := &dataplane.Route{Name: "a"}, &dataplane.Route{Name: "b"}
	if err := p.addRoutes(a, local, remote); err != nil {
		t.Fatal(err)
	}
	p.vips[vip] = 1
	p.dropVIPsLocked(&installed{vips: []netip.Addr{vip}})
	p.releaseRoutesLocked(a, remote)
	if len(p.routeGrace) != 0 {
		t.Fatalf("a route whose source left the TUN is kept: %v", p.routeGrace)
	}
	calls := k.calls
	if err := p.addRoutes(b, local, remote); err != nil {
		t.Fatal(err)
	}
	if k.calls != calls+1 {
		t.Fatalf("the next Child SA made %d netlink calls, want the route written again", k.calls-calls)
	}
}

// The daemon flushes the routes kept after their Child SAs when the
// operator terminates a tunnel (the same for a connection unloaded, which
// terminates its IKE SAs), not when the peer deletes one: the end that
// terminates flushes once its Child SA is down, the peer does not.
func TestOperatorTerminateFlushesRoutes(t *testing.T) {
	pa, pb := newMemPath("192.0.2.1:500"), newMemPath("192.0.2.2:500")
	pa.peer, pb.peer = pb, pa
	sockB, _ := startMemDaemon(t, "b", fmt.Sprintf(memConf, "192.0.2.2", "192.0.2.1", "b", "a", "10.2.0.0/16", "10.1.0.0/16"), pb)
	sockA, _ := startMemDaemon(t, "a", fmt.Sprintf(memConf, "192.0.2.1", "192.0.2.2", "a", "b", "10.1.0.0/16", "10.2.0.0/16"), pa)
	if _, err := control.Call(sockA, control.Request{Command: control.CmdInitiate, Child: "net"}, 30*time.Second); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	if n := pa.flushes.Load() + pb.flushes.Load(); n != 0 {
		t.Fatalf("%d route flushes while the tunnel came up, want none", n)
	}
	if _, err := control.Call(sockA, control.Request{Command: control.CmdTerminate, Child: "net"}, 10*time.Second); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); readStats(t, sockA).ChildSAs != 0 || readStats(t, sockB).ChildSAs != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Child SA is still up 10 s after terminate")
		}
	}
	for deadline := time.Now().Add(5 * time.Second); pa.flushes.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the terminating daemon never flushed the kept routes")
		}
	}
	if n := pb.flushes.Load(); n != 0 {
		t.Fatalf("the peer, whose Child SA the other end deleted, flushed %d times: its routes get no grace", n)
	}
}
