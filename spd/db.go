package spd

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Direction is the traffic a policy applies to.
type Direction uint8

// Directions. For Out the packet's source is the local side; for In and Fwd (checks
// after decryption of traffic for this host or forwarded through it) the destination is.
const (
	Out Direction = iota + 1
	In
	Fwd
)

// String returns "out", "in" or "fwd".
func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	case Fwd:
		return "fwd"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// Action is what happens to traffic a policy matches (RFC 4301 section 4.4.1).
type Action uint8

// Actions. The zero value is Discard, which is also the verdict when no policy matches.
const (
	Discard Action = iota
	Bypass
	Protect
)

// String returns "discard", "bypass" or "protect".
func (a Action) String() string {
	switch a {
	case Discard:
		return "discard"
	case Bypass:
		return "bypass"
	case Protect:
		return "protect"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Errors callers tell apart.
var (
	ErrInvalidPolicy = errors.New("invalid policy")
	ErrDuplicateID   = errors.New("duplicate policy ID")
	ErrNotFound      = errors.New("policy not found")
)

// Policy is one SPD entry. It matches a packet when any of its Selectors does.
type Policy struct {
	// ID names the policy for Delete; unique within a DB.
	ID uint64
	// Direction the policy applies to.
	Direction Direction
	// Action on matching traffic.
	Action Action
	// Priority orders overlapping policies: lower wins, like the Linux kernel's;
	// equal priorities go to the policy inserted first.
	Priority uint32
	// Selectors are alternatives; see [CrossProduct] for IKEv2 TSi x TSr lists.
	Selectors []TrafficSelector
	// Handle is the caller's reference for Protect policies (e.g. a pointer to the
	// Child SA bundle, a reqid, or a struct with fields the data plane fills in).
	// The SPD never looks inside it. It must be nil for other actions.
	Handle any
}

func (p *Policy) clone() Policy {
	c := *p
	c.Selectors = slices.Clone(p.Selectors)
	return c
}

// Table is an immutable compiled policy set.
//
// Lookup: each (direction, family) has two axes of elementary intervals, one over the
// remote and one over the local address. The flow's remote address is located among
// the remote intervals (a bucket table indexed by the bits after the boundaries' common
// prefix, then a binary search inside one bucket, usually of 1-3 intervals) and that
// interval's priority-ordered candidates are tested until the first match; then the
// same on the local axis, then the short list of selectors on neither axis, each scan
// stopping at the first candidate no better than the match so far. A list ends after
// an entry that matches everything in its interval (e.g. a catch-all discard).
//
// Which selectors go where: a selector covering a whole axis (0.0.0.0/0) skips it. The
// others are admitted to the remote axis narrowest first until the lists hold 32 entries
// per selector on average; the rest go on to the local axis under the same budget; what
// remains forms the unindexed list. With site-to-site sets (a subnet pair per site,
// supernets, catch-alls) nearly everything lands on the remote axis and a lookup tests
// about three selectors at any size. Costs grow only when many selectors share one
// interval on both axes (thousands of port-only variants of one subnet pair) or exhaust
// both budgets (thousands of heavily nested ranges): then scans lengthen, never memory.
//
// Memory per direction and family, n selectors, whatever the overlap: at most 64n list
// entries (4 bytes), 2 intervals per selector (32 bytes), 4 bucket slots per selector
// (4 bytes) and 88 bytes of compiled selector: at most about 430 bytes per selector.
// 10,000 nested ranges take 223 bytes each, the 10,000-site benchmark set about 165.
// [Table.IndexBytes] reports the actual figure.
//
// A DB publishes a table made of parts (see [DB.Add]): each part is such a
// compiled set, and a lookup asks each part and keeps the best answer.
type Table struct {
	gen      uint64
	policies []Policy
	// idx is the index by [Direction-1][0 for IPv4, 1 for IPv6], nil where
	// no selector is: a part is built and published for every Child SA a
	// responder installs, and six empty indexes inline made each table
	// 2.6 KB to allocate and clear.
	idx [3][2]*famIndex
	// parts, in a table a DB publishes, are the compiled sets that make it,
	// the oldest first; such a table has no policies or index of its own.
	parts []*Table
	// dead marks (a bit per index into policies) the policies deleted
	// from a part since it was built, ndead counts them: lookups pass over
	// their selectors (see famIndex.masked), and they are left out when
	// the part merges or is rebuilt.
	dead  []uint64
	ndead int
}

// isDead reports whether policy i of a part was deleted.
func (t *Table) isDead(i int) bool {
	return t.ndead > 0 && t.dead[i>>6]&(1<<(i&63)) != 0
}

// live returns the policies of a part that were not deleted, in order,
// sharing the slice when none was.
func (t *Table) live() []Policy {
	if t.ndead == 0 {
		return t.policies
	}
	out := make([]Policy, 0, len(t.policies)-t.ndead)
	for i := range t.policies {
		if !t.isDead(i) {
			out = append(out, t.policies[i])
		}
	}
	return out
}

// Generation counts the tables a DB has installed; a newer table has a larger one.
func (t *Table) Generation() uint64 {
	if t == nil {
		return 0
	}
	return t.gen
}

// Len returns the number of policies.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	n := len(t.policies) - t.ndead
	for _, p := range t.parts {
		n += len(p.policies) - p.ndead
	}
	return n
}

// Policies returns a copy of the policies in insertion order.
func (t *Table) Policies() []Policy {
	if t == nil {
		return nil
	}
	out := make([]Policy, 0, t.Len())
	for _, p := range append([]*Table{t}, t.parts...) {
		for i := range p.policies {
			if !p.isDead(i) {
				out = append(out, p.policies[i].clone())
			}
		}
	}
	return out
}

// IndexBytes estimates the memory held by the lookup index (not counting the policies).
func (t *Table) IndexBytes() int {
	if t == nil {
		return 0
	}
	n := 0
	for _, p := range t.parts {
		n += p.IndexBytes()
	}
	for d := range t.idx {
		for f := range t.idx[d] {
			ix := t.idx[d][f]
			if ix == nil {
				continue
			}
			n += len(ix.sels)*int(unsafe.Sizeof(csel{})) + ix.remote.bytes() + ix.local.bytes() + len(ix.wide)*4 + len(ix.shadows)*4 + len(ix.dead)*8
		}
	}
	return n
}

// Lookup returns the preferred policy for direction dir matching f, or nil when none
// does (the verdict is then Discard). The returned policy belongs to the table and must
// not be modified. Lookup does not allocate.
func (t *Table) Lookup(dir Direction, f Flow) *Policy {
	if t == nil || dir < Out || dir > Fwd || !f.Src.IsValid() || !f.Dst.IsValid() || f.Src.Is4() != f.Dst.Is4() {
		return nil
	}
	fam := 1
	if f.Src.Is4() {
		fam = 0
	}
	p := probe{proto: f.Proto, opaque: f.PortsOpaque, typ: f.SrcPort, code: f.DstPort}
	if dir == Out {
		p.l, p.r = addrKey(f.Src), addrKey(f.Dst)
		p.lport, p.rport = f.SrcPort, f.DstPort
	} else {
		p.l, p.r = addrKey(f.Dst), addrKey(f.Src)
		p.lport, p.rport = f.DstPort, f.SrcPort
	}
	if t.parts == nil {
		return t.lookup(dir, fam, &p)
	}
	// The flow is oriented once for all parts. Older parts hold earlier
	// policies, which win priority ties.
	// A part whose best priority cannot beat the match so far is skipped:
	// a gateway's Child SAs share one priority, so a lookup asks the
	// parts only up to the one that holds its match.
	var best *Policy
	for _, pt := range t.parts {
		if ix := pt.idx[dir-1][fam]; ix == nil || best != nil && ix.minPrio >= best.Priority {
			continue
		}
		if m := pt.lookup(dir, fam, &p); m != nil && (best == nil || m.Priority < best.Priority) {
			best = m
		}
	}
	return best
}

// lookup is Lookup in one compiled set, for a flow oriented as p.
func (t *Table) lookup(dir Direction, fam int, p *probe) *Policy {
	ix := t.idx[dir-1][fam]
	if ix == nil || len(ix.sels) == 0 {
		return nil
	}
	r := ix.lookup(p)
	if r == math.MaxUint32 {
		return nil
	}
	return &t.policies[ix.sels[r].pol]
}

// Compile validates policies (in insertion order) and builds a table from copies of them.
// Overlapping policies are allowed, whatever their actions; the order between them is
// decided by priority, then position.
func Compile(policies []Policy) (*Table, error) {
	return compile(policies, maxSpan)
}

// compile is Compile with an explicit list budget per selector (see maxSpan).
func compile(policies []Policy, span int) (*Table, error) {
	out := make([]Policy, len(policies))
	ids := make(map[uint64]struct{}, len(policies))
	for i := range policies {
		p := policies[i].clone()
		if _, dup := ids[p.ID]; dup {
			return nil, fmt.Errorf("policy %d: %w", p.ID, ErrDuplicateID)
		}
		ids[p.ID] = struct{}{}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("policy %d: %w", p.ID, err)
		}
		for j, s := range p.Selectors {
			s, err := s.normalized()
			if err != nil {
				return nil, fmt.Errorf("policy %d selector %d: %w", p.ID, j, err)
			}
			p.Selectors[j] = s
		}
		out[i] = p
	}
	return buildTable(out, span), nil
}

