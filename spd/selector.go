package spd

import (
	"errors"
	"fmt"
	"net/netip"
)

// IP protocol numbers that carry the selectors this package reads from packets.
const (
	ProtoICMP    uint8 = 1
	ProtoTCP     uint8 = 6
	ProtoUDP     uint8 = 17
	ProtoDCCP    uint8 = 33
	ProtoICMPv6  uint8 = 58
	ProtoSCTP    uint8 = 132
	ProtoUDPLite uint8 = 136
)

// ErrInvalidSelector is wrapped by every error about a malformed traffic selector.
var ErrInvalidSelector = errors.New("invalid traffic selector")

// AddrRange is an inclusive range of addresses of one family, From <= To.
// RFC 4301 selectors are ranges; prefixes are the common special case.
type AddrRange struct {
	From, To netip.Addr
}

// PrefixRange returns the range covered by p (host bits are ignored).
func PrefixRange(p netip.Prefix) AddrRange {
	p = p.Masked()
	from := p.Addr()
	if !from.IsValid() {
		return AddrRange{}
	}
	b := from.AsSlice()
	bits := p.Bits()
	for i := range b {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			b[i] |= 0xff >> bits
			bits = 0
		default:
			b[i] = 0xff
		}
	}
	to, _ := netip.AddrFromSlice(b)
	return AddrRange{From: from, To: to}
}

// AnyIPv4 returns the range of all IPv4 addresses.
func AnyIPv4() AddrRange {
	return AddrRange{From: netip.IPv4Unspecified(), To: netip.AddrFrom4([4]byte{255, 255, 255, 255})}
}

// AnyIPv6 returns the range of all IPv6 addresses.
func AnyIPv6() AddrRange {
	var ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	return AddrRange{From: netip.IPv6Unspecified(), To: netip.AddrFrom16(ones)}
}

// Is4 reports whether the range is of IPv4 addresses.
func (r AddrRange) Is4() bool { return r.From.Is4() }

