package dataplane

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// openXDP attaches ESP steering (xsk.go) to every link that is up, is
// Ethernet and holds one of the data plane's local addresses: Local4 and
// Local6 when they are set, else any unicast address of the link.
func (dp *DataPlane) openXDP() error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("dataplane: XDP: list links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagUp == 0 || a.Flags&net.FlagLoopback != 0 || a.EncapType != "ether" {
			continue
		}
		locals, err := dp.xdpLocals(l)
		if err != nil {
			dp.closeXDP()
			return err
		}
		if len(locals) == 0 {
			continue
		}
		x, err := attachXDP(l, locals, &dp.ctr.xdpReceived)
		if err != nil {
			dp.closeXDP()
			return fmt.Errorf("dataplane: XDP on %s: %w", a.Name, err)
		}
		dp.xdp = append(dp.xdp, x)
	}
	if len(dp.xdp) == 0 {
		return fmt.Errorf("dataplane: XDP: no Ethernet link that is up holds a local address")
	}
	return nil
}

// xdpLocals returns the addresses of link that ESP for the data plane
// arrives at.
func (dp *DataPlane) xdpLocals(link netlink.Link) ([]netip.Addr, error) {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("dataplane: XDP: addresses of %s: %w", link.Attrs().Name, err)
	}
	var locals []netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		if want := dp.cfg.Local4; ip.Is4() && want.IsValid() && !want.IsUnspecified() && want.Unmap() != ip {
			continue
		}
		if want := dp.cfg.Local6; ip.Is6() && want.IsValid() && !want.IsUnspecified() && want.WithZone("") != ip {
			continue
		}
		if ip.Is6() && dp.cfg.NoIPv6 {
			continue
		}
		locals = append(locals, ip)
	}
	return locals, nil
}

// startXDP runs a reader per AF_XDP socket: ESP of either family, in
// batches, through the raw IPv4 socket's inbound path (which opens whole
// IP packets).
func (dp *DataPlane) startXDP() {
	for _, x := range dp.xdp {
		for _, s := range x.socks {
			dp.wg.Add(1)
			go func() { defer dp.wg.Done(); dp.receiveOn(s, sockESP4, dp.cfg.Batch, dp.lanes) }()
		}
	}
}

// closeXDP detaches the programs and closes the sockets; their readers
// end.
func (dp *DataPlane) closeXDP() {
	for _, x := range dp.xdp {
		x.close()
	}
}

// XDPLinks describes the links whose ESP arrives through AF_XDP
// (Config.XDP): name, how the program runs (driver or generic) and the
// number of queues, e.g. "eth0 (driver, 4 queues)".
func (dp *DataPlane) XDPLinks() []string {
	var out []string
	for _, x := range dp.xdp {
		mode := "driver"
		if x.mode == unix.XDP_FLAGS_SKB_MODE {
			mode = "generic"
		}
		q := "queues"
		if len(x.socks) == 1 {
			q = "queue"
		}
		out = append(out, fmt.Sprintf("%s (%s, %d %s)", x.link.Attrs().Name, mode, len(x.socks), q))
	}
	return out
}

// xdpDropped sums what the kernel dropped on the way to the AF_XDP
// sockets.
func (dp *DataPlane) xdpDropped() uint64 {
	var n uint64
	for _, x := range dp.xdp {
		for _, s := range x.socks {
			n += s.dropped()
		}
	}
	return n
}

// unmapXDP frees the rings and UMEM once the readers have ended (dp.xdp
// itself stays: Stats reads it without a lock).
func (dp *DataPlane) unmapXDP() {
	for _, x := range dp.xdp {
		for _, s := range x.socks {
			s.unmap()
		}
	}
}
