package dataplane

import (
	"net/netip"
	"testing"
	"time"
)

// outer4 returns an outer IPv4 packet of n octets from src to dst (only the
// addresses matter to the link sender).
func outer4(src, dst string, n int) txMsg {
	b := make([]byte, n)
	b[0] = 0x45
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	return txMsg{b: b, to: netip.AddrPortFrom(netip.MustParseAddr(dst), 0)}
}

func outer6(src, dst string, n int) txMsg {
	b := make([]byte, n)
	b[0] = 0x60
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return txMsg{b: b, to: netip.AddrPortFrom(netip.MustParseAddr(dst), 0)}
}

// fakeHops is a resolver with a fixed answer per destination that counts
// its lookups.
type fakeHops struct {
	hops    map[netip.Addr]linkHop
	lookups map[netip.Addr]int
}

func (f *fakeHops) resolve(_, dst netip.Addr) linkHop {
	f.lookups[dst]++
	if h, ok := f.hops[dst]; ok {
		return h
	}
	return linkHop{why: whyNoNeighbour}
}

func newFakeLink(hops map[string]linkHop) (*linkSender, *fakeHops, *time.Time) {
	f := &fakeHops{hops: map[netip.Addr]linkHop{}, lookups: map[netip.Addr]int{}}
	for a, h := range hops {
		f.hops[netip.MustParseAddr(a)] = h
	}
	l := newLinkSenderWith(nil, htons(0x0800), 8, f.resolve, nil)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	return l, f, &now
}

// runs splits msgs the way batchIO.send does and describes each run as
// its length and "L" (link socket) or "I" (IP socket).
func runs(l *linkSender, msgs []txMsg, v6 bool) []string {
	var out []string
	now := l.now()
	for len(msgs) > 0 {
		k, via := l.split(msgs, v6, now)
		w := "I"
		if via {
			w = "L"
		}
		out = append(out, string(rune('0'+k))+w)
		msgs = msgs[k:]
	}
	return out
}

