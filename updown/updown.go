// Package updown runs a Child SA's updown script the way strongSwan's updown
// plugin does: once per pair of local and remote traffic selectors when the
// Child SA is installed (up-client, up-host, ...) and again when it is
// deleted, with the PLUTO_* environment that existing scripts such as
// strongSwan's _updown read. A rekey runs nothing.
//
// Building the environment (Event.Pairs, Event.Env) is pure; Runner starts the
// scripts with /bin/sh -c off the caller's goroutine, in order per key, each
// bounded by a timeout after which its whole process group is killed.
package updown

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// Version is PLUTO_VERSION, the version of the script interface strongSwan
// implements.
const Version = "1.1"

// Mark is an XFRM-style mark and mask on one direction of a Child SA.
type Mark struct {
	Value, Mask uint32
}

// Event is one Child SA coming up or going down, with everything the script
// environment reports. The caller fills it in on its own goroutine (a
// snapshot), so the script runs without touching the IKE state.
type Event struct {
	// Up is true for an installed Child SA, false for a deleted one.
	Up bool
	// Name is the child configuration's name (PLUTO_CONNECTION: strongSwan
	// reports the child's name there, not the connection's).
	Name string
	// Interface is the network interface towards the peer; empty reports
	// "unknown".
	Interface string
	// ReqID is PLUTO_REQID; it stays the same across rekeys of a Child SA
	// so a down run matches the up run's firewall rules.
	ReqID uint32
	// Protocol is ESP or AH.
	Protocol ipsec.Protocol
	// IKEUniqueID is the unique ID of the IKE SA (PLUTO_UNIQUEID).
	IKEUniqueID uint32
	// Me and Peer are the IKE SA's addresses; Peer's port is PLUTO_UDP_ENC
	// when Encap is set.
	Me, Peer netip.AddrPort
	// MyID and PeerID are the IKE identities as strongSwan prints them.
	MyID, PeerID string
	// LocalTS and RemoteTS are the Child SA's selectors in IKEv2 form: for
	// ICMP the port range holds type<<8|code.
	LocalTS, RemoteTS []spd.Endpoint
	// MyVIPs and PeerVIPs are virtual IPs, ours (received) and the peer's
	// (assigned).
	MyVIPs, PeerVIPs []netip.Addr
	// XAuthID is the peer's EAP or XAuth identity, if it had one.
	XAuthID string
	// DNS are DNS servers received from the peer.
	DNS []netip.Addr
	// MarkIn and MarkOut are the SAs' marks; a zero Value is no mark.
	MarkIn, MarkOut Mark
	// IfIDIn and IfIDOut are XFRM interface IDs; zero is none.
	IfIDIn, IfIDOut uint32
	// Encap says ESP travels in UDP (a NAT was detected or faked).
	Encap bool
	// IPComp says IP compression was negotiated.
	IPComp bool
	// HostAccess is the child's hostaccess option.
	HostAccess bool
}

// Pair is one combination of a local and a remote traffic selector; the
// script runs once per pair.
type Pair struct {
	Local, Remote spd.Endpoint
}

// Pairs returns the selector pairs the script runs for, in strongSwan's
// order (every remote selector for the first local one, then the next):
// pairs of different address families, or of two different non-zero
// protocols, protect nothing and are left out.
func (e *Event) Pairs() []Pair {
	var out []Pair
	for _, l := range e.LocalTS {
		for _, r := range e.RemoteTS {
			if l.Addrs.From.Unmap().Is4() != r.Addrs.From.Unmap().Is4() {
				continue
			}
			if l.Proto != 0 && r.Proto != 0 && l.Proto != r.Proto {
				continue
			}
			out = append(out, Pair{Local: l, Remote: r})
		}
	}
	return out
}

