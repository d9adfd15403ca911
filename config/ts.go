package config

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
)

// Well-known IP protocol numbers and names, the part of /etc/protocols that
// traffic selectors use (strongSwan asks getprotobyname(3); cygnet does not
// depend on the host's file).
var protocolNumbers = map[string]uint8{
	"icmp": 1, "igmp": 2, "ipencap": 4, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17,
	"ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47,
	"esp": 50, "ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59,
	"ipv6-opts": 60, "ospf": 89, "pim": 103, "vrrp": 112, "l2tp": 115,
	"sctp": 132, "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137,
}

// Well-known service ports (getservbyname(3) without a protocol).
var servicePorts = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53,
	"bootps": 67, "bootpc": 68, "tftp": 69, "http": 80, "www": 80, "kerberos": 88,
	"pop3": 110, "sunrpc": 111, "ntp": 123, "imap": 143, "snmp": 161,
	"snmp-trap": 162, "bgp": 179, "ldap": 389, "https": 443, "isakmp": 500,
	"syslog": 514, "submission": 587, "ldaps": 636, "imaps": 993, "pop3s": 995,
	"openvpn": 1194, "l2tp": 1701, "radius": 1812, "radius-acct": 1813,
	"nfs": 2049, "mysql": 3306, "ipsec-nat-t": 4500, "postgresql": 5432,
}

// TrafficSelector is one entry of local_ts or remote_ts.
type TrafficSelector struct {
	// Text is the selector as written, Pos the line of its setting.
	Text string
	Pos  Pos
	// Dynamic stands for the tunnel's own outer address or virtual IP,
	// filled in when the SA is negotiated; Start and End are then invalid.
	Dynamic bool
	// Start and End are the inclusive address range (a CIDR subnet is
	// stored as its first and last address).
	Start, End netip.Addr
	// Protocol is the IP protocol, 0 for any.
	Protocol uint8
	// FromPort and ToPort are the inclusive port range, 0-65535 for any.
	// For ICMP and ICMPv6 they carry type<<8|code as in RFC 7296. OPAQUE
	// ports (RFC 4301) are FromPort 65535, ToPort 0.
	FromPort, ToPort uint16
}

