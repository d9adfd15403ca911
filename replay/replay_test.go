package replay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

func mustNew(t testing.TB, size int, esn bool) *Window {
	t.Helper()
	w, err := New(size, esn)
	if err != nil {
		t.Fatalf("New(%d, %v): %v", size, esn, err)
	}
	return w
}

// reason maps an error to the sentinel it wraps, for table comparisons.
func reason(err error) error {
	for _, r := range []error{ErrReplayed, ErrTooOld, ErrOutOfWindow} {
		if errors.Is(err, r) {
			return r
		}
	}
	return err
}

func TestNewSizes(t *testing.T) {
	for _, tc := range []struct {
		size, want int
		bad        bool
	}{
		{0, 0, false},
		{32, 64, false},
		{64, 64, false},
		{65, 128, false},
		{1000, 1024, false},
		{4096, 4096, false},
		{MaxSize, MaxSize, false},
		{1, 0, true},
		{31, 0, true},
		{-5, 0, true},
		{MaxSize + 1, 0, true},
	} {
		w, err := New(tc.size, false)
		if tc.bad {
			if err == nil {
				t.Errorf("New(%d): no error", tc.size)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%d): %v", tc.size, err)
			continue
		}
		if w.Size() != tc.want {
			t.Errorf("New(%d).Size() = %d, want %d", tc.size, w.Size(), tc.want)
		}
	}
}

type step struct {
	seq  uint64
	want error // nil, ErrReplayed, ErrTooOld, ErrOutOfWindow
}

func runSteps(t *testing.T, w *Window, steps []step) {
	t.Helper()
	for i, s := range steps {
		cerr := w.Check(s.seq)
		aerr := w.Accept(s.seq)
		if reason(cerr) != s.want || reason(aerr) != s.want {
			t.Fatalf("step %d seq %d: Check = %v, Accept = %v, want %v", i, s.seq, cerr, aerr, s.want)
		}
	}
}

