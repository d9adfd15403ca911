package logging

import (
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// textHandler writes the lines log/slog's TextHandler writes, octet for
// octet, in about half the time (BenchmarkTextHandler): a responder under
// a handshake storm writes five lines per IKE SA, and slog's handler was
// about 4.5 % of its CPU. A line is built in one pooled buffer and written
// with one Write; attributes given to WithAttrs are formatted once;
// strings, numbers, booleans, durations, times, netip addresses (which
// slog copies through MarshalText) and []string values are formatted
// without allocating.
//
// The rules (which values are quoted, how groups prefix keys, which
// attributes are elided, even slog's quirks such as a group of only empty
// attributes leaving its name on the following keys) follow
// log/slog/handler.go and text_handler.go of Go 1.26; TestTextHandlerSameAsSlog
// and FuzzTextHandler compare the two. Options this handler does not
// implement (ReplaceAttr, AddSource) make newTextHandler return slog's.
type textHandler struct {
	w     io.Writer
	mu    *sync.Mutex // shared by the handlers derived from one: one Write at a time
	level slog.Leveler

	// pre holds the attributes given to WithAttrs, formatted, without a
	// leading separator.
	pre []byte
	// groupPrefix is the key prefix of the groups already opened in pre;
	// groups are all groups from WithGroup, the first nOpenGroups of them
	// opened in pre.
	groupPrefix string
	groups      []string
	nOpenGroups int
}

// newTextHandler is a handler writing what slog.NewTextHandler(w, opts)
// writes: textHandler, or slog's own for the options it lacks.
func newTextHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	if opts.ReplaceAttr != nil || opts.AddSource {
		return slog.NewTextHandler(w, opts)
	}
	return &textHandler{w: w, mu: &sync.Mutex{}, level: opts.Level}
}

func (h *textHandler) Enabled(_ context.Context, l slog.Level) bool {
	lowest := slog.LevelInfo
	if h.level != nil {
		lowest = h.level.Level()
	}
	return l >= lowest
}

func (h *textHandler) clone() *textHandler {
	return &textHandler{w: h.w, mu: h.mu, level: h.level, pre: slices.Clip(h.pre),
		groupPrefix: h.groupPrefix, groups: slices.Clip(h.groups), nOpenGroups: h.nOpenGroups}
}

func (h *textHandler) WithAttrs(as []slog.Attr) slog.Handler {
	// as slog: a slice of only empty groups changes nothing
	if countEmptyGroups(as) == len(as) {
		return h
	}
	h2 := h.clone()
	s := textState{buf: h2.pre, h: h2}
	s.prefix = append(s.prefix, h.groupPrefix...)
	s.sep = len(h2.pre) > 0
	pos := len(s.buf)
	s.openGroups()
	if !s.appendAttrs(as) {
		s.buf = s.buf[:pos]
	} else {
		h2.groupPrefix = string(s.prefix)
		h2.nOpenGroups = len(h2.groups)
	}
	h2.pre = s.buf
	return h2
}

func (h *textHandler) WithGroup(name string) slog.Handler {
	h2 := h.clone()
	h2.groups = append(h2.groups, name)
	return h2
}

// maxPooled is the largest line buffer kept for the next line (slog's too).
const maxPooled = 16 << 10

// textState is one line (or one WithAttrs) being formatted.
type textState struct {
	buf    []byte
	prefix []byte // the group prefix of the next key: "g1.g2."
	sep    bool   // a space goes before the next key
	h      *textHandler
}

var statePool = sync.Pool{New: func() any {
	return &textState{buf: make([]byte, 0, 1024), prefix: make([]byte, 0, 64)}
}}

