package ike

import (
	"encoding/binary"
	"slices"
	"time"
)

// Lifetimes as strongSwan reads swanctl.conf(5):
//
//   - IKE SA: rekey at rekey_time and reauthenticate at reauth_time, each
//     minus a random jitter of up to rand_time; delete the SA over_time after
//     the first of them if it has not been replaced by then.
//   - Child SA: rekey at rekey_time minus up to rand_time (the soft
//     lifetime), delete at life_time (the hard one). Byte and packet limits
//     are counted by the SAD, whose events reach ChildExpired.

// jitter returns a random duration in [0, max) from the Manager's random
// source.
func (m *Manager) jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	var b [8]byte
	_, _ = m.rand.Read(b[:])
	return time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(max))
}

// setChildLifetimes sets when a Child SA installed at now rekeys and expires.
func (sa *IKESA) setChildLifetimes(c *ChildSA, now time.Time) {
	cc := c.Config
	if cc == nil {
		return
	}
	if cc.LifeTime > 0 {
		c.ExpiresAt = now.Add(cc.LifeTime)
	}
	if cc.RekeyTime > 0 {
		c.RekeyAt = now.Add(cc.RekeyTime - sa.m.jitter(min(cc.RandTime, cc.RekeyTime)))
		if !c.ExpiresAt.IsZero() && c.RekeyAt.After(c.ExpiresAt) {
			c.RekeyAt = c.ExpiresAt
		}
	}
}

// setIKELifetimes sets when an IKE SA established at now rekeys,
// reauthenticates and is deleted at the latest.
func (sa *IKESA) setIKELifetimes(now time.Time) {
	cfg := sa.cfg
	sa.RekeyAt, sa.ReauthAt, sa.ExpireAt = time.Time{}, time.Time{}, time.Time{}
	if cfg.RekeyTime > 0 {
		sa.RekeyAt = now.Add(cfg.RekeyTime - sa.m.jitter(min(cfg.RandTime, cfg.RekeyTime)))
	}
	if cfg.ReauthTime > 0 {
		sa.ReauthAt = now.Add(cfg.ReauthTime - sa.m.jitter(min(cfg.RandTime, cfg.ReauthTime)))
	}
	first := earliest(sa.RekeyAt, sa.ReauthAt)
	if !first.IsZero() && cfg.OverTime > 0 {
		sa.ExpireAt = first.Add(cfg.OverTime)
	}
}

// earliest returns the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// due reports whether a deadline has come; a pending retry replaces it.
func due(now, at, retry time.Time) bool {
	if !retry.IsZero() {
		return !now.Before(retry)
	}
	return !at.IsZero() && !now.Before(at)
}

// childRekeyable reports whether c is a Child SA whose timer may start a
// rekey: installed, sealing, not being rekeyed.
func childRekeyable(c *ChildSA) bool {
	return c.state == childInstalled && c.rekey == nil && c.supersededBy == nil && !c.redundant &&
		c.Config != nil && (c.Rekeys == nil || c.outbound) && (c.successor == nil || c.successor.outbound ||
		c.successor.redundant || c.successor.state != childInstalled)
}

// ikeRekeyable reports whether the IKE SA's timers may start a rekey or
// reauthentication.
func (sa *IKESA) ikeRekeyable() bool {
	return sa.state == stateEstablished && sa.superseded == nil && !sa.redundant && sa.ikeRekey == nil &&
		sa.reauthing == nil && sa.reauthOf == nil && sa.quietExpireAt.IsZero()
}

// tickLifetimes runs the rekey, expiry and grace timers of the IKE SA and
// its Child SAs.
func (sa *IKESA) tickLifetimes(now time.Time) {
	if sa.state == stateDead {
		return
	}
	if !sa.quietExpireAt.IsZero() && !now.Before(sa.quietExpireAt) {
		sa.destroy("simultaneous rekey: the peer never took this IKE SA into use")
		return
	}
	for _, c := range slices.Clone(sa.children) {
		switch {
		case c.state == childDeleted:
			sa.removeChild(c) // gone, but left in the list by a request of a replaced IKE SA
		case c.state == childRekeyed || c.redundant:
			if (!c.retireAt.IsZero() && !now.Before(c.retireAt)) || (!c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt)) {
				sa.retireChild(c)
			}
		case c.state != childInstalled:
		case !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt):
			sa.deleteChild(c, "hard lifetime reached")
		case childRekeyable(c) && due(now, c.RekeyAt, c.retryAt):
			why := "soft lifetime reached"
			if !c.retryAt.IsZero() {
				why = "retry"
			}
			if err := sa.rekeyChild(c, why); err != nil {
				sa.log.Warn("starting Child SA rekey failed", "child", c.Name, "err", err)
				c.retryAt = now.Add(sa.m.rekeyDelay())
			}
		}
	}
	if sa.ikeRekeyable() {
		var err error
		switch {
		case !sa.ExpireAt.IsZero() && !now.Before(sa.ExpireAt):
			sa.deleteIKE("IKE SA lifetime expired before it was replaced")
		case !sa.ikeRetryAt.IsZero():
			if !now.Before(sa.ikeRetryAt) {
				if sa.ikeRetryReauth {
					sa.ikeRetryAt = time.Time{}
					err = sa.reauthenticate()
				} else {
					err = sa.rekeyIKE()
				}
			}
		case due(now, sa.ReauthAt, time.Time{}):
			err = sa.reauthenticate()
		case due(now, sa.RekeyAt, time.Time{}):
			err = sa.rekeyIKE()
		}
		if err != nil {
			sa.log.Warn("starting IKE SA rekey failed", "err", err)
			sa.ikeRetryAt = now.Add(sa.m.rekeyDelay())
		}
	}
	sa.checkReauthDone()
}

// lifetimeDeadline is when tickLifetimes next has work to do.
func (sa *IKESA) lifetimeDeadline() time.Time {
	var next time.Time
	add := func(t time.Time) { next = earliest(next, t) }
	if sa.state == stateDead {
		return next
	}
	add(sa.quietExpireAt)
	for _, c := range sa.children {
		switch {
		case c.state == childRekeyed || c.redundant:
			add(c.retireAt)
			add(c.ExpiresAt)
		case c.state != childInstalled:
		default:
			add(c.ExpiresAt)
			if childRekeyable(c) {
				if !c.retryAt.IsZero() {
					add(c.retryAt)
				} else {
					add(c.RekeyAt)
				}
			}
		}
	}
	if sa.ikeRekeyable() {
		add(sa.ExpireAt)
		if !sa.ikeRetryAt.IsZero() {
			add(sa.ikeRetryAt)
		} else {
			add(sa.ReauthAt)
			add(sa.RekeyAt)
		}
	}
	if sa.reauthOf != nil && sa.state == stateEstablished && sa.pending == nil && len(sa.queue) == 0 && len(sa.pendingChildren) == 0 {
		add(sa.m.clock.Now())
	}
	return next
}