func TestWindowTable(t *testing.T) {
	const W = 64
	seqs := func(from, to uint64) []step {
		var s []step
		for i := from; i <= to; i++ {
			s = append(s, step{i, nil})
		}
		return s
	}
	cat := func(parts ...[]step) []step {
		var s []step
		for _, p := range parts {
			s = append(s, p...)
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		esn   bool
		steps []step
	}{
		{"in order", false, seqs(1, 500)},
		{"zero never sent", false, []step{{0, ErrOutOfWindow}, {1, nil}, {0, ErrOutOfWindow}}},
		{"duplicate", false, []step{{1, nil}, {1, ErrReplayed}, {2, nil}, {1, ErrReplayed}, {2, ErrReplayed}}},
		{"reordered within window", false, []step{
			{10, nil}, {5, nil}, {7, nil}, {6, nil}, {9, nil}, {8, nil}, {1, nil}, {7, ErrReplayed}, {11, nil}, {10, ErrReplayed},
		}},
		{"too old", false, []step{
			{100, nil}, {100 - W + 1, nil}, {100 - W, ErrTooOld}, {1, ErrTooOld}, {100 - W + 1, ErrReplayed},
		}},
		{"edge of window after block clear", false, []step{
			// top at the last bit of a block, then one more: a whole
			// block is cleared; the bits still in the window survive.
			{127, nil}, {64, nil}, {128, nil}, {65, nil}, {64, ErrTooOld}, {66, nil}, {127, ErrReplayed}, {128, ErrReplayed},
		}},
		{"big jump", false, []step{
			{1, nil}, {2, nil}, {1_000_000, nil}, {2, ErrTooOld}, {999_999, nil}, {1_000_000, ErrReplayed},
			{1_000_000 - W, ErrTooOld}, {1<<32 - 1, nil}, {1<<32 - 2, nil}, {1<<32 - 1, ErrReplayed},
		}},
		{"32-bit limit without ESN", false, []step{{1<<32 - 1, nil}, {1 << 32, ErrOutOfWindow}}},
		{"ESN jump limit", true, []step{
			{5, nil}, {5 + 1<<31 + 1, ErrOutOfWindow}, {5 + 1<<31, nil}, {5, ErrTooOld},
		}},
		{"ESN across 2^32", true, cat(
			[]step{{1 << 31, nil}, {1<<32 - 10, nil}},
			seqs(1<<32-9, 1<<32+3),
			[]step{{1<<32 - 1, ErrReplayed}, {1<<32 - 60, nil}, {1<<32 - 61, ErrTooOld}, {1 << 32, ErrReplayed}},
		)},
		{"ESN reorder across 2^32", true, []step{
			{1 << 31, nil}, {1<<32 - 5, nil}, {1<<32 + 5, nil}, {1<<32 - 1, nil}, {1 << 32, nil}, {1<<32 - 3, nil},
			{1<<32 + 1, nil}, {1 << 32, ErrReplayed}, {1<<32 - 1, ErrReplayed}, {1<<32 + 4, nil}, {1<<32 - 52, nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, mustNew(t, W, tc.esn), tc.steps)
		})
	}
}

func TestDisabled(t *testing.T) {
	w := mustNew(t, 0, false)
	for _, s := range []uint64{0, 1, 1, 5, 1, 1 << 40} {
		if err := w.Check(s); err != nil {
			t.Fatalf("Check(%d) = %v", s, err)
		}
		if err := w.Accept(s); err != nil {
			t.Fatalf("Accept(%d) = %v", s, err)
		}
	}
	// With ESN a disabled window still follows the high half.
	w = mustNew(t, 0, true)
	walk(t, w, 1<<32-4)
	for seq := uint64(1<<32 - 3); seq < 1<<32+3; seq++ {
		if got := w.Infer(uint32(seq)); got != seq {
			t.Fatalf("disabled ESN: Infer(%#x) = %#x, want %#x", uint32(seq), got, seq)
		}
		if err := w.Accept(seq); err != nil {
			t.Fatalf("Accept(%d) = %v", seq, err)
		}
	}
	if got := w.Infer(0xffff_fff0); got != 0xffff_fff0 {
		t.Errorf("disabled ESN: late packet from the previous subspace inferred as %#x", got)
	}
}

func TestErrorText(t *testing.T) {
	w := mustNew(t, 64, false)
	for _, s := range []uint64{17, 200} {
		if err := w.Accept(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		seq  uint64
		want string
	}{
		{200, "replayed packet: sequence number 200 already seen"},
		{17, "packet too old: sequence number 17 is left of the replay window (highest seen 200, window 64)"},
		{0, "sequence number out of window: 0 is never sent"},
		{1 << 33, "sequence number out of window: 8589934592 cannot have been sent (highest seen 200)"},
	} {
		err := w.Check(tc.seq)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Check(%d) = %v, want %q", tc.seq, err, tc.want)
		}
	}
}

// inferModel is Appendix A2.2 stated as a range: the result is the unique
// number with the given low half in [T-W+1, T-W+1+2^32), except that a
// result below 1 (before the first subspace) is taken from subspace 0.
func inferModel(top, size uint64, low uint32) uint64 {
	bottom := int64(top) - int64(size) + 1 // may be negative
	for _, hi := range []int64{int64(top>>32) - 1, int64(top >> 32), int64(top>>32) + 1} {
		if hi < 0 {
			continue
		}
		c := hi<<32 | int64(low)
		if c >= bottom && c < bottom+1<<32 {
			return uint64(c)
		}
	}
	return uint64(low)
}

func TestInfer(t *testing.T) {
	const W = 64
	for _, tc := range []struct {
		top  uint64
		low  uint32
		want uint64
	}{
		{0, 1, 1},
		{100, 101, 101},
		{100, 37, 37},                       // inside the window
		{100, 36, 1<<32 | 36},               // below the window: next subspace (A)
		{1<<32 - 1, 0, 1 << 32},             // wrap of the low half, Th advances
		{1<<32 - 1, 5, 1<<32 | 5},           // ahead across the wrap
		{1<<32 - 1, 1<<32 - 64, 1<<32 - 64}, // bottom of window stays
		{1<<32 + 2, 1<<32 - 3, 1<<32 - 3},   // case B: late packet from the old subspace
		{1<<32 + 2, 7, 1<<32 | 7},           // case B: ahead, same subspace
		{1<<32 + 2, 1<<32 - 61, 1<<32 - 61}, // case B bottom exactly
		{5<<32 + 2, 1<<31 + 5, 5<<32 | (1<<31 + 5)},
		{5<<32 + 2, 1<<32 - 2, 4<<32 | (1<<32 - 2)},
	} {
		w := mustNew(t, W, true)
		if tc.top != 0 {
			w.top = tc.top
			w.topSeen.Store(tc.top)
		}
		got := w.Infer(tc.low)
		if got != tc.want {
			t.Errorf("top %#x: Infer(%#x) = %#x, want %#x", tc.top, tc.low, got, tc.want)
		}
		if m := inferModel(tc.top, W, tc.low); m != tc.want {
			t.Errorf("model disagrees with table: top %#x low %#x: %#x", tc.top, tc.low, m)
		}
	}
	w := mustNew(t, W, false)
	if got := w.Infer(0xffff_ffff); got != 0xffff_ffff {
		t.Errorf("non-ESN Infer = %#x", got)
	}
}

func TestInferRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []uint64{64, 1024, MaxSize, maxESNJump} {
		for range 100000 {
			var top uint64
			switch r.IntN(3) {
			case 0:
				top = r.Uint64N(1 << 20)
			case 1:
				top = r.Uint64N(8)<<32 | uint64(uint32(-int32(r.IntN(1<<17))))
			default:
				top = r.Uint64N(1 << 40)
			}
			low := r.Uint32()
			if r.IntN(2) == 0 {
				low = uint32(top) + uint32(r.IntN(1<<18)) - 1<<17
			}
			if got, want := infer(top, size, low), inferModel(top, size, low); got != want {
				t.Fatalf("size %d top %#x low %#x: infer %#x, model %#x", size, top, low, got, want)
			}
		}
	}
}

