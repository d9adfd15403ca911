package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Test types whose methods slog calls.

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

type ptrStringer struct{ s string }

func (p *ptrStringer) String() string { return p.s } // panics on nil: fmt writes <nil>

type marshaler struct{ s string }

func (m marshaler) MarshalText() ([]byte, error) { return []byte(m.s), nil }

type failingMarshaler struct{}

func (failingMarshaler) MarshalText() ([]byte, error) { return nil, errors.New("no text = here") }

type ptrMarshaler struct{ s string }

func (p *ptrMarshaler) MarshalText() ([]byte, error) { return []byte(p.s), nil } // panics on nil

type panicMarshaler struct{}

func (panicMarshaler) MarshalText() ([]byte, error) { panic("marshal exploded") }

type panicStringer struct{}

func (panicStringer) String() string { panic("stringer exploded") }

type formatter struct{}

func (formatter) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "formatted %c plus=%v", verb, f.Flag('+'))
}

func (formatter) Error() string { return "not this" }

type valuer struct{ v slog.Value }

func (v valuer) LogValue() slog.Value { return v.v }

type loopValuer struct{}

func (l loopValuer) LogValue() slog.Value { return slog.AnyValue(l) }

type bytesNamed []byte

type byteNamed byte

type point struct {
	X, Y int
	Name string
}

// textCase is one line: handler derivations, then a record.
type textCase struct {
	name  string
	with  func(slog.Handler) slog.Handler // nil: none
	t     time.Time
	level slog.Level
	msg   string
	attrs []slog.Attr
}

var (
	when     = time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC)
	ipv6Zone = netip.MustParseAddr("fe80::1").WithZone("eth 0")
)

// tricky are strings on both sides of each quoting rule.
var tricky = []string{
	"", "plain", "with space", "a=b", `say "hi"`, `back\slash`, "tab\there", "new\nline", "cr\r",
	"nul\x00", "del\x7f", "x\x1f", "\x7f", "bell\a", "é", "日本語", "nbsp\u00a0x", "em\u2003space", "\u2028", "zero\u200bwidth",
	"\xff", "ok\xc3", "\ufffd", "emoji 😀", "😀", "-", ".", "=", `"`, "\\", "'single'", "{}", "[x]", "10.0.0.1/24",
	"\U0010ffff", "\u00ad", "a.b.c",
}

