// Package netcfg installs what the data plane needs in the kernel's routing:
// the TUN device's addresses, routes for the remote traffic selectors, a
// policy routing rule, and leak protection, through netlink.
//
// Layout (strongSwan-like): routes into the TUN live in a dedicated table
// (DefaultTable, 220) that one rule per family consults before the main
// table ("not fwmark M lookup 220", priority DefaultRulePriority). The
// data plane marks its own sockets with M, so the ESP and IKE packets it
// sends follow the main table even when a remote selector covers the peer's
// address (0.0.0.0/0), instead of looping into the TUN. Table 254 (main)
// works too when no rule is wanted; then selectors must not cover the
// peers.
//
// Leak protection: Protect installs an "unreachable" route for each
// protected prefix in the same table with a worse metric (ProtectMetric)
// than the TUN routes (RouteMetric). It is not bound to any device, so it
// stays when the TUN disappears (daemon stopped or killed) and while an SA
// is being set up, and traffic for those prefixes is refused locally
// (EHOSTUNREACH for local senders, ICMP unreachable for forwarded packets)
// instead of leaving in clear text through the default route. Only
// Unprotect, for a connection the operator removes, takes it away; the rule
// is kept for the same reason until RemoveRule.
package netcfg

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Defaults.
const (
	// DefaultTable is the routing table for TUN and protection routes
	// (strongSwan uses 220 too).
	DefaultTable = 220
	// DefaultRulePriority is the ip rule priority that sends lookups to
	// the table.
	DefaultRulePriority = 220
	// DefaultFwMark marks the data plane's own sockets.
	DefaultFwMark = 0xc7e7
	// RouteMetric is the metric of routes into the TUN; ProtectMetric
	// that of the unreachable routes under them.
	RouteMetric   = 100
	ProtectMetric = 4000
	// routeProto tags cygnet's routes (RTPROT_STATIC would hide them
	// among the operator's; 0xc7 is unassigned in rt_protos).
	routeProto = 0xc7
)

// Config configures a Manager.
type Config struct {
	// Table is the routing table (default 220; 254 is main).
	Table int
	// RulePriority is the rule's priority (default 220).
	RulePriority int
	// FwMark is the mark the rule skips; it must match the data plane's
	// Config.FwMark (default DefaultFwMark).
	FwMark uint32
	// Namespace, if set, is the name of a network namespace (ip netns) to
	// configure instead of the caller's.
	Namespace string
}

// Manager configures one network namespace.
type Manager struct {
	cfg Config
	h   *netlink.Handle

	// links caches interface indexes by name: the routes of every Child
	// SA go to one TUN, and asking the kernel for its index each time
	// was a fifth of a gateway's CPU per handshake. An index that stops
	// working (ENODEV) is looked up again.
	mu    sync.Mutex
	links map[string]int
}

// linkIndex returns the index of the named interface.
func (m *Manager) linkIndex(name string) (int, error) {
	m.mu.Lock()
	idx, ok := m.links[name]
	m.mu.Unlock()
	if ok {
		return idx, nil
	}
	l, err := m.h.LinkByName(name)
	if err != nil {
		return 0, err
	}
	idx = l.Attrs().Index
	m.mu.Lock()
	if m.links == nil {
		m.links = map[string]int{}
	}
	m.links[name] = idx
	m.mu.Unlock()
	return idx, nil
}

// withLink runs f with the named interface's index, once more with a fresh
// index if the cached one names no interface any more (a link recreated
// under the same name).
func (m *Manager) withLink(name string, f func(index int) error) error {
	idx, err := m.linkIndex(name)
	if err != nil {
		return err
	}
	err = f(idx)
	if !errors.Is(err, unix.ENODEV) {
		return err
	}
	m.mu.Lock()
	delete(m.links, name)
	m.mu.Unlock()
	if idx, err = m.linkIndex(name); err != nil {
		return err
	}
	return f(idx)
}

