package ike

import (
	"fmt"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// dpdDeadline is when the IKE SA's liveness timers next need a look: the
// next check is due dpd_delay after the last sign of life from the peer
// (RFC 7296 2.4), and an outstanding request gives up at dpd_timeout.
func (sa *IKESA) dpdDeadline() time.Time {
	if sa.state != stateEstablished {
		return time.Time{}
	}
	if r := sa.pending; r != nil {
		if sa.cfg.DPDTimeout > 0 {
			return r.sentAt.Add(sa.cfg.DPDTimeout)
		}
		return time.Time{}
	}
	if sa.cfg.DPDDelay <= 0 {
		return time.Time{}
	}
	return sa.lastActivity().Add(sa.cfg.DPDDelay)
}

// tickDPD sends an empty INFORMATIONAL request when nothing came in from
// the peer (IKE or inbound ESP/AH) for dpd_delay, as strongSwan does. A
// peer that does not answer is declared dead by the retransmission limit
// or, when dpd_timeout is set and comes first, by dpd_timeout; dpd_action
// then applies (liveness.go).
func (sa *IKESA) tickDPD(now time.Time) {
	if sa.state != stateEstablished {
		return
	}
	if r := sa.pending; r != nil {
		if sa.cfg.DPDTimeout > 0 && !now.Before(r.sentAt.Add(sa.cfg.DPDTimeout)) {
			sa.pending = nil
			sa.peerDead(fmt.Sprintf("no answer to %v request %d within dpd_timeout %v", r.exchange, r.id, sa.cfg.DPDTimeout))
		}
		return
	}
	d := sa.dpdDeadline()
	if d.IsZero() || now.Before(d) {
		return
	}
	sa.log.Debug("sending DPD request", "idle", now.Sub(sa.lastActivity()).Round(time.Millisecond))
	if err := sa.sendRequest(wire.INFORMATIONAL, nil, func(*wire.Message, []wire.Payload) error { return nil }, nil); err != nil {
		sa.log.Warn("sending DPD failed", "err", err)
	}
}