func eqRuns(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLinkSplit(t *testing.T) {
	usable := linkHop{ok: true, ifindex: 2, mac: [6]byte{2, 0, 0, 0, 0, 1}, mtu: 1500}
	l, f, _ := newFakeLink(map[string]linkHop{"10.0.0.2": usable, "fd00::2": usable})
	src := "10.0.0.1"
	msgs := []txMsg{
		outer4(src, "10.0.0.2", 1400), outer4(src, "10.0.0.2", 1400), // usable hop
		outer4(src, "10.0.0.2", 1501),                              // above the link MTU
		outer4(src, "10.0.0.3", 100), outer4(src, "10.0.0.3", 100), // no neighbour entry
		outer4(src, "10.0.0.2", 60),
		{b: []byte{0x45, 0}, to: netip.MustParseAddrPort("10.0.0.2:0")}, // too short to read
	}
	// The first run after the lookup takes the IP path (see linkSender),
	// whatever its packets' sizes.
	got := runs(l, msgs, false)
	want := []string{"3I", "2I", "1L", "1I"}
	if !eqRuns(got, want) {
		t.Errorf("first batch: runs %v, want %v", got, want)
	}
	got = runs(l, msgs, false)
	want = []string{"2L", "1I", "2I", "1L", "1I"}
	if !eqRuns(got, want) {
		t.Errorf("second batch: runs %v, want %v", got, want)
	}
	// One lookup per destination in the batch, not one per packet.
	if n := f.lookups[netip.MustParseAddr("10.0.0.2")]; n != 1 {
		t.Errorf("10.0.0.2 looked up %d times", n)
	}
	// The IPv6 socket reads IPv6 headers; an IPv4 packet on it is not sent
	// on the link.
	v6 := []txMsg{outer6("fd00::1", "fd00::2", 1280), outer6("fd00::1", "fd00::2", 1280), outer4(src, "10.0.0.2", 100)}
	runs(l, v6, true)
	got = runs(l, v6, true)
	if want := []string{"2L", "1I"}; !eqRuns(got, want) {
		t.Errorf("IPv6 runs %v, want %v", got, want)
	}
}

func TestLinkHopRefresh(t *testing.T) {
	usable := linkHop{ok: true, ifindex: 2, mtu: 1500}
	l, f, now := newFakeLink(map[string]linkHop{"10.0.0.2": usable})
	dst, other := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	batch := []txMsg{outer4("10.0.0.1", "10.0.0.2", 100)}
	missing := []txMsg{outer4("10.0.0.1", "10.0.0.3", 100)}
	runs(l, batch, false)
	runs(l, missing, false)
	*now = now.Add(linkNoNeighTTL / 2)
	runs(l, batch, false)
	runs(l, missing, false)
	if f.lookups[dst] != 1 || f.lookups[other] != 1 {
		t.Fatalf("lookups within the TTLs: %v", f.lookups)
	}
	// A missing neighbour is looked up again soon: the IP path has asked
	// the kernel to resolve it.
	*now = now.Add(linkNoNeighTTL)
	runs(l, missing, false)
	if f.lookups[other] != 2 {
		t.Errorf("missing neighbour looked up %d times after %v", f.lookups[other], linkNoNeighTTL)
	}
	f.hops[other] = usable
	*now = now.Add(linkNoNeighTTL + time.Millisecond)
	if got := append(runs(l, missing, false), runs(l, missing, false)...); !eqRuns(got, []string{"1I", "1L"}) {
		t.Errorf("after the neighbour appeared: %v", got)
	}
	// A usable hop is looked up again after linkHopTTL (its MAC may
	// change, the route may move).
	*now = now.Add(linkHopTTL)
	runs(l, batch, false)
	if f.lookups[dst] != 2 {
		t.Errorf("usable hop looked up %d times after %v", f.lookups[dst], linkHopTTL)
	}
	// A hop that cannot be used (not Ethernet) waits longer.
	f.hops[dst] = linkHop{why: "device tun0 is not an Ethernet link that is up"}
	*now = now.Add(linkHopTTL)
	runs(l, batch, false)
	*now = now.Add(linkUnusableTTL / 2)
	if got := runs(l, batch, false); !eqRuns(got, []string{"1I"}) {
		t.Errorf("unusable hop: %v", got)
	}
	if f.lookups[dst] != 3 {
		t.Errorf("unusable hop looked up %d times within %v", f.lookups[dst], linkUnusableTTL)
	}
}

// The first run after each lookup goes through the IP stack, so that the
// kernel confirms the neighbour entry and connection tracking sees the
// flow (the link socket bypasses both).
func TestLinkIPRunPerLookup(t *testing.T) {
	l, f, now := newFakeLink(map[string]linkHop{"10.0.0.2": {ok: true, ifindex: 2, mtu: 1500}})
	batch := []txMsg{outer4("10.0.0.1", "10.0.0.2", 100), outer4("10.0.0.1", "10.0.0.2", 100)}
	var got []string
	for range 3 {
		got = append(got, runs(l, batch, false)...)
	}
	if want := []string{"2I", "2L", "2L"}; !eqRuns(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
	*now = now.Add(linkHopTTL)
	if got := runs(l, batch, false); !eqRuns(got, []string{"2I"}) {
		t.Errorf("after the next lookup: %v", got)
	}
	if n := f.lookups[netip.MustParseAddr("10.0.0.2")]; n != 2 {
		t.Errorf("%d lookups", n)
	}
}

func TestLinkSplitZeroAllocs(t *testing.T) {
	l, _, _ := newFakeLink(map[string]linkHop{"10.0.0.2": {ok: true, ifindex: 2, mtu: 1500}})
	msgs := make([]txMsg, 64)
	for i := range msgs {
		msgs[i] = outer4("10.0.0.1", "10.0.0.2", 1400)
	}
	now := l.now()
	l.split(msgs, false, now)
	allocs := testing.AllocsPerRun(100, func() {
		for m := msgs; len(m) > 0; {
			k, _ := l.split(m, false, now)
			m = m[k:]
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch", allocs)
	}
}
