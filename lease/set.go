package lease

import (
	"errors"
	"fmt"
	"net/netip"
)

// Set is the daemon's pools by name, kept across reloads.
type Set struct {
	pools map[string]*Pool
	order []string
}

// NewSet builds an empty set.
func NewSet() *Set { return &Set{pools: map[string]*Pool{}} }

// Pool finds a pool by name.
func (s *Set) Pool(name string) *Pool { return s.pools[name] }

// Pools returns the pools in the order they were configured.
func (s *Set) Pools() []*Pool {
	out := make([]*Pool, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, s.pools[n])
	}
	return out
}

// Replace installs a new configuration of pools (a reload): a pool whose
// range did not change keeps its leases as they are; a changed one takes
// over the leases that still fit; a removed pool's leases are forgotten.
func (s *Set) Replace(pools []*Pool) {
	next := make(map[string]*Pool, len(pools))
	order := make([]string, 0, len(pools))
	for _, p := range pools {
		old := s.pools[p.name]
		switch {
		case old != nil && old.start == p.start && old.end == p.end:
			p = old
		case old != nil:
			p.Adopt(old)
		}
		next[p.name] = p
		order = append(order, p.name)
	}
	s.pools, s.order = next, order
}

// Acquire leases an address of the requested family from the first of the
// named pools that has one (pools of the other family are skipped), as
// strongSwan tries a connection's pools in order.
func (s *Set) Acquire(names []string, identity string, requested netip.Addr) (netip.Addr, *Pool, error) {
	var errs []error
	tried := false
	for _, n := range names {
		p := s.pools[n]
		if p == nil || p.start.Is4() != requested.Unmap().Is4() {
			continue
		}
		tried = true
		a, err := p.Acquire(identity, requested)
		if err == nil {
			return a, p, nil
		}
		errs = append(errs, err)
	}
	if !tried {
		return netip.Addr{}, nil, fmt.Errorf("no %s pool among %v", family(requested), names)
	}
	return netip.Addr{}, nil, errors.Join(errs...)
}

// Release marks a lease offline in the pool that holds the address.
func (s *Set) Release(pool, identity string, addr netip.Addr) bool {
	p := s.pools[pool]
	return p != nil && p.Release(identity, addr)
}

func family(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "IPv4"
	}
	return "IPv6"
}