// New opens a netlink handle in the configured namespace.
func New(cfg Config) (*Manager, error) {
	if cfg.Table == 0 {
		cfg.Table = DefaultTable
	}
	if cfg.RulePriority == 0 {
		cfg.RulePriority = DefaultRulePriority
	}
	if cfg.FwMark == 0 {
		cfg.FwMark = DefaultFwMark
	}
	var h *netlink.Handle
	var err error
	if cfg.Namespace != "" {
		ns, nerr := netns.GetFromName(cfg.Namespace)
		if nerr != nil {
			return nil, fmt.Errorf("netcfg: namespace %s: %w", cfg.Namespace, nerr)
		}
		defer ns.Close()
		h, err = netlink.NewHandleAt(ns)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("netcfg: netlink: %w", err)
	}
	return &Manager{cfg: cfg, h: h}, nil
}

// Close releases the netlink handle; it changes nothing in the kernel.
func (m *Manager) Close() { m.h.Close() }

// Table returns the routing table in use.
func (m *Manager) Table() int { return m.cfg.Table }

func ipnet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// LinkUp brings the named link (the TUN) up.
func (m *Manager) LinkUp(name string) error {
	l, err := m.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netcfg: link %s: %w", name, err)
	}
	if err := m.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("netcfg: set %s up: %w", name, err)
	}
	return nil
}

// AddAddress assigns addr (e.g. a virtual IP from the configuration
// payload, or the local gateway address inside the protected subnet) to the
// link; an address already present is not an error.
func (m *Manager) AddAddress(link string, addr netip.Prefix) error {
	l, err := m.h.LinkByName(link)
	if err != nil {
		return fmt.Errorf("netcfg: link %s: %w", link, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}}
	if addr.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := m.h.AddrReplace(l, a); err != nil {
		return fmt.Errorf("netcfg: add %v to %s: %w", addr, link, err)
	}
	return nil
}

// DelAddress removes addr from the link; an absent address is not an error.
func (m *Manager) DelAddress(link string, addr netip.Prefix) error {
	l, err := m.h.LinkByName(link)
	if err != nil {
		return fmt.Errorf("netcfg: link %s: %w", link, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}}
	if err := m.h.AddrDel(l, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("netcfg: delete %v from %s: %w", addr, link, err)
	}
	return nil
}

// AddRoutes routes each prefix (a remote traffic selector) into the link,
// in the table, with src as the preferred source address when valid (so
// locally generated traffic picks an address the remote selector's peer
// expects). Existing routes for the same prefix and metric are replaced.
func (m *Manager) AddRoutes(link string, prefixes []netip.Prefix, src netip.Addr) error {
	var idx int
	err := m.withLink(link, func(index int) error {
		idx = index
		for _, p := range prefixes {
			r := &netlink.Route{
				LinkIndex: index,
				Dst:       ipnet(p),
				Table:     m.cfg.Table,
				Priority:  RouteMetric,
				Protocol:  routeProto,
				Scope:     netlink.SCOPE_LINK,
				Family:    family(p.Addr()),
			}
			if src.IsValid() && src.Is4() == p.Addr().Is4() {
				r.Src = src.AsSlice()
			}
			if err := m.h.RouteReplace(r); err != nil {
				return fmt.Errorf("netcfg: route %v via %s: %w", p, link, err)
			}
		}
		return nil
	})
	if err != nil && idx == 0 {
		return fmt.Errorf("netcfg: link %s: %w", link, err)
	}
	return err
}

// DelRoutes removes the routes AddRoutes installed; absent ones are not an
// error.
func (m *Manager) DelRoutes(link string, prefixes []netip.Prefix) error {
	var errs []error
	err := m.withLink(link, func(index int) error {
		errs = errs[:0]
		for _, p := range prefixes {
			r := &netlink.Route{LinkIndex: index, Dst: ipnet(p), Table: m.cfg.Table, Priority: RouteMetric, Family: family(p.Addr())}
			if err := m.h.RouteDel(r); errors.Is(err, unix.ENODEV) {
				return err // a stale index: withLink looks the link up again
			} else if err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("netcfg: delete route %v: %w", p, err))
			}
		}
		return nil
	})
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf), errors.Is(err, unix.ENODEV):
		return nil // the link and its routes are gone
	case err != nil:
		return fmt.Errorf("netcfg: link %s: %w", link, err)
	}
	return errors.Join(errs...)
}

