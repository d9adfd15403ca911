package spd

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Errors returned by [ExtractFlow]; callers count drops by reason.
var (
	ErrTruncated = errors.New("packet truncated")
	ErrMalformed = errors.New("malformed packet")
)

// Flow is the lookup key: the selector fields of one packet as sent (Src, Dst as on the
// wire). For ICMP and ICMPv6, SrcPort carries the message type and DstPort the code.
//
// PortsOpaque is set for non-first fragments, which carry no next-layer header: RFC 4301
// section 4.4.1 lets them match only selectors whose ports (or ICMP type and code) are
// ANY or OPAQUE.
type Flow struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	PortsOpaque      bool
}

// IPv6 extension headers walked by ExtractFlow.
const (
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6DestOpts = 60
)

// ExtractFlow reads the selector fields of a raw IPv4 or IPv6 packet (starting at the IP
// header). It walks the IPv6 hop-by-hop, routing, fragment and destination options
// headers to the next-layer protocol. For protocols without ports the ports are zero.
// It returns ErrTruncated when a header it needs is cut short and ErrMalformed for
// headers that contradict themselves; it does not allocate.
func ExtractFlow(pkt []byte) (Flow, error) {
	var f Flow
	if len(pkt) < 1 {
		return f, ErrTruncated
	}
	var off int // start of the next-layer header
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return f, ErrTruncated
		}
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 {
			return f, ErrMalformed
		}
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if total < ihl {
			return f, ErrMalformed
		}
		if total < len(pkt) {
			pkt = pkt[:total] // ignore link-layer padding
		}
		if len(pkt) < ihl {
			return f, ErrTruncated
		}
		f.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
		f.Proto = pkt[9]
		if binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 {
			f.PortsOpaque = true
			return f, nil
		}
		off = ihl
	case 6:
		if len(pkt) < 40 {
			return f, ErrTruncated
		}
		if plen := int(binary.BigEndian.Uint16(pkt[4:6])); plen != 0 && 40+plen < len(pkt) {
			pkt = pkt[:40+plen] // plen 0 is a jumbogram: use the whole buffer
		}
		f.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
		next := pkt[6]
		off = 40
	walk:
		for {
			switch next {
			case ipv6HopByHop, ipv6Routing, ipv6DestOpts:
				if len(pkt) < off+2 {
					return f, ErrTruncated
				}
				next = pkt[off]
				off += (int(pkt[off+1]) + 1) * 8
				if len(pkt) < off {
					return f, ErrTruncated
				}
			case ipv6Fragment:
				if len(pkt) < off+8 {
					return f, ErrTruncated
				}
				next = pkt[off]
				fragOff := binary.BigEndian.Uint16(pkt[off+2:off+4]) >> 3
				off += 8
				if fragOff != 0 {
					f.Proto = next
					f.PortsOpaque = true
					return f, nil
				}
			default:
				break walk
			}
		}
		f.Proto = next
	default:
		return f, ErrMalformed
	}
	l4 := pkt[off:]
	switch f.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoDCCP, ProtoUDPLite:
		if len(l4) < 4 {
			return f, ErrTruncated
		}
		f.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		f.DstPort = binary.BigEndian.Uint16(l4[2:4])
	case ProtoICMP, ProtoICMPv6:
		if (f.Proto == ProtoICMP) != f.Src.Is4() {
			break // ICMPv4 in IPv6 or vice versa: no type/code selector applies
		}
		if len(l4) < 2 {
			return f, ErrTruncated
		}
		f.SrcPort = uint16(l4[0])
		f.DstPort = uint16(l4[1])
	}
	return f, nil
}
