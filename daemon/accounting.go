package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/radius"
)

// radiusAccounting sends RADIUS accounting records (RFC 2866) for the IKE
// SAs this gateway answers, as strongSwan's eap-radius plugin does with
// charon.plugins.eap-radius.accounting = yes: Start once IKE_AUTH is done
// (the virtual IP is known by then), Stop when the IKE SA goes, with the
// octets and packets of all its Child SAs, rekeyed ones included. One
// session lasts across IKE SA rekeys, under one Acct-Session-Id.
//
// It runs on the event loop; the records go to the servers from one
// goroutine in the order they were made, so a slow server delays records
// but never the IKE state machine.
type radiusAccounting struct {
	client   *radius.Client
	counters CounterSource
	log      *slog.Logger
	// prefix makes session IDs unique across daemon restarts, as
	// strongSwan's "<start time>-<unique id>".
	prefix   uint32
	sessions map[*ike.IKESA]*acctSession
	// usage is what deleted Child SAs carried for IKE SAs that have no
	// session yet in this step: one rekeyed in the same step (its event
	// comes after the deletes) or one not accounted (ours as initiator);
	// step hands it to the sessions and forgets the rest.
	usage map[*ike.IKESA]*acctUsage
	queue chan radius.AccountingRecord
	done  chan struct{}
}

// acctSession is one accounted IKE SA and its successors.
type acctSession struct {
	rec   radius.AccountingRecord // as sent in the Start record
	start time.Time
	acctUsage
}

// acctUsage counts what Child SAs carried, from the gateway's side: in is
// what the client sent.
type acctUsage struct {
	bytesIn, bytesOut, packetsIn, packetsOut uint64
}

func (u *acctUsage) add(o acctUsage) {
	u.bytesIn += o.bytesIn
	u.bytesOut += o.bytesOut
	u.packetsIn += o.packetsIn
	u.packetsOut += o.packetsOut
}

// acctQueue bounds the records waiting for a server; beyond it records are
// dropped with a warning rather than held without limit.
const acctQueue = 4096

func newRADIUSAccounting(c *radius.Client, counters CounterSource, log *slog.Logger, now time.Time) *radiusAccounting {
	a := &radiusAccounting{client: c, counters: counters, log: log, prefix: uint32(now.Unix()),
		sessions: map[*ike.IKESA]*acctSession{}, usage: map[*ike.IKESA]*acctUsage{},
		queue: make(chan radius.AccountingRecord, acctQueue), done: make(chan struct{})}
	go a.send()
	return a
}

// send delivers the records in order, each with the client's retransmission
// and failover.
func (a *radiusAccounting) send() {
	defer close(a.done)
	for r := range a.queue {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := a.client.Account(ctx, r)
		cancel()
		kind := map[radius.AcctStatus]string{radius.AcctStart: "Start", radius.AcctStop: "Stop"}[r.Status]
		if err != nil {
			a.log.Warn("RADIUS accounting record not acknowledged", "status", kind, "session", r.SessionID, "user", r.UserName, "err", err)
			continue
		}
		a.log.Debug("RADIUS accounting record sent", "status", kind, "session", r.SessionID, "user", r.UserName)
	}
}

func (a *radiusAccounting) enqueue(r radius.AccountingRecord) {
	select {
	case a.queue <- r:
	default:
		a.log.Warn("RADIUS accounting queue full, record dropped", "session", r.SessionID, "user", r.UserName)
	}
}

// close sends what is queued, waiting at most wait.
func (a *radiusAccounting) close(wait time.Duration) {
	close(a.queue)
	select {
	case <-a.done:
	case <-time.After(wait):
		a.log.Warn("RADIUS accounting records still unsent at shutdown")
	}
}

