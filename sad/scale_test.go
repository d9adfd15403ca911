package sad

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// nopTransform is a transform without state, so that memory measurements
// count the SAD's own cost per SA.
type nopTransform struct{}

func (nopTransform) Wipe() {}

// scaleID spreads SPIs over the 32-bit space the way random allocation
// would, and alternates address families and protocols.
func scaleID(i int) ID {
	spi := uint32(i)*2654435761 | 1
	id := ID{SPI: spi, Protocol: ipsec.ProtoESP, Dst: dst4}
	if i%2 == 1 {
		id.Dst = dst6
	}
	if i%5 == 0 {
		id.Protocol = ipsec.ProtoAH
	}
	return id
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// fill adds n SAs with time lifetimes spread over an hour.
func fill(t testing.TB, db *DB, n int) {
	t.Helper()
	for i := range n {
		life := Lifetime{
			SoftTime:  time.Hour + time.Duration(i)*time.Millisecond,
			HardTime:  2*time.Hour + time.Duration(i)*time.Millisecond,
			SoftBytes: 1 << 40, HardBytes: 1 << 41,
		}
		if _, err := db.Add(scaleID(i), nopTransform{}, life); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMillionSAs(t *testing.T) {
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	before := heapInUse()
	db, clock := newDBCap(t, 0, n)
	start := time.Now()
	fill(t, db, n)
	added := time.Since(start)
	perSA := float64(heapInUse()-before) / float64(n)
	t.Logf("%d SAs: %.0f bytes per SA, Add %v per SA", n, perSA, added/time.Duration(n))
	if perSA > 600 {
		t.Errorf("%.0f bytes per SA", perSA)
	}
	if db.Len() != n {
		t.Fatalf("Len = %d", db.Len())
	}
	for i := range n {
		if e := db.Lookup(scaleID(i)); e == nil || e.ID() != scaleID(i) {
			t.Fatalf("Lookup(%v) = %v", scaleID(i), e)
		}
	}
	// Nothing due: Expire must not visit the SAs.
	start = time.Now()
	db.Expire(clock.Advance(time.Minute))
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("idle Expire over %d SAs took %v", n, d)
	}
	// The first 1000 soft deadlines fall due.
	db.Expire(clock.Advance(time.Hour - time.Minute + time.Second - time.Millisecond))
	if got := len(drain(db)) + db.PendingEvents(); got != 1000 {
		t.Fatalf("%d soft events, want 1000", got)
	}
	n2 := 0
	for range db.All() {
		n2++
	}
	if n2 != n {
		t.Fatalf("All yielded %d SAs", n2)
	}
	runtime.KeepAlive(db)
}

var (
	benchMu  sync.Mutex
	benchDBs = map[int]*DB{}
)

// benchDB returns a database of n SAs shared by the benchmarks.
func benchDB(b *testing.B, n int) *DB {
	benchMu.Lock()
	defer benchMu.Unlock()
	if db := benchDBs[n]; db != nil {
		return db
	}
	db, _ := newDBCap(b, 0, n)
	fill(b, db, n)
	benchDBs[n] = db
	return db
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1000, 1_000_000} {
		ids := make([]ID, 4096)
		for i := range ids {
			ids[i] = scaleID(int(uint32(i) * 7919 % uint32(n)))
		}
		miss := make([]ID, len(ids))
		for i := range miss {
			miss[i] = ids[i]
			miss[i].SPI ^= 2 // even SPIs are never added
		}
		for _, c := range []struct {
			name string
			ids  []ID
			hit  bool
		}{{"hit", ids, true}, {"miss", miss, false}} {
			b.Run(fmt.Sprintf("%s/n=%d/serial", c.name, n), func(b *testing.B) {
				db := benchDB(b, n)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if (db.Lookup(c.ids[i&4095]) != nil) != c.hit {
						b.Fatal("wrong lookup result")
					}
					i++
				}
			})
			b.Run(fmt.Sprintf("%s/n=%d/parallel", c.name, n), func(b *testing.B) {
				db := benchDB(b, n)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if (db.Lookup(c.ids[i&4095]) != nil) != c.hit {
							b.Error("wrong lookup result")
							return
						}
						i++
					}
				})
			})
		}
	}
	// One busy SA looked up from every core.
	b.Run("hot/parallel", func(b *testing.B) {
		db := benchDB(b, 1_000_000)
		id := scaleID(12345)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if db.Lookup(id) == nil {
					b.Error("miss")
					return
				}
			}
		})
	})
}

