package spd

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSelectorMatching(t *testing.T) {
	v4 := func(local, remote string) TrafficSelector {
		return NewSelector(mustPrefix(local), mustPrefix(remote))
	}
	rng := func(from, to string) AddrRange { return AddrRange{mustAddr(from), mustAddr(to)} }
	tcp := func(s TrafficSelector, lp, rp PortRange) TrafficSelector {
		s.Proto, s.LocalPorts, s.RemotePorts = ProtoTCP, lp, rp
		return s
	}
	icmp := func(s TrafficSelector, proto uint8, types, codes PortRange) TrafficSelector {
		s.Proto, s.LocalPorts, s.RemotePorts = proto, types, codes
		return s
	}
	tests := []struct {
		name  string
		sel   TrafficSelector
		dir   Direction
		flow  Flow
		match bool
	}{
		{"prefix inside", v4("192.168.1.0/24", "10.1.0.0/16"), Out,
			Flow{Src: mustAddr("192.168.1.9"), Dst: mustAddr("10.1.200.1"), Proto: ProtoUDP}, true},
		{"prefix remote outside", v4("192.168.1.0/24", "10.1.0.0/16"), Out,
			Flow{Src: mustAddr("192.168.1.9"), Dst: mustAddr("10.2.0.1")}, false},
		{"prefix local outside", v4("192.168.1.0/24", "10.1.0.0/16"), Out,
			Flow{Src: mustAddr("192.168.2.9"), Dst: mustAddr("10.1.0.1")}, false},
		{"inbound swaps local and remote", v4("192.168.1.0/24", "10.1.0.0/16"), In,
			Flow{Src: mustAddr("10.1.0.1"), Dst: mustAddr("192.168.1.9")}, true},
		{"inbound not matched as outbound", v4("192.168.1.0/24", "10.1.0.0/16"), In,
			Flow{Src: mustAddr("192.168.1.9"), Dst: mustAddr("10.1.0.1")}, false},
		{"fwd is inbound-oriented", v4("192.168.1.0/24", "10.1.0.0/16"), Fwd,
			Flow{Src: mustAddr("10.1.0.1"), Dst: mustAddr("192.168.1.9")}, true},
		{"range lower bound", TrafficSelector{Local: AnyIPv4(), Remote: rng("10.0.0.5", "10.0.1.3")}, Out,
			Flow{Src: mustAddr("1.2.3.4"), Dst: mustAddr("10.0.0.5")}, true},
		{"range upper bound", TrafficSelector{Local: AnyIPv4(), Remote: rng("10.0.0.5", "10.0.1.3")}, Out,
			Flow{Src: mustAddr("1.2.3.4"), Dst: mustAddr("10.0.1.3")}, true},
		{"range below", TrafficSelector{Local: AnyIPv4(), Remote: rng("10.0.0.5", "10.0.1.3")}, Out,
			Flow{Src: mustAddr("1.2.3.4"), Dst: mustAddr("10.0.0.4")}, false},
		{"range above", TrafficSelector{Local: AnyIPv4(), Remote: rng("10.0.0.5", "10.0.1.3")}, Out,
			Flow{Src: mustAddr("1.2.3.4"), Dst: mustAddr("10.0.1.4")}, false},
		{"any matches everything v4", v4("0.0.0.0/0", "0.0.0.0/0"), Out,
			Flow{Src: mustAddr("255.255.255.255"), Dst: mustAddr("0.0.0.0"), Proto: 50}, true},
		{"v4 selector ignores v6 flow", v4("0.0.0.0/0", "0.0.0.0/0"), Out,
			Flow{Src: mustAddr("2001:db8::1"), Dst: mustAddr("2001:db8::2")}, false},
		{"v6 prefix", NewSelector(mustPrefix("2001:db8:1::/48"), mustPrefix("2001:db8:2::/48")), Out,
			Flow{Src: mustAddr("2001:db8:1::5"), Dst: mustAddr("2001:db8:2:ffff::1")}, true},
		{"v6 prefix outside", NewSelector(mustPrefix("2001:db8:1::/48"), mustPrefix("2001:db8:2::/48")), Out,
			Flow{Src: mustAddr("2001:db8:1::5"), Dst: mustAddr("2001:db8:3::1")}, false},
		{"v6 any", NewSelector(mustPrefix("::/0"), mustPrefix("::/0")), In,
			Flow{Src: mustAddr("ffff::1"), Dst: mustAddr("::1")}, true},
		{"tcp port match", tcp(v4("0.0.0.0/0", "0.0.0.0/0"), AnyPort, Port(443)), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoTCP, SrcPort: 50000, DstPort: 443}, true},
		{"tcp port mismatch", tcp(v4("0.0.0.0/0", "0.0.0.0/0"), AnyPort, Port(443)), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoTCP, SrcPort: 443, DstPort: 444}, false},
		{"tcp selector, udp flow", tcp(v4("0.0.0.0/0", "0.0.0.0/0"), AnyPort, Port(443)), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoUDP, DstPort: 443}, false},
		{"inbound remote port is source port", tcp(v4("0.0.0.0/0", "0.0.0.0/0"), PortRange{1000, 2000}, Port(443)), In,
			Flow{Src: mustAddr("2.2.2.2"), Dst: mustAddr("1.1.1.1"), Proto: ProtoTCP, SrcPort: 443, DstPort: 1500}, true},
		{"port range edges", tcp(v4("0.0.0.0/0", "0.0.0.0/0"), PortRange{1000, 2000}, AnyPort), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoTCP, SrcPort: 2000}, true},
		{"port range outside", tcp(v4("0.0.0.0/0", "0.0.0.0/0"), PortRange{1000, 2000}, AnyPort), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoTCP, SrcPort: 999}, false},
		{"non-first fragment vs port selector", tcp(v4("0.0.0.0/0", "0.0.0.0/0"), AnyPort, Port(443)), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoTCP, PortsOpaque: true}, false},
		{"non-first fragment vs any-port tcp", tcp(v4("0.0.0.0/0", "0.0.0.0/0"), AnyPort, AnyPort), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoTCP, PortsOpaque: true}, true},
		{"icmp echo request", icmp(v4("0.0.0.0/0", "0.0.0.0/0"), ProtoICMP, Port(8), Port(0)), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoICMP, SrcPort: 8, DstPort: 0}, true},
		{"icmp type/code not swapped inbound", icmp(v4("0.0.0.0/0", "0.0.0.0/0"), ProtoICMP, Port(3), PortRange{0, 4}), In,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoICMP, SrcPort: 3, DstPort: 4}, true},
		{"icmp wrong code", icmp(v4("0.0.0.0/0", "0.0.0.0/0"), ProtoICMP, Port(3), PortRange{0, 4}), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoICMP, SrcPort: 3, DstPort: 5}, false},
		{"icmp any code", icmp(v4("0.0.0.0/0", "0.0.0.0/0"), ProtoICMP, Port(3), AnyPort), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: ProtoICMP, SrcPort: 3, DstPort: 13}, true},
		{"icmpv6 packet too big", icmp(NewSelector(mustPrefix("::/0"), mustPrefix("::/0")), ProtoICMPv6, Port(2), Port(0)), Out,
			Flow{Src: mustAddr("2001:db8::1"), Dst: mustAddr("2001:db8::2"), Proto: ProtoICMPv6, SrcPort: 2}, true},
		{"icmpv6 other type", icmp(NewSelector(mustPrefix("::/0"), mustPrefix("::/0")), ProtoICMPv6, Port(2), Port(0)), Out,
			Flow{Src: mustAddr("2001:db8::1"), Dst: mustAddr("2001:db8::2"), Proto: ProtoICMPv6, SrcPort: 128}, false},
		{"protocol without ports", TrafficSelector{Local: AnyIPv4(), Remote: AnyIPv4(), Proto: 47}, Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("2.2.2.2"), Proto: 47}, true},
		{"invalid flow", v4("0.0.0.0/0", "0.0.0.0/0"), Out, Flow{}, false},
		{"mixed-family flow", v4("0.0.0.0/0", "0.0.0.0/0"), Out,
			Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("::1")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var db DB
			pol := Policy{ID: 1, Direction: tt.dir, Action: Bypass, Selectors: []TrafficSelector{tt.sel}}
			if err := db.Replace([]Policy{pol}); err != nil {
				t.Fatal(err)
			}
			act, p := db.Lookup(tt.dir, tt.flow)
			if got := p != nil; got != tt.match {
				t.Fatalf("selector %s, flow %+v: matched %v, want %v", tt.sel, tt.flow, got, tt.match)
			}
			if want := map[bool]Action{true: Bypass, false: Discard}[tt.match]; act != want {
				t.Errorf("action %s, want %s", act, want)
			}
			if n := naiveLookup([]Policy{pol}, tt.dir, tt.flow) != nil; n != tt.match {
				t.Errorf("test oracle disagrees: %v", n)
			}
		})
	}
}

