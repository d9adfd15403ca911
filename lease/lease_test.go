package lease

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func mustPool(t *testing.T, name, start, end string) *Pool {
	t.Helper()
	p, err := New(name, netip.MustParseAddr(start), netip.MustParseAddr(end))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var anyV4 = netip.IPv4Unspecified()

func acquire(t *testing.T, p *Pool, id string, req netip.Addr) netip.Addr {
	t.Helper()
	a, err := p.Acquire(id, req)
	if err != nil {
		t.Fatalf("Acquire(%s, %v): %v", id, req, err)
	}
	return a
}

func TestUniqueAddresses(t *testing.T) {
	p := mustPool(t, "rw", "10.3.0.1", "10.3.0.201")
	seen := map[netip.Addr]string{}
	for i := range 200 {
		id := fmt.Sprintf("client%d", i)
		a := acquire(t, p, id, anyV4)
		if !p.Contains(a) {
			t.Fatalf("%s got %v outside the pool", id, a)
		}
		if other, ok := seen[a]; ok {
			t.Fatalf("%s got %v, already leased to %s", id, a, other)
		}
		seen[a] = id
	}
	if got := acquire(t, p, "client0", anyV4); got == netip.MustParseAddr("10.3.0.1") {
		t.Fatalf("client0 online already got its address again for a second SA")
	}
}

func TestExhaustedWhileOnline(t *testing.T) {
	p := mustPool(t, "rw", "10.3.0.1", "10.3.0.2")
	acquire(t, p, "a", anyV4)
	acquire(t, p, "b", anyV4)
	_, err := p.Acquire("c", anyV4)
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("third client: %v, want ErrExhausted", err)
	}
}

func TestReconnectGetsSameAddress(t *testing.T) {
	p := mustPool(t, "rw", "10.3.0.1", "10.3.0.10")
	a := acquire(t, p, "carol", anyV4)
	b := acquire(t, p, "dave", anyV4)
	if !p.Release("carol", a) {
		t.Fatal("release of carol's lease failed")
	}
	if p.Online() != 1 || p.Offline() != 1 {
		t.Fatalf("online %d offline %d, want 1 and 1", p.Online(), p.Offline())
	}
	// Others come and go; carol's address stays hers.
	for i := range 5 {
		if x := acquire(t, p, fmt.Sprintf("other%d", i), anyV4); x == a || x == b {
			t.Fatalf("other%d got %v, leased to carol or dave", i, x)
		}
	}
	if got := acquire(t, p, "carol", anyV4); got != a {
		t.Fatalf("carol reconnected to %v, had %v", got, a)
	}
	if p.Offline() != 0 {
		t.Fatalf("offline %d after carol came back", p.Offline())
	}
}

func TestOfflineLeaseReclaimedWhenFull(t *testing.T) {
	p := mustPool(t, "rw", "10.3.0.1", "10.3.0.2")
	a := acquire(t, p, "a", anyV4)
	b := acquire(t, p, "b", anyV4)
	p.Release("b", b)
	p.Release("a", a) // a went offline last: b's lease is the oldest
	if got := acquire(t, p, "c", anyV4); got != b {
		t.Fatalf("c got %v, want b's old %v (longest offline)", got, b)
	}
	if got := acquire(t, p, "a", anyV4); got != a {
		t.Fatalf("a got %v, want its own %v", got, a)
	}
	if got, err := p.Acquire("b", anyV4); !errors.Is(err, ErrExhausted) {
		t.Fatalf("b got %v, %v from a full pool", got, err)
	}
}

func TestRequestedAddress(t *testing.T) {
	p := mustPool(t, "rw", "10.3.0.1", "10.3.0.10")
	want := netip.MustParseAddr("10.3.0.5")
	if got := acquire(t, p, "a", want); got != want {
		t.Fatalf("a asked for %v, got %v", want, got)
	}
	// The same identity reauthenticating asks for its address and shares it.
	if got := acquire(t, p, "a", want); got != want {
		t.Fatalf("a asked again for %v, got %v", want, got)
	}
	// Another identity asking for it gets another one.
	if got := acquire(t, p, "b", want); got == want {
		t.Fatalf("b got %v, leased to a", got)
	}
	// Fresh allocation skips the address taken out of order.
	for i := range 8 {
		if got := acquire(t, p, fmt.Sprintf("c%d", i), anyV4); got == want {
			t.Fatalf("c%d got %v, leased to a", i, got)
		}
	}
	p.Release("a", want)
	if p.Online() != 10 {
		t.Fatalf("online %d after one of a's two SAs went, want 10", p.Online())
	}
	p.Release("a", want)
	if p.Online() != 9 || p.Offline() != 1 {
		t.Fatalf("online %d offline %d", p.Online(), p.Offline())
	}
	if p.Release("a", want) {
		t.Fatal("released an offline lease")
	}
}

