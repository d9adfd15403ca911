package sad

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// TestIndexShardForms: shards change between the slice form (up to
// smallShard entries) and the map form as SAs come and go, and every
// lookup, duplicate check and removal gives the same answers in both.
func TestIndexShardForms(t *testing.T) {
	var x index
	x.init(1) // 16 shards: 2,000 entries make every shard a map
	dst := netip.MustParseAddr("192.0.2.1")
	entries := make([]*Entry, 2000)
	for i := range entries {
		entries[i] = &Entry{id: ID{SPI: uint32(0x1000 + i), Protocol: ipsec.ProtoESP, Dst: dst}}
	}
	check := func(present func(i int) bool) {
		t.Helper()
		small, big, n := 0, 0, 0
		for i := range x.shards {
			if sh := x.shards[i].Load(); sh != nil {
				if sh.m != nil {
					big++
				} else {
					small++
				}
			}
		}
		for e := range x.all {
			_ = e
			n++
		}
		want := 0
		for i, e := range entries {
			got := x.load(e.id)
			if present(i) {
				want++
				if got != e {
					t.Fatalf("entry %d: lookup gives %p, want %p", i, got, e)
				}
			} else if got != nil {
				t.Fatalf("entry %d: removed but found", i)
			}
		}
		if n != want {
			t.Fatalf("all yields %d entries, want %d", n, want)
		}
		t.Logf("%d entries: %d slice shards, %d map shards", want, small, big)
	}
	for i, e := range entries {
		if !x.insert(e) {
			t.Fatalf("entry %d not inserted", i)
		}
		if i == 20 {
			check(func(j int) bool { return j <= 20 })
		}
	}
	check(func(int) bool { return true })
	if x.insert(&Entry{id: entries[7].id}) {
		t.Fatal("duplicate ID inserted")
	}
	if x.remove(&Entry{id: entries[7].id}); x.load(entries[7].id) != entries[7] {
		t.Fatal("removing another entry with the same ID removed the indexed one")
	}
	for i := 0; i < len(entries); i += 2 {
		x.remove(entries[i])
	}
	check(func(i int) bool { return i%2 == 1 })
	for i := 1; i < len(entries)-20; i += 2 {
		x.remove(entries[i])
	}
	check(func(i int) bool { return i%2 == 1 && i >= len(entries)-20 })
	for i := len(entries) - 20; i < len(entries); i++ {
		x.remove(entries[i])
	}
	check(func(int) bool { return false })
	for i := range x.shards {
		if x.shards[i].Load() != nil {
			t.Fatalf("shard %d not empty after every removal", i)
		}
	}
}

// TestIndexHeapPerSA: at the default capacity (sized for a million SAs) a
// gateway's 20,000 SAs, two per client, leave most shards with one or two
// entries; the index then costs about 80 octets per SA, where a Go map
// per shard cost about 380.
func TestIndexHeapPerSA(t *testing.T) {
	const n = 20000
	entries := make([]*Entry, n)
	for i := range entries {
		entries[i] = &Entry{id: ID{SPI: uint32(0x1000 + i*7919), Protocol: ipsec.ProtoESP, Dst: netip.MustParseAddr("192.0.2.1")}}
	}
	var x index
	x.init(1 << 20)
	live := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := live()
	for _, e := range entries {
		x.insert(e)
	}
	per := (int64(live()) - int64(before)) / n
	t.Logf("index: %d octets per SA", per)
	if per > 120 {
		t.Errorf("index keeps %d octets per SA, more than 120", per)
	}
	runtime.KeepAlive(entries)
	runtime.KeepAlive(&x)
}