// buildTable indexes policies that are valid, normalised and the table's
// own (their Selectors shared only with tables that never change them).
func buildTable(policies []Policy, span int) *Table {
	t := &Table{policies: policies}
	// Counted first, so that each index's selectors take one allocation.
	var n [3][2]int
	for i := range policies {
		for _, s := range policies[i].Selectors {
			n[policies[i].Direction-1][family(s)]++
		}
	}
	var sels [3][2][]csel
	for d := range n {
		for f, k := range n[d] {
			if k > 0 {
				sels[d][f] = make([]csel, 0, k)
			}
		}
	}
	for i := range policies {
		p := &policies[i]
		for _, s := range p.Selectors {
			d, f := p.Direction-1, family(s)
			sels[d][f] = append(sels[d][f], compileSelector(s, int32(i)))
		}
	}
	for d := range sels {
		for f, cs := range sels[d] {
			if len(cs) == 0 {
				continue
			}
			slices.SortStableFunc(cs, func(a, b csel) int {
				return cmp.Compare(policies[a.pol].Priority, policies[b.pol].Priority)
			})
			ix := buildFamIndex(cs, f == 0, span)
			ix.minPrio = policies[cs[0].pol].Priority
			t.idx[d][f] = &ix
		}
	}
	return t
}

// family is a selector's index into Table.idx: 0 for IPv4, 1 for IPv6.
func family(s TrafficSelector) int {
	if s.Local.Is4() {
		return 0
	}
	return 1
}

