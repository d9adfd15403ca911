package sad

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// modelSA is the naive reference state of one SA.
type modelSA struct {
	life     Lifetime
	added    time.Time
	packets  uint64
	bytes    uint64
	softDone bool
	entry    *Entry
}

type evKey struct {
	kind   EventKind
	reason Reason
	spi    uint32
}

// FuzzOps runs a sequence of operations taken from the input (the SPIs,
// sizes and lifetimes a peer and the clock might produce) against the DB
// and a naive model, comparing errors, events, counters and Len.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 3, 5, 1, 1, 10, 1, 1, 10, 1, 1, 10, 3, 20, 2, 1})
	f.Add([]byte{0, 2, 0x33, 0x44, 0, 2, 0x33, 0x44, 3, 5, 3, 100, 1, 2, 200, 2, 2})
	f.Add([]byte{0, 1, 0xff, 0xff, 0, 2, 0x12, 0x34, 1, 1, 0xff, 1, 2, 0xff, 3, 0xff, 2, 1, 2, 2})
	f.Add([]byte{0, 3, 0x81, 0x02, 0, 4, 0x82, 0x03, 3, 9, 3, 9, 3, 9, 1, 3, 1, 1, 4, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		db, clock := newDB(t, 64)
		model := map[uint32]*modelSA{}
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		var want []evKey
		for step := 0; len(data) > 0 && step < 500; step++ {
			op, spi := next()%5, uint32(next()%8)+1
			id := espID(spi)
			m := model[spi]
			switch op {
			case 0: // add
				a, b := next(), next()
				life := Lifetime{
					SoftPackets: uint64(a & 0x0f), HardPackets: uint64(a >> 4),
					SoftBytes: uint64(b&0x0f) * 100, HardBytes: uint64(b>>4) * 100,
					SoftTime: time.Duration(a&0x03) * time.Second, HardTime: time.Duration(b&0x03) * time.Second,
				}
				e, err := db.Add(id, &fakeTransform{}, life)
				switch {
				case life.validate() != nil:
					if err == nil {
						t.Fatalf("step %d: Add accepted invalid %+v", step, life)
					}
				case m != nil:
					if !errors.Is(err, ErrDuplicate) {
						t.Fatalf("step %d: duplicate Add: %v", step, err)
					}
				case err != nil:
					t.Fatalf("step %d: Add: %v", step, err)
				default:
					model[spi] = &modelSA{life: life, added: clock.Now(), entry: e}
				}
			case 1: // account one packet
				n := uint64(next())
				var e *Entry
				if m != nil {
					e = m.entry
				} else if e = db.Lookup(id); e != nil {
					t.Fatalf("step %d: Lookup found removed SA %v", step, id)
				}
				if e == nil {
					continue
				}
				err := e.Account(int(n))
				l := m.life
				p, b := m.packets+1, m.bytes+n
				wantErr := false
				switch {
				case l.HardPackets != 0 && p >= l.HardPackets || l.HardBytes != 0 && b >= l.HardBytes:
					r := ReasonBytes
					if l.HardPackets != 0 && p >= l.HardPackets {
						r = ReasonPackets
					}
					want = append(want, evKey{HardExpire, r, spi})
					delete(model, spi)
					wantErr = l.HardPackets != 0 && p > l.HardPackets || l.HardBytes != 0 && b > l.HardBytes
				case !m.softDone && (l.SoftPackets != 0 && p >= l.SoftPackets || l.SoftBytes != 0 && b >= l.SoftBytes):
					r := ReasonBytes
					if l.SoftPackets != 0 && p >= l.SoftPackets {
						r = ReasonPackets
					}
					want = append(want, evKey{SoftExpire, r, spi})
					m.softDone = true
				}
				if !wantErr {
					m.packets, m.bytes = p, b
				}
				if (err != nil) != wantErr {
					t.Fatalf("step %d: Account(%d) = %v, want error %v", step, n, err, wantErr)
				}
				if s := e.Stats(); s.Packets != m.packets || s.Bytes != m.bytes {
					t.Fatalf("step %d: stats %+v, model %d packets %d bytes", step, s, m.packets, m.bytes)
				}
			case 2: // delete
				err := db.Delete(id)
				if (m == nil) != errors.Is(err, ErrNotFound) {
					t.Fatalf("step %d: Delete: %v (present %v)", step, err, m != nil)
				}
				delete(model, spi)
			default: // advance the clock and expire
				now := clock.Advance(time.Duration(next()%4) * time.Second / 2)
				db.Expire(now)
				for s, m := range model {
					l := m.life
					soft := l.SoftTime != 0 && l.SoftTime != l.HardTime && !now.Before(m.added.Add(l.SoftTime))
					if soft && !m.softDone {
						want = append(want, evKey{SoftExpire, ReasonTime, s})
						m.softDone = true
					}
					if l.HardTime != 0 && !now.Before(m.added.Add(l.HardTime)) {
						want = append(want, evKey{HardExpire, ReasonTime, s})
						delete(model, s)
					}
				}
			}
			var got []evKey
			for _, ev := range drain(db) {
				got = append(got, evKey{ev.Kind, ev.Reason, ev.ID.SPI})
			}
			cmp := func(a, b evKey) int {
				return int(a.spi)<<8 | int(a.kind) - (int(b.spi)<<8 | int(b.kind))
			}
			slices.SortFunc(got, cmp)
			slices.SortFunc(want, cmp)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d (op %d): events %v, model %v", step, op, got, want)
			}
			want = want[:0]
			if db.Len() != len(model) {
				t.Fatalf("step %d: Len %d, model %d", step, db.Len(), len(model))
			}
		}
		for spi := range model {
			if db.Lookup(espID(spi)) == nil {
				t.Fatalf("%v missing", espID(spi))
			}
		}
	})
}
