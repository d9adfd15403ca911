package daemon

import (
	"context"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/metrics"
)

// startMetrics serves Prometheus metrics on opts.MetricsAddr.
func (d *Daemon) startMetrics(ctx context.Context) error {
	d.metrics = metrics.New(d.metricsSnapshot)
	return d.metrics.Serve(ctx, d.opts.MetricsAddr, d.netLog)
}

// metricsSnapshot reads SA counts on the event loop and the data plane's
// counters, under the names cygnet stats uses for drops.
func (d *Daemon) metricsSnapshot() (metrics.Snapshot, error) {
	s := metrics.Snapshot{IKESAs: map[string]int{}, ChildSAs: map[string]int{}}
	err := d.onLoop(func() {
		for _, sa := range d.mgr.SAs() {
			s.IKESAs[sa.State()]++
			for _, c := range sa.Children() {
				s.ChildSAs[c.State()]++
			}
		}
	})
	if err != nil {
		return s, err
	}
	dp := d.path.Stats()
	s.BytesIn, s.BytesOut, s.PacketsIn, s.PacketsOut = dp.InBytes, dp.OutBytes, dp.InPackets, dp.OutPackets
	s.Drops = map[string]uint64{
		"replay": dp.Replay, "icv": dp.AuthFailed, "no_sa": dp.NoSA, "policy": dp.PolicyMismatch + dp.Discarded,
		"malformed": dp.Malformed,
		"other":     dp.OtherDrops(),
	}
	return s, nil
}

// metricsEvent counts an IKE event (on the event loop).
func (d *Daemon) metricsEvent(ev ike.Event) {
	if d.metrics == nil || ev.IKE == nil {
		return
	}
	switch ev.Kind {
	case ike.EventIKEUp:
		d.metrics.HandshakeDone(ev.IKE.Initiator, ev.IKE.Established.Sub(ev.IKE.Created()))
	case ike.EventIKEFailed:
		d.metrics.HandshakeFailed(ev.Reason)
	case ike.EventIKEDown:
		if strings.HasPrefix(ev.Reason, "peer dead") {
			d.metrics.DPDTimeout()
		}
	case ike.EventIKERekeyed:
		d.metrics.Rekeyed(false)
	case ike.EventChildRekeyed:
		d.metrics.Rekeyed(true)
	}
}
