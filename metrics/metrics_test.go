package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestExposition(t *testing.T) {
	src := func() (Snapshot, error) {
		return Snapshot{
			IKESAs: map[string]int{"ESTABLISHED": 2, "CONNECTING": 1}, ChildSAs: map[string]int{"INSTALLED": 3},
			BytesIn: 1000, BytesOut: 2000, PacketsIn: 10, PacketsOut: 20,
			Drops: map[string]uint64{"replay": 4, "icv": 5},
		}, nil
	}
	m := New(src)
	m.HandshakeDone(true, 30*time.Millisecond)
	m.HandshakeDone(false, 2*time.Second)
	m.HandshakeFailed("AUTHENTICATION_FAILED: peer identity x does not match the configured y")
	m.HandshakeFailed("NO_PROPOSAL_CHOSEN: peer chose z, which we did not offer")
	m.HandshakeFailed("giving up after 5 retransmits")
	m.Rekeyed(true)
	m.Rekeyed(true)
	m.Rekeyed(false)
	m.DPDTimeout()
	text := scrape(t, m)
	for _, want := range []string{
		`cygnet_ike_sas{state="ESTABLISHED"} 2`, `cygnet_ike_sas{state="CONNECTING"} 1`, `cygnet_child_sas{state="INSTALLED"} 3`,
		`cygnet_bytes_total{direction="in"} 1000`, `cygnet_bytes_total{direction="out"} 2000`,
		`cygnet_packets_total{direction="in"} 10`, `cygnet_packets_total{direction="out"} 20`,
		`cygnet_drops_total{reason="replay"} 4`, `cygnet_drops_total{reason="icv"} 5`,
		`cygnet_ike_handshakes_total{role="initiator"} 1`, `cygnet_ike_handshakes_total{role="responder"} 1`,
		`cygnet_ike_handshake_failures_total{reason="authentication"} 1`, `cygnet_ike_handshake_failures_total{reason="proposal"} 1`,
		`cygnet_ike_handshake_failures_total{reason="timeout"} 1`, `cygnet_ike_handshake_failures_total{reason="other"} 0`,
		`cygnet_ike_handshake_seconds_bucket{le="0.05"} 1`, `cygnet_ike_handshake_seconds_bucket{le="2.5"} 2`,
		`cygnet_ike_handshake_seconds_count 2`,
		`cygnet_rekeys_total{sa="child"} 2`, `cygnet_rekeys_total{sa="ike"} 1`, `cygnet_dpd_timeouts_total 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// A failing source shows as a scrape error, not a crash, and the event
// counters still come out.
func TestSourceError(t *testing.T) {
	m := New(func() (Snapshot, error) { return Snapshot{}, errors.New("daemon busy") })
	text := scrape(t, m)
	if !strings.Contains(text, "cygnet_dpd_timeouts_total 0") {
		t.Errorf("scrape with a failing source:\n%s", text)
	}
}

// Every failure text lands in one of the fixed reasons: the label stays
// bounded whatever peers send.
func TestClassifyIsBounded(t *testing.T) {
	for _, r := range []string{"", "peer 10.0.0.1 refused IKE_SA_INIT", "TS_UNACCEPTABLE", "x\x00y", strings.Repeat("a", 1000)} {
		c := classify(r)
		found := false
		for _, f := range FailureReasons {
			found = found || f == c
		}
		if !found {
			t.Errorf("classify(%q) = %q, not one of %v", r, c, FailureReasons)
		}
	}
}
