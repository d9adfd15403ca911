package spd

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"slices"
)

// maxSpan is the number of elementary intervals a selector may cover on an axis and still
// be listed in each of them. Wider selectors move to the next axis, so every selector adds
// at most maxSpan list entries and the index stays linear in the number of selectors
// however much the ranges overlap.
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

// axis maps an address to its elementary interval and each interval to the ranks of the
// selectors covering it, ascending.
type axis struct {
	bounds []u128   // sorted starts of intervals 1..n; interval 0 starts below everything
	off    []uint32 // interval i lists ents[off[i]:off[i+1]]
	ents   []uint32

	// Bucket accelerator: the bounds between lowEnd and highStart share their first
	// shift bits (pmin..pmax); the next bbits bits select a bucket, and buckets[j]
	// is the index of the first bound in bucket j or later.
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

func (a *axis) interval(k u128) int {
	if a.buckets == nil {
		return upperBound(a.bounds, k)
	}
	if k.less(a.pmin) {
		return upperBound(a.bounds[:a.lowEnd], k)
	}
	if a.pmax.less(k) {
		return a.highEnd + upperBound(a.bounds[a.highEnd:], k)
	}
	j := k.shl(a.shift).hi >> (64 - a.bbits)
	lo, hi := int(a.buckets[j]), int(a.buckets[j+1])
	return lo + upperBound(a.bounds[lo:hi], k)
}

func (a *axis) list(k u128) []uint32 {
	if a.off == nil {
		return nil
	}
	i := a.interval(k)
	return a.ents[a.off[i]:a.off[i+1]]
}

func (a *axis) buildBuckets() {
	n := len(a.bounds)
	if n < 16 {
		return
	}
	// Trim a few outliers so one stray range does not spoil the shared prefix.
	lo, hi := a.bounds[n/32], a.bounds[n-1-n/32]
	shift := commonPrefixLen(lo, hi)
	bbits := uint(bits.Len(uint(n))) + 1
	bbits = min(bbits, 20, 128-shift)
	if bbits == 0 {
		return
	}
	a.shift, a.bbits = shift, bbits
	a.pmin, a.pmax = prefixBounds(lo, shift)
	a.lowEnd = upperBound(a.bounds, a.pmin)
	if a.lowEnd > 0 && a.bounds[a.lowEnd-1] == a.pmin {
		a.lowEnd-- // bounds equal to pmin belong to the middle part
	}
	a.highEnd = upperBound(a.bounds, a.pmax)
	a.buckets = make([]uint32, 1<<bbits+1)
	i := a.lowEnd
	for j := range a.buckets {
		for i < a.highEnd && a.bounds[i].shl(shift).hi>>(64-bbits) < uint64(j) {
			i++
		}
		a.buckets[j] = uint32(i)
	}
	a.buckets[len(a.buckets)-1] = uint32(a.highEnd)
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
// that cover more than maxSpan intervals, left for the next level.
func buildAxis(sels []csel, cand []uint32, k axisKey, famLo, famHi u128) (axis, []uint32) {
	var a axis
	if len(cand) == 0 {
		return a, nil
	}
	all := axisBounds(sels, cand, k, famLo, famHi)
	var narrow, wide []uint32
	for _, r := range cand {
		lo, hi := sels[r].span(k)
		if upperBound(all, hi)-upperBound(all, lo)+1 <= maxSpan {
			narrow = append(narrow, r)
		} else {
			wide = append(wide, r)
		}
	}
	if len(narrow) == 0 {
		return a, wide
	}
	a.bounds = axisBounds(sels, narrow, k, famLo, famHi)
	n := len(a.bounds) + 1
	// Two passes over the narrow ranks in ascending order: count, then fill. An
	// interval is closed once an entry matching all of it has been listed.
	counts := make([]uint32, n+1)
	closed := make([]bool, n)
	for _, r := range narrow {
		lo, hi := sels[r].span(k)
		for i := upperBound(a.bounds, lo); i <= upperBound(a.bounds, hi); i++ {
			if !closed[i] {
				counts[i+1]++
				closed[i] = sels[r].closes(k)
			}
		}
	}
	for i := 1; i <= n; i++ {
		counts[i] += counts[i-1]
	}
	a.off = counts
	a.ents = make([]uint32, counts[n])
	fill := slices.Clone(counts[:n])
	clear(closed)
	for _, r := range narrow {
		lo, hi := sels[r].span(k)
		for i := upperBound(a.bounds, lo); i <= upperBound(a.bounds, hi); i++ {
			if !closed[i] {
				a.ents[fill[i]] = r
				fill[i]++
				closed[i] = sels[r].closes(k)
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
}

func buildFamIndex(sels []csel, is4 bool) famIndex {
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
	ix.remote, rest = buildAxis(sels, all, onRemote, famLo, famHi)
	ix.local, rest = buildAxis(sels, rest, onLocal, famLo, famHi)
	for _, r := range rest {
		ix.wide = append(ix.wide, r)
		if s := &sels[r]; s.fullLocal && s.fullRemote && s.unconstrained() {
			break
		}
	}
	return ix
}

// scan returns the rank of the first entry of list below best that matches p, or best.
func (ix *famIndex) scan(list []uint32, p *probe, best uint32) uint32 {
	for _, r := range list {
		if r >= best {
			break
		}
		if ix.sels[r].match(p) {
			return r
		}
	}
	return best
}

// lookup returns the rank of the preferred matching selector or math.MaxUint32.
func (ix *famIndex) lookup(p *probe) uint32 {
	best := uint32(math.MaxUint32)
	best = ix.scan(ix.remote.list(p.r), p, best)
	best = ix.scan(ix.local.list(p.l), p, best)
	return ix.scan(ix.wide, p, best)
}

func (a *axis) bytes() int {
	return len(a.bounds)*16 + len(a.off)*4 + len(a.ents)*4 + len(a.buckets)*4
}
