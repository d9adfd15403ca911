package daemon

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/cygnet-ipsec/cygnet/netcfg"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// rangesToPrefixes gives what netcfg.RangePrefixes gives, for subnets,
// single addresses and arbitrary ranges of both families, and works a
// subnet out without the big-integer loop: one allocation, the result.
func TestRangesToPrefixesMatchesNetcfg(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	addr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
	}
	check := func(from, to netip.Addr) {
		t.Helper()
		want, err := netcfg.RangePrefixes(from, to)
		got := rangesToPrefixes([]spd.Endpoint{{Addrs: spd.AddrRange{From: from, To: to}}})
		if err != nil {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%v-%v: got %v, want %v", from, to, got, want)
		}
	}
	for _, r := range [][2]string{
		{"10.99.1.0", "10.99.1.255"}, {"0.0.0.0", "255.255.255.255"}, {"192.0.2.7", "192.0.2.7"},
		{"10.0.0.1", "10.0.0.254"}, {"10.0.0.0", "10.0.1.255"}, {"10.0.0.0", "10.0.2.255"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, {"2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"},
		{"2001:db8::", "2001:db8:0:1::ffff"}, {"2001:db8::1", "2001:db8::1"}, {"::ffff:10.0.0.0", "10.0.0.255"},
		{"10.0.0.9", "10.0.0.8"}, {"10.0.0.0", "::1"},
	} {
		check(netip.MustParseAddr(r[0]), netip.MustParseAddr(r[1]))
	}
	for i := range 3000 {
		v6 := i%2 == 1
		from := addr(v6)
		bits := rng.IntN(from.BitLen() + 1)
		if i%3 == 0 { // an arbitrary range
			to := addr(v6)
			if to.Less(from) {
				from, to = to, from
			}
			check(from, to)
			continue
		}
		r := spd.PrefixRange(netip.PrefixFrom(from, bits))
		check(r.From, r.To)
	}

	ts := []spd.Endpoint{{Addrs: spd.AddrRange{From: netip.MustParseAddr("10.99.1.0"), To: netip.MustParseAddr("10.99.1.255")}}}
	if a := testing.AllocsPerRun(100, func() { _ = rangesToPrefixes(ts) }); a > 1 {
		t.Errorf("%v allocations for a /24, want 1", a)
	}
}