// Verb returns PLUTO_VERB for one run: up- or down-, then -host when the
// local selector is exactly our own IKE address (strongSwan's rule) and
// -client otherwise, then -v6 for IPv6 (the IKE address family for -host,
// the selector's for -client).
func Verb(up bool, local spd.Endpoint, me netip.Addr) string {
	v := "down"
	if up {
		v = "up"
	}
	me = me.Unmap()
	host := me.IsValid() && local.Addrs.From.Unmap() == me && local.Addrs.To.Unmap() == me
	v6 := !local.Addrs.From.Unmap().Is4()
	if host {
		v += "-host"
		v6 = me.Is6()
	} else {
		v += "-client"
	}
	if v6 {
		v += "-v6"
	}
	return v
}

// Env returns the environment of the run for one selector pair: PATH=path
// followed by the PLUTO_* variables in the order strongSwan sets them.
// PLUTO_MY_CLIENT_NET/_MASK and their PEER forms, which strongSwan's pluto
// set and older scripts still read, come with PLUTO_MY_CLIENT and
// PLUTO_PEER_CLIENT (the mask written as an address, 255.255.0.0).
func (e *Event) Env(p Pair, path string) []string {
	env := make([]string, 0, 40)
	add := func(k, v string) { env = append(env, k+"="+v) }
	add("PATH", path)
	add("PLUTO_VERSION", Version)
	add("PLUTO_VERB", Verb(e.Up, p.Local, e.Me.Addr()))
	add("PLUTO_CONNECTION", e.Name)
	iface := e.Interface
	if iface == "" {
		iface = "unknown"
	}
	add("PLUTO_INTERFACE", iface)
	add("PLUTO_REQID", strconv.FormatUint(uint64(e.ReqID), 10))
	proto := "esp"
	if e.Protocol == ipsec.ProtoAH {
		proto = "ah"
	}
	add("PLUTO_PROTO", proto)
	add("PLUTO_UNIQUEID", strconv.FormatUint(uint64(e.IKEUniqueID), 10))
	add("PLUTO_ME", hostString(e.Me.Addr()))
	add("PLUTO_MY_ID", e.MyID)
	net, bits := Subnet(p.Local.Addrs)
	add("PLUTO_MY_CLIENT", fmt.Sprintf("%s/%d", net, bits))
	add("PLUTO_MY_CLIENT_NET", net.String())
	add("PLUTO_MY_CLIENT_MASK", maskString(net, bits))
	add("PLUTO_MY_PORT", portString(p.Local, p.Remote, true))
	add("PLUTO_MY_PROTOCOL", strconv.Itoa(int(p.Local.Proto)))
	add("PLUTO_PEER", hostString(e.Peer.Addr()))
	add("PLUTO_PEER_ID", e.PeerID)
	net, bits = Subnet(p.Remote.Addrs)
	add("PLUTO_PEER_CLIENT", fmt.Sprintf("%s/%d", net, bits))
	add("PLUTO_PEER_CLIENT_NET", net.String())
	add("PLUTO_PEER_CLIENT_MASK", maskString(net, bits))
	add("PLUTO_PEER_PORT", portString(p.Local, p.Remote, false))
	add("PLUTO_PEER_PROTOCOL", strconv.Itoa(int(p.Remote.Proto)))
	if e.XAuthID != "" {
		add("PLUTO_XAUTH_ID", e.XAuthID)
	}
	env = appendVIPs(env, "MY", e.MyVIPs)
	env = appendVIPs(env, "PEER", e.PeerVIPs)
	if e.MarkIn.Value != 0 {
		add("PLUTO_MARK_IN", fmt.Sprintf("%d/0x%08x", e.MarkIn.Value, e.MarkIn.Mask))
	}
	if e.MarkOut.Value != 0 {
		add("PLUTO_MARK_OUT", fmt.Sprintf("%d/0x%08x", e.MarkOut.Value, e.MarkOut.Mask))
	}
	if e.IfIDIn != 0 {
		add("PLUTO_IF_ID_IN", strconv.FormatUint(uint64(e.IfIDIn), 10))
	}
	if e.IfIDOut != 0 {
		add("PLUTO_IF_ID_OUT", strconv.FormatUint(uint64(e.IfIDOut), 10))
	}
	if e.Encap {
		add("PLUTO_UDP_ENC", strconv.Itoa(int(e.Peer.Port())))
	}
	if e.IPComp {
		add("PLUTO_IPCOMP", "1")
	}
	var v4, v6 int
	for _, a := range e.DNS {
		if a.Unmap().Is4() {
			v4++
			add(fmt.Sprintf("PLUTO_DNS4_%d", v4), a.Unmap().String())
		} else {
			v6++
			add(fmt.Sprintf("PLUTO_DNS6_%d", v6), a.String())
		}
	}
	if e.HostAccess {
		add("PLUTO_HOST_ACCESS", "1")
	}
	return env
}