func (p *Policy) validate() error {
	if p.Direction < Out || p.Direction > Fwd {
		return fmt.Errorf("%w: %s", ErrInvalidPolicy, p.Direction)
	}
	if p.Action > Protect {
		return fmt.Errorf("%w: %s", ErrInvalidPolicy, p.Action)
	}
	if p.Action != Protect && p.Handle != nil {
		return fmt.Errorf("%w: %s policy has a handle", ErrInvalidPolicy, p.Action)
	}
	if len(p.Selectors) == 0 {
		return fmt.Errorf("%w: no selectors", ErrInvalidPolicy)
	}
	return nil
}

func compileSelector(s TrafficSelector, pol int32) csel {
	c := csel{
		lLo: addrKey(s.Local.From), lHi: addrKey(s.Local.To),
		rLo: addrKey(s.Remote.From), rHi: addrKey(s.Remote.To),
		lp: s.LocalPorts, rp: s.RemotePorts,
		pol: pol, proto: s.Proto, icmp: s.IsICMP(),
		portsAny:   s.LocalPorts.IsAny() && s.RemotePorts.IsAny(),
		fullLocal:  s.Local.IsAny(),
		fullRemote: s.Remote.IsAny(),
	}
	return c
}

// DB is the Security Policy Database. Lookups take no lock: they read a
// [Table] published atomically. Writers are serialised among themselves and
// never rebuild the whole set for one change: the published table is made
// of parts of geometrically decreasing size, the oldest first; a new policy
// becomes a part of its own, and a part merges with the older one next to
// it while that one is no more than twice its size. A lookup asks
// O(log n) parts, each policy is compiled O(log n) times over its life, and
// adding the policies of client 10,000 costs about what client 100's did.
// Deleting a policy marks it dead in the part that holds it (bitmaps that
// lookups read only after a match; the compiled selectors are shared); the
// part is rebuilt only once most of it is dead, or when it merges. The zero value
// is an empty database that discards everything.
type DB struct {
	mu     sync.Mutex // serialises writers
	cur    atomic.Pointer[Table]
	gen    uint64           // guarded by mu
	levels []*part          // guarded by mu; the parts, oldest first
	where  map[uint64]*part // guarded by mu; the part holding each policy ID
}

