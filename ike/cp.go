package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// The configuration payload exchange of IKE_AUTH (RFC 7296 2.19, 3.15): a
// client (PeerConfig.VIPs) sends a CFG_REQUEST for virtual IPs and DNS
// servers; a gateway (PeerConfig.Pools) leases addresses from its pools
// through AddressPools and answers with a CFG_REPLY carrying them, the
// pool's DNS servers and its split-tunnel subnets. Either way, a `dynamic`
// traffic selector then stands for the virtual IP instead of the IKE
// address, as strongSwan does: the gateway's remote_ts dynamic is the
// client's virtual IP, the client's local_ts dynamic its own.

// AddressPools leases virtual IPs to peers; the daemon answers with its
// lease manager. Calls come from the Manager's goroutine.
type AddressPools interface {
	// Acquire leases an address of requested's family from the first of
	// the named pools that has one; requested is 0.0.0.0 or :: for any
	// address, or the address the peer asks for.
	Acquire(pools []string, peer identity.ID, requested netip.Addr) (VirtualIP, error)
	// Release gives a lease back when the IKE SA that held it goes; the
	// address stays reserved for the identity.
	Release(v VirtualIP, peer identity.ID)
}

// VirtualIP is a leased address and what its pool tells the client with it.
type VirtualIP struct {
	Addr netip.Addr
	Pool string
	// DNS servers and split-tunnel Subnets of the pool (INTERNAL_IP4_DNS,
	// INTERNAL_IP4_SUBNET and their IPv6 twins), of the address's family.
	DNS     []netip.Addr
	Subnets []netip.Prefix
	// Netmask, when set, goes out as INTERNAL_IP4_NETMASK.
	Netmask netip.Addr
}

// cpState is what the configuration payload gave an IKE SA. It outlives the
// IKE_AUTH exchange: an IKE SA rekey hands it to the new SA, and leases go
// back to the pools when the last SA holding them goes.
type cpState struct {
	// Client side: what the gateway assigned us.
	localVIPs []netip.Addr
	dns       []netip.Addr
	subnets   []netip.Prefix
	// Gateway side: what we leased to the peer, for identity peer.
	leases []VirtualIP
	peer   identity.ID
}

// LocalVIPs are the virtual IPs the peer assigned us.
func (sa *IKESA) LocalVIPs() []netip.Addr {
	if sa.cp == nil {
		return nil
	}
	return sa.cp.localVIPs
}

// RemoteVIPs are the virtual IPs we leased to the peer.
func (sa *IKESA) RemoteVIPs() []netip.Addr {
	if sa.cp == nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(sa.cp.leases))
	for _, l := range sa.cp.leases {
		out = append(out, l.Addr)
	}
	return out
}

// DNS are the DNS servers the peer sent us.
func (sa *IKESA) DNS() []netip.Addr {
	if sa.cp == nil {
		return nil
	}
	return sa.cp.dns
}

// SplitSubnets are the split-tunnel subnets the peer sent us.
func (sa *IKESA) SplitSubnets() []netip.Prefix {
	if sa.cp == nil {
		return nil
	}
	return sa.cp.subnets
}

// localTS resolves our selectors: dynamic is our virtual IP once assigned;
// while we ask for one (only an initiator does), any address of the family
// we ask for, which the gateway narrows to the address it leases; otherwise
// our IKE address.
func (sa *IKESA) localTS(ts []TrafficSelector) []spd.Endpoint {
	if sa.cp != nil && len(sa.cp.localVIPs) > 0 {
		return resolveAll(ts, sa.cp.localVIPs)
	}
	if len(sa.cfg.VIPs) > 0 && sa.Initiator {
		var out []spd.Endpoint
		for _, v := range sa.cfg.VIPs {
			out = append(out, resolveAny(ts, v.Unmap().Is4())...)
		}
		return out
	}
	return resolve(ts, sa.Local.Addr())
}

