// Package metrics exports cygnet's counters for Prometheus: SAs by state,
// handshakes and their failures by reason, handshake latency, traffic,
// drops by reason, rekeys and DPD timeouts. Every label has a small fixed
// set of values, so the number of series stays bounded however many peers
// connect; nothing is labelled per SA or per peer.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Snapshot is the state read at each scrape.
type Snapshot struct {
	// IKESAs and ChildSAs count SAs by state (ESTABLISHED, CONNECTING,
	// INSTALLED, REKEYING, ...): a handful of states, bounded.
	IKESAs, ChildSAs                         map[string]int
	BytesIn, BytesOut, PacketsIn, PacketsOut uint64
	// Drops counts dropped packets by reason (replay, icv, no_sa, policy,
	// malformed, other).
	Drops map[string]uint64
}

// Source reads a Snapshot; the daemon reads it on its event loop.
type Source func() (Snapshot, error)

// Metrics holds the event counters and reads the rest from a Source.
type Metrics struct {
	reg        *prometheus.Registry
	handshakes *prometheus.CounterVec
	failures   *prometheus.CounterVec
	latency    prometheus.Histogram
	rekeys     *prometheus.CounterVec
	dpd        prometheus.Counter
}

// New builds the metrics of a daemon reading state from src.
func New(src Source) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cygnet_ike_handshakes_total", Help: "IKE SAs established, by role (initiator, responder).",
	}, []string{"role"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cygnet_ike_handshake_failures_total",
		Help: "IKE SAs that failed before being established, by reason (" + strings.Join(FailureReasons, ", ") + ").",
	}, []string{"reason"})
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cygnet_ike_handshake_seconds",
		Help:    "Time from an IKE SA's first message to its establishment.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	m.rekeys = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cygnet_rekeys_total", Help: "Completed rekeys, by SA kind (ike, child).",
	}, []string{"sa"})
	m.dpd = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cygnet_dpd_timeouts_total", Help: "IKE SAs deleted because the peer stopped answering (dead peer detection).",
	})
	for _, r := range []string{"initiator", "responder"} {
		m.handshakes.WithLabelValues(r)
	}
	for _, r := range FailureReasons {
		m.failures.WithLabelValues(r)
	}
	for _, k := range []string{"ike", "child"} {
		m.rekeys.WithLabelValues(k)
	}
	m.reg.MustRegister(m.handshakes, m.failures, m.latency, m.rekeys, m.dpd, &stateCollector{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// FailureReasons are the values of the failures' reason label.
var FailureReasons = []string{"authentication", "proposal", "traffic_selectors", "timeout", "peer", "other"}

// classify maps a failure's text onto FailureReasons.
func classify(reason string) string {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "authentication") || strings.Contains(r, "auth"):
		return "authentication"
	case strings.Contains(r, "proposal") || strings.Contains(r, "invalid_ke") || strings.Contains(r, "key exchange"):
		return "proposal"
	case strings.Contains(r, "ts_unacceptable") || strings.Contains(r, "traffic selector"):
		return "traffic_selectors"
	case strings.Contains(r, "retransmi") || strings.Contains(r, "timeout") || strings.Contains(r, "no answer") || strings.Contains(r, "timed out"):
		return "timeout"
	case strings.Contains(r, "peer"):
		return "peer"
	}
	return "other"
}

// HandshakeDone counts an established IKE SA and its latency.
func (m *Metrics) HandshakeDone(initiator bool, took time.Duration) {
	role := "responder"
	if initiator {
		role = "initiator"
	}
	m.handshakes.WithLabelValues(role).Inc()
	if took >= 0 {
		m.latency.Observe(took.Seconds())
	}
}

// HandshakeFailed counts a failed IKE SA by the class of its reason.
func (m *Metrics) HandshakeFailed(reason string) { m.failures.WithLabelValues(classify(reason)).Inc() }

// Rekeyed counts a completed rekey of an IKE (child false) or Child SA.
func (m *Metrics) Rekeyed(child bool) {
	if child {
		m.rekeys.WithLabelValues("child").Inc()
	} else {
		m.rekeys.WithLabelValues("ike").Inc()
	}
}

// DPDTimeout counts an IKE SA given up because its peer is dead.
func (m *Metrics) DPDTimeout() { m.dpd.Inc() }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve listens on addr and serves /metrics until ctx ends. It returns once
// the listener is open, so a bad address is an error at start-up.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", l.Addr().String())
	return nil
}

// stateCollector reads the Source at each scrape.
type stateCollector struct{ src Source }

var (
	descIKE     = prometheus.NewDesc("cygnet_ike_sas", "IKE SAs by state.", []string{"state"}, nil)
	descChild   = prometheus.NewDesc("cygnet_child_sas", "Child SAs by state.", []string{"state"}, nil)
	descBytes   = prometheus.NewDesc("cygnet_bytes_total", "Bytes through Child SAs: in, inner packets delivered after decryption; out, ESP/AH packets sent (outer length).", []string{"direction"}, nil)
	descPackets = prometheus.NewDesc("cygnet_packets_total", "Packets through Child SAs: in, decrypted and delivered; out, sealed and sent.", []string{"direction"}, nil)
	descDrops   = prometheus.NewDesc("cygnet_drops_total", "Packets dropped by the data plane, by reason.", []string{"reason"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIKE, descChild, descBytes, descPackets, descDrops} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.src()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descIKE, err)
		return
	}
	for st, n := range s.IKESAs {
		ch <- prometheus.MustNewConstMetric(descIKE, prometheus.GaugeValue, float64(n), st)
	}
	for st, n := range s.ChildSAs {
		ch <- prometheus.MustNewConstMetric(descChild, prometheus.GaugeValue, float64(n), st)
	}
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.BytesIn), "in")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.BytesOut), "out")
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(s.PacketsIn), "in")
	ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(s.PacketsOut), "out")
	for r, n := range s.Drops {
		ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(n), r)
	}
}
