package ike

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/cygnet-ipsec/cygnet/spd"
)

// Trap is a trap policy (swanctl start_action, dpd_action or close_action
// = trap): the child's outbound selectors, installed without an SA, so the
// first matching packet raises an acquire and the daemon calls
// Manager.Acquire.
type Trap struct {
	// ID is unique among the Manager's traps.
	ID     uint32
	Conn   *PeerConfig
	Child  *ChildConfig
	Local  netip.AddrPort // our IKE address, standing in for dynamic local selectors
	Remote netip.AddrPort // where the connection is initiated when the trap fires
	// LocalTS and RemoteTS are the child's selectors with dynamic entries
	// resolved to the IKE addresses.
	LocalTS, RemoteTS []spd.Endpoint
}

// Trapper is implemented by an Installer that can install trap policies.
// Without it, trap actions are logged and ignored.
type Trapper interface {
	InstallTrap(t *Trap) error
	UninstallTrap(t *Trap)
}

type trapKey struct{ conn, child string }

// InstallTrap installs the trap policy of a child (start_action = trap).
func (m *Manager) InstallTrap(conn, child string) error {
	cfg := m.Conn(conn)
	if cfg == nil {
		return fmt.Errorf("trap: no connection named %q", conn)
	}
	cc := cfg.Child(child)
	if cc == nil {
		return fmt.Errorf("trap: connection %q has no child %q", conn, child)
	}
	_, err := m.installTrap(cfg, cc, cfg.Remote)
	return err
}

// UninstallTrap removes a child's trap policy.
func (m *Manager) UninstallTrap(conn, child string) error {
	k := trapKey{conn, child}
	t := m.live.traps[k]
	if t == nil {
		return fmt.Errorf("trap: no trap policy for %s/%s", conn, child)
	}
	delete(m.live.traps, k)
	if tr, ok := m.installer.(Trapper); ok {
		tr.UninstallTrap(t)
	}
	m.log.Info("trap policy uninstalled", "conn", conn, "child", child)
	return nil
}