// appendVIPs adds PLUTO_<side>_SOURCEIP (the first virtual IP, kept for
// old scripts) and the numbered SOURCEIP4_n / SOURCEIP6_n per family.
func appendVIPs(env []string, side string, vips []netip.Addr) []string {
	var v4, v6 int
	for i, a := range vips {
		a = a.Unmap()
		if i == 0 {
			env = append(env, "PLUTO_"+side+"_SOURCEIP="+a.String())
		}
		if a.Is4() {
			v4++
			env = append(env, fmt.Sprintf("PLUTO_%s_SOURCEIP4_%d=%s", side, v4, a))
		} else {
			v6++
			env = append(env, fmt.Sprintf("PLUTO_%s_SOURCEIP6_%d=%s", side, v6, a))
		}
	}
	return env
}

// hostString prints an IKE address as strongSwan's %H does: %any for the
// unspecified address.
func hostString(a netip.Addr) string {
	switch {
	case !a.IsValid(), a.Is4() && a.IsUnspecified():
		return "%any"
	case a.IsUnspecified():
		return "%any6"
	}
	return a.Unmap().String()
}

// Subnet approximates an address range by a subnet as strongSwan does for
// PLUTO_MY_CLIENT and PLUTO_PEER_CLIENT: the prefix the range's first and
// last address share, with the first address masked to it. A range that is
// not a subnet (10.0.0.1..10.0.0.9) becomes the next larger one.
func Subnet(r spd.AddrRange) (netip.Addr, int) {
	from, to := r.From.Unmap(), r.To.Unmap()
	if !from.IsValid() {
		return netip.IPv4Unspecified(), 0
	}
	if !to.IsValid() || to.BitLen() != from.BitLen() {
		to = from
	}
	a, b := from.AsSlice(), to.AsSlice()
	bits := 0
	for i := range a {
		x := a[i] ^ b[i]
		if x == 0 {
			bits += 8
			continue
		}
		for x&0x80 == 0 {
			bits++
			x <<= 1
		}
		break
	}
	p, _ := from.Prefix(bits)
	return p.Addr(), bits
}

// maskString writes a prefix length as a netmask address (255.255.0.0,
// ffff:ffff::), the form of pluto's PLUTO_*_CLIENT_MASK.
func maskString(net netip.Addr, bits int) string {
	b := make([]byte, net.BitLen()/8)
	for i := range b {
		switch {
		case bits >= 8:
			b[i] = 0xff
			bits -= 8
		case bits > 0:
			b[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	m, _ := netip.AddrFromSlice(b)
	return m.String()
}

// portString is PLUTO_MY_PORT (mine) or PLUTO_PEER_PORT: a single port, 0
// for any, from:to for a range; for ICMP and ICMPv6 the message type (mine)
// or code (the peer's) from the larger of the two selectors' start ports.
func portString(local, remote spd.Endpoint, mine bool) string {
	switch max(local.Proto, remote.Proto) {
	case spd.ProtoICMP, spd.ProtoICMPv6:
		port := max(local.Ports.From, remote.Ports.From)
		if mine {
			return strconv.Itoa(int(port >> 8))
		}
		return strconv.Itoa(int(port & 0xff))
	}
	r := remote.Ports
	if mine {
		r = local.Ports
	}
	if r.From == r.To || (r.From == 0 && r.To == 65535) {
		return strconv.Itoa(int(r.From))
	}
	return fmt.Sprintf("%d:%d", r.From, r.To)
}
