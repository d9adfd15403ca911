package daemon

import (
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/dataplane"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// acquireInterval is the least time between two acquires of one trap that
// reach IKE; the data plane raises at most one a second per route, and IKE
// ignores acquires while the Child SA is being negotiated.
const acquireInterval = 2 * time.Second

// trapped is a trap policy in the data plane: the child's Out protect
// policy on a route without an outbound SA, so matching packets raise an
// acquire instead of leaving.
type trapped struct {
	trap        *ike.Trap
	route       *dataplane.Route
	policy      spd.Policy
	lastAcquire time.Time
}

// InstallTrap puts a trap policy into the SPD and routes its remote
// selectors into the TUN, where the data plane raises the acquire. It
// implements ike.Trapper. An installed Child SA with the same selectors
// takes precedence (its policy has the lower priority value).
func (p *packetPath) InstallTrap(t *ike.Trap) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.traps == nil {
		p.traps = map[uint32]*trapped{}
	}
	sels := spd.CrossProduct(t.LocalTS, t.RemoteTS)
	prio := uint32(1000)
	for _, s := range sels {
		prio = min(prio, uint32(1000-rangeBits(s.Local)-rangeBits(s.Remote)))
	}
	route := &dataplane.Route{Name: t.Child.Name}
	p.nextID++
	tr := &trapped{trap: t, route: route, policy: spd.Policy{
		ID: p.nextID, Direction: spd.Out, Action: spd.Protect, Priority: prio + 1, Selectors: sels, Handle: route,
	}}
	p.traps[t.ID] = tr
	p.refPolicies([]spd.Policy{tr.policy})
	if err := p.commitPolicies(); err != nil {
		delete(p.traps, t.ID)
		return err
	}
	if p.routes != nil {
		if err := p.addRoutes(route, t.LocalTS, t.RemoteTS); err != nil {
			p.log.Warn("adding trap routes failed", "child", t.Child.Name, "err", err)
		}
	}
	return nil
}

// UninstallTrap removes a trap policy and its routes (those an installed
// Child SA still needs stay).
func (p *packetPath) UninstallTrap(t *ike.Trap) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tr := p.traps[t.ID]
	if tr == nil {
		return
	}
	delete(p.traps, t.ID)
	p.unrefPolicies([]spd.Policy{tr.policy})
	if err := p.commitPolicies(); err != nil {
		p.log.Warn("updating policies failed", "err", err)
	}
	if p.routes != nil {
		p.dropRoutesLocked(tr.route, t.RemoteTS)
	}
}

// LastInbound is when a Child SA's inbound SA last accounted a packet
// (at the resolution of the SAD's Expire calls, about a second); DPD
// treats it as a sign of life. It implements ike.InboundActivity.
func (p *packetPath) LastInbound(c *ike.ChildSA) time.Time {
	p.mu.Lock()
	inst := p.children[c.UniqueID]
	p.mu.Unlock()
	if inst == nil {
		return time.Time{}
	}
	e := inst.in.Entry()
	if e == nil {
		return time.Time{}
	}
	return e.Stats().LastUse
}

// trapOf names the trap an acquire came from, once per acquireInterval;
// acquires of routes that are not traps (a Child SA just deleted) are
// dropped.
func (p *packetPath) trapOf(route *dataplane.Route, now time.Time) (conn, child string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.traps {
		if t.route != route {
			continue
		}
		if !t.lastAcquire.IsZero() && now.Sub(t.lastAcquire) < acquireInterval {
			return "", "", false
		}
		t.lastAcquire = now
		return t.trap.Conn.Name, t.trap.Child.Name, true
	}
	return "", "", false
}

// trapPath is the part of the packet path acquires need.
type trapPath interface {
	trapOf(route *dataplane.Route, now time.Time) (conn, child string, ok bool)
}

// acquire turns a packet that hit a trap policy into an initiation.
func (d *Daemon) acquire(ev dataplane.Event) {
	tp, ok := d.path.(trapPath)
	if !ok || ev.Route == nil {
		return
	}
	conn, child, ok := tp.trapOf(ev.Route, time.Now())
	if !ok {
		return
	}
	if err := d.mgr.Acquire(conn, child); err != nil {
		d.log.Warn("acquire failed", "conn", conn, "child", child, "err", err)
	}
}

// uniquePolicy maps swanctl's unique to IKE's.
func uniquePolicy(u config.Unique) ike.UniquePolicy {
	switch u {
	case config.UniqueNever:
		return ike.UniqueNever
	case config.UniqueReplace:
		return ike.UniqueReplace
	case config.UniqueKeep:
		return ike.UniqueKeep
	}
	return ike.UniqueNo
}

// keyingTries maps swanctl's keyingtries (0 is forever) to IKE's.
func keyingTries(n uint32) uint32 {
	if n == 0 {
		return ike.KeyingTriesForever
	}
	return n
}
