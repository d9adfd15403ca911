package ike

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/logging"
)

// An IKE SA's lines name the connection, the SA and the peer before their
// own attributes, carry the manager's clock's time (the IKE core's only
// clock), follow the ike subsystem's level, and cost no stack walk: at most
// 8 allocations for a line with an address and a list.
func TestSALogLines(t *testing.T) {
	var out bytes.Buffer
	sa, base := logSA(t, &out)
	m := sa.m
	l := sa.saLogger()

	l.Info("IKE SA established", "local", sa.Local, "remote_id", "c 17", "nat_local", false, "local_ts", []string{"10.99.1.0/24"})
	l.Debug("not at info")
	l.Warn("odd", "n", 3, slog.Int("m", 4))
	want := `time=2026-12-07T06:00:00.123Z level=INFO msg="IKE SA established" subsys=ike conn=rw ike=4711 peer=198.51.100.7 local=192.0.2.1:500 remote_id="c 17" nat_local=false local_ts=[10.99.1.0/24]
time=2026-12-07T06:00:00.123Z level=WARN msg=odd subsys=ike conn=rw ike=4711 peer=198.51.100.7 n=3 m=4
`
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	quiet, err := logging.New(&out, "json", logging.Levels{Default: slog.LevelInfo, Sub: map[string]slog.Level{"ike": slog.LevelWarn}})
	if err != nil {
		t.Fatal(err)
	}
	m.log = logging.Subsystem(quiet, "ike")
	l = sa.saLogger()
	out.Reset()
	l.Info("below ike=warn")
	l.Error("failed", "err", "boom")
	if got := out.String(); strings.Contains(got, "below") ||
		got != `{"time":"2026-12-07T06:00:00.123Z","level":"ERROR","msg":"failed","subsys":"ike","conn":"rw","ike":4711,"peer":"198.51.100.7","err":"boom"}`+"\n" {
		t.Errorf("json at ike=warn: %s", got)
	}

	if raceEnabled {
		return
	}
	m.log = logging.Subsystem(base, "ike")
	l = sa.saLogger()
	ts := []string{"10.99.1.0/24"}
	if a := testing.AllocsPerRun(200, func() {
		out.Reset()
		l.Info("Child SA installed", "child", "net", "spi_in", "c1a2b3c4", "mode", "tunnel", "encap", false, "local_ts", ts, "remote_ts", ts)
	}); a > 8 {
		t.Errorf("%v allocations per line, want at most 8", a)
	}
}

// logSA is an IKE SA of connection rw (unique id 4711, peer 198.51.100.7)
// whose manager logs text lines at Info to w, at 2026-12-07 06:00:00.123
// UTC by its clock; base is the logger under the ike subsystem's.
func logSA(tb testing.TB, w io.Writer) (sa *IKESA, base *slog.Logger) {
	base, err := logging.New(w, "text", logging.Levels{Default: slog.LevelInfo})
	if err != nil {
		tb.Fatal(err)
	}
	m := &Manager{log: logging.Subsystem(base, "ike"), clock: &fakeClock{now: time.Date(2026, 12, 7, 6, 0, 0, 123e6, time.UTC)}}
	return &IKESA{m: m, cfg: &PeerConfig{Name: "rw"}, UniqueID: 4711,
		Local: netip.MustParseAddrPort("192.0.2.1:500"), Remote: netip.MustParseAddrPort("198.51.100.7:4500")}, base
}