func textCases() []textCase {
	var cs []textCase
	add := func(c textCase) {
		if c.t.IsZero() && !strings.HasPrefix(c.name, "notime") {
			c.t = when
		}
		cs = append(cs, c)
	}
	for i, s := range tricky {
		add(textCase{name: fmt.Sprintf("msg%d", i), msg: s})
		add(textCase{name: fmt.Sprintf("value%d", i), msg: "m", attrs: []slog.Attr{slog.String("k", s)}})
		add(textCase{name: fmt.Sprintf("key%d", i), msg: "m", attrs: []slog.Attr{slog.String(s, "v"), slog.Int(s, 1)}})
		add(textCase{name: fmt.Sprintf("groupkey%d", i), msg: "m", attrs: []slog.Attr{slog.Group(s, slog.String("k", "v"), slog.String(s, s))}})
		add(textCase{name: fmt.Sprintf("withgroup%d", i), msg: "m", attrs: []slog.Attr{slog.String("k", s)},
			with: func(h slog.Handler) slog.Handler { return h.WithGroup(s).WithAttrs([]slog.Attr{slog.String(s, s)}) }})
		add(textCase{name: fmt.Sprintf("any%d", i), msg: "m", attrs: []slog.Attr{slog.Any("b", []byte(s)), slog.Any("st", stringer{s}),
			slog.Any("tm", marshaler{s}), slog.Any("e", errors.New(s)), slog.Any("ss", []string{s}), slog.Any("ss2", []string{s, "x"}),
			slog.Any("nb", bytesNamed(s)), slog.Any("p", point{1, 2, s}), slog.Any("m", map[string]string{s: s})}})
	}
	add(textCase{name: "levels", level: slog.LevelDebug, msg: "d"})
	for _, l := range []slog.Level{-8, -5, -4, -3, 0, 1, 2, 4, 6, 8, 9, 100} {
		add(textCase{name: "level" + l.String(), level: l, msg: "x"})
	}
	add(textCase{name: "notime", msg: "no time", attrs: []slog.Attr{slog.Int("a", 1)}})
	add(textCase{name: "notime-with", msg: "no time", with: func(h slog.Handler) slog.Handler {
		return h.WithAttrs([]slog.Attr{slog.String("subsys", "ike")})
	}})
	for _, tm := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 1000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999999, time.UTC),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.FixedZone("CEST", 2*3600)),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.FixedZone("", -(5*3600+30*60))),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.FixedZone("", 30)),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.FixedZone("", -30)),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.FixedZone("", -90)),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.FixedZone("", 3600+59)),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.FixedZone("", 101*3600)),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.FixedZone("", -100*3600-60)),
		time.Date(2026, 6, 2, 3, 4, 5, 6e6, time.Local),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(0, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 5e6, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 5e6, time.UTC),
		time.Date(-12345, 1, 1, 0, 0, 0, 5e6, time.FixedZone("", 7200)),
		time.Unix(0, 0),
		time.Now(),
	} {
		add(textCase{name: "time" + tm.String(), t: tm, msg: "t", attrs: []slog.Attr{slog.Time("at", tm), slog.Any("tany", tm)}})
	}
	add(textCase{name: "zero-time-attr", msg: "m", attrs: []slog.Attr{slog.Time("z", time.Time{})}})

	var nilErr error
	var nilStringer *ptrStringer
	var nilMarshaler *ptrMarshaler
	var nilSource *slog.Source
	add(textCase{name: "kinds", msg: "kinds", attrs: []slog.Attr{
		slog.Int("i", -42), slog.Int64("i64", math.MinInt64), slog.Int64("imax", math.MaxInt64), slog.Uint64("u", math.MaxUint64),
		slog.Any("u32", uint32(4711)), slog.Any("u8", uint8(7)), slog.Any("i8", int8(-7)), slog.Any("uptr", uintptr(9)),
		slog.Float64("f", 3.25), slog.Float64("fsmall", 1e-300), slog.Float64("fbig", 1e21), slog.Float64("nan", math.NaN()),
		slog.Float64("inf", math.Inf(1)), slog.Float64("ninf", math.Inf(-1)), slog.Float64("nz", math.Copysign(0, -1)),
		slog.Any("f32", float32(0.1)), slog.Bool("t", true), slog.Bool("f", false),
	}})
	durs := []time.Duration{0, 1, 999, time.Microsecond, 1500 * time.Nanosecond, time.Millisecond + 1, time.Second, 90 * time.Minute,
		-time.Second, -1, math.MinInt64, math.MaxInt64, 2540400*time.Hour + 10*time.Minute + 10*time.Second}
	for _, d := range durs {
		add(textCase{name: "dur" + d.String(), msg: "d", attrs: []slog.Attr{slog.Duration("d", d), slog.Any("da", d)}})
	}
	add(textCase{name: "any", msg: "any", attrs: []slog.Attr{
		slog.Any("nil", nil), slog.Any("", nil), slog.Any("nilerr", nilErr), slog.Any("err", fmt.Errorf("wrap: %w", errors.New("inner"))),
		slog.Any("nilstringer", nilStringer), slog.Any("nilmarshaler", nilMarshaler), slog.Any("panic", panicMarshaler{}),
		slog.Any("failing", failingMarshaler{}), slog.Any("panicstringer", panicStringer{}), slog.Any("formatter", formatter{}), slog.Any("marshaler", &ptrMarshaler{"ptr"}),
		slog.Any("bytes", []byte(nil)), slog.Any("bytes2", []byte{0, 1, 'a'}), slog.Any("byteNamed", []byteNamed{'h', 'i'}),
		slog.Any("raw", json.RawMessage(`{"a":1}`)), slog.Any("kind", slog.KindInt64), slog.Any("value", slog.IntValue(3)),
		slog.Any("strs", []string(nil)), slog.Any("strs0", []string{}), slog.Any("strs1", []string{"10.99.1.0/24"}),
		slog.Any("strs2", []string{"10.99.1.0/24", "10.99.2.0/24"}), slog.Any("ints", []int{1, 2}),
		slog.Any("struct", point{1, 2, "n"}), slog.Any("ptrstruct", &point{1, 2, "n"}), slog.Any("emptystruct", struct{}{}),
		slog.Any("ch", (chan int)(nil)), slog.Any("fn", (func())(nil)),
		slog.Any("nilsrc", nilSource), slog.Any("zerosrc", &slog.Source{}), slog.Any("src", &slog.Source{File: "a b.go", Line: 7}),
		slog.Any("srcval", slog.Source{File: "x.go", Line: 1}),
	}})
	add(textCase{name: "netip", msg: "addresses", attrs: []slog.Attr{
		slog.Any("ap", netip.MustParseAddrPort("192.0.2.1:500")), slog.Any("ap6", netip.MustParseAddrPort("[2001:db8::1]:4500")),
		slog.Any("ap0", netip.AddrPort{}), slog.Any("a", netip.MustParseAddr("198.51.100.7")), slog.Any("a0", netip.Addr{}),
		slog.Any("a4in6", netip.MustParseAddr("::ffff:1.2.3.4")), slog.Any("zone", ipv6Zone),
		slog.Any("zoneport", netip.AddrPortFrom(ipv6Zone, 500)), slog.Any("pfx", netip.MustParsePrefix("10.0.0.0/8")),
		slog.Any("pfx0", netip.Prefix{}), slog.Any("pfxbad", netip.PrefixFrom(netip.MustParseAddr("10.0.0.1"), 40)),
		slog.Any("pap", &netip.AddrPort{}),
	}})
	add(textCase{name: "valuers", msg: "valuers", attrs: []slog.Attr{
		slog.Any("lv", valuer{slog.StringValue("resolved value")}),
		slog.Any("lvgroup", valuer{slog.GroupValue(slog.Int("a", 1), slog.Any("b", valuer{slog.BoolValue(true)}))}),
		slog.Any("lvempty", valuer{slog.GroupValue()}),
		slog.Any("lvnested", valuer{slog.AnyValue(valuer{slog.IntValue(2)})}),
		slog.Any("loop", loopValuer{}),
		slog.Any("", valuer{slog.GroupValue(slog.String("inl", "ined"))}),
		slog.Any("", valuer{slog.AnyValue(nil)}),
		slog.Any("zeroval", valuer{}),
	}})
	add(textCase{name: "empty-keys", msg: "m", attrs: []slog.Attr{
		slog.String("", ""), slog.Int("", 0), slog.Int("", 1), slog.Bool("", false), {}, slog.Any("", []byte(nil)),
		slog.Group("", slog.Int("in", 1)), slog.Group(""), slog.Group("e"), slog.Any("", slog.Value{}),
	}})
	add(textCase{name: "groups", msg: "groups", attrs: []slog.Attr{
		slog.Group("a", slog.Int("x", 1), slog.Group("b", slog.String("y", "two words"), slog.Group("c")), slog.Bool("z", true)),
		slog.Group("", slog.Group("", slog.Int("deep", 3))),
		slog.Group("only-empty", slog.Any("", nil)), // slog leaves "only-empty." on the keys that follow
		slog.Int("after", 1),
		slog.Group("g2", slog.Group("g3", slog.Any("", nil)), slog.Int("k", 2)),
		slog.Group("g4", slog.Any("lvempty", valuer{slog.GroupValue()})),
		slog.Int("last", 9),
	}})
	// handler chains
	chains := map[string]func(slog.Handler) slog.Handler{
		"with": func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.String("subsys", "ike"), slog.Int("n", 1)})
		},
		"with-with": func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.String("a", "1")}).WithAttrs([]slog.Attr{slog.String("b", "2 3")})
		},
		"group": func(h slog.Handler) slog.Handler { return h.WithGroup("g") },
		"group-group": func(h slog.Handler) slog.Handler {
			return h.WithGroup("g").WithGroup("h")
		},
		"with-group-with": func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.String("a", "1")}).WithGroup("g").WithAttrs([]slog.Attr{slog.String("b", "2")})
		},
		"group-with-group": func(h slog.Handler) slog.Handler {
			return h.WithGroup("g").WithAttrs([]slog.Attr{slog.String("b", "2")}).WithGroup("h")
		},
		"group-with-group-with": func(h slog.Handler) slog.Handler {
			return h.WithGroup("g").WithAttrs([]slog.Attr{slog.String("b", "2")}).WithGroup("h").
				WithAttrs([]slog.Attr{slog.Group("i", slog.Int("c", 3))})
		},
		"with-empty-groups": func(h slog.Handler) slog.Handler {
			return h.WithGroup("g").WithAttrs([]slog.Attr{slog.Group("e"), slog.Group("f")})
		},
		"with-nothing": func(h slog.Handler) slog.Handler {
			return h.WithAttrs(nil).WithGroup("g").WithAttrs([]slog.Attr{})
		},
		"with-only-empty-attrs": func(h slog.Handler) slog.Handler {
			return h.WithGroup("g").WithAttrs([]slog.Attr{slog.Any("", nil), slog.Group("x", slog.Any("", nil))})
		},
		"with-valuer-empty-group": func(h slog.Handler) slog.Handler {
			// an empty group from a LogValuer counts as written: slog's
			// separator logic then puts a space first
			return h.WithAttrs([]slog.Attr{slog.Group("a", slog.Any("x", valuer{slog.GroupValue()})), slog.Int("k", 1)})
		},
		"with-valuer-empty-group-only": func(h slog.Handler) slog.Handler {
			return h.WithGroup("g").WithAttrs([]slog.Attr{slog.Any("x", valuer{slog.GroupValue()})}).WithAttrs([]slog.Attr{slog.Int("k", 1)})
		},
		"empty-group-name": func(h slog.Handler) slog.Handler {
			return h.WithGroup("").WithAttrs([]slog.Attr{slog.Int("k", 1)}).WithGroup("")
		},
		"quoted-group": func(h slog.Handler) slog.Handler {
			return h.WithGroup("a b").WithAttrs([]slog.Attr{slog.Int("k", 1), slog.Int("", 2)})
		},
		"with-broken-group": func(h slog.Handler) slog.Handler {
			return h.WithAttrs([]slog.Attr{slog.Group("left", slog.Any("", nil)), slog.Int("k", 1)})
		},
	}
	recs := [][]slog.Attr{
		nil,
		{slog.Int("r", 1)},
		{slog.Any("", nil)},
		{slog.Group("rg", slog.String("s", "x y"))},
		{slog.Group("e")},
		{slog.Int("", 5), slog.String("k", "")},
	}
	for name, chain := range chains {
		for i, as := range recs {
			add(textCase{name: fmt.Sprintf("%s/%d", name, i), with: chain, msg: "chained", attrs: as})
		}
	}
	// the IKE SA lines
	add(textCase{name: "ike", msg: "IKE SA established", with: func(h slog.Handler) slog.Handler {
		return h.WithAttrs([]slog.Attr{slog.String(Key, "ike")})
	}, attrs: ikeAttrs()})
	return cs
}