// remoteTS resolves the peer's selectors: dynamic is the virtual IP we
// leased it, or its IKE address.
func (sa *IKESA) remoteTS(ts []TrafficSelector) []spd.Endpoint {
	if sa.cp != nil && len(sa.cp.leases) > 0 {
		return resolveAll(ts, sa.RemoteVIPs())
	}
	return resolve(ts, sa.Remote.Addr())
}

// resolveAll replaces each dynamic selector by one for each address.
func resolveAll(ts []TrafficSelector, addrs []netip.Addr) []spd.Endpoint {
	var out []spd.Endpoint
	for _, t := range ts {
		if !t.Dynamic {
			out = append(out, t.Endpoint)
			continue
		}
		for _, a := range addrs {
			out = append(out, resolve([]TrafficSelector{t}, a)...)
		}
	}
	return out
}

// resolveAny replaces dynamic selectors by every address of one family.
func resolveAny(ts []TrafficSelector, v4 bool) []spd.Endpoint {
	all := netip.MustParsePrefix("::/0")
	if v4 {
		all = netip.MustParsePrefix("0.0.0.0/0")
	}
	var out []spd.Endpoint
	for _, t := range ts {
		e := t.Endpoint
		if t.Dynamic {
			e.Addrs = spd.PrefixRange(all)
			if e.Ports == (spd.PortRange{}) {
				e.Ports = spd.AnyPort
			}
		}
		out = append(out, e)
	}
	return out
}

// cfgRequest is the client's CFG_REQUEST: an address of each configured
// family (a named one, or the one we held when reauthenticating), and DNS
// servers of those families.
func (sa *IKESA) cfgRequest() *wire.Configuration {
	if len(sa.cfg.VIPs) == 0 || !sa.Initiator {
		return nil
	}
	var held []netip.Addr
	if o := sa.reauthOf; o != nil && o.cp != nil {
		held = o.cp.localVIPs
	}
	req := &wire.Configuration{CFGType: wire.CFG_REQUEST}
	for _, v := range sa.cfg.VIPs {
		v = v.Unmap()
		if v.IsUnspecified() {
			for _, h := range held {
				if h.Is4() == v.Is4() {
					v = h
					break
				}
			}
		}
		if v.Is4() {
			var val []byte
			if !v.IsUnspecified() {
				val = v.AsSlice()
			}
			req.Attributes = append(req.Attributes,
				wire.ConfigAttribute{Type: wire.INTERNAL_IP4_ADDRESS, Value: val},
				wire.ConfigAttribute{Type: wire.INTERNAL_IP4_DNS})
		} else {
			var val []byte
			if !v.IsUnspecified() {
				val = append(v.AsSlice(), 128)
			}
			req.Attributes = append(req.Attributes,
				wire.ConfigAttribute{Type: wire.INTERNAL_IP6_ADDRESS, Value: val},
				wire.ConfigAttribute{Type: wire.INTERNAL_IP6_DNS})
		}
	}
	return req
}

