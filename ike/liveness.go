package ike

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"
)

// InboundActivity is an optional interface of the Installer: it says when
// an installed Child SA last received a packet that authenticated. DPD
// counts those as signs of life, so a peer that sends ESP is never asked
// whether it is alive (RFC 7296 2.4: "only when no traffic").
type InboundActivity interface {
	LastInbound(c *ChildSA) time.Time
}

// KeyingTriesForever as PeerConfig.KeyingTries keeps trying an unreachable
// peer without end (swanctl keyingtries = 0).
const KeyingTriesForever = math.MaxUint32

// liveness is the Manager's state for what outlives a single IKE SA: trap
// policies, scheduled re-initiations (keyingtries), and deferred deletes.
type liveness struct {
	traps      map[trapKey]*Trap
	nextTrapID uint32
	retries    []*keyingRetry
	deletes    []deferredDelete
}

// keyingRetry is a connection to initiate again at a given time.
type keyingRetry struct {
	cfg      *PeerConfig
	remote   netip.AddrPort
	children []*ChildConfig
	try      int // the number of the try this one will be (2 for the first retry)
	at       time.Time
}

// deferredDelete is an IKE SA to delete later (unique = replace after a
// suspected reauthentication keeps the old SA for a while, as strongSwan does).
type deferredDelete struct {
	sa     *IKESA
	at     time.Time
	reason string
}

// lastActivity is the last sign of life from the peer: an IKE message that
// decrypted, or a packet on one of the IKE SA's inbound Child SAs.
func (sa *IKESA) lastActivity() time.Time {
	last := sa.lastInbound
	if sa.Established.After(last) {
		last = sa.Established
	}
	if ia, ok := sa.m.installer.(InboundActivity); ok {
		for _, c := range sa.children {
			if c.state != childInstalled {
				continue
			}
			if t := ia.LastInbound(c); t.After(last) {
				last = t
			}
		}
	}
	return last
}

// giveUp ends an IKE SA whose request went unanswered: an established SA's
// peer is dead (dpd_action applies), an initiator that never got through
// tries again as keyingtries allows; anything else just goes.
func (sa *IKESA) giveUp(reason string) {
	switch {
	case sa.state == stateEstablished:
		sa.peerDead(reason)
	case sa.Initiator && (sa.state == stateInitSent || sa.state == stateAuthSent):
		sa.retryKeying(reason)
	default:
		sa.destroy(reason)
	}
}

// peerDead removes an IKE SA whose peer stopped answering and applies each
// Child SA's dpd_action: clear leaves nothing behind, trap installs a trap
// policy, restart initiates the connection again at once.
func (sa *IKESA) peerDead(reason string) {
	acts := sa.childActions(func(cc *ChildConfig) Action { return cc.DPDAction })
	sa.log.Warn("peer is dead, deleting IKE SA", "remote", sa.Remote, "reason", reason, "dpd_action", actionsText(acts))
	sa.destroy("peer dead: " + reason)
	sa.m.applyActions(sa, acts, "dpd_action")
}

// closedByPeer removes an IKE SA the peer deleted and applies each Child
// SA's close_action.
func (sa *IKESA) closedByPeer() {
	acts := sa.childActions(func(cc *ChildConfig) Action { return cc.CloseAction })
	sa.destroy("deleted by peer")
	sa.m.applyActions(sa, acts, "close_action")
}

// retryKeying removes an initiator's IKE SA that never got an answer and,
// if keyingtries allows, schedules the next try with back-off.
func (sa *IKESA) retryKeying(reason string) {
	m := sa.m
	try := max(sa.keyingTry, 1)
	var children []*ChildConfig
	if sa.firstChild != nil {
		children = append(children, sa.firstChild)
	}
	children = append(children, sa.pendingChildren...)
	remote := sa.cfg.Remote
	if !remote.IsValid() {
		remote = sa.Remote
	}
	sa.destroy(reason)
	m.scheduleRetry(sa.cfg, remote, children, try, sa.log.Warn)
}

// scheduleRetry plans try+1 of a connection after try failed, or gives up.
func (m *Manager) scheduleRetry(cfg *PeerConfig, remote netip.AddrPort, children []*ChildConfig, try int, logf func(string, ...any)) {
	limit := keyingTries(cfg)
	if limit != KeyingTriesForever && uint64(try) >= uint64(limit) {
		logf(fmt.Sprintf("establishing IKE SA failed, peer not responding (%d of %d keyingtries)", try, limit), "remote", remote)
		return
	}
	delay := m.retryDelay(try)
	of := "unlimited"
	if limit != KeyingTriesForever {
		of = fmt.Sprint(limit)
	}
	logf(fmt.Sprintf("peer not responding, trying again (%d/%s) in %v", try+1, of, delay.Round(time.Millisecond)), "remote", remote)
	m.live.retries = append(m.live.retries, &keyingRetry{cfg: cfg, remote: remote, children: children, try: try + 1, at: m.clock.Now().Add(delay)})
}

func keyingTries(cfg *PeerConfig) uint32 {
	if cfg.KeyingTries == 0 {
		return 1
	}
	return cfg.KeyingTries
}

