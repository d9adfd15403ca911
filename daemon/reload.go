package daemon

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike"
)

// connChanges is what a reload changes among the connections, by name.
type connChanges struct {
	Added, Removed, Changed, Unchanged []string
}

// String says what changed, for the reload command's answer.
func (ch connChanges) String() string {
	part := func(what string, names []string) string {
		if len(names) == 0 {
			return fmt.Sprintf("0 %s", what)
		}
		return fmt.Sprintf("%d %s (%s)", len(names), what, strings.Join(names, ", "))
	}
	return strings.Join([]string{part("added", ch.Added), part("removed", ch.Removed), part("changed", ch.Changed),
		fmt.Sprintf("%d unchanged", len(ch.Unchanged))}, ", ")
}

// reconcileConns compares the running connections with the reloaded ones.
// The result keeps the running *PeerConfig of every connection that did not
// change: its IKE and Child SAs, traps and retries refer to that pointer, so
// they carry on as if nothing happened (same SPIs, not a packet lost).
func reconcileConns(running, loaded []*ike.PeerConfig) ([]*ike.PeerConfig, connChanges) {
	var ch connChanges
	old := make(map[string]*ike.PeerConfig, len(running))
	for _, c := range running {
		old[c.Name] = c
	}
	out := make([]*ike.PeerConfig, 0, len(loaded))
	seen := make(map[string]bool, len(loaded))
	for _, c := range loaded {
		seen[c.Name] = true
		o := old[c.Name]
		switch {
		case o == nil:
			ch.Added = append(ch.Added, c.Name)
			out = append(out, c)
		case reflect.DeepEqual(o, c):
			ch.Unchanged = append(ch.Unchanged, c.Name)
			out = append(out, o)
		default:
			ch.Changed = append(ch.Changed, c.Name)
			out = append(out, c)
		}
	}
	for _, c := range running {
		if !seen[c.Name] {
			ch.Removed = append(ch.Removed, c.Name)
		}
	}
	return out, ch
}

// retire ends what a removed or changed connection has running: its trap
// policies and its IKE SAs (each deleted with an INFORMATIONAL DELETE, so
// the peer removes them too) and its pending keying retries.
func (d *Daemon) retire(c *ike.PeerConfig, why string) {
	for _, t := range d.mgr.Traps() {
		if t.Conn == c {
			if err := d.mgr.UninstallTrap(c.Name, t.Child.Name); err != nil {
				d.cfgLog.Warn("reload: removing trap policy failed", "conn", c.Name, "child", t.Child.Name, "err", err)
			}
		}
	}
	// an error only says there was nothing to terminate
	if err := d.mgr.TerminateIKE(c.Name); err == nil {
		d.cfgLog.Info("reload: tearing down connection", "conn", c.Name, "reason", why)
	}
}

// applyConns makes loaded the running connection list: removed
// connections are torn down, changed ones torn down and started again with
// their new settings, added ones started (start_action), and unchanged ones
// left alone.
func (d *Daemon) applyConns(loaded []*ike.PeerConfig) connChanges {
	running := d.mgr.Conns()
	conns, ch := reconcileConns(running, loaded)
	for _, c := range running {
		switch {
		case slices.Contains(ch.Removed, c.Name):
			d.retire(c, "connection removed by reload")
		case slices.Contains(ch.Changed, c.Name):
			d.retire(c, "connection changed by reload")
		}
	}
	if err := d.path.Protect(conns); err != nil {
		d.cfgLog.Warn("protecting the new connections' subnets failed", "err", err)
	}
	d.mgr.SetConns(conns)
	for _, c := range conns {
		if slices.Contains(ch.Added, c.Name) || slices.Contains(ch.Changed, c.Name) {
			d.startActionsOf(c)
		}
	}
	return ch
}
