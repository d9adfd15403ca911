package spd

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"unsafe"
)

// maxSpan bounds the index memory: an axis lists its candidates in every elementary
// interval they cover, at most maxSpan entries per candidate on average. Candidates are
// admitted narrowest first until that budget is spent; the rest move to the next axis.
// The index thus stays linear in the number of selectors however much the ranges
// overlap, while realistic supernets spanning a few hundred sites still get listed.
const maxSpan = 32

// u128 is an address as a 128-bit big-endian integer (IPv4 in its IPv4-mapped form).
type u128 struct{ hi, lo uint64 }

func addrKey(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) cmp(b u128) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

func (a u128) next() u128 {
	lo, carry := bits.Add64(a.lo, 1, 0)
	return u128{a.hi + carry, lo}
}

// shl shifts left by n < 128 bits (Go defines over-wide shifts as 0).
func (a u128) shl(n uint) u128 {
	if n >= 64 {
		return u128{a.lo << (n - 64), 0}
	}
	return u128{a.hi<<n | a.lo>>(64-n), a.lo << n}
}

// prefixBounds returns the smallest and largest values sharing a's first n bits.
func prefixBounds(a u128, n uint) (lo, hi u128) {
	var mask u128 // ones in the n leading bits
	switch {
	case n >= 128:
		mask = u128{math.MaxUint64, math.MaxUint64}
	case n >= 64:
		mask = u128{math.MaxUint64, ^(math.MaxUint64 >> (n - 64))}
	default:
		mask = u128{^(math.MaxUint64 >> n), 0}
	}
	lo = u128{a.hi & mask.hi, a.lo & mask.lo}
	hi = u128{lo.hi | ^mask.hi, lo.lo | ^mask.lo}
	return lo, hi
}

func commonPrefixLen(a, b u128) uint {
	if x := a.hi ^ b.hi; x != 0 {
		return uint(bits.LeadingZeros64(x))
	}
	return 64 + uint(bits.LeadingZeros64(a.lo^b.lo))
}

// familyBounds returns the first and last keys of an address family.
func familyBounds(is4 bool) (lo, hi u128) {
	if is4 {
		return u128{0, 0xffff << 32}, u128{0, 0xffff_ffff_ffff}
	}
	return u128{}, u128{math.MaxUint64, math.MaxUint64}
}

// csel is a compiled selector. Its position in famIndex.sels is its rank: lower ranks
// win, and ranks follow (priority, insertion order).
type csel struct {
	lLo, lHi, rLo, rHi u128
	lp, rp             PortRange
	pol                int32
	proto              uint8
	icmp               bool
	portsAny           bool
	fullLocal          bool
	fullRemote         bool
}

func (s *csel) unconstrained() bool { return s.proto == 0 && s.portsAny }

// probe is a flow oriented for one direction.
type probe struct {
	l, r         u128
	lport, rport uint16
	typ, code    uint16
	proto        uint8
	opaque       bool
}

func (s *csel) match(p *probe) bool {
	if p.r.less(s.rLo) || s.rHi.less(p.r) || p.l.less(s.lLo) || s.lHi.less(p.l) {
		return false
	}
	if s.proto != 0 && s.proto != p.proto {
		return false
	}
	switch {
	case s.portsAny:
		return true
	case p.opaque:
		return false
	case s.icmp:
		return s.lp.Contains(p.typ) && s.rp.Contains(p.code)
	}
	return s.lp.Contains(p.lport) && s.rp.Contains(p.rport)
}

// interval is an elementary interval of an axis: no selector listed on the axis starts
// or ends strictly inside it, so they all cover it entirely or not at all.
type interval struct {
	start u128 // first key; interval 0 starts at zero, below every address
	// The covering selectors' ranks, ascending, are first (math.MaxUint32 if none)
	// then ents[off:end]; keeping the first here saves a cache miss per lookup.
	first, off, end uint32
}

