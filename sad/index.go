package sad

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// The index maps IDs to entries. It is an array of shards, each an
// immutable Go map behind an atomic pointer: readers do one atomic load and
// one small map lookup, take no lock and write no shared memory, so a
// single busy SA looked up from every core scales. Writers copy the shard's
// map (about 16 entries at the expected number of SAs), which keeps Add and
// Delete in the microseconds. Measured against sync.Map and RWMutex-sharded
// maps with a million SAs: as fast as sharded maps serially, faster than
// both in parallel on one SA, and the least memory.
const (
	maxShardBits = 16
	minShardBits = 4
	writeLocks   = 256
)

type index struct {
	shift  uint32 // 32 - log2(len(shards))
	shards []atomic.Pointer[map[ID]*Entry]
	locks  [writeLocks]sync.Mutex // writers, by shard modulo writeLocks
}

// init sizes the index for about capacity SAs, 16 per shard.
func (x *index) init(capacity int) {
	bits := uint32(minShardBits)
	for bits < maxShardBits && 16<<bits < capacity {
		bits++
	}
	x.shift = 32 - bits
	x.shards = make([]atomic.Pointer[map[ID]*Entry], 1<<bits)
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
	m := x.shards[x.shardOf(id)].Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

// insert adds e unless its ID is present, and reports whether it did.
func (x *index) insert(e *Entry) bool {
	s := x.shardOf(e.id)
	mu := &x.locks[s%writeLocks]
	mu.Lock()
	defer mu.Unlock()
	old := x.shards[s].Load()
	var n map[ID]*Entry
	if old == nil {
		n = map[ID]*Entry{e.id: e}
	} else {
		if _, dup := (*old)[e.id]; dup {
			return false
		}
		n = make(map[ID]*Entry, len(*old)+1)
		for k, v := range *old {
			n[k] = v
		}
		n[e.id] = e
	}
	x.shards[s].Store(&n)
	return true
}

// remove deletes e's ID if it still maps to e.
func (x *index) remove(e *Entry) {
	s := x.shardOf(e.id)
	mu := &x.locks[s%writeLocks]
	mu.Lock()
	defer mu.Unlock()
	old := x.shards[s].Load()
	if old == nil || (*old)[e.id] != e {
		return
	}
	if len(*old) == 1 {
		x.shards[s].Store(nil)
		return
	}
	n := make(map[ID]*Entry, len(*old)-1)
	for k, v := range *old {
		if k != e.id {
			n[k] = v
		}
	}
	x.shards[s].Store(&n)
}

// all yields every entry, one shard's snapshot at a time.
func (x *index) all(yield func(*Entry) bool) {
	for i := range x.shards {
		m := x.shards[i].Load()
		if m == nil {
			continue
		}
		for _, e := range *m {
			if !yield(e) {
				return
			}
		}
	}
}