func ikeAttrs() []slog.Attr {
	return []slog.Attr{slog.String("conn", "rw"), slog.Any("ike", uint32(4711)), slog.String("peer", "198.51.100.7"),
		slog.Any("local", netip.MustParseAddrPort("192.0.2.1:500")), slog.Any("remote", netip.MustParseAddrPort("198.51.100.7:4500")),
		slog.String("local_id", "gw.cygnet.test"), slog.String("remote_id", "c17.cygnet.test"), slog.Bool("nat_local", false),
		slog.Bool("nat_remote", false), slog.String("spi_i", "c1a2b3c4d5e6f708"), slog.String("spi_r", "0102030405060708"),
		slog.Duration("took", 1500*time.Microsecond)}
}

// render formats c with the handler newH makes.
func render(c textCase, newH func(io.Writer, *slog.HandlerOptions) slog.Handler) (string, int) {
	w := &countingWriter{}
	var h slog.Handler = newH(w, &slog.HandlerOptions{Level: slog.LevelDebug - 10})
	if c.with != nil {
		h = c.with(h)
	}
	r := slog.NewRecord(c.t, c.level, c.msg, 0)
	r.AddAttrs(c.attrs...)
	_ = h.Handle(context.Background(), r)
	return w.get()
}

func slogText(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }

