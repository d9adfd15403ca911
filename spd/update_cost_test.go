package spd

import (
	"net/netip"
	"testing"
)

// A responder under a handshake storm holds a few dozen Child SAs with the
// same selectors and adds and removes two policies per SA. Policies that
// compiled once are not copied, checked and normalised again when their
// part merges with a new one or loses a policy: the allocations per
// Child SA (one add, one delete) stay those of indexing.
func TestUpdateOfSmallPartsAllocations(t *testing.T) {
	var db DB
	sel := NewSelector(netip.MustParsePrefix("10.99.2.0/24"), netip.MustParsePrefix("10.99.1.0/24"))
	id := uint64(0)
	pair := func() []Policy {
		id += 2
		return []Policy{
			{ID: id - 1, Direction: Out, Action: Protect, Priority: 952, Selectors: []TrafficSelector{sel}, Handle: 1},
			{ID: id, Direction: In, Action: Protect, Priority: 952, Selectors: []TrafficSelector{sel}, Handle: 1},
		}
	}
	var live [][]uint64
	for range 16 {
		if err := db.Update(nil, pair()); err != nil {
			t.Fatal(err)
		}
		live = append(live, []uint64{id - 1, id})
	}
	allocs := testing.AllocsPerRun(200, func() {
		if err := db.Update(live[0], pair()); err != nil {
			t.Fatal(err)
		}
		live = append(live[1:], []uint64{id - 1, id})
	})
	if got := db.Table().Len(); got != 32 {
		t.Fatalf("%d policies, want 32", got)
	}
	t.Logf("%.0f allocations per Child SA replaced", allocs)
	if allocs > 120 {
		t.Fatalf("%.0f allocations per Child SA replaced among 16, want at most 120", allocs)
	}
}
