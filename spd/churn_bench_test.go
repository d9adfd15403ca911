package spd

import (
	"fmt"
	"net/netip"
	"testing"
)

// churnPair is the pair of policies (out and in) of client i of a gateway,
// as the daemon installs them for one Child SA: shared means every client
// has the same selectors (strongSwan's load-tester: one subnet pair for
// all), else each client has a remote /24 of its own.
func churnPair(id uint64, i int, shared bool) []Policy {
	remote := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100 + byte(i>>16), byte(i >> 8), byte(i)}), 32)
	if shared {
		remote = netip.MustParsePrefix("10.99.1.0/24")
	}
	sel := []TrafficSelector{NewSelector(netip.MustParsePrefix("10.99.2.0/24"), remote)}
	return []Policy{
		{ID: id, Direction: Out, Action: Protect, Priority: 952, Selectors: sel, Handle: i},
		{ID: id + 1, Direction: In, Action: Protect, Priority: 952, Selectors: sel, Handle: i},
	}
}

// BenchmarkUpdateChurn: one Child SA's policies installed and deleted again
// (two Updates, as the daemon's installChildSA and DeleteChildSA make)
// among N other Child SAs installed one by one before.
func BenchmarkUpdateChurn(b *testing.B) {
	for _, shared := range []bool{true, false} {
		for _, n := range []int{16, 1000} {
			name := fmt.Sprintf("distinct/others=%d", n)
			if shared {
				name = fmt.Sprintf("shared/others=%d", n)
			}
			b.Run(name, func(b *testing.B) {
				var db DB
				id := uint64(0)
				for i := range n {
					id += 2
					if err := db.Update(nil, churnPair(id, i, shared)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				for b.Loop() {
					id += 2
					ps := churnPair(id, n, shared)
					if err := db.Update(nil, ps); err != nil {
						b.Fatal(err)
					}
					if err := db.Update([]uint64{id, id + 1}, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