// Every line comes out of textHandler as slog's TextHandler writes it,
// in one Write.
func TestTextHandlerSameAsSlog(t *testing.T) {
	cs := textCases()
	for _, c := range cs {
		want, _ := render(c, slogText)
		got, writes := render(c, newTextHandler)
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, want)
		}
		if writes != 1 {
			t.Errorf("%s: %d writes, want 1", c.name, writes)
		}
	}
	t.Logf("%d lines compared", len(cs))
}

// The same with the level filter and logger of New, as the daemon uses them.
func TestNewTextSameAsSlog(t *testing.T) {
	var got, want bytes.Buffer
	mine, err := New(&got, "text", Levels{Default: slog.LevelInfo, Sub: map[string]slog.Level{"ike": slog.LevelDebug}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mine.Handler().(*handler).next.(*textHandler); !ok {
		t.Fatalf("New's text handler is %T", mine.Handler().(*handler).next)
	}
	theirs := slog.New(&handler{next: slog.NewTextHandler(&want, &slog.HandlerOptions{Level: slog.LevelDebug}),
		levels: Levels{Default: slog.LevelInfo, Sub: map[string]slog.Level{"ike": slog.LevelDebug}}})
	for _, l := range []*slog.Logger{mine, theirs} {
		ike := Subsystem(l, "ike").With("conn", "rw")
		ike.Debug("sending", "len", 312, "peer", netip.MustParseAddrPort("198.51.100.7:4500"))
		ike.Info("IKE SA established", "spi", "c1a2b3c4")
		Subsystem(l, "esp").Debug("filtered")
		Subsystem(l, "esp").WithGroup("sa").Info("installed", "spi", 0x1234, "tunnel", true)
		l.Warn("reload", "err", errors.New("file.conf:3: bad = value"))
	}
	// the times differ: compare from the level on
	strip := func(s string) string {
		var b strings.Builder
		for _, line := range strings.SplitAfter(s, "\n") {
			_, rest, _ := strings.Cut(line, " ")
			b.WriteString(rest)
		}
		return b.String()
	}
	if strip(got.String()) != strip(want.String()) || strings.Count(got.String(), "\n") != 4 {
		t.Errorf("got\n%s\nwant\n%s", got.String(), want.String())
	}
}

// Options the handler lacks give slog's handler, which honours them.
func TestTextHandlerFallsBack(t *testing.T) {
	var b bytes.Buffer
	h := newTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	slog.New(h).Info("hi", "k", 1)
	if b.String() != "level=INFO msg=hi k=1\n" {
		t.Errorf("with ReplaceAttr: %q", b.String())
	}
	if _, ok := newTextHandler(&b, &slog.HandlerOptions{AddSource: true}).(*slog.TextHandler); !ok {
		t.Error("AddSource: not slog's handler")
	}
	if _, ok := newTextHandler(&b, nil).(*textHandler); !ok {
		t.Error("nil options: not ours")
	}
	if newTextHandler(&b, nil).Enabled(context.Background(), slog.LevelDebug) {
		t.Error("nil options: debug enabled")
	}
}

// Handlers derived from one share its writer one line at a time (the
// writer here has no lock of its own: -race sees an unserialised Write),
// each line whole, and pooled buffers do not leak one line into another.
func TestTextHandlerConcurrent(t *testing.T) {
	var out bytes.Buffer
	base := newTextHandler(&out, nil)
	const goroutines, lines = 4, 200
	done := make(chan struct{})
	for g := range goroutines {
		go func() {
			defer func() { done <- struct{}{} }()
			h := base.WithAttrs([]slog.Attr{slog.Int("g", g)}).WithGroup("sa")
			for i := range lines {
				r := slog.NewRecord(time.Time{}, slog.LevelInfo, "line", 0)
				r.AddAttrs(slog.Int("i", i), slog.String("pad", strings.Repeat("x", 1+g*300)))
				_ = h.Handle(context.Background(), r)
			}
		}()
	}
	for range goroutines {
		<-done
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(line, "level=INFO msg=line g=%d sa.i=%d sa.pad=%s", &g, &i, &pad); err != nil || pad != strings.Repeat("x", 1+g*300) {
			t.Fatalf("line %q: %v", line, err)
		}
		seen[fmt.Sprint(g, i)] = true
	}
	if len(seen) != goroutines*lines {
		t.Errorf("%d distinct lines, want %d", len(seen), goroutines*lines)
	}
}

// panicWriter panics on its first write.
type panicWriter struct {
	bytes.Buffer
	panicked bool
}

func (p *panicWriter) Write(b []byte) (int, error) {
	if !p.panicked {
		p.panicked = true
		panic("disk on fire")
	}
	return p.Buffer.Write(b)
}

// A writer's panic (which the daemon recovers from) leaves the handler
// usable: the next line is written, not blocked on the lock.
func TestTextHandlerWriterPanic(t *testing.T) {
	w := &panicWriter{}
	l := slog.New(newTextHandler(w, nil))
	func() {
		defer func() { _ = recover() }()
		l.Info("first")
	}()
	done := make(chan struct{})
	go func() {
		l.Info("second")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the line after a writer's panic blocked")
	}
	if !strings.HasSuffix(w.String(), "level=INFO msg=second\n") {
		t.Errorf("wrote %q", w.String())
	}
}

// The common kinds (and the IKE SA line's addresses) format without an
// allocation per line.
func TestTextHandlerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts do not hold under the race detector (the plain run checks them)")
	}
	h := newTextHandler(io.Discard, nil).WithAttrs([]slog.Attr{slog.String(Key, "ike")}).WithGroup("g")
	r := slog.NewRecord(when, slog.LevelInfo, "IKE SA established", 0)
	r.AddAttrs(ikeAttrs()...)
	r.AddAttrs(slog.Time("t", when), slog.Int("i", -1), slog.Uint64("u", 2), slog.Any("ts", []string{"10.99.1.0/24"}),
		slog.Group("grp", slog.String("quoted", "a b")))
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { _ = h.Handle(ctx, r) }); n != 0 {
		t.Errorf("%v allocations per line, want 0", n)
	}
}

