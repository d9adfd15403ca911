package spd

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// clientPolicy is a gateway's policy for road-warrior client i: its
// virtual IP to the protected /16, with overlapping catch-alls sprinkled in
// so that priorities and ties matter.
func clientPolicy(id uint64, i int, dir Direction) Policy {
	vip := netip.AddrFrom4([4]byte{10, 128, byte(i >> 8), byte(i)})
	p := Policy{ID: id, Direction: dir, Action: Protect, Priority: uint32(100 + i%3),
		Selectors: []TrafficSelector{NewSelector(netip.MustParsePrefix("10.1.0.0/16"), netip.PrefixFrom(vip, 32))}, Handle: i}
	if i%7 == 0 {
		p.Selectors = []TrafficSelector{NewSelector(netip.MustParsePrefix("10.1.0.0/16"), netip.PrefixFrom(vip, 24))}
	}
	return p
}

// TestIncrementalMatchesCompile: a DB built by thousands of Adds and
// Deletes answers every lookup as one table compiled from the same policy
// list (in the same order) does.
func TestIncrementalMatchesCompile(t *testing.T) {
	var db DB
	var list []Policy
	rnd := rand.New(rand.NewPCG(1, 2))
	id := uint64(0)
	for i := range 3000 {
		id++
		p := clientPolicy(id, i, Direction(1+i%2))
		if err := db.Add(p); err != nil {
			t.Fatal(err)
		}
		list = append(list, p)
		if i%5 == 4 {
			j := rnd.IntN(len(list))
			if err := db.Delete(list[j].ID); err != nil {
				t.Fatal(err)
			}
			list = append(list[:j], list[j+1:]...)
		}
	}
	if err := db.Add(list[0]); err == nil {
		t.Fatal("adding a duplicate ID succeeded")
	}
	if err := db.Delete(999999); err == nil {
		t.Fatal("deleting an absent ID succeeded")
	}
	want, err := Compile(list)
	if err != nil {
		t.Fatal(err)
	}
	got := db.Table()
	if got.Len() != len(list) || len(got.parts) > 16 {
		t.Fatalf("DB holds %d policies in %d parts, want %d in few parts", got.Len(), len(got.parts), len(list))
	}
	for i := range 3100 {
		for _, dir := range []Direction{Out, In} {
			f := Flow{Src: netip.MustParseAddr("10.1.2.3"), Dst: netip.AddrFrom4([4]byte{10, 128, byte(i >> 8), byte(i)}), Proto: 6, SrcPort: 1, DstPort: 2}
			if dir == In {
				f.Src, f.Dst = f.Dst, f.Src
			}
			a, b := got.Lookup(dir, f), want.Lookup(dir, f)
			if (a == nil) != (b == nil) || (a != nil && a.ID != b.ID) {
				t.Fatalf("client %d %s: incremental DB says %v, compiled table %v", i, dir, a, b)
			}
		}
	}
}

// TestAddCostFlat: installing the policies of one more client costs about
// the same with 20,000 policies installed as with 2,000: Add no longer
// recompiles the whole set (it did, and took over ten times as long).
func TestAddCostFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("installs 22,000 policies")
	}
	var db DB
	id := uint64(0)
	addClients := func(from, n int) time.Duration {
		start := time.Now()
		for i := from; i < from+n; i++ {
			for _, dir := range []Direction{Out, In} {
				id++
				if err := db.Add(clientPolicy(id, i, dir)); err != nil {
					t.Fatal(err)
				}
			}
		}
		return time.Since(start) / time.Duration(n)
	}
	addClients(0, 1000)
	small := addClients(1000, 1000)
	addClients(2000, 8000)
	large := addClients(10000, 1000)
	t.Logf("install per client: %v at 1,000 clients, %v at 10,000", small, large)
	if large > 3*small {
		t.Errorf("install per client at 10,000 clients %v, at 1,000 %v: grows with the set", large, small)
	}
	if n := db.Table().Len(); n != 22000 {
		t.Fatalf("DB holds %d policies, want 22000", n)
	}
}
