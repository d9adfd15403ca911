// Package logging builds cygnet's log/slog logger: text or JSON lines, and
// a level per subsystem. A subsystem is the value of the "subsys" attribute
// a logger carries (Subsystem adds it): ike (IKE negotiation), esp (the data
// plane: SAs, packets), cfg (configuration, reloads) and net (TUN, routes,
// sockets). Lines without one use the default level.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
)

// Key is the attribute naming a line's subsystem.
const Key = "subsys"

// Subsystems are the names --log-level accepts.
var Subsystems = []string{"ike", "esp", "cfg", "net"}

// Levels is the default level and the subsystems' own.
type Levels struct {
	Default slog.Level
	Sub     map[string]slog.Level
}

// ParseLevels reads a level specification: a comma-separated list of
// LEVEL (the default) and SUBSYSTEM=LEVEL entries, LEVEL being debug,
// info, warn or error; e.g. "warn,ike=debug,cfg=info". Empty is info.
func ParseLevels(spec string) (Levels, error) {
	lv := Levels{Default: slog.LevelInfo, Sub: map[string]slog.Level{}}
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, level, sub := strings.Cut(f, "=")
		if !sub {
			level = name
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return Levels{}, fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
		if !sub {
			lv.Default = l
			continue
		}
		if !slices.Contains(Subsystems, name) {
			return Levels{}, fmt.Errorf("log level %q: unknown subsystem %q (want one of %s)", f, name, strings.Join(Subsystems, ", "))
		}
		lv.Sub[name] = l
	}
	return lv, nil
}

func (lv Levels) of(subsys string) slog.Level {
	if l, ok := lv.Sub[subsys]; ok {
		return l
	}
	return lv.Default
}

func (lv Levels) lowest() slog.Level {
	low := lv.Default
	for _, l := range lv.Sub {
		low = min(low, l)
	}
	return low
}

// New is a logger writing to w in format "text" (key=value, the default)
// or "json" (one object a line), filtering by lv.
func New(w io.Writer, format string, lv Levels) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: lv.lowest()}
	var h slog.Handler
	switch format {
	case "", "text":
		h = newTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	return slog.New(&handler{next: h, levels: lv}), nil
}

// Subsystem is l with its lines marked (and filtered) as subsystem name's.
func Subsystem(l *slog.Logger, name string) *slog.Logger {
	return l.With(Key, name)
}

// handler applies the level of the subsystem its logger was made for.
type handler struct {
	next   slog.Handler
	levels Levels
	subsys string
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.levels.of(h.subsys) && h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	for _, a := range as {
		if a.Key == Key {
			n.subsys = a.Value.String()
		}
	}
	n.next = h.next.WithAttrs(as)
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	n := *h
	n.next = h.next.WithGroup(name)
	return &n
}