func TestFromPrefix(t *testing.T) {
	for _, c := range []struct{ prefix, base, end string }{
		{"10.3.0.0/24", "10.3.0.1", "10.3.0.254"},
		{"10.3.0.7/32", "10.3.0.7", "10.3.0.7"},
		{"fd00:3::/120", "fd00:3::1", "fd00:3::ff"},
	} {
		p, err := FromPrefix("p", netip.MustParsePrefix(c.prefix))
		if err != nil {
			t.Fatal(err)
		}
		if p.Base().String() != c.base || p.End().String() != c.end {
			t.Errorf("%s: %v-%v, want %s-%s", c.prefix, p.Base(), p.End(), c.base, c.end)
		}
	}
	if _, err := FromPrefix("big", netip.MustParsePrefix("fd00::/64")); err == nil {
		t.Error("a /64 pool was accepted")
	}
}

func TestIPv6Addresses(t *testing.T) {
	p := mustPool(t, "v6", "fd00:3::fe", "fd00:3::1:10")
	a := acquire(t, p, "a", netip.IPv6Unspecified())
	b := acquire(t, p, "b", netip.IPv6Unspecified())
	c := acquire(t, p, "c", netip.IPv6Unspecified())
	if a.String() != "fd00:3::fe" || b.String() != "fd00:3::ff" || c.String() != "fd00:3::100" {
		t.Fatalf("got %v %v %v", a, b, c)
	}
}

func TestSetFamiliesAndReload(t *testing.T) {
	s := NewSet()
	v4 := mustPool(t, "v4", "10.3.0.1", "10.3.0.9")
	v6 := mustPool(t, "v6", "fd00::1", "fd00::9")
	s.Replace([]*Pool{v4, v6})
	a4, p4, err := s.Acquire([]string{"v6", "v4"}, "a", anyV4)
	if err != nil || p4 != v4 || !a4.Is4() {
		t.Fatalf("v4 acquire: %v %v %v", a4, p4, err)
	}
	a6, p6, err := s.Acquire([]string{"v4", "v6"}, "a", netip.IPv6Unspecified())
	if err != nil || p6 != v6 || !a6.Is6() {
		t.Fatalf("v6 acquire: %v %v %v", a6, p6, err)
	}
	if _, _, err := s.Acquire([]string{"v4"}, "a", netip.IPv6Unspecified()); err == nil {
		t.Fatal("an IPv6 address from an IPv4-only pool list")
	}
	// Reload with the same v4 range and a changed v6 range: leases stay.
	s.Replace([]*Pool{mustPool(t, "v4", "10.3.0.1", "10.3.0.9"), mustPool(t, "v6", "fd00::1", "fd00::20")})
	if s.Pool("v4") != v4 {
		t.Fatal("unchanged pool replaced on reload")
	}
	if l := s.Pool("v6").Leases(); len(l) != 1 || l[0].Addr != a6 || l[0].Identity != "a" || l[0].Online != 1 {
		t.Fatalf("v6 leases after reload: %+v", l)
	}
	if !s.Release("v6", "a", a6) {
		t.Fatal("lease carried over a reload cannot be released")
	}
}

// TestAcquireCostFlat checks that client number 10,000 costs no more than
// client number 100: allocation does not scan the pool or the leases.
func TestAcquireCostFlat(t *testing.T) {
	p := mustPool(t, "big", "10.0.0.1", "10.0.255.254")
	for i := range 10000 {
		acquire(t, p, fmt.Sprint("c", i), anyV4)
	}
	allocs := testing.AllocsPerRun(100, func() {
		a, _ := p.Acquire("x", anyV4)
		p.Release("x", a)
	})
	if allocs > 4 {
		t.Fatalf("%.0f allocations to acquire and release one lease among 10,000", allocs)
	}
}

// BenchmarkAcquire leases addresses to new identities in a pool that
// already holds 10,000 leases: the cost of client number 10,001 and on.
func BenchmarkAcquire(b *testing.B) {
	p, err := New("big", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.15.255.254"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		if _, err := p.Acquire(fmt.Sprint("c", i), anyV4); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprint("n", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		a, err := p.Acquire(ids[i], anyV4)
		if err != nil {
			b.Fatal(err)
		}
		p.Release(ids[i], a)
	}
}
