package daemon

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/lease"
)

// poolAttrs are what a pool sends with its addresses.
type poolAttrs struct {
	dns     []netip.Addr
	subnets []netip.Prefix
	netmask netip.Addr
}

// poolManager leases virtual IPs from the configured pools (ike.AddressPools).
// It lives as long as the daemon: a reload swaps the pool definitions and
// keeps the leases.
type poolManager struct {
	set   *lease.Set
	attrs map[string]poolAttrs
}

func newPoolManager() *poolManager {
	return &poolManager{set: lease.NewSet(), attrs: map[string]poolAttrs{}}
}

// configure installs the pools of a configuration that buildPools accepted.
func (m *poolManager) configure(cfg *config.Config) error {
	pools, attrs, err := buildPools(cfg)
	if err != nil {
		return err
	}
	m.set.Replace(pools)
	m.attrs = attrs
	return nil
}

// Acquire implements ike.AddressPools.
func (m *poolManager) Acquire(pools []string, peer identity.ID, requested netip.Addr) (ike.VirtualIP, error) {
	a, p, err := m.set.Acquire(pools, peer.String(), requested)
	if err != nil {
		return ike.VirtualIP{}, err
	}
	at := m.attrs[p.Name()]
	v := ike.VirtualIP{Addr: a, Pool: p.Name(), Netmask: at.netmask}
	// Both families of DNS servers and subnets go with either address,
	// as strongSwan sends every attribute of the pool.
	v.DNS = append(v.DNS, at.dns...)
	v.Subnets = append(v.Subnets, at.subnets...)
	return v, nil
}

// Release implements ike.AddressPools.
func (m *poolManager) Release(v ike.VirtualIP, peer identity.ID) {
	m.set.Release(v.Pool, peer.String(), v.Addr)
}

// list renders the pools for list-pools, as strongSwan's VICI list-pools
// with leases.
func (m *poolManager) list() []control.Pool {
	out := []control.Pool{}
	for _, p := range m.set.Pools() {
		cp := control.Pool{Name: p.Name(), Base: p.Base().String(), Size: p.Size(), Online: p.Online(), Offline: p.Offline(), Leases: []control.Lease{}}
		for _, l := range p.Leases() {
			status := "offline"
			if l.Online > 0 {
				status = "online"
			}
			cp.Leases = append(cp.Leases, control.Lease{Address: l.Addr.String(), Identity: l.Identity, Status: status})
		}
		out = append(out, cp)
	}
	return out
}

// poolAttrNotImplemented are the pool attributes cygnet does not send.
var poolAttrNotImplemented = map[string]string{
	"dhcp": "INTERNAL_IP4_DHCP", "server": "INTERNAL_IP4_SERVER", "p_cscf": "P-CSCF addresses (RFC 7651)",
	"split_include": "Cisco Unity split-include", "split_exclude": "Cisco Unity split-exclude",
}

// buildPools makes the lease pools of a configuration and checks their
// attributes: the subset cygnet implements (addrs, dns, subnet, netmask)
// works; the rest is refused with its line.
func buildPools(cfg *config.Config) ([]*lease.Pool, map[string]poolAttrs, error) {
	var errs []error
	var pools []*lease.Pool
	attrs := map[string]poolAttrs{}
	for _, p := range cfg.Pools {
		path := "pools." + p.Name
		switch len(p.Addrs) {
		case 0:
			errs = append(errs, fmt.Errorf("%s: %s: no addrs: a pool needs addresses to lease", p.Pos, path))
			continue
		case 1:
		default:
			errs = append(errs, fmt.Errorf("%s: %s.addrs: one subnet or range per pool, as in strongSwan; define another pool", p.AddrsPos, path))
			continue
		}
		r := p.Addrs[0]
		var lp *lease.Pool
		var err error
		if r.Prefix.IsValid() {
			lp, err = lease.FromPrefix(p.Name, r.Prefix)
		} else {
			lp, err = lease.New(p.Name, r.Start, r.End)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s.addrs: %w", p.AddrsPos, path, err))
			continue
		}
		pools = append(pools, lp)
		at := poolAttrs{dns: p.DNS}
		if len(p.NBNS) > 0 {
			errs = append(errs, fmt.Errorf("%s: %s.nbns: not implemented by cygnet yet (NetBIOS name servers)", p.Pos, path))
		}
		for _, key := range slices.Sorted(maps.Keys(p.Attrs)) {
			vals := p.Attrs[key]
			if len(vals) == 0 {
				continue
			}
			switch key {
			case "subnet":
				for _, v := range vals {
					for _, item := range strings.Split(v.Text, ",") {
						s, err := netip.ParsePrefix(strings.TrimSpace(item))
						if err != nil {
							errs = append(errs, fmt.Errorf("%s: %s.subnet: invalid subnet %q", v.Pos, path, item))
							continue
						}
						at.subnets = append(at.subnets, s.Masked())
					}
				}
			case "netmask":
				a, err := netip.ParseAddr(strings.TrimSpace(vals[0].Text))
				if err != nil || !a.Is4() {
					errs = append(errs, fmt.Errorf("%s: %s.netmask: want an IPv4 netmask such as 255.255.255.0", vals[0].Pos, path))
					continue
				}
				at.netmask = a
			default:
				why := poolAttrNotImplemented[key]
				if why == "" {
					why = "numbered configuration attributes"
				}
				errs = append(errs, fmt.Errorf("%s: %s.%s: not implemented by cygnet yet (%s)", vals[0].Pos, path, key, why))
			}
		}
		attrs[p.Name] = at
	}
	return pools, attrs, errors.Join(errs...)
}