func TestPriorityAndDefault(t *testing.T) {
	sel := func(remote string) []TrafficSelector {
		return []TrafficSelector{NewSelector(mustPrefix("192.168.0.0/16"), mustPrefix(remote))}
	}
	var db DB
	if act, p := db.Lookup(Out, Flow{Src: mustAddr("192.168.1.1"), Dst: mustAddr("10.0.0.1")}); act != Discard || p != nil {
		t.Fatalf("empty DB: %s %v, want discard", act, p)
	}
	handle := &struct{ reqid uint32 }{reqid: 7}
	ps := []Policy{
		{ID: 1, Direction: Out, Action: Bypass, Priority: 100, Selectors: sel("10.0.0.0/8")},
		{ID: 2, Direction: Out, Action: Protect, Priority: 50, Selectors: sel("10.1.0.0/16"), Handle: handle},
		{ID: 3, Direction: Out, Action: Discard, Priority: 50, Selectors: sel("10.1.2.0/24")}, // ties with 2, inserted later
		{ID: 4, Direction: Out, Action: Discard, Priority: 10, Selectors: sel("10.1.3.0/24")},
		{ID: 5, Direction: In, Action: Bypass, Priority: 0, Selectors: sel("0.0.0.0/0")},
	}
	if err := db.Replace(ps); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dst  string
		want uint64
		act  Action
	}{
		{"10.9.0.1", 1, Bypass},
		{"10.1.0.1", 2, Protect},
		{"10.1.2.1", 2, Protect}, // same priority: first inserted wins
		{"10.1.3.1", 4, Discard},
		{"11.0.0.1", 0, Discard}, // no policy: default discard (In policy 5 does not apply)
	}
	for _, tt := range tests {
		act, p := db.Lookup(Out, Flow{Src: mustAddr("192.168.1.1"), Dst: mustAddr(tt.dst)})
		if act != tt.act || (p == nil) != (tt.want == 0) || (p != nil && p.ID != tt.want) {
			t.Errorf("%s: %s %s, want %s policy %d", tt.dst, act, describe(p), tt.act, tt.want)
		}
	}
	if _, p := db.Lookup(Out, Flow{Src: mustAddr("192.168.1.1"), Dst: mustAddr("10.1.0.1")}); p.Handle != handle {
		t.Errorf("handle not returned: %v", p.Handle)
	}
	// Reversing the insertion order of the tie flips it.
	ps[1], ps[2] = ps[2], ps[1]
	if err := db.Replace(ps); err != nil {
		t.Fatal(err)
	}
	if _, p := db.Lookup(Out, Flow{Src: mustAddr("192.168.1.1"), Dst: mustAddr("10.1.2.1")}); p == nil || p.ID != 3 {
		t.Errorf("tie after reorder: %s, want policy 3", describe(p))
	}
}

