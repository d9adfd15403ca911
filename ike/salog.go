package ike

import (
	"context"
	"log/slog"
	"net/netip"
)

// saLogger is the logger of an IKE SA: every line names the connection,
// the IKE SA's unique id and the peer's address, so an operator can follow
// one SA (or one peer) through the log.
//
// The three attributes are added to each record as it is handled rather
// than preformatted with Logger.With: a gateway holds one logger per
// client, and With keeps a clone of the handler with the formatted
// attributes (over 200 octets); an saHandler keeps the values (about 80).
// Lines come out the same: the attributes lead the record's own.
func (sa *IKESA) saLogger() *slog.Logger {
	return slog.New(&saHandler{inner: sa.m.log.Handler(), conn: sa.cfg.Name, ike: sa.UniqueID, peer: sa.Remote.Addr()})
}

type saHandler struct {
	inner slog.Handler
	conn  string
	peer  netip.Addr
	ike   uint32
}

func (h *saHandler) attrs() []slog.Attr {
	return []slog.Attr{slog.String("conn", h.conn), slog.Any("ike", h.ike), slog.String("peer", h.peer.String())}
}

func (h *saHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *saHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(slog.String("conn", h.conn), slog.Any("ike", h.ike), slog.String("peer", h.peer.String()))
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *saHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.inner.WithAttrs(append(h.attrs(), as...))
}

func (h *saHandler) WithGroup(name string) slog.Handler {
	return h.inner.WithAttrs(h.attrs()).WithGroup(name)
}