// acceptCFGReply takes the gateway's CFG_REPLY: the virtual IPs, DNS
// servers and subnets it assigned. Without a virtual IP for a client that
// asked for one the IKE SA is useless and fails, as in strongSwan.
func (sa *IKESA) acceptCFGReply(payloads []wire.Payload) error {
	if len(sa.cfg.VIPs) == 0 || !sa.Initiator {
		return nil
	}
	reply := payloadOf[*wire.Configuration](payloads)
	if reply == nil || reply.CFGType != wire.CFG_REPLY {
		if n := findNotify(payloads, wire.INTERNAL_ADDRESS_FAILURE); n != nil {
			return fmt.Errorf("INTERNAL_ADDRESS_FAILURE: peer %s has no virtual IP for us", sa.Remote)
		}
		return fmt.Errorf("peer %s assigned no virtual IP (no CFG_REPLY)", sa.Remote)
	}
	st := &cpState{}
	for _, a := range reply.Attributes {
		switch a.Type {
		case wire.INTERNAL_IP4_ADDRESS, wire.INTERNAL_IP4_DNS:
			ip, ok := netip.AddrFromSlice(a.Value)
			if len(a.Value) != 4 || !ok || ip.IsUnspecified() {
				sa.log.Warn("ignoring malformed configuration attribute", "type", a.Type, "len", len(a.Value))
				continue
			}
			if a.Type == wire.INTERNAL_IP4_ADDRESS {
				st.localVIPs = append(st.localVIPs, ip)
			} else {
				st.dns = append(st.dns, ip)
			}
		case wire.INTERNAL_IP6_ADDRESS, wire.INTERNAL_IP6_DNS:
			want := 16
			if a.Type == wire.INTERNAL_IP6_ADDRESS {
				want = 17
			}
			if len(a.Value) != want {
				sa.log.Warn("ignoring malformed configuration attribute", "type", a.Type, "len", len(a.Value))
				continue
			}
			ip, _ := netip.AddrFromSlice(a.Value[:16])
			if ip.IsUnspecified() {
				continue
			}
			if a.Type == wire.INTERNAL_IP6_ADDRESS {
				st.localVIPs = append(st.localVIPs, ip)
			} else {
				st.dns = append(st.dns, ip)
			}
		case wire.INTERNAL_IP4_SUBNET:
			if len(a.Value) != 8 {
				continue
			}
			ip, _ := netip.AddrFromSlice(a.Value[:4])
			bits := maskBits(a.Value[4:])
			if bits < 0 {
				continue
			}
			st.subnets = append(st.subnets, netip.PrefixFrom(ip, bits).Masked())
		case wire.INTERNAL_IP6_SUBNET:
			if len(a.Value) != 17 || a.Value[16] > 128 {
				continue
			}
			ip, _ := netip.AddrFromSlice(a.Value[:16])
			st.subnets = append(st.subnets, netip.PrefixFrom(ip, int(a.Value[16])).Masked())
		}
	}
	if len(st.localVIPs) == 0 {
		return fmt.Errorf("peer %s assigned no virtual IP (CFG_REPLY without an address)", sa.Remote)
	}
	sa.cp = st
	sa.log.Info("virtual IP assigned", "vips", addrsString(st.localVIPs), "dns", addrsString(st.dns), "subnets", prefixesString(st.subnets))
	return nil
}

// leaseIdentity is who a virtual IP is leased to: the identity the peer
// proved with EAP if it did, as strongSwan keys its pools, else its IKE
// identity: an EAP user whose IKE identity changes (often it is just the
// client's IP address) gets the same address back.
func (sa *IKESA) leaseIdentity() identity.ID {
	if sa.RemoteEAPID != "" {
		if id, err := identity.Parse(sa.RemoteEAPID); err == nil && !id.IsAny() {
			return id
		}
	}
	return sa.RemoteID
}