func BenchmarkAccount(b *testing.B) {
	const size = 1400
	b.Run("serial", func(b *testing.B) {
		db, _ := newDB(b, 0)
		e, _ := mustAdd(b, db, espID(1), Lifetime{SoftBytes: 1 << 62, HardBytes: 1 << 63, SoftPackets: 1 << 62, HardPackets: 1 << 63})
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			if err := e.Account(size); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel/one-SA", func(b *testing.B) {
		db, _ := newDB(b, 0)
		e, _ := mustAdd(b, db, espID(1), Lifetime{SoftBytes: 1 << 62, HardBytes: 1 << 63})
		b.ReportAllocs()
		b.SetBytes(size)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := e.Account(size); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("parallel/lookup+account", func(b *testing.B) {
		db := benchDB(b, 1_000_000)
		ids := make([]ID, 4096)
		for i := range ids {
			ids[i] = scaleID(i * 241)
		}
		b.ReportAllocs()
		b.SetBytes(size)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := db.Lookup(ids[i&4095]).Account(size); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

func BenchmarkExpire(b *testing.B) {
	const n = 1_000_000
	b.Run("idle/n=1e6", func(b *testing.B) {
		db := benchDB(b, n)
		now := t0.Add(time.Minute)
		b.ReportAllocs()
		for b.Loop() {
			db.Expire(now)
		}
	})
	// Every call finds one SA's soft deadline due: it raises the event
	// and leaves the heap. After n calls the deadlines are re-armed with
	// the timer stopped.
	b.Run("one-due/n=1e6", func(b *testing.B) {
		db, _ := newDBCap(b, 1024, n)
		entries := make([]*Entry, n)
		for i := range entries {
			e, err := db.Add(scaleID(i), nopTransform{}, Lifetime{SoftTime: time.Duration(i+1) * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			entries[i] = e
		}
		base := t0
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			j := i % n
			if j == 0 && i > 0 {
				b.StopTimer()
				base = base.Add(time.Hour)
				db.timeMu.Lock()
				for k, e := range entries {
					e.state.Store(0)
					e.added = base
					e.deadline = base.Add(time.Duration(k+1) * time.Millisecond)
					db.heap.push(e)
				}
				db.timeMu.Unlock()
				b.StartTimer()
			}
			db.Expire(base.Add(time.Duration(j+1) * time.Millisecond))
			for len(db.Events()) > 512 {
				<-db.Events()
			}
		}
		b.StopTimer()
		if db.PendingEvents() != 0 {
			b.Fatalf("%d events pending", db.PendingEvents())
		}
	})
}

// TestZeroAllocs pins the packet-path guarantees outside benchmarks.
func TestZeroAllocs(t *testing.T) {
	db, _ := newDB(t, 0)
	e, _ := mustAdd(t, db, espID(9), Lifetime{SoftBytes: 1 << 40, HardBytes: 1 << 41})
	hit, miss := espID(9), ID{SPI: 10, Protocol: ipsec.ProtoESP, Dst: netip.MustParseAddr("2001:db8::9")}
	if a := testing.AllocsPerRun(1000, func() {
		if db.Lookup(hit) == nil || db.Lookup(miss) != nil {
			t.Fatal("wrong lookup")
		}
	}); a != 0 {
		t.Errorf("Lookup: %v allocs", a)
	}
	if a := testing.AllocsPerRun(1000, func() { _ = e.Account(1000) }); a != 0 {
		t.Errorf("Account: %v allocs", a)
	}
}
