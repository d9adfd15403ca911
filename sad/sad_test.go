package sad

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// fakeTransform records Wipe calls.
type fakeTransform struct {
	wiped atomic.Int32
}

func (f *fakeTransform) Wipe() { f.wiped.Add(1) }

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

var (
	dst4 = netip.MustParseAddr("192.0.2.1")
	dst6 = netip.MustParseAddr("2001:db8::1")
	t0   = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func espID(spi uint32) ID { return ID{SPI: spi, Protocol: ipsec.ProtoESP, Dst: dst4} }

func newDB(t testing.TB, buf int) (*DB, *fakeClock) {
	t.Helper()
	return newDBCap(t, buf, 1000)
}

func newDBCap(t testing.TB, buf, capacity int) (*DB, *fakeClock) {
	t.Helper()
	c := &fakeClock{t: t0}
	return New(Config{Now: c.Now, EventBuffer: buf, Capacity: capacity}), c
}

func mustAdd(t testing.TB, db *DB, id ID, life Lifetime) (*Entry, *fakeTransform) {
	t.Helper()
	tr := &fakeTransform{}
	e, err := db.Add(id, tr, life)
	if err != nil {
		t.Fatalf("Add(%v): %v", id, err)
	}
	return e, tr
}

// drain returns the events now in the channel.
func drain(db *DB) []Event {
	var out []Event
	for {
		select {
		case ev := <-db.Events():
			out = append(out, ev)
		default:
			return out
		}
	}
}

func expectEvents(t *testing.T, db *DB, want ...Event) {
	t.Helper()
	got := drain(db)
	if len(got) != len(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	for i := range got {
		if got[i].Kind != want[i].Kind || got[i].Reason != want[i].Reason || got[i].ID != want[i].ID {
			t.Fatalf("event %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestLookup(t *testing.T) {
	db, _ := newDB(t, 0)
	ids := []ID{
		espID(0x1000),
		{SPI: 0x1000, Protocol: ipsec.ProtoAH, Dst: dst4},
		{SPI: 0x1000, Protocol: ipsec.ProtoESP, Dst: dst6},
		espID(0xffffffff),
		espID(1),
	}
	entries := map[ID]*Entry{}
	for _, id := range ids {
		e, _ := mustAdd(t, db, id, Lifetime{})
		entries[id] = e
	}
	if db.Len() != len(ids) {
		t.Fatalf("Len = %d, want %d", db.Len(), len(ids))
	}
	for _, id := range ids {
		e := db.Lookup(id)
		if e != entries[id] || e.ID() != id {
			t.Errorf("Lookup(%v) = %v", id, e)
		}
	}
	for _, id := range []ID{
		espID(0x1001),
		{SPI: 0x1000, Protocol: ipsec.ProtoESP, Dst: netip.MustParseAddr("192.0.2.2")},
		{SPI: 0xffffffff, Protocol: ipsec.ProtoAH, Dst: dst4},
		{SPI: 0x1000, Protocol: ipsec.ProtoESP, Dst: netip.MustParseAddr("::ffff:192.0.2.1")},
	} {
		if e := db.Lookup(id); e != nil {
			t.Errorf("Lookup(%v) = %v, want miss", id, e.ID())
		}
	}
}

func TestAddDuplicate(t *testing.T) {
	db, _ := newDB(t, 0)
	first, _ := mustAdd(t, db, espID(0xc0ffee), Lifetime{})
	_, err := db.Add(espID(0xc0ffee), &fakeTransform{}, Lifetime{})
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate Add: %v", err)
	}
	if want := "add SA ESP SPI 0x00c0ffee dst 192.0.2.1: SA already exists"; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	if db.Lookup(espID(0xc0ffee)) != first || db.Len() != 1 {
		t.Error("duplicate Add changed the database")
	}
}

func TestAddInvalid(t *testing.T) {
	db, _ := newDB(t, 0)
	for _, tc := range []struct {
		id   ID
		tr   Transform
		life Lifetime
		want string
	}{
		{espID(0), &fakeTransform{}, Lifetime{}, "add SA ESP SPI 0x00000000 dst 192.0.2.1: SPI 0 is reserved"},
		{ID{SPI: 5, Protocol: 6, Dst: dst4}, &fakeTransform{}, Lifetime{}, "add SA protocol(6) SPI 0x00000005 dst 192.0.2.1: protocol must be ESP or AH"},
		{espID(5), nil, Lifetime{}, "add SA ESP SPI 0x00000005 dst 192.0.2.1: no transform"},
		{espID(5), &fakeTransform{}, Lifetime{SoftBytes: 10, HardBytes: 5}, "add SA ESP SPI 0x00000005 dst 192.0.2.1: soft byte lifetime 10 exceeds hard lifetime 5"},
		{espID(5), &fakeTransform{}, Lifetime{SoftPackets: 10, HardPackets: 5}, "add SA ESP SPI 0x00000005 dst 192.0.2.1: soft packet lifetime 10 exceeds hard lifetime 5"},
		{espID(5), &fakeTransform{}, Lifetime{SoftTime: time.Hour, HardTime: time.Minute}, "add SA ESP SPI 0x00000005 dst 192.0.2.1: soft time lifetime 1h0m0s exceeds hard lifetime 1m0s"},
		{espID(5), &fakeTransform{}, Lifetime{HardTime: -time.Second}, "add SA ESP SPI 0x00000005 dst 192.0.2.1: negative time lifetime (soft 0s, hard -1s)"},
	} {
		_, err := db.Add(tc.id, tc.tr, tc.life)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Add(%v, %+v) = %v, want %q", tc.id, tc.life, err, tc.want)
		}
	}
	if db.Len() != 0 {
		t.Errorf("Len = %d after refused adds", db.Len())
	}
}

// An SA whose SPI we chose is found by SPI and protocol alone.
func TestAddWithoutDestination(t *testing.T) {
	db, _ := newDB(t, 0)
	id := ID{SPI: 5, Protocol: ipsec.ProtoESP}
	if _, err := db.Add(id, &fakeTransform{}, Lifetime{}); err != nil {
		t.Fatal(err)
	}
	if db.Lookup(id) == nil || db.Lookup(ID{SPI: 5, Protocol: ipsec.ProtoAH}) != nil || db.Lookup(espID(5)) != nil {
		t.Fatal("lookup by SPI and protocol does not find exactly the SA added without destination")
	}
	if got, want := id.String(), "ESP SPI 0x00000005"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestDeleteWipes(t *testing.T) {
	db, _ := newDB(t, 0)
	e, tr := mustAdd(t, db, espID(7), Lifetime{HardTime: time.Minute})
	other, otr := mustAdd(t, db, espID(8), Lifetime{})
	if err := e.Account(100); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(espID(7)); err != nil {
		t.Fatal(err)
	}
	if tr.wiped.Load() != 1 || otr.wiped.Load() != 0 {
		t.Fatalf("wipes: deleted %d, other %d", tr.wiped.Load(), otr.wiped.Load())
	}
	if db.Lookup(espID(7)) != nil || db.Len() != 1 || db.Lookup(espID(8)) != other {
		t.Fatal("Delete left the index wrong")
	}
	if err := e.Account(100); !errors.Is(err, ErrDeleted) {
		t.Fatalf("Account after Delete: %v", err)
	}
	err := db.Delete(espID(7))
	if !errors.Is(err, ErrNotFound) || err.Error() != "delete SA ESP SPI 0x00000007 dst 192.0.2.1: no such SA" {
		t.Fatalf("second Delete: %v", err)
	}
	if len(db.heap) != 0 {
		t.Fatalf("deleted SA left in the deadline heap")
	}
	// Deleting raises no event, and its time lifetime no longer fires.
	db.Expire(t0.Add(time.Hour))
	expectEvents(t, db)
	if tr.wiped.Load() != 1 {
		t.Fatalf("wiped %d times", tr.wiped.Load())
	}
	// The ID can be reused.
	if _, err := db.Add(espID(7), &fakeTransform{}, Lifetime{}); err != nil {
		t.Fatal(err)
	}
}

func TestPacketLifetime(t *testing.T) {
	db, _ := newDB(t, 0)
	id := espID(0x100)
	e, tr := mustAdd(t, db, id, Lifetime{SoftPackets: 10, HardPackets: 20})
	for i := 1; i <= 20; i++ {
		if err := e.Account(50); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		switch i {
		case 9, 11, 19:
			expectEvents(t, db)
		case 10:
			expectEvents(t, db, Event{Kind: SoftExpire, Reason: ReasonPackets, ID: id})
		}
	}
	ev := drain(db)
	if len(ev) != 1 || ev[0].Kind != HardExpire || ev[0].Reason != ReasonPackets || ev[0].Stats.Packets != 20 || ev[0].Stats.Bytes != 1000 {
		t.Fatalf("events after 20 packets: %v", ev)
	}
	if db.Lookup(id) != nil || tr.wiped.Load() != 1 || db.Len() != 0 {
		t.Fatal("hard-expired SA not removed and wiped")
	}
	if err := e.Account(50); !errors.Is(err, ErrHardExpired) {
		t.Fatalf("packet 21: %v", err)
	}
	if s := e.Stats(); s.Packets != 20 || s.Bytes != 1000 {
		t.Fatalf("stats %+v", s)
	}
	expectEvents(t, db)
}

func TestByteLifetime(t *testing.T) {
	db, _ := newDB(t, 0)
	id := espID(0x200)
	e, tr := mustAdd(t, db, id, Lifetime{SoftBytes: 1000, HardBytes: 1500})
	for _, n := range []int{400, 500} {
		if err := e.Account(n); err != nil {
			t.Fatal(err)
		}
	}
	expectEvents(t, db)
	if err := e.Account(100); err != nil { // 1000: soft
		t.Fatal(err)
	}
	expectEvents(t, db, Event{Kind: SoftExpire, Reason: ReasonBytes, ID: id})
	if err := e.Account(400); err != nil { // 1400
		t.Fatal(err)
	}
	expectEvents(t, db)
	// 1400+200 would pass the hard limit: refused, SA removed.
	if err := e.Account(200); !errors.Is(err, ErrHardExpired) {
		t.Fatalf("Account over the hard limit: %v", err)
	}
	ev := drain(db)
	if len(ev) != 1 || ev[0].Kind != HardExpire || ev[0].Reason != ReasonBytes {
		t.Fatalf("events %v", ev)
	}
	if s := e.Stats(); s.Bytes != 1400 || s.Packets != 4 {
		t.Fatalf("stats %+v: the refused packet was counted", s)
	}
	if db.Lookup(id) != nil || tr.wiped.Load() != 1 {
		t.Fatal("SA not removed and wiped")
	}
	// A small packet that would fit is refused too: the SA is gone.
	if err := e.Account(1); !errors.Is(err, ErrHardExpired) {
		t.Fatalf("Account after expiry: %v", err)
	}
}

func TestBatchCrossesBoth(t *testing.T) {
	db, _ := newDB(t, 0)
	id := espID(0x300)
	e, _ := mustAdd(t, db, id, Lifetime{SoftPackets: 5, HardPackets: 10})
	if err := e.AccountBatch(10, 1000); err != nil {
		t.Fatal(err)
	}
	// Soft and hard in one batch: only the hard event.
	expectEvents(t, db, Event{Kind: HardExpire, Reason: ReasonPackets, ID: id})
}

func TestTimeLifetime(t *testing.T) {
	for _, tc := range []struct {
		name       string
		life       Lifetime
		softAt     time.Duration // 0: none
		hardAt     time.Duration // 0: none
		preSoftRaw bool          // a byte soft limit fires first
	}{
		{"soft and hard", Lifetime{SoftTime: 10 * time.Second, HardTime: 20 * time.Second}, 10 * time.Second, 20 * time.Second, false},
		{"soft only", Lifetime{SoftTime: 10 * time.Second}, 10 * time.Second, 0, false},
		{"hard only", Lifetime{HardTime: 20 * time.Second}, 0, 20 * time.Second, false},
		{"equal", Lifetime{SoftTime: 20 * time.Second, HardTime: 20 * time.Second}, 0, 20 * time.Second, false},
		{"soft by bytes first", Lifetime{SoftTime: 10 * time.Second, HardTime: 20 * time.Second, SoftBytes: 10}, 0, 20 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, clock := newDB(t, 0)
			clock.Advance(time.Second) // SAs start at t0+1s
			id := espID(0x400)
			e, tr := mustAdd(t, db, id, tc.life)
			// Unrelated SAs with later deadlines stay.
			mustAdd(t, db, espID(0x401), Lifetime{SoftTime: time.Hour, HardTime: 2 * time.Hour})
			mustAdd(t, db, espID(0x402), Lifetime{})
			if tc.preSoftRaw {
				if err := e.Account(10); err != nil {
					t.Fatal(err)
				}
				expectEvents(t, db, Event{Kind: SoftExpire, Reason: ReasonBytes, ID: id})
			}
			start := clock.Now()
			for s := time.Duration(0); s <= 30*time.Second; s += time.Second / 2 {
				db.Expire(start.Add(s))
				var want []Event
				if tc.softAt != 0 && s == tc.softAt {
					want = append(want, Event{Kind: SoftExpire, Reason: ReasonTime, ID: id})
				}
				if tc.hardAt != 0 && s == tc.hardAt {
					want = append(want, Event{Kind: HardExpire, Reason: ReasonTime, ID: id})
				}
				expectEvents(t, db, want...)
				gone := tc.hardAt != 0 && s >= tc.hardAt
				if (db.Lookup(id) == nil) != gone || (tr.wiped.Load() == 1) != gone {
					t.Fatalf("at %v: present %v, wiped %d", s, db.Lookup(id) != nil, tr.wiped.Load())
				}
			}
			if want := 2 + btoi(tc.hardAt == 0); db.Len() != want {
				t.Fatalf("Len = %d, want %d", db.Len(), want)
			}
			if tc.hardAt == 0 && len(db.heap) != 1 {
				t.Fatalf("heap holds %d entries after the soft-only deadline", len(db.heap))
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestExpireOrder checks the deadline heap against a sorted list: many SAs
// with random deadlines, some deleted, expired in steps.
func TestExpireOrder(t *testing.T) {
	db, _ := newDB(t, 100000)
	r := rand.New(rand.NewPCG(1, 1))
	type want struct {
		at time.Duration
		id ID
	}
	var hard []want
	for spi := uint32(1); spi <= 5000; spi++ {
		d := time.Duration(1+r.IntN(1000)) * time.Second
		mustAdd(t, db, espID(spi), Lifetime{HardTime: d})
		if r.IntN(5) == 0 {
			if err := db.Delete(espID(spi)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		hard = append(hard, want{d, espID(spi)})
	}
	slices.SortFunc(hard, func(a, b want) int { return int(a.at - b.at) })
	i := 0
	for s := time.Duration(0); s < 1007*time.Second; s += 7 * time.Second {
		db.Expire(t0.Add(s))
		got := map[ID]bool{}
		for _, ev := range drain(db) {
			got[ev.ID] = true
		}
		n := 0
		for ; i < len(hard) && hard[i].at <= s; i++ {
			if !got[hard[i].id] {
				t.Fatalf("at %v: %v (due %v) not expired", s, hard[i].id, hard[i].at)
			}
			n++
		}
		if n != len(got) {
			t.Fatalf("at %v: %d events, want %d", s, len(got), n)
		}
	}
	if db.Len() != 0 || len(db.heap) != 0 {
		t.Fatalf("left: Len %d, heap %d", db.Len(), len(db.heap))
	}
}

// TestConcurrentAccount has many goroutines account packets on one SA:
// exactly one soft and one hard event, and exactly HardPackets admitted.
func TestConcurrentAccount(t *testing.T) {
	const (
		workers = 8
		per     = 5000
		hard    = 30000
	)
	for round := range 5 {
		db, _ := newDB(t, 0)
		id := espID(uint32(0x500 + round))
		e, tr := mustAdd(t, db, id, Lifetime{SoftPackets: 1000, HardPackets: hard, SoftBytes: 500000})
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range per {
					switch err := e.Account(100); {
					case err == nil:
						admitted.Add(1)
					case !errors.Is(err, ErrHardExpired):
						t.Errorf("Account: %v", err)
						return
					}
				}
			}()
		}
		// Expire and Delete race with the packet path too.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				db.Expire(t0)
			}
		}()
		wg.Wait()
		if admitted.Load() != hard {
			t.Fatalf("admitted %d packets, want %d", admitted.Load(), hard)
		}
		var soft, hardEv int
		for _, ev := range drain(db) {
			switch ev.Kind {
			case SoftExpire:
				soft++
			case HardExpire:
				hardEv++
			}
		}
		if soft != 1 || hardEv != 1 || tr.wiped.Load() != 1 {
			t.Fatalf("soft events %d, hard events %d, wipes %d", soft, hardEv, tr.wiped.Load())
		}
		if s := e.Stats(); s.Packets != hard || s.Bytes != hard*100 {
			t.Fatalf("stats %+v", s)
		}
	}
}

// TestConcurrentDeleteAndExpire races Delete, hard expiry by packets and by
// time on many SAs: each SA is wiped exactly once and leaves the index.
func TestConcurrentDeleteAndExpire(t *testing.T) {
	db, clock := newDB(t, 1<<16)
	const n = 2000
	trs := make([]*fakeTransform, n)
	entries := make([]*Entry, n)
	for i := range n {
		entries[i], trs[i] = mustAdd(t, db, espID(uint32(i+1)), Lifetime{HardTime: time.Second, HardPackets: 3})
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := range n {
			_ = db.Delete(espID(uint32(i + 1)))
		}
	}()
	go func() {
		defer wg.Done()
		for i := n - 1; i >= 0; i-- {
			for range 4 {
				_ = entries[i].Account(1)
			}
		}
	}()
	go func() {
		defer wg.Done()
		db.Expire(clock.Advance(2 * time.Second))
	}()
	wg.Wait()
	for i, tr := range trs {
		if tr.wiped.Load() != 1 {
			t.Fatalf("SA %d wiped %d times", i, tr.wiped.Load())
		}
	}
	if db.Len() != 0 || len(db.heap) != 0 || db.Lookup(espID(1)) != nil {
		t.Fatalf("left: Len %d, heap %d", db.Len(), len(db.heap))
	}
	for range db.All() {
		t.Fatal("All yields a removed SA")
	}
}

func TestFullEventChannel(t *testing.T) {
	db, _ := newDB(t, 2)
	var ids []ID
	for spi := uint32(1); spi <= 5; spi++ {
		e, _ := mustAdd(t, db, espID(spi), Lifetime{SoftPackets: 1})
		ids = append(ids, espID(spi))
		// The packet path never blocks, even with nobody reading.
		if err := e.Account(1); err != nil {
			t.Fatal(err)
		}
	}
	if got := db.PendingEvents(); got != 3 {
		t.Fatalf("PendingEvents = %d, want 3", got)
	}
	var got []ID
	read := func() {
		for _, ev := range drain(db) {
			got = append(got, ev.ID)
		}
	}
	read()
	if len(got) != 2 {
		t.Fatalf("read %d events from a channel of 2", len(got))
	}
	// Pending events wait for Expire even though the channel has room,
	// and a new event queues behind them.
	e, _ := mustAdd(t, db, espID(6), Lifetime{SoftPackets: 1})
	ids = append(ids, espID(6))
	if err := e.Account(1); err != nil {
		t.Fatal(err)
	}
	read()
	if len(got) != 2 || db.PendingEvents() != 4 {
		t.Fatalf("read %d, pending %d", len(got), db.PendingEvents())
	}
	for range 3 {
		db.Expire(t0)
		read()
	}
	if !slices.Equal(got, ids) || db.PendingEvents() != 0 {
		t.Fatalf("events in order %v, want %v (pending %d)", got, ids, db.PendingEvents())
	}
}

func TestStatsAndAll(t *testing.T) {
	db, clock := newDB(t, 0)
	e1, _ := mustAdd(t, db, espID(1), Lifetime{})
	clock.Advance(time.Minute)
	e2, _ := mustAdd(t, db, espID(2), Lifetime{})
	if s := e1.Stats(); s.Added != t0 || !s.LastUse.IsZero() || s.Bytes != 0 {
		t.Fatalf("fresh stats %+v", s)
	}
	use := clock.Advance(time.Minute)
	db.Expire(use)
	if err := e1.AccountBatch(3, 4500); err != nil {
		t.Fatal(err)
	}
	s := e1.Stats()
	if s.Packets != 3 || s.Bytes != 4500 || !s.LastUse.Equal(use) {
		t.Fatalf("stats %+v, want last use %v", s, use)
	}
	if e2.Stats().Added != t0.Add(time.Minute) {
		t.Fatalf("added %v", e2.Stats().Added)
	}
	seen := map[ID]bool{}
	for e := range db.All() {
		seen[e.ID()] = true
		// Deleting from the loop body is allowed.
		if err := db.Delete(e.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 || db.Len() != 0 {
		t.Fatalf("All yielded %v", seen)
	}
}

func TestEventString(t *testing.T) {
	ev := Event{Kind: SoftExpire, Reason: ReasonBytes, ID: espID(0xabc), Stats: Stats{Bytes: 10, Packets: 2}}
	if got, want := ev.String(), "soft expire of ESP SPI 0x00000abc dst 192.0.2.1 (bytes): 10 bytes, 2 packets"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
