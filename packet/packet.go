// Package packet reads and writes the IPv4 and IPv6 headers that the ESP and AH
// engines, the SPD and the data plane share: header layout, the Internet
// checksum, the IPv6 extension-header chain and RFC 6040 ECN rules.
//
// Everything here works in place on caller buffers and never allocates, because
// it runs once or more per packet.
package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Header sizes and the protocol numbers the IPsec engines meet.
const (
	IPv4HeaderLen = 20
	IPv6HeaderLen = 40

	ProtoHopByHop = 0
	ProtoICMP     = 1
	ProtoIPv4     = 4 // IP-in-IP: the next header of a tunnel-mode IPv4 packet
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoIPv6     = 41
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59 // ESP dummy packets carry this next header (RFC 4303 2.6)
	ProtoDstOpts  = 60
	ProtoSCTP     = 132
)

// ErrTruncated reports a packet shorter than its headers claim.
var ErrTruncated = errors.New("truncated IP packet")

// ErrNotIP reports a packet whose version nibble is neither 4 nor 6.
var ErrNotIP = errors.New("not an IPv4 or IPv6 packet")

// Version returns 4 or 6 from the first nibble of pkt, or 0.
func Version(pkt []byte) int {
	if len(pkt) == 0 {
		return 0
	}
	switch pkt[0] >> 4 {
	case 4:
		return 4
	case 6:
		return 6
	}
	return 0
}

// IPv4Header is the part of an IPv4 header the engines write. Options are never
// written: tunnel-mode outer headers do not carry them.
type IPv4Header struct {
	TOS      uint8
	TotalLen int
	ID       uint16
	DontFrag bool
	TTL      uint8
	Protocol uint8
	Src, Dst netip.Addr
}

// Put writes h as a 20-byte header with a valid checksum into b[:20].
func (h *IPv4Header) Put(b []byte) {
	_ = b[IPv4HeaderLen-1]
	b[0] = 0x45
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:], uint16(h.TotalLen))
	binary.BigEndian.PutUint16(b[4:], h.ID)
	var frag uint16
	if h.DontFrag {
		frag = 0x4000
	}
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = h.TTL
	b[9] = h.Protocol
	b[10], b[11] = 0, 0
	src, dst := h.Src.As4(), h.Dst.As4()
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	SetIPv4Checksum(b)
}

// SetIPv4Checksum recomputes the header checksum of the IPv4 header at the start
// of b, whose length is taken from its IHL field.
func SetIPv4Checksum(b []byte) {
	hl := int(b[0]&0x0f) * 4
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], ^Fold(Sum(b[:hl], 0)))
}

// IPv6Header is the fixed IPv6 header (RFC 8200 section 3).
type IPv6Header struct {
	TrafficClass uint8
	FlowLabel    uint32
	PayloadLen   int
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
}

// Put writes h as a 40-byte header into b[:40].
func (h *IPv6Header) Put(b []byte) {
	_ = b[IPv6HeaderLen-1]
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:], uint16(h.PayloadLen))
	b[6] = h.NextHeader
	b[7] = h.HopLimit
	src, dst := h.Src.As16(), h.Dst.As16()
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
}

// Addrs returns the source and destination address of an IPv4 or IPv6 packet.
func Addrs(pkt []byte) (src, dst netip.Addr, err error) {
	switch Version(pkt) {
	case 4:
		if len(pkt) < IPv4HeaderLen {
			return src, dst, ErrTruncated
		}
		return netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20])), nil
	case 6:
		if len(pkt) < IPv6HeaderLen {
			return src, dst, ErrTruncated
		}
		return netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40])), nil
	}
	return src, dst, ErrNotIP
}

// TotalLen returns the length an IPv4 or IPv6 packet claims for itself, header
// included. Tunnel-mode decapsulation uses it to strip TFC padding.
func TotalLen(pkt []byte) (int, error) {
	switch Version(pkt) {
	case 4:
		if len(pkt) < IPv4HeaderLen {
			return 0, ErrTruncated
		}
		return int(binary.BigEndian.Uint16(pkt[2:])), nil
	case 6:
		if len(pkt) < IPv6HeaderLen {
			return 0, ErrTruncated
		}
		return IPv6HeaderLen + int(binary.BigEndian.Uint16(pkt[4:])), nil
	}
	return 0, ErrNotIP
}

// TrafficClass returns the IPv4 TOS or IPv6 Traffic Class octet: DSCP in the
// upper six bits, ECN in the lower two.
func TrafficClass(pkt []byte) uint8 {
	switch Version(pkt) {
	case 4:
		if len(pkt) >= 2 {
			return pkt[1]
		}
	case 6:
		if len(pkt) >= 2 {
			return pkt[0]<<4 | pkt[1]>>4
		}
	}
	return 0
}