// part is a slot of the DB's levels: its table changes as policies in it
// are deleted, while the policies' entries in DB.where keep pointing here.
type part struct{ t *Table }

// Table returns the current table, for several lookups against one consistent set.
// It may be nil, which behaves as an empty table.
func (db *DB) Table() *Table { return db.cur.Load() }

// Lookup returns the verdict for f in direction dir and the policy that decided it (nil
// when no policy matches and the default Discard applies). It does not allocate.
func (db *DB) Lookup(dir Direction, f Flow) (Action, *Policy) {
	p := db.cur.Load().Lookup(dir, f)
	if p == nil {
		return Discard, nil
	}
	return p.Action, p
}

// Replace validates policies and installs them as the whole new policy set, in the
// order given. On error the current set is left unchanged.
func (db *DB) Replace(policies []Policy) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, err := Compile(policies)
	if err != nil {
		return err
	}
	db.levels, db.where = nil, map[uint64]*part{}
	if len(policies) > 0 {
		db.pushLevel(t)
	}
	db.publish()
	return nil
}

// Add installs p after all current policies (so it loses priority ties against them).
func (db *DB) Add(p Policy) error {
	return db.Update(nil, []Policy{p})
}

// Delete removes the policy with the given ID.
func (db *DB) Delete(id uint64) error {
	return db.Update([]uint64{id}, nil)
}

// Update deletes the policies with the IDs in del and adds add after all
// others, in order, as one change: lookups see either the old set or the
// new one. A deletion that names a policy in add cancels it. On error
// nothing changes.
func (db *DB) Update(del []uint64, add []Policy) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.where == nil {
		db.where = map[uint64]*part{}
	}
	add = slices.Clone(add)
	var gone []uint64
	for _, id := range del {
		if i := slices.IndexFunc(add, func(p Policy) bool { return p.ID == id }); i >= 0 {
			add = slices.Delete(add, i, i+1)
			continue
		}
		if db.where[id] == nil {
			return fmt.Errorf("delete policy %d: %w", id, ErrNotFound)
		}
		if !slices.Contains(gone, id) {
			gone = append(gone, id)
		}
	}
	for _, p := range add {
		if db.where[p.ID] != nil && !slices.Contains(gone, p.ID) {
			return fmt.Errorf("policy %d: %w", p.ID, ErrDuplicateID)
		}
	}
	var fresh *Table
	if len(add) > 0 {
		t, err := Compile(add)
		if err != nil {
			return err
		}
		fresh = t
	}
	// Nothing below fails once the new part compiled, as every policy in
	// an old part is valid.
	if len(gone) > 0 {
		touched := map[*part][]uint64{}
		for _, id := range gone {
			touched[db.where[id]] = append(touched[db.where[id]], id)
			delete(db.where, id)
		}
		emptied := false
		for pt, ids := range touched {
			pt.t = pt.t.without(ids)
			emptied = emptied || pt.t == nil
		}
		if emptied {
			db.levels = slices.DeleteFunc(db.levels, func(pt *part) bool { return pt.t == nil })
		}
	}
	if fresh != nil {
		db.pushLevel(fresh)
	}
	db.publish()
	return nil
}

