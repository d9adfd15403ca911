package ike

import (
	"context"
	"log/slog"
)

// saLogger is the logger of an IKE SA: every line names the connection,
// the IKE SA's unique id and the peer's address, so an operator can follow
// one SA (or one peer) through the log.
//
// The three attributes are added to each record as it is made rather than
// preformatted with Logger.With: a gateway holds one logger per client, and
// With keeps a clone of the handler with the formatted attributes (over 200
// octets); an saLog keeps the values (about 80). Lines come out the same:
// the attributes lead the record's own.
//
// Lines go straight to the handler rather than through an slog.Logger,
// which records the caller's program counter for every line (a stack walk
// nobody reads: source locations are off) and whose records then had to
// be copied to put the three attributes first. A gateway writes five Info
// lines for every client that comes and goes.
func (sa *IKESA) saLogger() saLog {
	return saLog{h: sa.m.log.Handler(), conn: sa.cfg.Name, ike: sa.UniqueID, peer: sa.Remote.Addr().String(), clock: sa.m.clock}
}

// saLog is an IKE SA's logger (see saLogger): Info, Warn, Error and Debug
// take their arguments as slog.Logger's do; the time is the manager's
// clock's.
type saLog struct {
	h     slog.Handler
	conn  string
	peer  string // formatted once: every line has it
	ike   uint32
	clock Clock
}

// Info logs at slog.LevelInfo.
func (l saLog) Info(msg string, args ...any) { l.log(slog.LevelInfo, msg, args) }

// Warn logs at slog.LevelWarn.
func (l saLog) Warn(msg string, args ...any) { l.log(slog.LevelWarn, msg, args) }

// Error logs at slog.LevelError.
func (l saLog) Error(msg string, args ...any) { l.log(slog.LevelError, msg, args) }

// Debug logs at slog.LevelDebug.
func (l saLog) Debug(msg string, args ...any) { l.log(slog.LevelDebug, msg, args) }

func (l saLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if l.h == nil || !l.h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(l.clock.Now(), level, msg, 0)
	r.AddAttrs(slog.String("conn", l.conn), slog.Uint64("ike", uint64(l.ike)), slog.String("peer", l.peer))
	r.Add(args...)
	_ = l.h.Handle(ctx, r)
}