// SetTrafficClass rewrites the TOS or Traffic Class octet, fixing the IPv4
// header checksum incrementally (RFC 1624).
func SetTrafficClass(pkt []byte, tc uint8) {
	switch Version(pkt) {
	case 4:
		if len(pkt) < IPv4HeaderLen {
			return
		}
		old := binary.BigEndian.Uint16(pkt[0:])
		pkt[1] = tc
		UpdateChecksum(pkt[10:12], old, binary.BigEndian.Uint16(pkt[0:]))
	case 6:
		if len(pkt) < 2 {
			return
		}
		pkt[0] = 6<<4 | tc>>4
		pkt[1] = tc<<4 | pkt[1]&0x0f
	}
}

// UpperLayer describes where the upper-layer header of an IP packet is, after
// any IPv4 options or IPv6 extension headers.
type UpperLayer struct {
	// Proto is the upper-layer protocol (TCP, UDP, ICMP, ESP, ...).
	Proto uint8
	// Offset is where the upper-layer header starts.
	Offset int
	// Fragment is true for a fragment other than the first: it has no
	// upper-layer header, so ports are unknown (RFC 4301 section 4.4.1).
	Fragment bool
	// InsertAt is where transport-mode ESP or AH goes (RFC 4303 3.1.1, RFC
	// 4302 3.1.1): after the hop-by-hop, routing and fragment headers, and
	// after destination options that precede a routing header.
	InsertAt int
	// NextHeaderAt is the offset of the next-header octet that names the
	// header found at InsertAt, to be rewritten to ESP or AH.
	NextHeaderAt int
}

// ParseUpperLayer finds the upper-layer header of an IPv4 or IPv6 packet. It
// checks only the lengths it needs.
func ParseUpperLayer(pkt []byte) (UpperLayer, error) {
	switch Version(pkt) {
	case 4:
		return parseUpperLayer4(pkt)
	case 6:
		return parseUpperLayer6(pkt)
	}
	return UpperLayer{}, ErrNotIP
}

func parseUpperLayer4(pkt []byte) (UpperLayer, error) {
	if len(pkt) < IPv4HeaderLen {
		return UpperLayer{}, ErrTruncated
	}
	hl := int(pkt[0]&0x0f) * 4
	if hl < IPv4HeaderLen || len(pkt) < hl {
		return UpperLayer{}, fmt.Errorf("bad IPv4 header length %d: %w", hl, ErrTruncated)
	}
	fragOff := binary.BigEndian.Uint16(pkt[6:]) & 0x1fff
	return UpperLayer{
		Proto:        pkt[9],
		Offset:       hl,
		Fragment:     fragOff != 0,
		InsertAt:     hl,
		NextHeaderAt: 9,
	}, nil
}

func parseUpperLayer6(pkt []byte) (UpperLayer, error) {
	if len(pkt) < IPv6HeaderLen {
		return UpperLayer{}, ErrTruncated
	}
	u := UpperLayer{InsertAt: -1}
	next := pkt[6]
	nextAt := 6
	off := IPv6HeaderLen
	seenRouting := false
	// A chain longer than this is an attack, not a packet.
	for range 16 {
		switch next {
		case ProtoHopByHop, ProtoRouting, ProtoDstOpts:
			if len(pkt) < off+8 {
				return UpperLayer{}, ErrTruncated
			}
			if next == ProtoDstOpts && seenRouting && u.InsertAt < 0 {
				// Destination options after a routing header are for the
				// final destination: ESP goes before them.
				u.InsertAt, u.NextHeaderAt = off, nextAt
			}
			if next == ProtoRouting {
				seenRouting = true
			}
			nextAt = off
			next = pkt[off]
			off += (int(pkt[off+1]) + 1) * 8
		case ProtoFragment:
			if len(pkt) < off+8 {
				return UpperLayer{}, ErrTruncated
			}
			if binary.BigEndian.Uint16(pkt[off+2:])&0xfff8 != 0 {
				u.Fragment = true
			}
			nextAt = off
			next = pkt[off]
			off += 8
		default:
			if off > len(pkt) {
				return UpperLayer{}, ErrTruncated
			}
			u.Proto, u.Offset = next, off
			if u.InsertAt < 0 {
				u.InsertAt, u.NextHeaderAt = off, nextAt
			}
			return u, nil
		}
		if u.Fragment {
			// Nothing after a non-first fragment header is readable.
			if off > len(pkt) {
				return UpperLayer{}, ErrTruncated
			}
			u.Proto, u.Offset = next, off
			if u.InsertAt < 0 {
				u.InsertAt, u.NextHeaderAt = off, nextAt
			}
			return u, nil
		}
	}
	return UpperLayer{}, errors.New("IPv6 extension header chain too long")
}
