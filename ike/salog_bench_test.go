package ike

import (
	"io"
	"testing"
)

// BenchmarkSALogLines formats the Info lines a responder writes for one
// client's IKE SA and Child SA coming up, through the daemon's text handler
// and an IKE SA's logger.
func BenchmarkSALogLines(b *testing.B) {
	sa, _ := logSA(b, io.Discard)
	l := sa.saLogger()
	ts := []string{"10.99.1.0/24"}
	b.ReportAllocs()
	for b.Loop() {
		l.Info("IKE SA established", "local", sa.Local, "remote", sa.Remote, "local_id", "gw.cygnet.test", "remote_id", "c17.cygnet.test",
			"nat_local", false, "nat_remote", false)
		l.Info("Child SA installed", "child", "net", "spi_in", "c1a2b3c4", "spi_out", "d5e6f708",
			"mode", "tunnel", "encap", false, "local_ts", ts, "remote_ts", ts)
		l.Info("Child SA deleted", "child", "net", "spi_in", "c1a2b3c4", "reason", "deleted by peer")
	}
}
