package spd

import (
	"math"
	"testing"
)

func TestDebugStats(t *testing.T) {
	for _, n := range sizes {
		ps, flows := siteToSite(n, false)
		tab, _ := Compile(ps)
		ix := &tab.idx[Out-1][0]
		maxList := func(a *axis) int {
			m := 0
			for _, iv := range a.ivs {
				m = max(m, int(iv.end-iv.off))
			}
			return m
		}
		scanned := 0
		steps := 0
		for _, f := range flows {
			p := probe{l: addrKey(f.Src), r: addrKey(f.Dst), lport: f.SrcPort, rport: f.DstPort, proto: f.Proto}
			best := uint32(math.MaxUint32)
			for _, l := range [][]uint32{ix.remote.list(p.r), ix.local.list(p.l), ix.wide} {
				for _, r := range l {
					if r >= best {
						break
					}
					scanned++
					if ix.sels[r].match(&p) {
						best = r
						break
					}
				}
			}
			a := &ix.remote
			if a.buckets != nil && !p.r.less(a.pmin) && !a.pmax.less(p.r) {
				j := p.r.shl(a.shift).hi >> (64 - a.bbits)
				steps += int(a.buckets[j+1] - a.buckets[j])
			}
		}
		t.Logf("n=%d sels=%d remote bounds=%d ents=%d max=%d shift=%d bbits=%d | local bounds=%d ents=%d max=%d | wide=%d | avg scanned %.1f, avg bucket size %.1f",
			n, len(ix.sels), len(ix.remote.ivs), len(ix.remote.ents), maxList(&ix.remote), ix.remote.shift, ix.remote.bbits,
			len(ix.local.ivs), len(ix.local.ents), maxList(&ix.local), len(ix.wide), float64(scanned)/float64(len(flows)), float64(steps)/float64(len(flows)))
	}
}
