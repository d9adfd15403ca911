package ike

import (
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// dpdDeadline is when the next liveness check is due: dpd_delay after the
// last message from the peer (RFC 7296 2.4).
func (sa *IKESA) dpdDeadline() time.Time {
	if sa.state != stateEstablished || sa.cfg.DPDDelay <= 0 || sa.pending != nil {
		return time.Time{}
	}
	last := sa.lastInbound
	if last.IsZero() {
		last = sa.Established
	}
	return last.Add(sa.cfg.DPDDelay)
}

// tickDPD sends an empty INFORMATIONAL request when the peer has been quiet
// for dpd_delay; a peer that never answers is declared dead by the
// retransmission limit.
func (sa *IKESA) tickDPD(now time.Time) {
	d := sa.dpdDeadline()
	if d.IsZero() || now.Before(d) {
		return
	}
	sa.log.Debug("sending DPD")
	if err := sa.sendRequest(wire.INFORMATIONAL, nil, func(*wire.Message, []wire.Payload) error { return nil }, nil); err != nil {
		sa.log.Warn("sending DPD failed", "err", err)
	}
}
