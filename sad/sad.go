// Package sad is the Security Association Database of RFC 4301 section
// 4.4.2: the unidirectional SAs of the data plane, found by SPI, protocol
// and destination, with their lifetimes and traffic statistics.
//
// The SAD does not know ESP or AH: an entry holds the protocol's SA state
// behind the Transform interface. The package does no I/O and starts no
// goroutines. Time lifetimes follow the clock the caller passes to Expire,
// which the daemon calls periodically; byte and packet lifetimes are
// counted on the packet path by Entry.Account without locks or allocation.
// Lifetime crossings are reported as Events on a channel that the packet
// path never blocks on.
package sad

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// Errors callers tell apart.
var (
	// ErrDuplicate means Add found an SA with the same ID.
	ErrDuplicate = errors.New("SA already exists")
	// ErrNotFound means no SA has the ID.
	ErrNotFound = errors.New("no such SA")
	// ErrHardExpired means the SA reached a hard lifetime; the packet
	// must be dropped.
	ErrHardExpired = errors.New("SA hard lifetime expired")
	// ErrDeleted means the SA was deleted while the caller still held it;
	// the packet must be dropped.
	ErrDeleted = errors.New("SA deleted")
)

// ID identifies an SA (RFC 4301 section 4.1): the SPI, the security
// protocol and the destination address. An SA whose SPI this host chose
// may leave Dst unset: RFC 4301 4.1 lets a receiver find unicast SAs by SPI
// and protocol alone, so the packet path need not know which of its
// addresses a packet arrived on.
type ID struct {
	SPI      uint32
	Protocol ipsec.Protocol
	Dst      netip.Addr
}

func (id ID) String() string {
	if !id.Dst.IsValid() {
		return fmt.Sprintf("%v SPI 0x%08x", id.Protocol, id.SPI)
	}
	return fmt.Sprintf("%v SPI 0x%08x dst %v", id.Protocol, id.SPI, id.Dst)
}

// Transform is the protocol state of an SA (keys, algorithms, sequence
// numbers, replay window), owned by the ESP or AH engine.
type Transform interface {
	// Wipe zeroes the key material. The SAD calls it once, when the SA
	// is deleted or hard-expires. Another goroutine that looked the SA
	// up before may still be processing a packet with it, so Wipe must
	// be safe for concurrent use with the transform's packet methods,
	// which should then fail rather than use zeroed keys.
	Wipe()
}

// Lifetime holds the soft and hard limits of an SA (RFC 4301 section
// 4.4.2.1). A zero field means no limit. Crossing a soft limit reports a
// SoftExpire event so that the SA can be rekeyed; crossing a hard limit
// reports HardExpire and removes the SA. Times count from Add.
type Lifetime struct {
	SoftTime, HardTime       time.Duration
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
}

func (l Lifetime) validate() error {
	check := func(what string, soft, hard uint64) error {
		if soft != 0 && hard != 0 && soft > hard {
			return fmt.Errorf("soft %s lifetime %d exceeds hard lifetime %d", what, soft, hard)
		}
		return nil
	}
	if l.SoftTime < 0 || l.HardTime < 0 {
		return fmt.Errorf("negative time lifetime (soft %v, hard %v)", l.SoftTime, l.HardTime)
	}
	if l.SoftTime != 0 && l.HardTime != 0 && l.SoftTime > l.HardTime {
		return fmt.Errorf("soft time lifetime %v exceeds hard lifetime %v", l.SoftTime, l.HardTime)
	}
	if err := check("byte", l.SoftBytes, l.HardBytes); err != nil {
		return err
	}
	return check("packet", l.SoftPackets, l.HardPackets)
}

// EventKind says which limit an Event reports.
type EventKind uint8

// Event kinds.
const (
	// SoftExpire: a soft limit was reached; the SA still works and should
	// be rekeyed.
	SoftExpire EventKind = iota + 1
	// HardExpire: a hard limit was reached; the SA has been removed.
	HardExpire
)