// model is the naive reference: every number ever accepted and the highest.
type model struct {
	esn  bool
	size uint64
	top  uint64
	seen map[uint64]bool
}

func (m *model) check(seq uint64) error {
	switch {
	case seq == 0:
		return ErrOutOfWindow
	case seq > m.top:
		if !m.esn && seq > 1<<32-1 || m.esn && seq-m.top > 1<<31 {
			return ErrOutOfWindow
		}
		return nil
	case m.top-seq >= m.size:
		return ErrTooOld
	case m.seen[seq]:
		return ErrReplayed
	}
	return nil
}

func (m *model) accept(seq uint64) error {
	if err := m.check(seq); err != nil {
		return err
	}
	m.seen[seq] = true
	m.top = max(m.top, seq)
	return nil
}

// drive feeds the sequence numbers to both the window and the model and
// fails at the first disagreement.
func drive(t testing.TB, w *Window, m *model, seqs []uint64) {
	t.Helper()
	for i, s := range seqs {
		if got, want := reason(w.Check(s)), m.check(s); got != want {
			t.Fatalf("size %d esn %v step %d: Check(%d) = %v, model %v", m.size, m.esn, i, s, got, want)
		}
		if got, want := reason(w.Accept(s)), m.accept(s); got != want {
			t.Fatalf("size %d esn %v step %d: Accept(%d) = %v, model %v", m.size, m.esn, i, s, got, want)
		}
		if w.top != m.top {
			t.Fatalf("step %d: top %d, model %d", i, w.top, m.top)
		}
	}
}

// randomSeqs makes a sender-like stream: mostly advancing, with reordering,
// duplicates, stale packets and occasional jumps.
func randomSeqs(r *rand.Rand, n int, size, start uint64) []uint64 {
	out := make([]uint64, 0, n)
	next := start
	for range n {
		var s uint64
		switch k := r.IntN(100); {
		case k < 50:
			s = next
			next++
		case k < 75: // reordered, around the window edge
			back := r.Uint64N(size + size/2 + 2)
			if back < next {
				s = next - back
			} else {
				s = next
			}
		case k < 85: // duplicate of a recent one
			if len(out) > 0 {
				s = out[len(out)-1-r.IntN(min(len(out), 8))]
			}
		case k < 93: // gap
			next += r.Uint64N(3 * size)
			s = next
		case k < 96: // jump across many blocks
			next += r.Uint64N(1 << 20)
			s = next
		case k < 98:
			s = 0
		default:
			s = next + 1<<31 - 1 + r.Uint64N(3)
		}
		out = append(out, s)
	}
	return out
}

func TestAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{32, 64, 100, 128, 1000, 4096, MaxSize} {
		for _, esn := range []bool{false, true} {
			for _, start := range []uint64{1, 1<<32 - 5000} {
				t.Run(fmt.Sprintf("size%d/esn%v/start%d", size, esn, start), func(t *testing.T) {
					w := mustNew(t, size, esn)
					m := &model{esn: esn, size: uint64(w.Size()), seen: map[uint64]bool{}}
					drive(t, w, m, randomSeqs(r, 20000, uint64(w.Size()), start))
				})
			}
		}
	}
}

// walk accepts numbers up to and including to in steps the ESN jump limit
// allows, so that a test can start at any point of the 64-bit space.
func walk(t testing.TB, w *Window, to uint64) {
	t.Helper()
	for top := w.Top(); top < to; top = w.Top() {
		next := min(to, top+1<<31)
		if err := w.Accept(next); err != nil {
			t.Fatalf("walk: Accept(%#x): %v", next, err)
		}
	}
}