// childGone records a Child SA's final counters before the data plane
// forgets them (a packet path hook).
func (a *radiusAccounting) childGone(c *ike.ChildSA) {
	if c.IKE == nil {
		return
	}
	bi, pi, bo, po := a.counters.Counters(c)
	u := acctUsage{bytesIn: bi, packetsIn: pi, bytesOut: bo, packetsOut: po}
	if s := a.sessions[c.IKE]; s != nil {
		s.add(u)
		return
	}
	p := a.usage[c.IKE]
	if p == nil {
		p = &acctUsage{}
		a.usage[c.IKE] = p
	}
	p.add(u)
}

// event follows an IKE event; afterStep calls it for each, then step.
func (a *radiusAccounting) event(ev ike.Event, now time.Time) {
	switch ev.Kind {
	case ike.EventIKEUp:
		if ev.IKE.Initiator {
			return // a gateway accounts for its clients, not its own tunnels
		}
		s := &acctSession{rec: a.record(ev.IKE), start: now}
		a.sessions[ev.IKE] = s
		a.enqueue(s.rec)
	case ike.EventIKERekeyed:
		if s := a.sessions[ev.Old]; s != nil {
			delete(a.sessions, ev.Old)
			a.sessions[ev.IKE] = s
		}
	case ike.EventIKEDown:
		s := a.sessions[ev.IKE]
		if s == nil {
			return
		}
		delete(a.sessions, ev.IKE)
		if u := a.usage[ev.IKE]; u != nil {
			s.add(*u)
			delete(a.usage, ev.IKE)
		}
		r := s.rec
		r.Status = radius.AcctStop
		r.SessionTime = now.Sub(s.start)
		r.InputOctets, r.OutputOctets = s.bytesIn, s.bytesOut
		r.InputPackets, r.OutputPackets = uint32(s.packetsIn), uint32(s.packetsOut)
		r.TerminateCause = terminateCause(ev.Reason)
		a.enqueue(r)
	}
}

// step ends an event-loop step: usage left for IKE SAs that got a session
// in it goes there; the rest belongs to SAs nobody accounts.
func (a *radiusAccounting) step() {
	for sa, u := range a.usage {
		if s := a.sessions[sa]; s != nil {
			s.add(*u)
		}
		delete(a.usage, sa)
	}
}

// record is the part of every record that names the session.
func (a *radiusAccounting) record(sa *ike.IKESA) radius.AccountingRecord {
	r := radius.AccountingRecord{Status: radius.AcctStart, SessionID: fmt.Sprintf("%d-%d", a.prefix, sa.UniqueID),
		NASPort: sa.UniqueID, NASIP: sa.Local.Addr().Unmap(),
		CalledStation:  fmt.Sprintf("%s[%d]", sa.Local.Addr().Unmap(), sa.Local.Port()),
		CallingStation: fmt.Sprintf("%s[%d]", sa.Remote.Addr().Unmap(), sa.Remote.Port()),
		UserName:       sa.RemoteEAPID,
	}
	if r.UserName == "" {
		r.UserName = sa.RemoteID.String()
	}
	for _, v := range sa.RemoteVIPs() {
		switch {
		case v.Is4() && !r.FramedIP.IsValid():
			r.FramedIP = v
		case v.Is6() && !r.FramedIP6.IsValid():
			r.FramedIP6 = v
		}
	}
	return r
}

// terminateCause maps why an IKE SA went to Acct-Terminate-Cause as
// strongSwan reports it: the client's DELETE is its request, a dead peer
// lost service, an operator's terminate an administrative reset.
func terminateCause(reason string) uint32 {
	switch {
	case strings.HasPrefix(reason, "peer dead"):
		return radius.TerminateLostService
	case reason == "terminated by operator":
		return radius.TerminateAdminReset
	case reason == "daemon shutting down":
		return radius.TerminateNASReboot
	case strings.Contains(reason, "lifetime"):
		return radius.TerminateSessionTimer
	case strings.Contains(reason, "INITIAL_CONTACT"):
		return radius.TerminateNASRequest
	default:
		return radius.TerminateUserRequest
	}
}