// without returns part t without the policies with the given IDs (all
// of them in t), or nil when none is left. The deleted policies are marked
// dead in a copy of t that shares its policies and compiled selectors; a part
// most of which would then be dead, or one in which a deleted selector
// ends lists that hold others after it, is rebuilt from the rest instead.
func (t *Table) without(ids []uint64) *Table {
	var dead []uint64
	if t.ndead > 0 {
		dead = slices.Clone(t.dead)
	} else {
		dead = make([]uint64, (len(t.policies)+63)/64)
	}
	n := t.ndead
	var ranks [3][2][]uint32
	for i := range t.policies {
		if !slices.Contains(ids, t.policies[i].ID) {
			continue
		}
		dead[i>>6] |= 1 << (i & 63)
		n++
		d := t.policies[i].Direction - 1
		for f := range ranks[d] {
			if ix := t.idx[d][f]; ix != nil {
				ranks[d][f] = ix.ranksOf(t.policies, int32(i), ranks[d][f])
			}
		}
	}
	if n == len(t.policies) {
		return nil
	}
	if 2*n <= len(t.policies) {
		m := &Table{policies: t.policies, idx: t.idx, dead: dead, ndead: n}
		ok := true
		for d := range ranks {
			for f := range ranks[d] {
				if ok && len(ranks[d][f]) > 0 {
					var ix famIndex
					ix, ok = t.idx[d][f].masked(ranks[d][f])
					m.idx[d][f] = &ix
				}
			}
		}
		if ok {
			return m
		}
	}
	return recompile((&Table{policies: t.policies, dead: dead, ndead: n}).live())
}

// pushLevel appends a new part and merges parts while the older neighbour
// is no more than twice as large (or both are small), counting the live
// policies: a merge leaves the dead ones out.
func (db *DB) pushLevel(t *Table) {
	db.levels = append(db.levels, db.index(t))
	for n := len(db.levels); n >= 2; n = len(db.levels) {
		older, newer := db.levels[n-2].t, db.levels[n-1].t
		if ol, nl := older.Len(), newer.Len(); ol > 2*nl && ol+nl > smallPart {
			break
		}
		merged := recompile(append(slices.Clip(older.live()), newer.live()...))
		db.levels = append(db.levels[:n-2], db.index(merged))
	}
}

// smallPart is the size up to which parts merge regardless of their
// ratio: recompiling a few policies costs less than another part to ask
// on every lookup. It was 64, and a responder with a few dozen Child SAs
// recompiled all of their policies for every new one; with the parts
// skipped by priority (Table.Lookup), the extra parts of 16 cost lookups
// little (BenchmarkLookupChurned).
const smallPart = 16

// index makes t a new part and points its policies' IDs at it.
func (db *DB) index(t *Table) *part {
	pt := &part{t: t}
	for i := range t.policies {
		db.where[t.policies[i].ID] = pt
	}
	return pt
}

// recompile builds a part from policies of parts that compiled before
// (merged, or what is left after deletions) into a new slice: they were
// checked, copied and normalised then, so it only indexes them. Checking
// them again cost a responder half of its SPD work per Child SA, as every
// add merges the small parts and every delete rebuilds one.
func recompile(policies []Policy) *Table {
	return buildTable(policies, maxSpan)
}

func (db *DB) publish() {
	db.gen++
	parts := make([]*Table, len(db.levels))
	for i, pt := range db.levels {
		parts[i] = pt.t
	}
	db.cur.Store(&Table{gen: db.gen, parts: parts})
}