// Prefix returns the selector's addresses as a CIDR prefix when they form
// one.
func (ts TrafficSelector) Prefix() (netip.Prefix, bool) {
	if ts.Dynamic || !ts.Start.IsValid() {
		return netip.Prefix{}, false
	}
	for bits := 0; bits <= ts.Start.BitLen(); bits++ {
		p := netip.PrefixFrom(ts.Start, bits).Masked()
		if p.Addr() == ts.Start && lastAddr(p) == ts.End {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// String formats the selector in swanctl syntax.
func (ts TrafficSelector) String() string {
	var b strings.Builder
	switch {
	case ts.Dynamic:
		b.WriteString("dynamic")
	default:
		if p, ok := ts.Prefix(); ok {
			b.WriteString(p.String())
		} else {
			b.WriteString(ts.Start.String() + "-" + ts.End.String())
		}
	}
	if ts.Protocol != 0 || ts.FromPort != 0 || ts.ToPort != math.MaxUint16 {
		fmt.Fprintf(&b, "[%d/", ts.Protocol)
		switch {
		case ts.FromPort == math.MaxUint16 && ts.ToPort == 0:
			b.WriteString("opaque")
		case ts.FromPort == 0 && ts.ToPort == math.MaxUint16:
		case ts.FromPort == ts.ToPort:
			fmt.Fprintf(&b, "%d", ts.FromPort)
		default:
			fmt.Fprintf(&b, "%d-%d", ts.FromPort, ts.ToPort)
		}
		b.WriteString("]")
	}
	return b.String()
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	for i := bits; i < 128; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	out := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		return out.Unmap()
	}
	return out
}

// cStrtol parses like C strtol(s, &end, 0) for small non-negative values:
// it returns the value (negative on a sign) and the unparsed rest.
func cStrtol(s string) (int64, string) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	v, rest, ok := parseCUint(s)
	if !ok {
		return 0, s
	}
	if v > math.MaxInt32 {
		v = math.MaxInt32
	}
	if neg {
		return -int64(v), rest
	}
	return int64(v), rest
}

// parseTS parses one traffic selector the way strongSwan's vici plugin does:
// "dynamic", a CIDR subnet or single address, or an address range "a-b",
// each optionally followed by "[proto/port]".
func parseTS(s string) (TrafficSelector, error) {
	ts := TrafficSelector{Text: s, ToPort: math.MaxUint16}
	addr := s
	if i := strings.IndexByte(s, '['); i >= 0 {
		addr = s[:i]
		pp := s[i+1:]
		j := strings.LastIndexByte(pp, ']')
		if j < 0 {
			return ts, fmt.Errorf("missing ']'")
		}
		if j != len(pp)-1 {
			// strongSwan cuts at the last ']' and ignores the rest; anything
			// after it is a typo here.
			return ts, fmt.Errorf("unexpected %q after ']'", pp[j+1:])
		}
		pp = pp[:j]
		proto, port, hasPort := strings.Cut(pp, "/")
		if err := ts.parseProto(proto); err != nil {
			return ts, err
		}
		if hasPort {
			if err := ts.parsePort(port); err != nil {
				return ts, err
			}
		}
	}
	switch {
	case addr == "dynamic" || addr == "%dynamic":
		ts.Dynamic = true
	case strings.Contains(addr, "-"):
		lo, hi, _ := strings.Cut(addr, "-")
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || a.Zone() != "" || b.Zone() != "" {
			return ts, fmt.Errorf("%q is not an address range", addr)
		}
		a, b = a.Unmap(), b.Unmap()
		if a.Is4() != b.Is4() {
			return ts, fmt.Errorf("range %q mixes IPv4 and IPv6", addr)
		}
		if b.Less(a) {
			return ts, fmt.Errorf("range %q ends before it starts", addr)
		}
		ts.Start, ts.End = a, b
	default:
		var p netip.Prefix
		if strings.Contains(addr, "/") {
			var err error
			if p, err = netip.ParsePrefix(addr); err != nil {
				return ts, fmt.Errorf("%q is not a subnet", addr)
			}
		} else {
			a, err := netip.ParseAddr(addr)
			if err != nil || a.Zone() != "" {
				return ts, fmt.Errorf("%q is not an address or subnet", addr)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Zone() != "" {
			return ts, fmt.Errorf("%q is not a subnet", addr)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		p = p.Masked()
		ts.Start, ts.End = p.Addr(), lastAddr(p)
	}
	return ts, nil
}

func (ts *TrafficSelector) parseProto(proto string) error {
	if proto == "any" {
		return nil
	}
	if n, ok := protocolNumbers[strings.ToLower(proto)]; ok {
		ts.Protocol = n
		return nil
	}
	v, rest := cStrtol(proto)
	if (proto != "" && rest != "") || v < 0 || v > 255 {
		return fmt.Errorf("unknown protocol %q", proto)
	}
	ts.Protocol = uint8(v)
	return nil
}

func (ts *TrafficSelector) parsePort(port string) error {
	switch port {
	case "", "any":
		return nil
	case "opaque":
		ts.FromPort, ts.ToPort = math.MaxUint16, 0
		return nil
	}
	if n, ok := servicePorts[strings.ToLower(port)]; ok {
		ts.FromPort, ts.ToPort = n, n
		return nil
	}
	from, rest := cStrtol(port)
	if from < 0 || from > math.MaxUint16 || rest == port {
		return fmt.Errorf("invalid port %q", port)
	}
	to := from
	if strings.HasPrefix(rest, "-") {
		r := rest[1:]
		to, rest = cStrtol(r)
		if to < 0 || to > math.MaxUint16 || rest == r {
			return fmt.Errorf("invalid port range %q", port)
		}
	}
	if rest != "" {
		return fmt.Errorf("invalid port %q", port)
	}
	if to < from {
		return fmt.Errorf("port range %q ends before it starts", port)
	}
	if ts.Protocol == 1 || ts.Protocol == 58 {
		// ICMP: a value below 256 is a message type (all codes), larger
		// values are type<<8|code.
		if from < 256 {
			from <<= 8
		}
		if to < 256 {
			to = to<<8 | 0xff
		}
	}
	ts.FromPort, ts.ToPort = uint16(from), uint16(to)
	return nil
}