// AddRule installs, for IPv4 and IPv6, the rule that sends lookups of
// packets without the data plane's mark to the table. It is idempotent and
// does nothing for the main table.
func (m *Manager) AddRule() error {
	if m.cfg.Table == unix.RT_TABLE_MAIN {
		return nil
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		if ok, err := m.hasRule(fam); err != nil {
			return err
		} else if ok {
			continue
		}
		if err := m.h.RuleAdd(m.rule(fam)); err != nil {
			return fmt.Errorf("netcfg: add rule (family %d): %w", fam, err)
		}
	}
	return nil
}

// RemoveRule deletes the rules AddRule installed.
func (m *Manager) RemoveRule() error {
	var errs []error
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		if ok, err := m.hasRule(fam); err != nil || !ok {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := m.h.RuleDel(m.rule(fam)); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: delete rule (family %d): %w", fam, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) rule(fam int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = fam
	r.Priority = m.cfg.RulePriority
	r.Table = m.cfg.Table
	r.Mark = m.cfg.FwMark
	mask := uint32(0xffffffff)
	r.Mask = &mask
	r.Invert = true
	return r
}

func (m *Manager) hasRule(fam int) (bool, error) {
	rules, err := m.h.RuleList(fam)
	if err != nil {
		return false, fmt.Errorf("netcfg: list rules: %w", err)
	}
	return slices.ContainsFunc(rules, func(r netlink.Rule) bool {
		return r.Priority == m.cfg.RulePriority && r.Table == m.cfg.Table && r.Mark == m.cfg.FwMark && r.Invert
	}), nil
}

// Protect installs an unreachable route for each prefix (see the package
// comment). It is idempotent.
func (m *Manager) Protect(prefixes []netip.Prefix) error {
	for _, p := range prefixes {
		if err := m.h.RouteReplace(m.protectRoute(p)); err != nil {
			return fmt.Errorf("netcfg: protect %v: %w", p, err)
		}
	}
	return nil
}

// Unprotect removes Protect's routes; absent ones are not an error.
func (m *Manager) Unprotect(prefixes []netip.Prefix) error {
	var errs []error
	for _, p := range prefixes {
		if err := m.h.RouteDel(m.protectRoute(p)); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("netcfg: unprotect %v: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) protectRoute(p netip.Prefix) *netlink.Route {
	return &netlink.Route{
		Dst:      ipnet(p),
		Table:    m.cfg.Table,
		Priority: ProtectMetric,
		Protocol: routeProto,
		Type:     unix.RTN_UNREACHABLE,
		Family:   family(p.Addr()),
	}
}

// RangePrefixes splits the address range [from, to] (a traffic selector's
// range, both of one family, from <= to) into the fewest prefixes that
// cover it exactly, in address order.
func RangePrefixes(from, to netip.Addr) ([]netip.Prefix, error) {
	from, to = from.Unmap(), to.Unmap()
	if !from.IsValid() || !to.IsValid() || from.Is4() != to.Is4() {
		return nil, fmt.Errorf("netcfg: range %v-%v: addresses of different families", from, to)
	}
	if to.Less(from) {
		return nil, fmt.Errorf("netcfg: range %v-%v: end before start", from, to)
	}
	bits := from.BitLen()
	lo := new(big.Int).SetBytes(from.AsSlice())
	hi := new(big.Int).SetBytes(to.AsSlice())
	one := big.NewInt(1)
	var out []netip.Prefix
	for lo.Cmp(hi) <= 0 {
		// The largest block aligned at lo that does not pass hi.
		size := 0
		for size < bits {
			if lo.Bit(size) != 0 {
				break
			}
			end := new(big.Int).Add(lo, new(big.Int).Lsh(one, uint(size+1)))
			end.Sub(end, one)
			if end.Cmp(hi) > 0 {
				break
			}
			size++
		}
		b := make([]byte, bits/8)
		lo.FillBytes(b)
		a, _ := netip.AddrFromSlice(b)
		out = append(out, netip.PrefixFrom(a, bits-size))
		lo.Add(lo, new(big.Int).Lsh(one, uint(size)))
	}
	return out, nil
}