func (k EventKind) String() string {
	switch k {
	case SoftExpire:
		return "soft expire"
	case HardExpire:
		return "hard expire"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Reason says which lifetime dimension was crossed.
type Reason uint8

// Reasons.
const (
	ReasonTime Reason = iota + 1
	ReasonBytes
	ReasonPackets
)

func (r Reason) String() string {
	switch r {
	case ReasonTime:
		return "time"
	case ReasonBytes:
		return "bytes"
	case ReasonPackets:
		return "packets"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Event reports a lifetime crossing. Every SA raises at most one SoftExpire
// and at most one HardExpire; when a hard limit is reached before any soft
// one (or in the same batch) only HardExpire is raised.
type Event struct {
	Kind   EventKind
	Reason Reason
	ID     ID
	Stats  Stats // traffic at the time of the event
}

func (e Event) String() string {
	return fmt.Sprintf("%v of %v (%v): %d bytes, %d packets", e.Kind, e.ID, e.Reason, e.Stats.Bytes, e.Stats.Packets)
}

// Stats is the traffic an SA carried, as the control interface shows it.
type Stats struct {
	Bytes, Packets uint64
	Added          time.Time
	// LastUse is when a packet was last accounted, at the resolution of
	// the Expire calls (the packet path reads no clock); zero if never.
	LastUse time.Time
}

// Config configures a DB.
type Config struct {
	// Now is the clock Add reads for an SA's start time; time.Now if
	// nil. It must agree with the times passed to Expire.
	Now func() time.Time
	// EventBuffer is the capacity of the Events channel; 64 if zero.
	// Events that do not fit wait for the next Expire call.
	EventBuffer int
	// Capacity is the number of SAs the index is sized for; 1<<20 if
	// zero. More SAs still fit, only adding and deleting get slower.
	// The index takes 0.5 MB at the default, 3 KB at 1000.
	Capacity int
}

// DB is the Security Association Database. It is safe for concurrent use;
// Lookup and Entry.Account take no locks.
type DB struct {
	now func() time.Time

	sas   index
	count atomic.Int64

	// clock is the latest time seen by Add or Expire (Unix
	// nanoseconds), stamped on entries as their last use.
	clock atomic.Int64

	timeMu sync.Mutex
	heap   deadlineHeap // entries with a time lifetime, by next deadline

	events  chan Event
	eventMu sync.Mutex
	pending []Event // events that did not fit into the channel, in order
}

// New returns an empty database.
func New(cfg Config) *DB {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 64
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = 1 << 20
	}
	db := &DB{now: cfg.Now, events: make(chan Event, cfg.EventBuffer)}
	db.sas.init(cfg.Capacity)
	return db
}

// Entry state bits.
const (
	stSoft    uint32 = 1 << iota // soft event raised (or skipped)
	stHard                       // hard lifetime reached
	stDeleted                    // removed by Delete
	stDead    = stHard | stDeleted
)

// Entry is one SA in the database. Its methods are safe for concurrent use.
type Entry struct {
	// Written on the packet path.
	bytes   atomic.Uint64
	packets atomic.Uint64
	lastUse atomic.Int64 // Unix nanoseconds, 0 if never used
	state   atomic.Uint32

	// Fixed after Add.
	db        *DB
	life      Lifetime
	id        ID
	transform Transform
	added     time.Time

	// Guarded by db.timeMu.
	deadline time.Time
	heapIdx  int // index in db.heap, -1 if absent
}

// ID returns the SA's identifier.
func (e *Entry) ID() ID { return e.id }

// Transform returns the protocol state given to Add.
func (e *Entry) Transform() Transform { return e.transform }

// Lifetime returns the limits given to Add.
func (e *Entry) Lifetime() Lifetime { return e.life }

// Stats returns the SA's traffic counters.
func (e *Entry) Stats() Stats {
	s := Stats{Bytes: e.bytes.Load(), Packets: e.packets.Load(), Added: e.added}
	if t := e.lastUse.Load(); t != 0 {
		s.LastUse = time.Unix(0, t)
	}
	return s
}

// Account counts one packet of n bytes. It returns ErrHardExpired (or
// ErrDeleted) when the packet must be dropped because the SA is gone or
// the packet would exceed a hard limit; the packet that reaches a hard
// limit exactly is still admitted. Counters include admitted packets only.
func (e *Entry) Account(n int) error {
	return e.AccountBatch(1, uint64(n))
}

// AccountBatch counts packets packets of bytes bytes in total, as Account
// does for one. A batch that would exceed a hard limit is refused whole.
func (e *Entry) AccountBatch(packets, bytes uint64) error {
	if st := e.state.Load(); st&stDead != 0 {
		return deadErr(st)
	}
	p := e.packets.Add(packets)
	b := e.bytes.Add(bytes)
	if now := e.db.clock.Load(); e.lastUse.Load() != now {
		e.lastUse.Store(now)
	}
	l := &e.life
	hardP := l.HardPackets != 0 && p >= l.HardPackets
	hardB := l.HardBytes != 0 && b >= l.HardBytes
	if hardP || hardB {
		reason := ReasonBytes
		if hardP {
			reason = ReasonPackets
		}
		e.db.kill(e, stHard, reason)
		if (l.HardPackets != 0 && p > l.HardPackets) || (l.HardBytes != 0 && b > l.HardBytes) {
			e.packets.Add(-packets)
			e.bytes.Add(-bytes)
			return ErrHardExpired
		}
		return nil
	}
	softP := l.SoftPackets != 0 && p >= l.SoftPackets
	softB := l.SoftBytes != 0 && b >= l.SoftBytes
	if (softP || softB) && e.state.Load()&stSoft == 0 {
		reason := ReasonBytes
		if softP {
			reason = ReasonPackets
		}
		e.db.soft(e, reason)
	}
	return nil
}

func deadErr(st uint32) error {
	if st&stHard != 0 {
		return ErrHardExpired
	}
	return ErrDeleted
}

// Add inserts an SA and returns its entry. It refuses a duplicate ID, SPI 0
// (reserved, RFC 4303 section 2.1), a protocol other than ESP or AH and
// inconsistent lifetimes.
func (db *DB) Add(id ID, t Transform, life Lifetime) (*Entry, error) {
	switch {
	case id.SPI == 0:
		return nil, fmt.Errorf("add SA %v: SPI 0 is reserved", id)
	case id.Protocol != ipsec.ProtoESP && id.Protocol != ipsec.ProtoAH:
		return nil, fmt.Errorf("add SA %v: protocol must be ESP or AH", id)
	case t == nil:
		return nil, fmt.Errorf("add SA %v: no transform", id)
	}
	if err := life.validate(); err != nil {
		return nil, fmt.Errorf("add SA %v: %w", id, err)
	}
	now := db.now()
	db.advanceClock(now)
	e := &Entry{db: db, life: life, id: id, transform: t, added: now, heapIdx: -1}
	if !db.sas.insert(e) {
		return nil, fmt.Errorf("add SA %v: %w", id, ErrDuplicate)
	}
	db.count.Add(1)
	if life.SoftTime != 0 || life.HardTime != 0 {
		if life.SoftTime != 0 {
			e.deadline = now.Add(life.SoftTime)
		} else {
			e.deadline = now.Add(life.HardTime)
		}
		db.timeMu.Lock()
		// A packet may have hard-expired the SA already; kill then
		// found it outside the heap, so it must not enter.
		if e.state.Load()&stDead == 0 {
			db.heap.push(e)
		}
		db.timeMu.Unlock()
	}
	return e, nil
}

// Lookup returns the SA with the given ID, or nil. It takes no lock and
// does not allocate.
func (db *DB) Lookup(id ID) *Entry {
	return db.sas.load(id)
}

// Delete removes the SA and wipes its keys. It raises no event: the caller
// decided. Packets accounted afterwards through an Entry obtained earlier
// fail with ErrDeleted.
func (db *DB) Delete(id ID) error {
	if e := db.Lookup(id); e != nil && db.kill(e, stDeleted, 0) {
		return nil
	}
	return fmt.Errorf("delete SA %v: %w", id, ErrNotFound)
}

// Len returns the number of SAs.
func (db *DB) Len() int { return int(db.count.Load()) }

// All yields every SA, for listing. It is not a consistent snapshot: SAs
// added or removed meanwhile may or may not be yielded. The loop body may
// call any DB method.
func (db *DB) All() iter.Seq[*Entry] {
	return db.sas.all
}

// Events returns the channel lifetime events are delivered on. Read it
// promptly; events that find it full wait for the next Expire call.
func (db *DB) Events() <-chan Event { return db.events }

// Expire processes the time lifetimes due at now, delivers pending events
// and records now as the time of last use for packets accounted from now
// on. The daemon calls it periodically (e.g. every second). Its cost
// depends on the number of deadlines due, not on the number of SAs.
func (db *DB) Expire(now time.Time) {
	db.advanceClock(now)
	db.flushEvents()
	var dead []*Entry
	db.timeMu.Lock()
	for len(db.heap) > 0 && !db.heap[0].deadline.After(now) {
		e := db.heap[0]
		l := &e.life
		soft := l.SoftTime != 0 && e.deadline.Equal(e.added.Add(l.SoftTime))
		if soft && l.HardTime != 0 && l.HardTime != l.SoftTime {
			// Soft deadline: raise it (unless bytes or packets
			// did already) and wait for the hard one.
			if e.state.Load()&stSoft == 0 {
				db.soft(e, ReasonTime)
			}
			e.deadline = e.added.Add(l.HardTime)
			db.heap.fix(0)
			continue
		}
		db.heap.remove(0)
		if soft && l.HardTime == 0 {
			if e.state.Load()&stSoft == 0 {
				db.soft(e, ReasonTime)
			}
			continue
		}
		dead = append(dead, e)
	}
	db.timeMu.Unlock()
	for _, e := range dead {
		db.kill(e, stHard, ReasonTime)
	}
}

// advanceClock moves db.clock forward to t.
func (db *DB) advanceClock(t time.Time) {
	n := t.UnixNano()
	for {
		c := db.clock.Load()
		if n <= c || db.clock.CompareAndSwap(c, n) {
			return
		}
	}
}

// soft raises the SoftExpire event once.
func (db *DB) soft(e *Entry, r Reason) {
	for {
		st := e.state.Load()
		if st&(stSoft|stDead) != 0 {
			return
		}
		if e.state.CompareAndSwap(st, st|stSoft) {
			break
		}
	}
	db.emit(Event{Kind: SoftExpire, Reason: r, ID: e.id, Stats: e.Stats()})
}

// kill moves a live entry to a dead state (stHard or stDeleted), removes it
// from the index and the deadline heap, wipes its keys and, for stHard,
// raises HardExpire. Only the first call for an entry does so and returns
// true.
func (db *DB) kill(e *Entry, how uint32, r Reason) bool {
	for {
		st := e.state.Load()
		if st&stDead != 0 {
			return false
		}
		// A hard expiry makes a later soft event pointless.
		if e.state.CompareAndSwap(st, st|how|stSoft) {
			break
		}
	}
	db.sas.remove(e)
	db.count.Add(-1)
	db.timeMu.Lock()
	if e.heapIdx >= 0 {
		db.heap.remove(e.heapIdx)
	}
	db.timeMu.Unlock()
	e.transform.Wipe()
	if how == stHard {
		db.emit(Event{Kind: HardExpire, Reason: r, ID: e.id, Stats: e.Stats()})
	}
	return true
}

// emit delivers ev without blocking: into the channel if it has room and
// nothing is queued before it, else onto the pending queue.
func (db *DB) emit(ev Event) {
	db.eventMu.Lock()
	defer db.eventMu.Unlock()
	if len(db.pending) == 0 {
		select {
		case db.events <- ev:
			return
		default:
		}
	}
	db.pending = append(db.pending, ev)
}

// flushEvents moves pending events into the channel while it has room.
func (db *DB) flushEvents() {
	db.eventMu.Lock()
	defer db.eventMu.Unlock()
	n := 0
loop:
	for ; n < len(db.pending); n++ {
		select {
		case db.events <- db.pending[n]:
		default:
			break loop
		}
	}
	if n == 0 {
		return
	}
	rest := copy(db.pending, db.pending[n:])
	clear(db.pending[rest:])
	db.pending = db.pending[:rest]
}

// PendingEvents returns the number of events waiting for room in the
// Events channel.
func (db *DB) PendingEvents() int {
	db.eventMu.Lock()
	defer db.eventMu.Unlock()
	return len(db.pending)
}

// deadlineHeap is a binary min-heap of entries by deadline that keeps each
// entry's heapIdx current.
type deadlineHeap []*Entry

func (h deadlineHeap) less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }

func (h deadlineHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h *deadlineHeap) push(e *Entry) {
	e.heapIdx = len(*h)
	*h = append(*h, e)
	h.up(e.heapIdx)
}

func (h *deadlineHeap) remove(i int) {
	old := *h
	last := len(old) - 1
	e := old[i]
	if i != last {
		old.swap(i, last)
	}
	old[last] = nil
	*h = old[:last]
	e.heapIdx = -1
	if i != last {
		h.fix(i)
	}
}

func (h deadlineHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h deadlineHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts i down and reports whether it moved.
func (h deadlineHeap) down(i int) bool {
	start := i
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if r := c + 1; r < len(h) && h.less(r, c) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
