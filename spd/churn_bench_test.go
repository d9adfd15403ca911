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

// BenchmarkUpdateChurn: one Child SA's policies installed and deleted (two
// Updates, as the daemon's installChildSA and DeleteChildSA make) among N
// other Child SAs installed one by one before. lifo deletes the Child SA
// just installed; fifo deletes the oldest, as a responder under
// strongSwan's load-tester does (its clients come and go in order).
func BenchmarkUpdateChurn(b *testing.B) {
	for _, order := range []string{"lifo", "fifo"} {
		for _, shared := range []bool{true, false} {
			for _, n := range []int{16, 1000} {
				shape := "distinct"
				if shared {
					shape = "shared"
				}
				b.Run(fmt.Sprintf("%s/%s/others=%d", order, shape, n), func(b *testing.B) {
					db, live, id := churnDB(b, n, shared)
					b.ReportAllocs()
					i := n
					for b.Loop() {
						id += 2
						if err := db.Update(nil, churnPair(id, i, shared)); err != nil {
							b.Fatal(err)
						}
						live = append(live, id)
						i++
						gone := len(live) - 1
						if order == "fifo" {
							gone = 0
						}
						if err := db.Update([]uint64{live[gone], live[gone] + 1}, nil); err != nil {
							b.Fatal(err)
						}
						live = append(live[:gone], live[gone+1:]...)
					}
				})
			}
		}
	}
}

// churnDB installs n clients' pairs one Update each, as a daemon does,
// and returns the first IDs of the live pairs and the last ID used.
func churnDB(b *testing.B, n int, shared bool) (*DB, []uint64, uint64) {
	b.Helper()
	db := &DB{}
	var live []uint64
	id := uint64(0)
	for i := range n {
		id += 2
		if err := db.Update(nil, churnPair(id, i, shared)); err != nil {
			b.Fatal(err)
		}
		live = append(live, id)
	}
	return db, live, id
}

// BenchmarkLookupChurned: lookups in a DB after 10,000 Child SAs came and
// went in order among N, as the data plane sees it on a busy responder:
// the parts the churn left, some of them with masked policies.
func BenchmarkLookupChurned(b *testing.B) {
	for _, n := range []int{16, 1000} {
		db, live, id := churnDB(b, n, false)
		i := n
		for range 10000 {
			id += 2
			if err := db.Update(nil, churnPair(id, i, false)); err != nil {
				b.Fatal(err)
			}
			i++
			live = append(live, id)
			if err := db.Update([]uint64{live[0], live[0] + 1}, nil); err != nil {
				b.Fatal(err)
			}
			live = live[1:]
		}
		flows := make([]Flow, 1024)
		for j := range flows {
			c := i - n + j%n // a live client
			flows[j] = Flow{Src: netip.MustParseAddr("10.99.2.7"), Dst: netip.AddrFrom4([4]byte{10, 100 + byte(c>>16), byte(c >> 8), byte(c)}), Proto: ProtoTCP, SrcPort: 40000, DstPort: 443}
		}
		b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			j := 0
			for b.Loop() {
				if a, _ := db.Lookup(Out, flows[j&1023]); a != Protect {
					b.Fatal("a live client's flow is not protected")
				}
				j++
			}
			b.ReportMetric(float64(len(db.Table().parts)), "parts")
		})
	}
}