func TestReplaceValidation(t *testing.T) {
	good := NewSelector(mustPrefix("10.0.0.0/8"), mustPrefix("10.0.0.0/8"))
	bad := func(mut func(*TrafficSelector)) []TrafficSelector {
		s := good
		mut(&s)
		return []TrafficSelector{s}
	}
	tests := []struct {
		name string
		pol  Policy
		err  error
		text string
	}{
		{"no direction", Policy{Selectors: []TrafficSelector{good}}, ErrInvalidPolicy, "direction(0)"},
		{"bad action", Policy{Direction: Out, Action: 9, Selectors: []TrafficSelector{good}}, ErrInvalidPolicy, "action(9)"},
		{"no selectors", Policy{Direction: Out}, ErrInvalidPolicy, "no selectors"},
		{"handle on bypass", Policy{Direction: Out, Action: Bypass, Handle: 1, Selectors: []TrafficSelector{good}}, ErrInvalidPolicy, "has a handle"},
		{"unset address", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) { s.Local = AddrRange{} })}, ErrInvalidSelector, "not set"},
		{"reversed range", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) {
			s.Remote = AddrRange{mustAddr("10.0.0.9"), mustAddr("10.0.0.1")}
		})}, ErrInvalidSelector, "From after To"},
		{"mixed range", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) {
			s.Remote = AddrRange{mustAddr("10.0.0.9"), mustAddr("::1")}
		})}, ErrInvalidSelector, "mixes"},
		{"mixed sides", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) { s.Remote = AnyIPv6() })}, ErrInvalidSelector, "different families"},
		{"zone", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) {
			s.Local = AddrRange{mustAddr("fe80::1%eth0"), mustAddr("fe80::2%eth0")}
			s.Remote = AnyIPv6()
		})}, ErrInvalidSelector, "zone"},
		{"ports without protocol", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) { s.RemotePorts = Port(80) })}, ErrInvalidSelector, "has no ports"},
		{"reversed ports", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) {
			s.Proto, s.RemotePorts = ProtoTCP, PortRange{90, 80}
		})}, ErrInvalidSelector, "From after To"},
		{"icmp type above 255", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) {
			s.Proto, s.LocalPorts = ProtoICMP, PortRange{0, 256}
		})}, ErrInvalidSelector, "exceeds 255"},
		{"icmpv6 in ipv4", Policy{Direction: Out, Selectors: bad(func(s *TrafficSelector) { s.Proto = ProtoICMPv6 })}, ErrInvalidSelector, "address family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var db DB
			if err := db.Replace([]Policy{{ID: 1, Direction: Out, Selectors: []TrafficSelector{good}}}); err != nil {
				t.Fatal(err)
			}
			before := db.Table()
			err := db.Replace([]Policy{tt.pol})
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("error %v, want %v containing %q", err, tt.err, tt.text)
			}
			if db.Table() != before {
				t.Error("failed Replace changed the table")
			}
		})
	}
	var db DB
	err := db.Replace([]Policy{{ID: 1, Direction: Out, Selectors: []TrafficSelector{good}}, {ID: 1, Direction: In, Selectors: []TrafficSelector{good}}})
	if !errors.Is(err, ErrDuplicateID) {
		t.Errorf("duplicate IDs: %v", err)
	}
	// The zero PortRange means "not applicable" for protocols without ports.
	s := TrafficSelector{Local: AnyIPv4(), Remote: AnyIPv4()}
	if err := s.Validate(); err != nil {
		t.Errorf("zero port ranges with protocol 0: %v", err)
	}
}

