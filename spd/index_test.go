package spd

import (
	"fmt"
	"math"
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
			// Small budgets push selectors to the local axis and the wide list.
			tab, err := compile(ps, []int{maxSpan, 0, 1, 3}[seed%4])
			if err != nil {
				t.Fatalf("seed %d: Compile: %v", seed, err)
			}
			naive := newNaive(ps)
			for range 2000 {
				f := g.flow()
				dir := Direction(1 + g.r.IntN(3))
				checkNaive(t, tab, naive, dir, f)
			}
		}
	}
}

func checkAgainstNaive(t *testing.T, tab *Table, ps []Policy, dir Direction, f Flow) {
	t.Helper()
	checkNaive(t, tab, newNaive(ps), dir, f)
}

func checkNaive(t *testing.T, tab *Table, naive *naiveSPD, dir Direction, f Flow) {
	t.Helper()
	got, want := tab.Lookup(dir, f), naive.lookup(dir, f)
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

// TestIndexWideSelectors forces every level of the index: selectors listed on the
// remote axis, on the local axis once the remote budget is spent, and in the list of
// selectors wide on both, and checks hand-picked and random flows against a scan.
func TestIndexWideSelectors(t *testing.T) {
	var ps []Policy
	add := func(prio uint32, s TrafficSelector) {
		ps = append(ps, Policy{ID: uint64(len(ps) + 1), Direction: Out, Action: Bypass, Priority: prio, Selectors: []TrafficSelector{s}})
	}
	for i := range 100 { // IDs 1-100: narrow sites
		add(10, NewSelector(mustPrefix("192.168.0.0/24"), mustPrefix(fmt.Sprintf("10.0.%d.0/24", i))))
	}
	for i := range 300 { // IDs 101-400: wide on remote, narrow on local
		add(20, NewSelector(mustPrefix(fmt.Sprintf("172.16.%d.%d/32", i/100, 2*(i%100))), mustPrefix("0.0.0.0/0")))
	}
	for i := range 300 { // IDs 401-700: wide on both, told apart only by port
		s := NewSelector(mustPrefix("128.0.0.0/1"), mustPrefix("0.0.0.0/1"))
		s.Proto, s.RemotePorts = ProtoTCP, Port(uint16(1000+i))
		add(uint32(5+i%30), s)
	}
	add(100, NewSelector(mustPrefix("0.0.0.0/0"), mustPrefix("0.0.0.0/0"))) // ID 701: catch-all
	tab, err := Compile(ps)
	if err != nil {
		t.Fatal(err)
	}
	ix := tab.idx[Out-1][0]
	listed := func(a *axis) int {
		n := 0
		for _, iv := range a.ivs {
			if iv.first != math.MaxUint32 {
				n += 1 + int(iv.end-iv.off)
			}
		}
		return n
	}
	if listed(&ix.remote) == 0 || listed(&ix.local) == 0 || len(ix.wide) < 2 {
		t.Fatalf("levels not all used: remote %d local %d wide %d", listed(&ix.remote), listed(&ix.local), len(ix.wide))
	}
	tests := []struct {
		src, dst string
		port     uint16
		want     uint64
	}{
		{"192.168.0.7", "10.0.5.9", 80, 6},
		{"192.168.0.7", "10.0.5.9", 1000, 401}, // priority 5 beats the site's 10
		{"192.168.0.7", "10.0.5.9", 1059, 6},   // priority 34 loses to it
		{"172.16.0.6", "10.0.5.9", 80, 104},
		{"172.16.0.6", "10.0.5.9", 1040, 441},
		{"172.16.0.7", "8.8.8.8", 80, 701},
	}
	for _, tt := range tests {
		f := Flow{Src: mustAddr(tt.src), Dst: mustAddr(tt.dst), Proto: ProtoTCP, DstPort: tt.port}
		got := tab.Lookup(Out, f)
		if got == nil || got.ID != tt.want {
			t.Errorf("%s -> %s:%d: got %s, want policy %d", tt.src, tt.dst, tt.port, describe(got), tt.want)
		}
		checkAgainstNaive(t, tab, ps, Out, f)
	}
	r := newRand(9)
	naive := newNaive(ps)
	for range 5000 {
		f := Flow{Src: netip.AddrFrom4([4]byte{[]byte{192, 172, 1}[r.IntN(3)], []byte{168, 16}[r.IntN(2)], byte(r.IntN(4)), byte(r.IntN(210))}),
			Dst: netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(110)), 1}), Proto: ProtoTCP, DstPort: uint16(995 + r.IntN(310))}
		checkNaive(t, tab, naive, Out, f)
	}
}

// TestIndexMemoryBound builds the worst case for interval lists, 10,000 nested ranges,
// and checks the documented bound of about 430 bytes per selector.
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
	if b := tab.IndexBytes(); b > 430*n {
		t.Errorf("index of %d nested ranges takes %d bytes, more than 430 per selector", n, b)
	}
	t.Logf("%d nested ranges: %d index bytes (%d per selector)", n, tab.IndexBytes(), tab.IndexBytes()/n)
	g := randGen{r: rand.New(rand.NewPCG(1, 2))}
	naive := newNaive(ps)
	for range 2000 {
		f := Flow{Src: mustAddr("192.168.3.4"), Dst: g.addr(), Proto: ProtoTCP, DstPort: uint16(g.r.IntN(n))}
		checkNaive(t, tab, naive, Out, f)
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