// retryDelay is the wait after try n failed: strongSwan's retry interval
// (15 s less up to 10 s of jitter), doubled for every further failure and
// capped, so a dead peer is asked less and less often.
func (m *Manager) retryDelay(n int) time.Duration {
	o := m.opts
	d := o.RetryInterval
	for i := 1; i < n && d < o.RetryMax; i++ {
		d *= 2
	}
	d = min(d, o.RetryMax)
	if o.RetryJitter > 0 && o.RetryJitter < d {
		var b [8]byte
		if _, err := io.ReadFull(m.rand, b[:]); err == nil {
			d -= time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(o.RetryJitter))
		}
	}
	return d
}

// tickLiveness runs what is due: deferred deletes and keying retries.
func (m *Manager) tickLiveness(now time.Time) {
	dels := m.live.deletes[:0:0]
	for _, d := range m.live.deletes {
		if now.Before(d.at) {
			dels = append(dels, d)
			continue
		}
		if d.sa.state == stateEstablished {
			d.sa.log.Info("deleting duplicate IKE SA", "reason", d.reason)
			d.sa.deleteIKE(d.reason)
		}
	}
	m.live.deletes = dels
	var due []*keyingRetry
	rest := m.live.retries[:0:0]
	for _, r := range m.live.retries {
		if now.Before(r.at) {
			rest = append(rest, r)
		} else {
			due = append(due, r)
		}
	}
	m.live.retries = rest
	for _, r := range due {
		m.startChildren(r.cfg, r.remote, r.children, r.try)
	}
}

// livenessDeadline is when tickLiveness next has work.
func (m *Manager) livenessDeadline() time.Time {
	var next time.Time
	for _, d := range m.live.deletes {
		if next.IsZero() || d.at.Before(next) {
			next = d.at
		}
	}
	for _, r := range m.live.retries {
		if next.IsZero() || r.at.Before(next) {
			next = r.at
		}
	}
	return next
}

// startChildren brings up children of a connection: on an IKE SA of it
// that is up or on its way, or on a new one towards remote; try counts the
// keyingtries. Children already installed or being negotiated are skipped.
func (m *Manager) startChildren(cfg *PeerConfig, remote netip.AddrPort, children []*ChildConfig, try int) {
	for _, sa := range m.sas {
		if sa.cfg != cfg || (sa.state != stateEstablished && !sa.connecting()) {
			continue
		}
		for _, cc := range children {
			if m.childActive(cfg, cc) {
				continue
			}
			if sa.state == stateEstablished {
				if err := sa.createChild(cc); err != nil {
					sa.log.Warn("starting Child SA failed", "child", cc.Name, "err", err)
				}
			} else {
				sa.queueChild(cc)
			}
		}
		return
	}
	var todo []*ChildConfig
	for _, cc := range children {
		if !m.childActive(cfg, cc) {
			todo = append(todo, cc)
		}
	}
	var first *ChildConfig
	if len(todo) > 0 {
		first = todo[0]
	}
	sa, err := m.initiateTo(cfg, remote, first)
	if err != nil {
		m.log.Warn("initiating failed", "conn", cfg.Name, "err", err)
		m.scheduleRetry(cfg, remote, todo, max(try, 1), m.log.With("conn", cfg.Name).Warn)
		return
	}
	sa.keyingTry = try
	for _, cc := range todo[min(1, len(todo)):] {
		sa.queueChild(cc)
	}
}

// connecting reports an IKE SA that is being set up.
func (sa *IKESA) connecting() bool {
	return sa.state == stateInitSent || sa.state == stateInitDone || sa.state == stateAuthSent
}

// childActive reports whether a Child SA of this configuration is
// installed, being negotiated, or waiting for its IKE SA.
func (m *Manager) childActive(cfg *PeerConfig, cc *ChildConfig) bool {
	for _, c := range m.childSPI {
		if c.IKE != nil && c.IKE.cfg != nil && c.IKE.cfg.Name == cfg.Name && c.Name == cc.Name &&
			(c.state == childCreating || c.state == childInstalled) && c.IKE.state != stateDead {
			return true
		}
	}
	for _, sa := range m.sas {
		if sa.cfg == nil || sa.cfg.Name != cfg.Name || !sa.connecting() {
			continue
		}
		if sa.firstChild != nil && sa.firstChild.Name == cc.Name {
			return true
		}
		for _, p := range sa.pendingChildren {
			if p.Name == cc.Name {
				return true
			}
		}
	}
	return false
}

// retryPending reports whether a keying retry of the child is scheduled.
func (m *Manager) retryPending(cfg *PeerConfig, cc *ChildConfig) bool {
	for _, r := range m.live.retries {
		if r.cfg.Name != cfg.Name {
			continue
		}
		for _, c := range r.children {
			if c.Name == cc.Name {
				return true
			}
		}
	}
	return false
}

// cancelRetries drops the scheduled keying retries of a connection (the
// operator terminated it) and returns how many there were.
func (m *Manager) cancelRetries(conn string) int {
	n := 0
	rest := m.live.retries[:0:0]
	for _, r := range m.live.retries {
		if r.cfg.Name == conn {
			n++
			continue
		}
		rest = append(rest, r)
	}
	m.live.retries = rest
	if n > 0 {
		m.log.Info("keying retries cancelled", "conn", conn)
	}
	return n
}