func TestAddDelete(t *testing.T) {
	var db DB
	mk := func(id uint64, remote string) Policy {
		return Policy{ID: id, Direction: Out, Action: Bypass, Selectors: []TrafficSelector{NewSelector(mustPrefix("0.0.0.0/0"), mustPrefix(remote))}}
	}
	f := Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("10.0.0.1")}
	if err := db.Add(mk(1, "10.0.0.0/8")); err != nil {
		t.Fatal(err)
	}
	if err := db.Add(mk(2, "10.0.0.0/24")); err != nil {
		t.Fatal(err)
	}
	if _, p := db.Lookup(Out, f); p == nil || p.ID != 1 {
		t.Fatalf("after adds: %s, want policy 1 (earlier wins the tie)", describe(p))
	}
	if err := db.Add(mk(2, "10.0.0.0/24")); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("re-adding ID 2: %v", err)
	}
	old := db.Table()
	if err := db.Delete(1); err != nil {
		t.Fatal(err)
	}
	if _, p := db.Lookup(Out, f); p == nil || p.ID != 2 {
		t.Fatalf("after delete: %s, want policy 2", describe(p))
	}
	if p := old.Lookup(Out, f); p == nil || p.ID != 1 {
		t.Errorf("old table changed by delete: %s", describe(p))
	}
	if err := db.Delete(1); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
	if g := db.Table().Generation(); g != 3 {
		t.Errorf("generation %d after 3 successful writes", g)
	}
	if n := db.Table().Len(); n != 1 {
		t.Errorf("Len %d", n)
	}
	// Policies returns copies: mutating them does not reach the table.
	ps := db.Table().Policies()
	ps[0].Selectors[0].Remote = AnyIPv4()
	if _, p := db.Lookup(Out, Flow{Src: mustAddr("1.1.1.1"), Dst: mustAddr("11.0.0.1")}); p != nil {
		t.Errorf("table aliased by Policies(): %s", describe(p))
	}
}

