package spd

import (
	"math"
	"os"
	"testing"
	"time"
)

// TestLookupWorkFlat checks, without timing noise, that the work per lookup does not grow
// with the policy set: the number of selectors tested and the size of the bucket
// searched, averaged over realistic flows, for 10 to 10,000 policies.
func TestLookupWorkFlat(t *testing.T) {
	var base float64
	for _, n := range sizes {
		for _, is6 := range []bool{false, true} {
			ps, flows := siteToSite(n, is6)
			tab, err := Compile(ps)
			if err != nil {
				t.Fatal(err)
			}
			fam := 0
			if is6 {
				fam = 1
			}
			ix := tab.idx[Out-1][fam]
			naive := newNaive(ps)
			tested, searched := 0, 0
			for _, f := range flows {
				p := probe{l: addrKey(f.Src), r: addrKey(f.Dst), lport: f.SrcPort, rport: f.DstPort, proto: f.Proto}
				best := uint32(math.MaxUint32)
				for _, l := range [][]uint32{ix.remote.list(p.r), ix.local.list(p.l), ix.wide} {
					for _, r := range l {
						if r >= best {
							break
						}
						tested++
						if ix.sels[r].match(&p) {
							best = r
							break
						}
					}
				}
				if a := &ix.remote; a.buckets != nil && !p.r.less(a.pmin) && !a.pmax.less(p.r) {
					j := p.r.shl(a.shift).hi >> (64 - a.bbits)
					searched += int(a.buckets[j+1] - a.buckets[j])
				} else {
					searched += len(a.ivs)
				}
				checkNaive(t, tab, naive, Out, f)
			}
			avgTested := float64(tested) / float64(len(flows))
			avgSearched := float64(searched) / float64(len(flows))
			t.Logf("ipv6=%v policies=%5d: selectors tested %.2f, intervals in searched bucket %.2f, index %d bytes",
				is6, n, avgTested, avgSearched, tab.IndexBytes())
			if n == sizes[0] && !is6 {
				base = avgTested
			}
			if avgTested > 1.5*base || avgSearched > 16 {
				t.Errorf("lookup work grows: %.2f selectors tested (%.2f with %d policies), bucket of %.2f", avgTested, base, sizes[0], avgSearched)
			}
		}
	}
}

// TestLookupTimeFlat measures lookups on 10 and 10,000 policies in alternating bursts and
// compares the fastest bursts, which filters out noise from other processes. It only runs
// with SPD_TIMING=1, since wall-clock assertions are unreliable on shared machines.
func TestLookupTimeFlat(t *testing.T) {
	if os.Getenv("SPD_TIMING") == "" {
		t.Skip("set SPD_TIMING=1 to run")
	}
	type setup struct {
		db    DB
		flows []Flow
		best  time.Duration
	}
	var ss []*setup
	for _, n := range sizes {
		ps, flows := siteToSite(n, false)
		s := &setup{flows: flows, best: time.Hour}
		if err := s.db.Replace(ps); err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	var sink *Policy
	for range 300 {
		for _, s := range ss {
			start := time.Now()
			for _, f := range s.flows {
				_, sink = s.db.Lookup(Out, f)
			}
			s.best = min(s.best, time.Since(start))
		}
	}
	_ = sink
	per := func(s *setup) float64 { return float64(s.best.Nanoseconds()) / float64(len(s.flows)) }
	for i, s := range ss {
		t.Logf("policies=%5d: %.1f ns/lookup (best of 300 bursts)", sizes[i], per(s))
	}
	if r := per(ss[len(ss)-1]) / per(ss[0]); r > 2 {
		t.Errorf("10,000 policies cost %.2fx the lookup time of 10", r)
	}
}