func (h *textHandler) Handle(_ context.Context, r slog.Record) error {
	s := statePool.Get().(*textState)
	s.h, s.buf, s.prefix, s.sep = h, s.buf[:0], s.prefix[:0], false
	if !r.Time.IsZero() {
		s.buf = append(s.buf, "time="...)
		s.buf = appendRFC3339Millis(s.buf, r.Time)
		s.sep = true
	}
	s.appendKey(slog.LevelKey)
	s.appendLevel(r.Level)
	s.appendKey(slog.MessageKey)
	s.appendString(r.Message)
	if len(h.pre) > 0 {
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, h.pre...)
	}
	// The record's attributes are in the groups from WithGroup; a record
	// without any opens none. In text, opening a group only extends the
	// prefix, so unlike slog there is nothing to undo if all turn out empty.
	if r.NumAttrs() > 0 {
		s.prefix = append(s.prefix, h.groupPrefix...)
		s.openGroups()
		r.Attrs(func(a slog.Attr) bool {
			s.appendAttr(a)
			return true
		})
	}
	s.buf = append(s.buf, '\n')

	err := h.write(s.buf)

	if cap(s.buf) <= maxPooled {
		s.h = nil
		statePool.Put(s)
	}
	return err
}

// write writes a line, alone; the lock is released even if the writer
// panics (the daemon recovers from a panic, and must log afterwards).
func (h *textHandler) write(line []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(line)
	return err
}

func (s *textState) appendLevel(l slog.Level) {
	switch l {
	case slog.LevelDebug:
		s.buf = append(s.buf, "DEBUG"...)
	case slog.LevelInfo:
		s.buf = append(s.buf, "INFO"...)
	case slog.LevelWarn:
		s.buf = append(s.buf, "WARN"...)
	case slog.LevelError:
		s.buf = append(s.buf, "ERROR"...)
	default:
		s.appendString(l.String())
	}
}

func (s *textState) openGroups() {
	for _, n := range s.h.groups[s.h.nOpenGroups:] {
		s.openGroup(n)
	}
}

func (s *textState) openGroup(name string) {
	s.prefix = append(s.prefix, name...)
	s.prefix = append(s.prefix, '.')
}

// closeGroup drops as many octets from the prefix as openGroup added.
// slog does not close a group whose attributes were all empty, so its
// name stays on the prefix; the arithmetic here keeps the same result.
func (s *textState) closeGroup(name string) {
	s.prefix = s.prefix[:len(s.prefix)-len(name)-1]
	s.sep = true
}

// appendAttrs appends as and reports whether any was appended.
func (s *textState) appendAttrs(as []slog.Attr) bool {
	nonEmpty := false
	for _, a := range as {
		if s.appendAttr(a) {
			nonEmpty = true
		}
	}
	return nonEmpty
}

// appendAttr appends a, and reports whether it was appended, as slog
// counts it (an empty group counts, an empty attribute does not).
func (s *textState) appendAttr(a slog.Attr) bool {
	kind := a.Value.Kind()
	if kind == slog.KindLogValuer {
		// (Resolve itself costs a deferred recover even for the others)
		a.Value = a.Value.Resolve()
		kind = a.Value.Kind()
	}
	if kind == slog.KindAny {
		switch v := a.Value.Any().(type) {
		case nil:
			// slog elides an attribute with an empty key and the
			// zero Value (the only Value whose Any is nil)
			if a.Key == "" {
				return false
			}
		case *slog.Source:
			if v == nil || *v == (slog.Source{}) {
				return false
			}
			a.Value = slog.StringValue(fmt.Sprintf("%s:%d", v.File, v.Line))
			kind = slog.KindString
		}
	}
	if kind == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) > 0 {
			pos := len(s.buf)
			// a group with an empty key is inlined
			if a.Key != "" {
				s.openGroup(a.Key)
			}
			if !s.appendAttrs(attrs) {
				s.buf = s.buf[:pos]
				return false
			}
			if a.Key != "" {
				s.closeGroup(a.Key)
			}
		}
		return true
	}
	s.appendKey(a.Key)
	s.appendValue(a.Value, kind)
	return true
}

func (s *textState) appendKey(key string) {
	if s.sep {
		s.buf = append(s.buf, ' ')
	}
	if len(s.prefix) > 0 {
		s.appendTwoStrings(s.prefix, key)
	} else {
		s.appendString(key)
	}
	s.buf = append(s.buf, '=')
	s.sep = true
}