// TestReplaceAtomic runs readers against thousands of replacements. Version k tags every
// policy with k and routes the probe flows to different policies; a reader must see all
// policies of one snapshot carry the snapshot's generation, and generations never go back.
func TestReplaceAtomic(t *testing.T) {
	const versions = 3000
	const flows = 8
	set := func(k int) []Policy {
		ps := make([]Policy, 0, flows+1)
		for i := range flows {
			// Rotate which addresses each ID covers so that mixing versions would show.
			remote := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte((i + k) % flows), 0, 0}), 16)
			ps = append(ps, Policy{ID: uint64(i), Direction: Out, Action: Protect, Priority: uint32(i),
				Selectors: []TrafficSelector{NewSelector(mustPrefix("0.0.0.0/0"), remote)}, Handle: k})
		}
		return append(ps, Policy{ID: 99, Direction: Out, Action: Protect, Priority: 1000,
			Selectors: []TrafficSelector{NewSelector(mustPrefix("0.0.0.0/0"), mustPrefix("0.0.0.0/0"))}, Handle: k})
	}
	var db DB
	if err := db.Replace(set(1)); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for !done.Load() {
				tab := db.Table()
				gen := tab.Generation()
				if gen < last {
					errs <- fmt.Errorf("generation went back from %d to %d", last, gen)
					return
				}
				last = gen
				for i := range flows + 1 {
					f := Flow{Src: mustAddr("192.0.2.1"), Dst: netip.AddrFrom4([4]byte{10, byte(i), 1, 1})}
					p := tab.Lookup(Out, f)
					if p == nil || uint64(p.Handle.(int)) != gen {
						errs <- fmt.Errorf("table generation %d returned %s tagged %v", gen, describe(p), p.Handle)
						return
					}
					k := int(gen)
					if want := uint64((i - k%flows + flows) % flows); i < flows && p.ID != want {
						errs <- fmt.Errorf("generation %d flow %d: policy %d, want %d", gen, i, p.ID, want)
						return
					}
				}
				// The one-shot DB.Lookup also sees only whole versions.
				if _, p := db.Lookup(Out, Flow{Src: mustAddr("192.0.2.1"), Dst: mustAddr("11.0.0.1")}); p == nil || uint64(p.Handle.(int)) < last {
					errs <- fmt.Errorf("DB.Lookup returned %s older than generation %d", describe(p), last)
					return
				}
			}
		}()
	}
	for k := 2; k <= versions; k++ {
		if err := db.Replace(set(k)); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLookupAllocs(t *testing.T) {
	var db DB
	g := randGen{r: newRand(3)}
	if err := db.Replace(g.policies(500)); err != nil {
		t.Fatal(err)
	}
	flows := make([]Flow, 64)
	for i := range flows {
		flows[i] = g.flow()
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		db.Lookup(Direction(1+i%3), flows[i%len(flows)])
		i++
	}); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}