// axis maps an address to its elementary interval and each interval to the ranks of the
// selectors covering it.
type axis struct {
	ivs  []interval // sorted by start
	ents []uint32

	// Bucket accelerator: the interval starts between lowEnd and highEnd share their
	// first shift bits (pmin..pmax); the next bbits bits select a bucket, and
	// buckets[j] is the index of the first of them in bucket j or later.
	buckets         []uint32
	pmin, pmax      u128
	shift, bbits    uint
	lowEnd, highEnd int
}

// upperBound returns how many of the sorted bounds are <= k.
func upperBound(b []u128, k u128) int {
	lo, hi := 0, len(b)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k.less(b[m]) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// startsUpTo returns how many of the sorted intervals start at or below k.
func startsUpTo(ivs []interval, k u128) int {
	lo, hi := 0, len(ivs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k.less(ivs[m].start) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// interval returns the index of the interval holding k; the axis must not be empty.
func (a *axis) interval(k u128) int {
	if a.buckets == nil {
		return startsUpTo(a.ivs, k) - 1
	}
	if k.less(a.pmin) {
		return startsUpTo(a.ivs[:a.lowEnd], k) - 1
	}
	if a.pmax.less(k) {
		return a.highEnd + startsUpTo(a.ivs[a.highEnd:], k) - 1
	}
	j := k.shl(a.shift).hi >> (64 - a.bbits)
	lo, hi := int(a.buckets[j]), int(a.buckets[j+1])
	return lo + startsUpTo(a.ivs[lo:hi], k) - 1
}

// scanAxis returns the rank of the first selector below best listed for k on a that
// matches p, or best.
func (ix *famIndex) scanAxis(a *axis, k u128, p *probe, best uint32) uint32 {
	if a.ivs == nil {
		return best
	}
	iv := &a.ivs[a.interval(k)]
	if iv.first >= best {
		return best
	}
	if ix.hit(iv.first, p) {
		return iv.first
	}
	return ix.scan(a.ents[iv.off:iv.end], p, best)
}

func (a *axis) buildBuckets() {
	n := len(a.ivs)
	if n < 16 {
		return
	}
	// Trim a few outliers so one stray range does not spoil the shared prefix.
	lo, hi := a.ivs[1+n/32].start, a.ivs[n-1-n/32].start
	shift := commonPrefixLen(lo, hi)
	bbits := uint(bits.Len(uint(n)))
	bbits = min(bbits, 20, 128-shift)
	if bbits == 0 {
		return
	}
	a.shift, a.bbits = shift, bbits
	a.pmin, a.pmax = prefixBounds(lo, shift)
	a.lowEnd = startsUpTo(a.ivs, a.pmin)
	if a.lowEnd > 0 && a.ivs[a.lowEnd-1].start == a.pmin {
		a.lowEnd-- // a start equal to pmin belongs to the middle part
	}
	a.highEnd = startsUpTo(a.ivs, a.pmax)
	a.buckets = make([]uint32, 1<<bbits+1)
	i := a.lowEnd
	for j := range a.buckets {
		for i < a.highEnd && a.ivs[i].start.shl(shift).hi>>(64-bbits) < uint64(j) {
			i++
		}
		a.buckets[j] = uint32(i)
	}
}

// axisKey picks which address of a selector an axis is built on.
type axisKey bool

const (
	onRemote axisKey = false
	onLocal  axisKey = true
)

func (s *csel) span(k axisKey) (lo, hi u128) {
	if k == onLocal {
		return s.lLo, s.lHi
	}
	return s.rLo, s.rHi
}

// closes reports whether s matches every flow in an interval of axis k it covers, so
// that lower-priority entries after it can never be chosen.
func (s *csel) closes(k axisKey) bool {
	if k == onLocal {
		return s.fullRemote && s.unconstrained()
	}
	return s.fullLocal && s.unconstrained()
}

func axisBounds(sels []csel, ranks []uint32, k axisKey, famLo, famHi u128) []u128 {
	b := make([]u128, 0, 2*len(ranks))
	for _, r := range ranks {
		lo, hi := sels[r].span(k)
		if lo != famLo {
			b = append(b, lo)
		}
		if hi != famHi {
			b = append(b, hi.next())
		}
	}
	slices.SortFunc(b, u128.cmp)
	return slices.Compact(b)
}

// buildAxis indexes the candidate ranks (ascending) on axis k and returns the ranks
// left out by the memory budget, for the next level. It appends to shadows
// the ranks that closed an interval before a later entry could be listed
// in it: masking one of them out (a deleted policy, see famIndex.masked)
// would hide that entry, so their part is rebuilt instead.
func buildAxis(sels []csel, cand []uint32, k axisKey, famLo, famHi u128, span int, shadows *[]uint32) (axis, []uint32) {
	var a axis
	if len(cand) == 0 {
		return a, nil
	}
	// Selectors covering the whole axis are not told apart by it: next level.
	var full []uint32
	cand = slices.DeleteFunc(slices.Clone(cand), func(r uint32) bool {
		if lo, hi := sels[r].span(k); lo == famLo && hi == famHi {
			full = append(full, r)
			return true
		}
		return false
	})
	all := axisBounds(sels, cand, k, famLo, famHi)
	spans := make([]int, len(sels))
	bySpan := slices.Clone(cand)
	for _, r := range cand {
		lo, hi := sels[r].span(k)
		spans[r] = upperBound(all, hi) - upperBound(all, lo) + 1
	}
	slices.SortStableFunc(bySpan, func(a, b uint32) int { return spans[a] - spans[b] })
	budget := span * len(cand)
	admitted := len(bySpan)
	for i, r := range bySpan {
		if budget -= spans[r]; budget < 0 {
			admitted = i
			break
		}
	}
	narrow, wide := bySpan[:admitted], append(bySpan[admitted:], full...)
	slices.Sort(narrow)
	slices.Sort(wide)
	if len(narrow) == 0 {
		return a, wide
	}
	bounds := axisBounds(sels, narrow, k, famLo, famHi)
	n := len(bounds) + 1
	// Two passes over the narrow ranks in ascending order: count, then fill. An
	// interval is closed once an entry matching all of it has been listed.
	counts := make([]uint32, n+1)
	closed := make([]bool, n)
	listed := make([]bool, n)
	for _, r := range narrow {
		lo, hi := sels[r].span(k)
		for i := upperBound(bounds, lo); i <= upperBound(bounds, hi); i++ {
			if !closed[i] {
				if listed[i] {
					counts[i+1]++
				}
				listed[i] = true
				closed[i] = sels[r].closes(k)
			}
		}
	}
	for i := 1; i <= n; i++ {
		counts[i] += counts[i-1]
	}
	a.ivs = make([]interval, n)
	for i := range a.ivs {
		a.ivs[i].first = math.MaxUint32
		a.ivs[i].off, a.ivs[i].end = counts[i], counts[i]
		if i > 0 {
			a.ivs[i].start = bounds[i-1]
		}
	}
	a.ents = make([]uint32, counts[n])
	clear(closed)
	closer := make([]uint32, n)
	for _, r := range narrow {
		lo, hi := sels[r].span(k)
		for i := upperBound(bounds, lo); i <= upperBound(bounds, hi); i++ {
			iv := &a.ivs[i]
			switch {
			case closed[i]:
				if c := closer[i]; len(*shadows) == 0 || (*shadows)[len(*shadows)-1] != c {
					*shadows = append(*shadows, c)
				}
				continue
			case iv.first == math.MaxUint32:
				iv.first = r
			default:
				a.ents[iv.end] = r
				iv.end++
			}
			if sels[r].closes(k) {
				closed[i], closer[i] = true, r
			}
		}
	}
	a.buildBuckets()
	return a, wide
}

// famIndex is the index for one direction and address family.
type famIndex struct {
	sels   []csel // by rank
	remote axis   // selectors narrow on the remote address
	local  axis   // the rest, narrow on the local address
	wide   []uint32
	// shadows are the ranks, ascending, that end a list holding others
	// after them (see buildAxis; and a catch-all that ends the wide list
	// early).
	shadows []uint32
	// dead marks, one bit per rank, the selectors of policies deleted
	// since the part was built (see masked); nil when there are none.
	dead []uint64
	// minPrio is the priority of rank 0, the best in the set (a bound
	// only, once policies are masked out).
	minPrio uint32
}

func buildFamIndex(sels []csel, is4 bool, span int) famIndex {
	ix := famIndex{sels: sels}
	if len(sels) == 0 {
		return ix
	}
	famLo, famHi := familyBounds(is4)
	all := make([]uint32, len(sels))
	for i := range all {
		all[i] = uint32(i)
	}
	var rest []uint32
	ix.remote, rest = buildAxis(sels, all, onRemote, famLo, famHi, span, &ix.shadows)
	ix.local, rest = buildAxis(sels, rest, onLocal, famLo, famHi, span, &ix.shadows)
	for i, r := range rest {
		ix.wide = append(ix.wide, r)
		if s := &sels[r]; s.fullLocal && s.fullRemote && s.unconstrained() {
			if i < len(rest)-1 {
				ix.shadows = append(ix.shadows, r)
			}
			break
		}
	}
	slices.Sort(ix.shadows)
	ix.shadows = slices.Clip(slices.Compact(ix.shadows))
	return ix
}

// masked returns a copy of ix in which the selectors with the given
// ranks are dead: lookups pass over them. It returns false when one of
// them ends a list that holds entries after it (see buildAxis): with
// it dead those would be missed, so the part must be rebuilt instead. The
// copy shares everything but the dead bitmap with ix.
func (ix *famIndex) masked(ranks []uint32) (famIndex, bool) {
	out := *ix
	if ix.dead != nil {
		out.dead = slices.Clone(ix.dead)
	} else {
		out.dead = make([]uint64, (len(ix.sels)+63)/64)
	}
	for _, r := range ranks {
		if _, found := slices.BinarySearch(ix.shadows, r); found {
			return famIndex{}, false
		}
		out.dead[r>>6] |= 1 << (r & 63)
	}
	return out, true
}

// hit reports whether the selector with rank r matches p and was not
// masked out. The bitmap is read only for a selector that matches, so the
// scans' inner loop is unchanged, and a part without deletions pays one
// nil check per match.
func (ix *famIndex) hit(r uint32, p *probe) bool {
	return ix.sels[r].match(p) && (ix.dead == nil || ix.dead[r>>6]&(1<<(r&63)) == 0)
}

// scan returns the rank of the first entry of list below best that matches p, or best.
func (ix *famIndex) scan(list []uint32, p *probe, best uint32) uint32 {
	for _, r := range list {
		if r >= best {
			break
		}
		if ix.hit(r, p) {
			return r
		}
	}
	return best
}

// lookup returns the rank of the preferred matching selector or math.MaxUint32.
func (ix *famIndex) lookup(p *probe) uint32 {
	best := uint32(math.MaxUint32)
	best = ix.scanAxis(&ix.remote, p.r, p, best)
	best = ix.scanAxis(&ix.local, p.l, p, best)
	return ix.scan(ix.wide, p, best)
}

func (a *axis) bytes() int {
	return len(a.ivs)*int(unsafe.Sizeof(interval{})) + len(a.ents)*4 + len(a.buckets)*4
}

// ranksOf appends to ranks those of policy pol's selectors in ix. Ranks
// follow (priority, policy index), and a policy's selectors in one
// direction and family share its priority: they are one run, found by
// binary search.
func (ix *famIndex) ranksOf(policies []Policy, pol int32, ranks []uint32) []uint32 {
	prio := policies[pol].Priority
	r, _ := slices.BinarySearchFunc(ix.sels, pol, func(s csel, pol int32) int {
		if c := cmp.Compare(policies[s.pol].Priority, prio); c != 0 {
			return c
		}
		return cmp.Compare(s.pol, pol)
	})
	for ; r < len(ix.sels) && ix.sels[r].pol == pol; r++ {
		ranks = append(ranks, uint32(r))
	}
	return ranks
}