// appendTwoStrings appends prefix and key as one key: bare if neither
// needs quoting on its own (as slog decides it), else quoted together.
func (s *textState) appendTwoStrings(prefix []byte, key string) {
	if !needsQuoting(prefix) && !needsQuoting(key) {
		s.buf = append(s.buf, prefix...)
		s.buf = append(s.buf, key...)
		return
	}
	s.buf = appendQuote(s.buf, string(prefix)+key)
}

func (s *textState) appendString(str string) {
	if needsQuoting(str) {
		s.buf = appendQuote(s.buf, str)
	} else {
		s.buf = append(s.buf, str...)
	}
}

// appendValue appends v, of the given kind (resolved, not a group).
func (s *textState) appendValue(v slog.Value, kind slog.Kind) {
	switch kind {
	case slog.KindString:
		s.appendString(v.String())
	case slog.KindInt64:
		s.buf = strconv.AppendInt(s.buf, v.Int64(), 10)
	case slog.KindUint64:
		s.buf = strconv.AppendUint(s.buf, v.Uint64(), 10)
	case slog.KindFloat64:
		s.buf = strconv.AppendFloat(s.buf, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		s.buf = strconv.AppendBool(s.buf, v.Bool())
	case slog.KindDuration:
		// slog appends the duration unquoted
		s.buf = append(s.buf, v.Duration().String()...)
	case slog.KindTime:
		s.buf = appendRFC3339Millis(s.buf, v.Time())
	case slog.KindAny:
		s.appendAny(v.Any())
	default:
		// not reached: groups are handled by appendAttr and Resolve
		// leaves no LogValuer; slog appends these as fmt.Append does
		s.buf = fmt.Append(s.buf, v.Any())
	}
}

// appendAny appends a value of slog.KindAny: a TextMarshaler's text, a
// byte slice quoted, anything else as fmt's %+v; each quoted if needed.
func (s *textState) appendAny(a any) {
	switch v := a.(type) {
	// Types whose AppendText is their MarshalText and calls nothing
	// of the caller's: appended in place, quoted if need be.
	case netip.AddrPort:
		pos := len(s.buf)
		s.buf, _ = v.AppendText(s.buf) // never fails
		s.quoteTail(pos)
		return
	case netip.Addr:
		pos := len(s.buf)
		s.buf, _ = v.AppendText(s.buf)
		s.quoteTail(pos)
		return
	case netip.Prefix:
		pos := len(s.buf)
		s.buf, _ = v.AppendText(s.buf)
		s.quoteTail(pos)
		return
	case []string:
		// fmt's %+v of a []string is its elements, space-separated,
		// in brackets
		pos := len(s.buf)
		s.buf = append(s.buf, '[')
		for i, e := range v {
			if i > 0 {
				s.buf = append(s.buf, ' ')
			}
			s.buf = append(s.buf, e...)
		}
		s.buf = append(s.buf, ']')
		s.quoteTail(pos)
		return
	}
	pos := len(s.buf)
	defer func() {
		// As slog: a panic in a method of the value (MarshalText on a
		// nil pointer, most likely) writes "<nil>" for a nil pointer
		// and the panic's text otherwise.
		if r := recover(); r != nil {
			s.buf = s.buf[:pos]
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.Pointer && rv.IsNil() {
				s.appendString("<nil>")
				return
			}
			s.appendString(fmt.Sprintf("!PANIC: %v", r))
		}
	}()
	if tm, ok := a.(encoding.TextMarshaler); ok {
		data, err := tm.MarshalText()
		if err != nil {
			s.appendString(fmt.Sprintf("!ERROR:%v", err))
			return
		}
		s.appendString(string(data))
		return
	}
	if bs, ok := byteSlice(a); ok {
		s.buf = strconv.AppendQuote(s.buf, string(bs))
		return
	}
	s.appendString(fmt.Sprintf("%+v", a))
}

// quoteTail quotes what was appended from pos on, if it needs quoting.
func (s *textState) quoteTail(pos int) {
	if needsQuoting(s.buf[pos:]) {
		text := string(s.buf[pos:])
		s.buf = appendQuote(s.buf[:pos], text)
	}
}

// appendQuote is strconv.AppendQuote, quicker for the common case of
// printable ASCII (a message with spaces), where only '"' and '\\' are
// escaped.
func appendQuote(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\', c)
		} else {
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// byteSlice is a as a []byte if its type's underlying type is a slice
// of a byte type (named or not), as slog and fmt's %s take it.
func byteSlice(a any) ([]byte, bool) {
	if bs, ok := a.([]byte); ok {
		return bs, true
	}
	t := reflect.TypeOf(a)
	if t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		return reflect.ValueOf(a).Bytes(), true
	}
	return nil, false
}

func countEmptyGroups(as []slog.Attr) int {
	n := 0
	for _, a := range as {
		if a.Value.Kind() == slog.KindGroup && len(a.Value.Group()) == 0 {
			n++
		}
	}
	return n
}

// quoteASCII marks the ASCII octets that make slog quote a text value:
// controls, space, '=' and '"' (not DEL, nor a backslash).
var quoteASCII = func() (t [utf8.RuneSelf]bool) {
	for b := range utf8.RuneSelf {
		t[b] = b < 0x20 || b == ' ' || b == '=' || b == '"'
	}
	return t
}()

// needsQuoting is slog's rule for text keys and values: empty, or
// holding a space (Unicode's included), '=', '"', a character that is
// not printable, or invalid UTF-8 (or U+FFFD itself).
func needsQuoting[T string | []byte](s T) bool {
	if len(s) == 0 {
		return true
	}
	i := 0
	// eight octets at a time while all are plain ASCII
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if quoteOrNonASCII(x) {
			break
		}
	}
	for i < len(s) {
		b := s[i]
		if b < utf8.RuneSelf {
			if quoteASCII[b] {
				return true
			}
			i++
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// decodeRune is utf8.DecodeRuneInString or utf8.DecodeRune, as s is.
func decodeRune[T string | []byte](s T) (rune, int) {
	if b, ok := any(s).([]byte); ok {
		return utf8.DecodeRune(b)
	}
	return utf8.DecodeRuneInString(string(s))
}

// quoteOrNonASCII reports whether one of the eight octets in x is one
// quoteASCII marks or not ASCII (the classic bit tricks: an octet below
// n, an octet equal to n).
func quoteOrNonASCII(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	below := func(x, n uint64) uint64 { return (x - lo*n) &^ x & hi }
	zero := func(x uint64) uint64 { return (x - lo) &^ x & hi }
	return (x&hi)|below(x, ' '+1)|zero(x^(lo*'='))|zero(x^(lo*'"')) != 0
}

// appendRFC3339Millis appends t as slog does: RFC 3339 with exactly three
// digits of milliseconds, truncated. Times of years 0 to 9999 are written
// directly; others (where slog's own method mangles a digit) go through
// slog's method, reproduced in appendRFC3339MillisSlow.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return appendRFC3339MillisSlow(b, t)
	}
	start := len(b)
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	b = append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	_, off := t.Zone()
	if off == 0 {
		return append(b, 'Z')
	}
	// as time's RFC 3339 formatting: whole minutes of offset (an offset
	// under a minute is "+00:00"), no seconds
	zone := off / 60
	sign := byte('+')
	if zone < 0 {
		sign, zone = '-', -zone
	}
	h, m := zone/60, zone%60
	if h > 99 {
		return appendRFC3339MillisSlow(b[:start], t)
	}
	return append(b, sign, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10))
}

// appendRFC3339MillisSlow is slog's appendRFC3339Millis (Go's
// log/slog/handler.go): format with nanoseconds, then drop the fourth
// digit of the fraction after making sure there are at least four.
func appendRFC3339MillisSlow(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b[:n+prefixLen], b[n+prefixLen+1:]...)
	return b
}