// Contains reports whether a lies within the range (and is of the same family).
func (r AddrRange) Contains(a netip.Addr) bool {
	return a.Is4() == r.From.Is4() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

// IsAny reports whether the range covers its whole address family.
func (r AddrRange) IsAny() bool {
	if r.From.Is4() {
		return r == AnyIPv4()
	}
	return r == AnyIPv6()
}

// String formats the range as a prefix when it is one, else as "from-to".
func (r AddrRange) String() string {
	if !r.From.IsValid() {
		return "invalid"
	}
	for bits := 0; bits <= r.From.BitLen(); bits++ {
		p := netip.PrefixFrom(r.From, bits)
		if p.Masked().Addr() == r.From && PrefixRange(p) == r {
			return p.String()
		}
	}
	return r.From.String() + "-" + r.To.String()
}

func (r AddrRange) validate() error {
	switch {
	case !r.From.IsValid() || !r.To.IsValid():
		return errors.New("address range bound is not set")
	case r.From.Is4() != r.To.Is4():
		return fmt.Errorf("address range %s mixes IPv4 and IPv6", r)
	case r.From.Zone() != "" || r.To.Zone() != "":
		return fmt.Errorf("address range %s has a zone", r)
	case r.To.Less(r.From):
		return fmt.Errorf("address range %s has From after To", r)
	}
	return nil
}

// PortRange is an inclusive range of ports, From <= To. For ICMP and ICMPv6 selectors it
// holds a message type or code range instead (see [TrafficSelector]).
type PortRange struct {
	From, To uint16
}

// AnyPort matches every port (and every ICMP type or code).
var AnyPort = PortRange{From: 0, To: 65535}

// Port returns the range holding the single port p.
func Port(p uint16) PortRange { return PortRange{From: p, To: p} }

// IsAny reports whether the range covers every port.
func (r PortRange) IsAny() bool { return r == AnyPort }

// Contains reports whether p lies within the range.
func (r PortRange) Contains(p uint16) bool { return r.From <= p && p <= r.To }

// String formats the range as "any", "p" or "from-to".
func (r PortRange) String() string {
	switch {
	case r.IsAny():
		return "any"
	case r.From == r.To:
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// TrafficSelector is one SPD entry's set of packets (RFC 4301 section 4.4.1.1): local and
// remote address ranges of the same family, a next-layer protocol (0 = any) and local and
// remote port ranges.
//
// For ICMP (with IPv4) and ICMPv6 (with IPv6) LocalPorts holds the message type range and
// RemotePorts the code range, each within 0-255 or [AnyPort]; unlike ports they are not
// swapped by direction. [ICMPPortRange] converts the IKEv2 encoding.
//
// Ports are meaningful only for TCP, UDP, SCTP, DCCP, UDP-Lite, ICMP and ICMPv6. For any
// other protocol, including 0, both port ranges must be [AnyPort]; the zero PortRange is
// accepted there as "not applicable" and treated as AnyPort.
type TrafficSelector struct {
	Local, Remote           AddrRange
	Proto                   uint8
	LocalPorts, RemotePorts PortRange
}

// NewSelector returns a selector for all traffic between the local and remote prefixes.
func NewSelector(local, remote netip.Prefix) TrafficSelector {
	return TrafficSelector{Local: PrefixRange(local), Remote: PrefixRange(remote), LocalPorts: AnyPort, RemotePorts: AnyPort}
}

// IsICMP reports whether the selector's port fields carry an ICMP type and code.
func (s TrafficSelector) IsICMP() bool {
	return (s.Proto == ProtoICMP && s.Local.Is4()) || (s.Proto == ProtoICMPv6 && !s.Local.Is4())
}

// String formats the selector for logs.
func (s TrafficSelector) String() string {
	if s.IsICMP() {
		return fmt.Sprintf("%s <-> %s proto %d type %s code %s", s.Local, s.Remote, s.Proto, s.LocalPorts, s.RemotePorts)
	}
	return fmt.Sprintf("%s[%s] <-> %s[%s] proto %d", s.Local, s.LocalPorts, s.Remote, s.RemotePorts, s.Proto)
}

func hasPorts(proto uint8) bool {
	switch proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoDCCP, ProtoUDPLite, ProtoICMP, ProtoICMPv6:
		return true
	}
	return false
}

// normalized validates s and returns it with not-applicable port ranges set to AnyPort.
func (s TrafficSelector) normalized() (TrafficSelector, error) {
	if err := s.Local.validate(); err != nil {
		return s, fmt.Errorf("%w: local: %v", ErrInvalidSelector, err)
	}
	if err := s.Remote.validate(); err != nil {
		return s, fmt.Errorf("%w: remote: %v", ErrInvalidSelector, err)
	}
	if s.Local.Is4() != s.Remote.Is4() {
		return s, fmt.Errorf("%w: local %s and remote %s are of different families", ErrInvalidSelector, s.Local, s.Remote)
	}
	if (s.Proto == ProtoICMP && !s.Local.Is4()) || (s.Proto == ProtoICMPv6 && s.Local.Is4()) {
		return s, fmt.Errorf("%w: protocol %d does not match the address family of %s", ErrInvalidSelector, s.Proto, s.Local)
	}
	if !hasPorts(s.Proto) {
		for _, r := range [2]*PortRange{&s.LocalPorts, &s.RemotePorts} {
			if *r == (PortRange{}) {
				*r = AnyPort
			}
			if !r.IsAny() {
				return s, fmt.Errorf("%w: protocol %d has no ports but a port range %s is given", ErrInvalidSelector, s.Proto, r)
			}
		}
		return s, nil
	}
	for _, r := range [2]PortRange{s.LocalPorts, s.RemotePorts} {
		if r.From > r.To {
			return s, fmt.Errorf("%w: port range %d-%d has From after To", ErrInvalidSelector, r.From, r.To)
		}
		if s.IsICMP() && !r.IsAny() && r.To > 255 {
			return s, fmt.Errorf("%w: ICMP type or code range %s exceeds 255", ErrInvalidSelector, r)
		}
	}
	return s, nil
}

// Validate reports why s cannot be installed, or nil.
func (s TrafficSelector) Validate() error {
	_, err := s.normalized()
	return err
}

// ICMPTypeCodes is a rectangle of ICMP message types and codes, in the form
// TrafficSelector.LocalPorts (types) and RemotePorts (codes) take.
type ICMPTypeCodes struct {
	Types, Codes PortRange
}

// ICMPPortRange converts an IKEv2 traffic selector port range for ICMP or ICMPv6, where
// the type is the high byte and the code the low byte of a 16-bit "port" (RFC 7296
// section 3.13.1), into type and code ranges. A range that starts or ends in the middle
// of a type's codes is not a rectangle, so the result has up to three parts whose union
// is exactly the input. A full range (0-65535) gives one part of any type, any code.
func ICMPPortRange(start, end uint16) ([]ICMPTypeCodes, error) {
	if start > end {
		return nil, fmt.Errorf("%w: ICMP port range %d-%d has start after end (OPAQUE is not supported)", ErrInvalidSelector, start, end)
	}
	if start == 0 && end == 65535 {
		return []ICMPTypeCodes{{Types: AnyPort, Codes: AnyPort}}, nil
	}
	t1, c1 := start>>8, start&0xff
	t2, c2 := end>>8, end&0xff
	rect := func(t1, t2, c1, c2 uint16) ICMPTypeCodes {
		tc := ICMPTypeCodes{Types: PortRange{t1, t2}, Codes: PortRange{c1, c2}}
		if tc.Codes == (PortRange{0, 255}) {
			tc.Codes = AnyPort
		}
		if tc.Types == (PortRange{0, 255}) {
			tc.Types = AnyPort
		}
		return tc
	}
	if t1 == t2 {
		return []ICMPTypeCodes{rect(t1, t1, c1, c2)}, nil
	}
	var out []ICMPTypeCodes
	if c1 != 0 {
		out = append(out, rect(t1, t1, c1, 255))
		t1++
	}
	last := ICMPTypeCodes{}
	haveLast := false
	if c2 != 255 {
		last, haveLast = rect(t2, t2, 0, c2), true
		t2--
	}
	if t1 <= t2 {
		out = append(out, rect(t1, t2, 0, 255))
	}
	if haveLast {
		out = append(out, last)
	}
	return out, nil
}

// Endpoint is one side of an IKEv2 traffic selector: an address range, a protocol
// (0 = any) and a port range.
type Endpoint struct {
	Addrs AddrRange
	Proto uint8
	Ports PortRange
}

// CrossProduct returns the selectors covering every pair of a local and a remote
// endpoint, the way an IKEv2 Child SA's TSi and TSr lists combine. Pairs of different
// address families or of different non-zero protocols match nothing and are left out.
// ICMP endpoints must already carry type ranges in local and code ranges in remote ports
// (see [ICMPPortRange]).
func CrossProduct(local, remote []Endpoint) []TrafficSelector {
	var out []TrafficSelector
	for _, l := range local {
		for _, r := range remote {
			if l.Addrs.Is4() != r.Addrs.Is4() {
				continue
			}
			proto := l.Proto
			switch {
			case proto == 0:
				proto = r.Proto
			case r.Proto != 0 && r.Proto != proto:
				continue
			}
			out = append(out, TrafficSelector{Local: l.Addrs, Remote: r.Addrs, Proto: proto, LocalPorts: l.Ports, RemotePorts: r.Ports})
		}
	}
	return out
}