// FuzzTextHandler compares textHandler's lines with slog's for arbitrary
// messages, keys, values, group names, numbers and times.
func FuzzTextHandler(f *testing.F) {
	for i, s := range tricky {
		f.Add(s, tricky[(i+1)%len(tricky)], tricky[(i+7)%len(tricky)], tricky[(i+13)%len(tricky)], int64(i)*1e15, uint64(i), 1.5*float64(i))
	}
	f.Add("IKE SA established", "spi_i", "c1a2b3c4", "ike", int64(1799999999123456789), uint64(4711), 0.25)
	f.Add("", "", "", "", int64(math.MinInt64), uint64(math.MaxUint64), math.Inf(-1))
	f.Fuzz(func(t *testing.T, msg, key, val, group string, n int64, u uint64, fl float64) {
		tm := time.Unix(0, n).In(time.FixedZone(group, int(n%200000)))
		attrs := []slog.Attr{
			slog.String(key, val), slog.Int64(val, n), slog.Uint64(key, u), slog.Float64(group, fl), slog.Bool(key, n&1 == 0),
			slog.Duration(val, time.Duration(n)), slog.Time(key, tm), slog.Any(key, []byte(val)), slog.Any(val, []string{key, val}),
			slog.Any(group, errors.New(val)), slog.Any(key, stringer{val}), slog.Any(val, marshaler{key}),
			slog.Group(group, slog.String(key, val), slog.Group(val, slog.Int(key, int(n)))),
			slog.Any(key, netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(n), byte(u), 0, 1}), uint16(u))),
			slog.Any(val, valuer{slog.StringValue(msg)}),
		}
		if addr, err := netip.ParseAddr(val); err == nil {
			attrs = append(attrs, slog.Any(key, addr))
		}
		with := func(h slog.Handler) slog.Handler {
			h = h.WithAttrs([]slog.Attr{slog.String(key, val)})
			if n%3 == 0 {
				h = h.WithGroup(group)
			}
			if n%5 < 2 {
				h = h.WithAttrs([]slog.Attr{slog.String(val, key), slog.Group(key, slog.String(group, msg))})
			}
			if n%7 == 0 {
				h = h.WithGroup(key)
			}
			return h
		}
		for _, c := range []textCase{
			{t: tm, level: slog.Level(n % 20), msg: msg, attrs: attrs},
			{t: tm, level: slog.LevelInfo, msg: msg, attrs: attrs[int(u%uint64(len(attrs))):], with: with},
		} {
			want, _ := render(c, slogText)
			got, writes := render(c, newTextHandler)
			if got != want || writes != 1 {
				t.Fatalf("%d writes\n got %q\nwant %q", writes, got, want)
			}
		}
	})
}

// BenchmarkTextHandler formats an IKE SA's line (the subsystem from With,
// connection, IKE SA id, peer, addresses, identities, SPIs) with slog's
// text handler and with textHandler.
func BenchmarkTextHandler(b *testing.B) {
	for _, bc := range []struct {
		name string
		newH func(io.Writer, *slog.HandlerOptions) slog.Handler
	}{{"slog", slogText}, {"cygnet", newTextHandler}} {
		b.Run(bc.name, func(b *testing.B) {
			h := bc.newH(io.Discard, nil).WithAttrs([]slog.Attr{slog.String(Key, "ike")})
			ctx := context.Background()
			// the record is made once: its attributes past the fifth
			// take an allocation that is the caller's, not the handler's
			r := slog.NewRecord(when, slog.LevelInfo, "IKE SA established", 0)
			r.AddAttrs(ikeAttrs()...)
			b.ReportAllocs()
			for b.Loop() {
				_ = h.Handle(ctx, r)
			}
		})
	}
}
