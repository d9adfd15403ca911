package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/vishvananda/netlink"
)

// watchAddresses subscribes to the network namespace's address and route
// changes (netlink RTNLGRP_IPV4/6_IFADDR and _ROUTE; no polling) and
// returns a channel that says "something changed". Bursts coalesce into
// one pending signal: the IKE side only asks the kernel again where it
// routes toward each MOBIKE peer from (ike.Manager.AddressesChanged), so
// it needs no details. A nil channel (never ready) when netlink refuses.
func watchAddresses(ctx context.Context, log *slog.Logger) <-chan struct{} {
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	done := make(chan struct{})
	onErr := func(err error) { log.Warn("netlink address/route subscription", "err", err) }
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		log.Warn("MOBIKE: cannot watch address changes", "err", err)
		close(done)
		return nil
	}
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{ErrorCallback: onErr}); err != nil {
		log.Warn("MOBIKE: cannot watch route changes", "err", err)
		close(done)
		return nil
	}
	changed := make(chan struct{}, 1)
	signal := func() {
		select {
		case changed <- struct{}{}:
		default: // one pending signal covers the burst
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-addrs:
				if !ok {
					return
				}
				log.Debug("address change", "addr", u.LinkAddress.String(), "new", u.NewAddr, "link", u.LinkIndex)
				signal()
			case u, ok := <-routes:
				if !ok {
					return
				}
				log.Debug("route change", "dst", u.Dst, "type", u.Type)
				signal()
			}
		}
	}()
	return changed
}

// LocalAddresses lists the host's addresses that may carry IKE: those of
// links that are up, not loopback and not the TUN device (whose addresses
// are virtual IPs). It implements ike.AddressLister, for MOBIKE's
// ADDITIONAL_IP4/6_ADDRESS.
func (p *packetPath) LocalAddresses() []netip.Addr {
	links, err := netlink.LinkList()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagUp == 0 || a.Flags&net.FlagLoopback != 0 || a.Name == p.tun {
			continue
		}
		as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			continue
		}
		for _, ad := range as {
			if ip, ok := netip.AddrFromSlice(ad.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// redirect answers `cygnet redirect --ike NAME --gateway ADDR`: the
// established clients of the connection are sent to ADDR (RFC 5685).
func (d *Daemon) redirect(req control.Request) control.Response {
	gw, err := netip.ParseAddr(req.Gateway)
	if err != nil || req.IKE == "" {
		return control.Response{Error: fmt.Sprintf("redirect: want --ike NAME and --gateway with an IP address, got %q and %q", req.IKE, req.Gateway)}
	}
	n, err := d.mgr.Redirect(req.IKE, gw.Unmap())
	if err != nil {
		return control.Response{Error: err.Error()}
	}
	return control.Response{Message: fmt.Sprintf("redirecting %d client(s) of %s to %s", n, req.IKE, gw)}
}