// answerCFGRequest is the gateway's side: for a CFG_REQUEST on a
// connection with pools, lease an address of each family the client asks
// for and build the CFG_REPLY. It returns nil, nil when there is nothing to
// answer, and an error (the client gets INTERNAL_ADDRESS_FAILURE, RFC 7296
// 3.15.4) when no address could be leased.
func (sa *IKESA) answerCFGRequest(payloads []wire.Payload) (*wire.Configuration, error) {
	req := payloadOf[*wire.Configuration](payloads)
	if req == nil || req.CFGType != wire.CFG_REQUEST || len(sa.cfg.Pools) == 0 || sa.m.pools == nil {
		return nil, nil
	}
	var wanted []netip.Addr
	for _, a := range req.Attributes {
		switch a.Type {
		case wire.INTERNAL_IP4_ADDRESS:
			want := netip.IPv4Unspecified()
			if ip, ok := netip.AddrFromSlice(a.Value); ok && len(a.Value) == 4 {
				want = ip
			}
			wanted = appendFamily(wanted, want)
		case wire.INTERNAL_IP6_ADDRESS:
			want := netip.IPv6Unspecified()
			if len(a.Value) == 17 {
				want, _ = netip.AddrFromSlice(a.Value[:16])
			}
			wanted = appendFamily(wanted, want)
		}
	}
	if len(wanted) == 0 {
		return nil, nil
	}
	st := &cpState{peer: sa.leaseIdentity()}
	var errs []string
	for _, w := range wanted {
		v, err := sa.m.pools.Acquire(sa.cfg.Pools, st.peer, w)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		st.leases = append(st.leases, v)
	}
	if len(st.leases) == 0 {
		return nil, fmt.Errorf("no virtual IP for %s from pools %s: %s", st.peer, strings.Join(sa.cfg.Pools, ", "), strings.Join(errs, "; "))
	}
	sa.cp = st
	reply := &wire.Configuration{CFGType: wire.CFG_REPLY}
	for _, v := range st.leases {
		if v.Addr.Is4() {
			reply.Attributes = append(reply.Attributes, wire.ConfigAttribute{Type: wire.INTERNAL_IP4_ADDRESS, Value: v.Addr.AsSlice()})
			if v.Netmask.Is4() {
				reply.Attributes = append(reply.Attributes, wire.ConfigAttribute{Type: wire.INTERNAL_IP4_NETMASK, Value: v.Netmask.AsSlice()})
			}
		} else {
			reply.Attributes = append(reply.Attributes, wire.ConfigAttribute{Type: wire.INTERNAL_IP6_ADDRESS, Value: append(v.Addr.AsSlice(), 128)})
		}
		for _, d := range v.DNS {
			t := wire.INTERNAL_IP4_DNS
			if d.Is6() {
				t = wire.INTERNAL_IP6_DNS
			}
			reply.Attributes = append(reply.Attributes, wire.ConfigAttribute{Type: t, Value: d.AsSlice()})
		}
		for _, s := range v.Subnets {
			if s.Addr().Is4() {
				mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-s.Bits()))
				if s.Bits() == 0 {
					mask = []byte{0, 0, 0, 0}
				}
				reply.Attributes = append(reply.Attributes, wire.ConfigAttribute{Type: wire.INTERNAL_IP4_SUBNET, Value: append(s.Addr().AsSlice(), mask...)})
			} else {
				reply.Attributes = append(reply.Attributes, wire.ConfigAttribute{Type: wire.INTERNAL_IP6_SUBNET, Value: append(s.Addr().AsSlice(), byte(s.Bits()))})
			}
		}
	}
	sa.log.Info("assigned virtual IP", "peer", st.peer.String(), "vips", addrsString(sa.RemoteVIPs()))
	return reply, nil
}

// appendFamily keeps the first request of each address family.
func appendFamily(list []netip.Addr, a netip.Addr) []netip.Addr {
	for _, x := range list {
		if x.Is4() == a.Is4() {
			return list
		}
	}
	return append(list, a)
}

// tellDeleted tells the gateway, which considers the IKE SA established,
// that a client without its virtual IP drops it: a one-shot INFORMATIONAL
// with a Delete, not awaited, so the gateway does not keep the SA until
// liveness checks fail.
func (sa *IKESA) tellDeleted() {
	pkt, err := sa.seal(sa.header(wire.INFORMATIONAL, sa.nextRequestID, false),
		[]wire.Payload{&wire.Delete{Protocol: wire.ProtocolIKE}})
	if err != nil {
		sa.log.Warn("building the IKE SA Delete failed", "err", err)
		return
	}
	sa.nextRequestID++
	sa.send(pkt)
}

// releaseVIPs gives our leases back to the pools, once.
func (sa *IKESA) releaseVIPs() {
	if sa.cp == nil || len(sa.cp.leases) == 0 || sa.m.pools == nil {
		return
	}
	for _, v := range sa.cp.leases {
		sa.m.pools.Release(v, sa.cp.peer)
	}
	sa.cp.leases = nil
}

// maskBits is the prefix length of a contiguous netmask, or -1.
func maskBits(m []byte) int {
	v := binary.BigEndian.Uint32(m)
	bits := 0
	for v&0x80000000 != 0 {
		bits++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return bits
}

func addrsString(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func prefixesString(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