// Traps returns the installed trap policies, ordered by ID.
func (m *Manager) Traps() []*Trap {
	out := make([]*Trap, 0, len(m.live.traps))
	for _, t := range m.live.traps {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (m *Manager) installTrap(cfg *PeerConfig, cc *ChildConfig, remote netip.AddrPort) (*Trap, error) {
	k := trapKey{cfg.Name, cc.Name}
	if t := m.live.traps[k]; t != nil {
		return t, nil
	}
	if !remote.IsValid() {
		return nil, fmt.Errorf("trap %s/%s: remote address unknown (remote_addrs)", cfg.Name, cc.Name)
	}
	local, err := m.transport.Source(remote)
	if err != nil {
		return nil, fmt.Errorf("trap %s/%s: no route to %s: %w", cfg.Name, cc.Name, remote, err)
	}
	m.live.nextTrapID++
	t := &Trap{
		ID: m.live.nextTrapID, Conn: cfg, Child: cc, Local: local, Remote: remote,
		LocalTS: resolve(cc.LocalTS, local.Addr()), RemoteTS: resolve(cc.RemoteTS, remote.Addr()),
	}
	tr, ok := m.installer.(Trapper)
	if !ok {
		return nil, fmt.Errorf("trap %s/%s: the packet path cannot install trap policies", cfg.Name, cc.Name)
	}
	if err := tr.InstallTrap(t); err != nil {
		return nil, fmt.Errorf("trap %s/%s: %w", cfg.Name, cc.Name, err)
	}
	if m.live.traps == nil {
		m.live.traps = map[trapKey]*Trap{}
	}
	m.live.traps[k] = t
	m.log.Info("trap policy installed", "conn", cfg.Name, "child", cc.Name, "local_ts", tsStrings(t.LocalTS), "remote_ts", tsStrings(t.RemoteTS))
	return t, nil
}

// Acquire handles a packet that hit a child's trap policy: it initiates the
// child unless it is up, being negotiated, or waiting for a keying retry,
// so a burst of acquires starts one negotiation.
func (m *Manager) Acquire(conn, child string) error {
	t := m.live.traps[trapKey{conn, child}]
	if t == nil {
		return fmt.Errorf("acquire: no trap policy for %s/%s", conn, child)
	}
	cfg, cc := t.Conn, t.Child
	if cur := m.Conn(conn); cur != nil && cur.Child(child) != nil {
		cfg, cc = cur, cur.Child(child) // a reload replaced the configuration
	}
	if m.childActive(cfg, cc) || m.retryPending(cfg, cc) {
		m.log.Debug("acquire ignored, Child SA already on its way", "conn", conn, "child", child)
		return nil
	}
	m.log.Info("acquire: initiating Child SA for trapped traffic", "conn", conn, "child", child, "remote", t.Remote)
	m.startChildren(cfg, t.Remote, []*ChildConfig{cc}, 1)
	return nil
}

// childAction is what to do with one child when its IKE SA is gone.
type childAction struct {
	cc     *ChildConfig
	action Action
}

// childActions lists the SA's installed children (once per configuration)
// with the action pick chooses for them.
func (sa *IKESA) childActions(pick func(*ChildConfig) Action) []childAction {
	var out []childAction
	seen := map[*ChildConfig]bool{}
	for _, c := range sa.children {
		if c.Config == nil || seen[c.Config] || (c.state != childInstalled && c.state != childDeleting) {
			continue
		}
		seen[c.Config] = true
		out = append(out, childAction{c.Config, pick(c.Config)})
	}
	return out
}

func actionName(a Action) string {
	switch a {
	case ActionTrap:
		return "trap"
	case ActionStart, ActionRestart:
		return "restart"
	}
	return "clear"
}

func actionsText(acts []childAction) string {
	if len(acts) == 0 {
		return "none (no Child SA)"
	}
	var b strings.Builder
	for i, a := range acts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", a.cc.Name, actionName(a.action))
	}
	return b.String()
}

// applyActions does what dpd_action or close_action (which) says for the
// children of a removed IKE SA: trap policies go in at once, children to
// restart come up together on one new IKE SA (strongSwan's reestablish).
func (m *Manager) applyActions(old *IKESA, acts []childAction, which string) {
	remote := old.cfg.Remote
	if !remote.IsValid() {
		remote = old.Remote
	}
	var restart []*ChildConfig
	for _, a := range acts {
		// A Child SA that lives on under another IKE SA (the successor
		// of a reauthentication) was not closed: no action applies.
		if m.childActive(old.cfg, a.cc) {
			continue
		}
		switch a.action {
		case ActionTrap:
			if _, err := m.installTrap(old.cfg, a.cc, remote); err != nil {
				old.log.Warn(which+" trap failed", "child", a.cc.Name, "err", err)
			}
		case ActionStart, ActionRestart:
			old.log.Info("restarting Child SA ("+which+")", "child", a.cc.Name)
			restart = append(restart, a.cc)
		}
	}
	if len(restart) > 0 {
		m.startChildren(old.cfg, remote, restart, 1)
	}
}

// childClosedByPeer applies close_action to a Child SA the peer deleted:
// restart it on the same IKE SA, or trap it.
func (sa *IKESA) childClosedByPeer(c *ChildSA) {
	cc := c.Config
	if cc == nil || sa.state != stateEstablished {
		return
	}
	switch cc.CloseAction {
	case ActionTrap:
		remote := sa.cfg.Remote
		if !remote.IsValid() {
			remote = sa.Remote
		}
		if _, err := sa.m.installTrap(sa.cfg, cc, remote); err != nil {
			sa.log.Warn("close_action trap failed", "child", cc.Name, "err", err)
		}
	case ActionStart, ActionRestart:
		if sa.m.childActive(sa.cfg, cc) {
			return
		}
		sa.log.Info("restarting Child SA (close_action)", "child", cc.Name)
		if err := sa.createChild(cc); err != nil {
			sa.log.Warn("close_action restart failed", "child", cc.Name, "err", err)
		}
	}
}