// TestESNWireRoundTrip plays a sender that only puts the low 32 bits on the
// wire across several wraps, with reordering; the receiver must infer every
// full number exactly and accept each packet once.
func TestESNWireRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	w := mustNew(t, 128, true)
	walk(t, w, 1<<32-20001)
	var pending []uint64
	accepted := 0
	for seq := uint64(1<<32 - 20000); seq < 3<<32+20000; {
		if seq%(1<<32) == 20000 {
			// Skip most of a subspace; the sender's packets in
			// between are lost. Drain first.
			for _, s := range pending {
				if err := w.Accept(w.Infer(uint32(s))); err != nil {
					t.Fatalf("Accept(%#x): %v", s, err)
				}
			}
			pending = pending[:0]
			seq += 1<<32 - 40000
			walk(t, w, seq-1)
		}
		pending = append(pending, seq)
		seq++
		// Deliver random pending packets, keeping reordering within
		// the window: pending stays in sending order and the oldest
		// goes first once it lags 100 behind.
		for len(pending) > 40 || (len(pending) > 0 && r.IntN(2) == 0) {
			i := r.IntN(len(pending))
			if seq-pending[0] > 100 {
				i = 0
			}
			s := pending[i]
			pending = append(pending[:i], pending[i+1:]...)
			got := w.Infer(uint32(s))
			if got != s {
				t.Fatalf("Infer(%#x) = %#x, want %#x (top %#x)", uint32(s), got, s, w.Top())
			}
			if err := w.Check(got); err != nil {
				t.Fatalf("Check(%#x): %v", got, err)
			}
			if err := w.Accept(got); err != nil {
				t.Fatalf("Accept(%#x): %v", got, err)
			}
			accepted++
			// A replay of the same wire number is refused.
			if err := w.Check(w.Infer(uint32(s))); !errors.Is(err, ErrReplayed) {
				t.Fatalf("replay of %#x: %v", s, err)
			}
		}
	}
	if accepted < 100000 {
		t.Fatalf("only %d packets accepted", accepted)
	}
}

// TestConcurrentAccept has several goroutines accept overlapping numbers:
// each number must be accepted exactly once in total.
func TestConcurrentAccept(t *testing.T) {
	const (
		workers = 8
		n       = 20000
	)
	w := mustNew(t, 1024, true)
	var wg sync.WaitGroup
	counts := make([][]int, workers)
	for g := range workers {
		counts[g] = make([]int, n+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for base := uint64(1); base <= n; base += 64 {
				// every goroutine tries the same block of 64, shuffled
				perm := r.Perm(64)
				for _, p := range perm {
					s := base + uint64(p)
					if s > n {
						continue
					}
					full := w.Infer(uint32(s))
					if w.Check(full) != nil {
						continue
					}
					if err := w.Accept(full); err == nil {
						counts[g][s]++
					} else if !errors.Is(err, ErrReplayed) && !errors.Is(err, ErrTooOld) {
						t.Errorf("Accept(%d): %v", s, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for s := 1; s <= n; s++ {
		total := 0
		for g := range workers {
			total += counts[g][s]
		}
		if total > 1 {
			t.Fatalf("seq %d accepted %d times", s, total)
		}
	}
}

func BenchmarkInOrder(b *testing.B) {
	for _, size := range []int{64, 1024, 4096} {
		b.Run(fmt.Sprintf("size%d", size), func(b *testing.B) {
			w := mustNew(b, size, true)
			b.ReportAllocs()
			seq := uint64(0)
			for b.Loop() {
				seq++
				full := w.Infer(uint32(seq))
				if err := w.Check(full); err != nil {
					b.Fatal(err)
				}
				if err := w.Accept(full); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReordered(b *testing.B) {
	w := mustNew(b, 1024, true)
	// Pairs swapped and every 16th delayed by 500: all accepted once.
	const period = 1 << 16
	order := make([]uint64, 0, period)
	for i := uint64(0); i < period; i += 2 {
		order = append(order, i+1, i)
	}
	for i := 0; i+500 < len(order); i += 16 {
		order[i], order[i+500] = order[i+500], order[i]
	}
	b.ReportAllocs()
	var base uint64 = 1
	i := 0
	for b.Loop() {
		full := w.Infer(uint32(base + order[i]))
		if err := w.Check(full); err != nil {
			b.Fatal(err)
		}
		if err := w.Accept(full); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(order) {
			i = 0
			base += period
		}
	}
}

func BenchmarkReplayedDrop(b *testing.B) {
	w := mustNew(b, 1024, true)
	for s := uint64(1); s <= 1024; s++ {
		if err := w.Accept(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Check(w.Infer(500)); err == nil {
			b.Fatal("replay accepted")
		}
	}
}

// BenchmarkParallel has all goroutines share one SA, taking numbers from a
// shared counter, as several workers decrypting one busy SA would.
func BenchmarkParallel(b *testing.B) {
	w := mustNew(b, 4096, true)
	var seq atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := seq.Add(1)
			full := w.Infer(uint32(s))
			if w.Check(full) == nil {
				_ = w.Accept(full) // late ones may fall out of the window
			}
		}
	})
}
