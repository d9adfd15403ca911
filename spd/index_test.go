package spd

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestIndexMatchesLinearScan is the property test: for random policy sets of many
// sizes and shapes, the index answers exactly as a scan of every policy would.
func TestIndexMatchesLinearScan(t *testing.T) {
	for seed := range uint64(60) {
		for _, is6 := range []bool{false, true} {
			g := randGen{r: rand.New(rand.NewPCG(seed, 7)), is6: is6}
			n := []int{1, 3, 10, 40, 200, 1000}[seed%6]
			ps := g.policies(n)
			tab, err := Compile(ps)
			if err != nil {
				t.Fatalf("seed %d: Compile: %v", seed, err)
			}
			for range 2000 {
				f := g.flow()
				dir := Direction(1 + g.r.IntN(3))
				checkAgainstNaive(t, tab, ps, dir, f)
			}
		}
	}
}

func checkAgainstNaive(t *testing.T, tab *Table, ps []Policy, dir Direction, f Flow) {
	t.Helper()
	got, want := tab.Lookup(dir, f), naiveLookup(ps, dir, f)
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil || got.ID != want.ID:
		t.Fatalf("%s %+v: index chose %s, linear scan %s", dir, f, describe(got), describe(want))
	}
}

func describe(p *Policy) string {
	if p == nil {
		return "none (discard)"
	}
	return fmt.Sprintf("policy %d prio %d %v", p.ID, p.Priority, p.Selectors)
}

// TestIndexWideSelectors forces every level of the index: narrow on remote, wide on
// remote but narrow on local, and wide on both.
func TestIndexWideSelectors(t *testing.T) {
	var ps []Policy
	id := uint64(0)
	add := func(prio uint32, local, remote string, act Action) {
		id++
		ps = append(ps, Policy{ID: id, Direction: Out, Action: act, Priority: prio,
			Selectors: []TrafficSelector{NewSelector(mustPrefix(local), mustPrefix(remote))}})
	}
	for i := range 100 {
		add(10, "192.168.0.0/24", fmt.Sprintf("10.%d.%d.0/24", i/10, i%10), Bypass)
	}
	add(5, "192.168.0.0/25", "10.0.0.0/8", Protect)  // wide on remote, narrow on local
	add(7, "0.0.0.0/0", "10.0.0.0/12", Bypass)       // wide on both
	add(100, "0.0.0.0/0", "0.0.0.0/0", Discard)      // catch-all
	add(1, "192.168.0.7/32", "10.0.5.9/32", Discard) // narrow, best
	for i := range 40 {                              // many local boundaries among remote-wide selectors
		add(50, fmt.Sprintf("172.16.0.%d/32", i), "0.0.0.0/0", Bypass)
	}
	tab, err := Compile(ps)
	if err != nil {
		t.Fatal(err)
	}
	ix := &tab.idx[Out-1][0]
	if len(ix.remote.ents) == 0 || len(ix.local.ents) == 0 || len(ix.wide) == 0 {
		t.Fatalf("levels not all used: remote %d local %d wide %d", len(ix.remote.ents), len(ix.local.ents), len(ix.wide))
	}
	tests := []struct {
		src, dst string
		want     uint64
	}{
		{"192.168.0.7", "10.0.5.9", 104},
		{"192.168.0.7", "10.0.5.8", 101},   // /25 local beats the /24 bypass
		{"192.168.0.200", "10.0.5.8", 102}, // outside the /25: the /12 wide entry
		{"192.168.0.200", "10.9.9.1", 102},
		{"192.168.0.200", "10.99.9.1", 103},
		{"192.168.0.1", "10.99.9.1", 101},
		{"1.1.1.1", "8.8.8.8", 103},
		{"172.16.0.3", "10.99.9.1", 108},
		{"172.16.0.3", "10.9.9.1", 102},
	}
	for _, tt := range tests {
		f := Flow{Src: mustAddr(tt.src), Dst: mustAddr(tt.dst)}
		got := tab.Lookup(Out, f)
		if got == nil || got.ID != tt.want {
			t.Errorf("%s -> %s: got %s, want policy %d", tt.src, tt.dst, describe(got), tt.want)
		}
		checkAgainstNaive(t, tab, ps, Out, f)
	}
}

// TestIndexMemoryBound builds the worst case for interval lists, 10,000 nested ranges,
// and checks the documented bound of about 300 bytes per selector.
func TestIndexMemoryBound(t *testing.T) {
	const n = 10000
	ps := make([]Policy, n)
	for i := range ps {
		lo := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		hi := netip.AddrFrom4([4]byte{20, ^byte(i >> 8), ^byte(i), 255})
		ps[i] = Policy{ID: uint64(i), Direction: Out, Action: Bypass, Priority: uint32(n - i),
			Selectors: []TrafficSelector{{Local: PrefixRange(mustPrefix("192.168.0.0/16")), Remote: AddrRange{lo, hi}, Proto: ProtoTCP, LocalPorts: AnyPort, RemotePorts: Port(uint16(i))}}}
	}
	tab, err := Compile(ps)
	if err != nil {
		t.Fatal(err)
	}
	if b := tab.IndexBytes(); b > 300*n {
		t.Errorf("index of %d nested ranges takes %d bytes, more than 300 per selector", n, b)
	}
	t.Logf("%d nested ranges: %d index bytes (%d per selector)", n, tab.IndexBytes(), tab.IndexBytes()/n)
	g := randGen{r: rand.New(rand.NewPCG(1, 2))}
	for range 2000 {
		f := Flow{Src: mustAddr("192.168.3.4"), Dst: g.addr(), Proto: ProtoTCP, DstPort: uint16(g.r.IntN(n))}
		checkAgainstNaive(t, tab, ps, Out, f)
	}
}

func TestU128Helpers(t *testing.T) {
	a := u128{0x0123456789abcdef, 0xfedcba9876543210}
	if got := a.shl(0); got != a {
		t.Errorf("shl 0 = %x", got)
	}
	if got := a.shl(4); got != (u128{0x123456789abcdeff, 0xedcba98765432100}) {
		t.Errorf("shl 4 = %x", got)
	}
	if got := a.shl(64); got != (u128{a.lo, 0}) {
		t.Errorf("shl 64 = %x", got)
	}
	if got := (u128{0, ^uint64(0)}).next(); got != (u128{1, 0}) {
		t.Errorf("next carry = %x", got)
	}
	lo, hi := prefixBounds(a, 68)
	if lo != (u128{a.hi, 0xf000000000000000}) || hi != (u128{a.hi, ^uint64(0)}) {
		t.Errorf("prefixBounds 68 = %x %x", lo, hi)
	}
	if n := commonPrefixLen(a, a); n != 128 {
		t.Errorf("commonPrefixLen(a, a) = %d", n)
	}
}
