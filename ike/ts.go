package ike

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// HostSelector is a selector for all traffic of one host.
func HostSelector(a netip.Addr) TrafficSelector {
	return TrafficSelector{Endpoint: spd.Endpoint{Addrs: spd.AddrRange{From: a, To: a}, Ports: spd.AnyPort}}
}

// PrefixSelector is a selector for all traffic of a subnet.
func PrefixSelector(p netip.Prefix) TrafficSelector {
	return TrafficSelector{Endpoint: spd.Endpoint{Addrs: spd.PrefixRange(p), Ports: spd.AnyPort}}
}

// resolve replaces dynamic selectors by the given address.
func resolve(ts []TrafficSelector, addr netip.Addr) []spd.Endpoint {
	out := make([]spd.Endpoint, 0, len(ts))
	for _, t := range ts {
		e := t.Endpoint
		if t.Dynamic {
			e.Addrs = spd.AddrRange{From: addr.Unmap(), To: addr.Unmap()}
			if e.Ports == (spd.PortRange{}) {
				e.Ports = spd.AnyPort
			}
		}
		out = append(out, e)
	}
	return out
}

// intersect returns the traffic both endpoints cover.
func intersect(a, b spd.Endpoint) (spd.Endpoint, bool) {
	if !a.Addrs.From.IsValid() || !b.Addrs.From.IsValid() || a.Addrs.Is4() != b.Addrs.Is4() {
		return spd.Endpoint{}, false
	}
	var out spd.Endpoint
	switch {
	case a.Proto == 0:
		out.Proto = b.Proto
	case b.Proto == 0 || a.Proto == b.Proto:
		out.Proto = a.Proto
	default:
		return spd.Endpoint{}, false
	}
	out.Addrs.From = maxAddr(a.Addrs.From, b.Addrs.From)
	out.Addrs.To = minAddr(a.Addrs.To, b.Addrs.To)
	if out.Addrs.To.Less(out.Addrs.From) {
		return spd.Endpoint{}, false
	}
	out.Ports.From = max(a.Ports.From, b.Ports.From)
	out.Ports.To = min(a.Ports.To, b.Ports.To)
	if out.Ports.To < out.Ports.From {
		return spd.Endpoint{}, false
	}
	return out, true
}

func maxAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return b
	}
	return a
}

func minAddr(a, b netip.Addr) netip.Addr {
	if a.Less(b) {
		return a
	}
	return b
}

// narrow intersects what the peer proposed with what we allow (RFC 7296 2.9):
// every non-empty intersection stays, in the peer's order.
func narrow(theirs, ours []spd.Endpoint) []spd.Endpoint {
	var out []spd.Endpoint
	for _, t := range theirs {
		for _, o := range ours {
			if e, ok := intersect(t, o); ok && !containsEndpoint(out, e) {
				out = append(out, e)
			}
		}
	}
	return out
}

func containsEndpoint(list []spd.Endpoint, e spd.Endpoint) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

// subsetOf reports whether every selector of got lies within one of offered:
// an initiator accepts the responder's narrowing only then.
func subsetOf(got, offered []spd.Endpoint) bool {
	for _, g := range got {
		ok := false
		for _, o := range offered {
			if e, hit := intersect(g, o); hit && e == g {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// toWire encodes selectors as a TSi or TSr payload.
func toWire(ts []spd.Endpoint, responder bool) *wire.TrafficSelectors {
	p := &wire.TrafficSelectors{Responder: responder}
	for _, t := range ts {
		typ := wire.TS_IPV4_ADDR_RANGE
		if !t.Addrs.Is4() {
			typ = wire.TS_IPV6_ADDR_RANGE
		}
		p.Selectors = append(p.Selectors, wire.TrafficSelector{
			Type: typ, IPProtocol: t.Proto,
			StartPort: t.Ports.From, EndPort: t.Ports.To,
			StartAddr: t.Addrs.From, EndAddr: t.Addrs.To,
		})
	}
	return p
}

// fromWire decodes a TSi or TSr payload; selector types we do not know are
// skipped, as RFC 7296 3.13.1 allows.
func fromWire(p *wire.TrafficSelectors) []spd.Endpoint {
	if p == nil {
		return nil
	}
	var out []spd.Endpoint
	for _, s := range p.Selectors {
		if s.Type != wire.TS_IPV4_ADDR_RANGE && s.Type != wire.TS_IPV6_ADDR_RANGE {
			continue
		}
		if !s.StartAddr.IsValid() || !s.EndAddr.IsValid() || s.EndAddr.Less(s.StartAddr) || s.EndPort < s.StartPort {
			continue
		}
		out = append(out, spd.Endpoint{
			Addrs: spd.AddrRange{From: s.StartAddr, To: s.EndAddr},
			Proto: s.IPProtocol,
			Ports: spd.PortRange{From: s.StartPort, To: s.EndPort},
		})
	}
	return out
}

// FormatTS prints a selector as strongSwan's swanctl --list-sas does:
// "10.0.0.0/24", "10.0.0.1..10.0.0.9", with "[tcp/80]" when restricted.
func FormatTS(e spd.Endpoint) string {
	var sb strings.Builder
	if p, ok := rangePrefix(e.Addrs); ok {
		sb.WriteString(p.String())
	} else {
		fmt.Fprintf(&sb, "%s..%s", e.Addrs.From, e.Addrs.To)
	}
	if e.Proto != 0 || !e.Ports.IsAny() {
		sb.WriteByte('[')
		sb.WriteString(protoName(e.Proto))
		if !e.Ports.IsAny() {
			if e.Ports.From == e.Ports.To {
				fmt.Fprintf(&sb, "/%d", e.Ports.From)
			} else {
				fmt.Fprintf(&sb, "/%d-%d", e.Ports.From, e.Ports.To)
			}
		}
		sb.WriteByte(']')
	}
	return sb.String()
}

func protoName(p uint8) string {
	switch p {
	case 0:
		return ""
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "ipv6-icmp"
	}
	return fmt.Sprint(p)
}

// rangePrefix returns the range as a CIDR prefix if it is one.
func rangePrefix(r spd.AddrRange) (netip.Prefix, bool) {
	for bits := r.From.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(r.From, bits).Masked()
		if p.Addr() != r.From {
			break
		}
		if spd.PrefixRange(p).To == r.To {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
