package sad

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// The index maps IDs to entries. It is an array of shards, each an
// immutable snapshot behind an atomic pointer: readers do one atomic load and
// one small lookup, take no lock and write no shared memory, so a single
// busy SA looked up from every core scales. Writers copy the shard (about
// 16 entries at the expected number of SAs), which keeps Add and Delete in
// the microseconds. Measured against sync.Map and RWMutex-sharded maps with
// a million SAs: as fast as sharded maps serially, faster than both in
// parallel on one SA, and the least memory.
//
// A shard of up to smallShard entries is a slice searched linearly, a
// larger one a Go map: below its capacity most shards hold one or two SAs,
// and a Go map for one entry costs about 400 octets where a slice slot
// costs 40, which on a gateway is most of the index's cost per client.
const (
	maxShardBits = 16
	minShardBits = 4
	writeLocks   = 256
	smallShard   = 16
)

type index struct {
	shift  uint32 // 32 - log2(len(shards))
	shards []atomic.Pointer[shard]
	locks  [writeLocks]sync.Mutex // writers, by shard modulo writeLocks
}

// shard is one immutable snapshot: slots while it is small, m beyond.
type shard struct {
	slots []slot
	m     map[ID]*Entry
}

type slot struct {
	id ID
	e  *Entry
}

func (sh *shard) get(id ID) *Entry {
	if sh.m != nil {
		return sh.m[id]
	}
	for i := range sh.slots {
		if sh.slots[i].id == id {
			return sh.slots[i].e
		}
	}
	return nil
}

func (sh *shard) len() int {
	if sh.m != nil {
		return len(sh.m)
	}
	return len(sh.slots)
}

// each yields the shard's entries.
func (sh *shard) each(yield func(ID, *Entry) bool) bool {
	if sh.m != nil {
		for k, v := range sh.m {
			if !yield(k, v) {
				return false
			}
		}
		return true
	}
	for _, s := range sh.slots {
		if !yield(s.id, s.e) {
			return false
		}
	}
	return true
}

// build returns a new snapshot of the entries of each but skip, plus add
// (either may be nil); n is how many that makes, and picks the form.
func build(n int, each func(func(ID, *Entry) bool) bool, skip, add *Entry) *shard {
	if n == 0 {
		return nil
	}
	if n <= smallShard {
		slots := make([]slot, 0, n)
		each(func(k ID, v *Entry) bool {
			if v != skip {
				slots = append(slots, slot{k, v})
			}
			return true
		})
		if add != nil {
			slots = append(slots, slot{add.id, add})
		}
		return &shard{slots: slots}
	}
	m := make(map[ID]*Entry, n)
	each(func(k ID, v *Entry) bool {
		if v != skip {
			m[k] = v
		}
		return true
	})
	if add != nil {
		m[add.id] = add
	}
	return &shard{m: m}
}

// init sizes the index for about capacity SAs, 16 per shard.
func (x *index) init(capacity int) {
	bits := uint32(minShardBits)
	for bits < maxShardBits && 16<<bits < capacity {
		bits++
	}
	x.shift = 32 - bits
	x.shards = make([]atomic.Pointer[shard], 1<<bits)
}

// shard picks the shard of id from the SPI, the protocol and the low bytes
// of the destination, so that peers choosing SPIs cannot crowd one shard
// across different addresses.
func (x *index) shardOf(id ID) uint32 {
	a := id.Dst.As16()
	h := id.SPI ^ binary.LittleEndian.Uint32(a[12:]) ^ uint32(id.Protocol)<<24
	return (h * 0x9e3779b1) >> x.shift
}

func (x *index) load(id ID) *Entry {
	sh := x.shards[x.shardOf(id)].Load()
	if sh == nil {
		return nil
	}
	return sh.get(id)
}

// insert adds e unless its ID is present, and reports whether it did.
func (x *index) insert(e *Entry) bool {
	s := x.shardOf(e.id)
	mu := &x.locks[s%writeLocks]
	mu.Lock()
	defer mu.Unlock()
	old := x.shards[s].Load()
	if old == nil {
		x.shards[s].Store(&shard{slots: []slot{{e.id, e}}})
		return true
	}
	if old.get(e.id) != nil {
		return false
	}
	x.shards[s].Store(build(old.len()+1, old.each, nil, e))
	return true
}

// remove deletes e's ID if it still maps to e.
func (x *index) remove(e *Entry) {
	s := x.shardOf(e.id)
	mu := &x.locks[s%writeLocks]
	mu.Lock()
	defer mu.Unlock()
	old := x.shards[s].Load()
	if old == nil || old.get(e.id) != e {
		return
	}
	x.shards[s].Store(build(old.len()-1, old.each, e, nil))
}

// all yields every entry, one shard's snapshot at a time.
func (x *index) all(yield func(*Entry) bool) {
	for i := range x.shards {
		sh := x.shards[i].Load()
		if sh == nil {
			continue
		}
		if !sh.each(func(_ ID, e *Entry) bool { return yield(e) }) {
			return
		}
	}
}
