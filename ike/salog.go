package ike

import "log/slog"

// saLogger is the logger of an IKE SA: every line names the connection,
// the IKE SA's unique id and the peer's address, so an operator can follow
// one SA (or one peer) through the log.
func (sa *IKESA) saLogger() *slog.Logger {
	return sa.m.log.With("conn", sa.cfg.Name, "ike", sa.UniqueID, "peer", sa.Remote.Addr().String())
}
