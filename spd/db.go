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
type Table struct {
	gen      uint64
	policies []Policy
	idx      [3][2]famIndex // [Direction-1][0 for IPv4, 1 for IPv6]
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
	return len(t.policies)
}

// Policies returns a copy of the policies in insertion order.
func (t *Table) Policies() []Policy {
	if t == nil {
		return nil
	}
	out := make([]Policy, len(t.policies))
	for i := range t.policies {
		out[i] = t.policies[i].clone()
	}
	return out
}

// IndexBytes estimates the memory held by the lookup index (not counting the policies).
func (t *Table) IndexBytes() int {
	if t == nil {
		return 0
	}
	n := 0
	for d := range t.idx {
		for f := range t.idx[d] {
			ix := &t.idx[d][f]
			n += len(ix.sels)*int(unsafe.Sizeof(csel{})) + ix.remote.bytes() + ix.local.bytes() + len(ix.wide)*4
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
	ix := &t.idx[dir-1][fam]
	if len(ix.sels) == 0 {
		return nil
	}
	p := probe{proto: f.Proto, opaque: f.PortsOpaque, typ: f.SrcPort, code: f.DstPort}
	if dir == Out {
		p.l, p.r = addrKey(f.Src), addrKey(f.Dst)
		p.lport, p.rport = f.SrcPort, f.DstPort
	} else {
		p.l, p.r = addrKey(f.Dst), addrKey(f.Src)
		p.lport, p.rport = f.DstPort, f.SrcPort
	}
	r := ix.lookup(&p)
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
	t := &Table{policies: make([]Policy, len(policies))}
	ids := make(map[uint64]struct{}, len(policies))
	type keyed struct {
		s        csel
		priority uint32
	}
	var sels [3][2][]keyed
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
			fam := 1
			if s.Local.Is4() {
				fam = 0
			}
			sels[p.Direction-1][fam] = append(sels[p.Direction-1][fam], keyed{compileSelector(s, int32(i)), p.Priority})
		}
		t.policies[i] = p
	}
	for d := range sels {
		for f := range sels[d] {
			ks := sels[d][f]
			slices.SortStableFunc(ks, func(a, b keyed) int { return cmp.Compare(a.priority, b.priority) })
			cs := make([]csel, len(ks))
			for i := range ks {
				cs[i] = ks[i].s
			}
			t.idx[d][f] = buildFamIndex(cs, f == 0, span)
		}
	}
	return t, nil
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

// DB is the Security Policy Database: a [Table] swapped atomically as a whole. The zero
// value is an empty database that discards everything. Lookups take no lock; writers
// are serialised among themselves.
type DB struct {
	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[Table]
	gen uint64 // guarded by mu
}

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
	return db.install(policies)
}

// Add installs p after all current policies (so it loses priority ties against them).
func (db *DB) Add(p Policy) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	cur := db.cur.Load()
	var ps []Policy
	if cur != nil {
		ps = slices.Clip(cur.policies) // the append below must not write into cur
	}
	return db.install(append(ps, p))
}

// Delete removes the policy with the given ID.
func (db *DB) Delete(id uint64) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	cur := db.cur.Load()
	i := -1
	if cur != nil {
		i = slices.IndexFunc(cur.policies, func(p Policy) bool { return p.ID == id })
	}
	if i < 0 {
		return fmt.Errorf("delete policy %d: %w", id, ErrNotFound)
	}
	return db.install(slices.Delete(slices.Clone(cur.policies), i, i+1))
}

func (db *DB) install(policies []Policy) error {
	t, err := Compile(policies)
	if err != nil {
		return err
	}
	db.gen++
	t.gen = db.gen
	db.cur.Store(t)
	return nil
}
