package spd

import (
	"slices"
	"testing"
)

// TestChurnMatchesLinear: random Updates (adds, deletions, both at once)
// of random overlapping policies, with catch-alls that end lists and
// deletions that mask policies out of their parts; after every Update each
// lookup of a fixed set of flows agrees with a linear scan of the live
// policies in insertion order, and the table lists exactly those.
func TestChurnMatchesLinear(t *testing.T) {
	for _, is6 := range []bool{false, true} {
		g := randGen{r: newRand(7), is6: is6}
		flows := make([]Flow, 400)
		for i := range flows {
			flows[i] = g.flow()
		}
		var db DB
		var live []Policy
		id := uint64(0)
		masked := 0
		for step := range 600 {
			var del []uint64
			var add []Policy
			if len(live) > 0 {
				for range g.r.IntN(min(len(live), 4) + 1) {
					if id := live[g.r.IntN(len(live))].ID; !slices.Contains(del, id) {
						del = append(del, id)
					}
				}
			}
			// more adds than deletions while the set is small
			for range g.r.IntN(4) + min(1, 40/(len(live)+1)) {
				id++
				p := g.policies(1)[0]
				p.ID = id
				if p.Action == Protect {
					p.Handle = id
				}
				add = append(add, p)
			}
			if err := db.Update(del, add); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			live = slices.DeleteFunc(live, func(p Policy) bool { return slices.Contains(del, p.ID) })
			live = append(live, add...)
			tab := db.Table()
			for _, p := range tab.parts {
				if p.ndead > 0 {
					masked++
				}
			}
			if got := tab.Policies(); tab.Len() != len(live) || !slices.EqualFunc(got, live, func(a, b Policy) bool { return a.ID == b.ID }) {
				t.Fatalf("step %d: table lists %d policies (Len %d), want %d in insertion order", step, len(got), tab.Len(), len(live))
			}
			ref := newNaive(live)
			for _, f := range flows {
				for _, dir := range []Direction{Out, In, Fwd} {
					got, want := tab.Lookup(dir, f), ref.lookup(dir, f)
					if (got == nil) != (want == nil) || got != nil && got.ID != want.ID {
						t.Fatalf("step %d, %s %+v: DB says %v, linear scan %v", step, dir, f, got, want)
					}
				}
			}
		}
		// The test is about masked parts: make sure it saw many.
		if masked < 40 {
			t.Fatalf("only %d parts with masked policies seen", masked)
		}
		t.Logf("is6=%v: %d live policies at the end, %d masked parts seen", is6, len(live), masked)
	}
}
