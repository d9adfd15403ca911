package crosscheck

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/packet"
)

// Inner packet kinds; each test config cycles through those of its family
// so that every combination meets every kind.
var (
	kinds4 = []string{"udp", "tcp", "icmp", "options"}
	kinds6 = []string{"udp", "icmpv6", "hbh+dstopts", "dstopts+tcp"}
)

// Option types used in the IPv4 and IPv6 test packets.
const (
	optRecordRoute = 7    // IPv4, mutable (RFC 4302 appendix A.1)
	optRouterAlert = 148  // IPv4, immutable
	opt6RouterAlt  = 0x05 // IPv6 hop-by-hop router alert, immutable
	opt6Mutable    = 0x3e // IPv6 option with the "may change en route" bit
	opt6Immutable  = 0x1e // IPv6 option without it
	opt6PadN       = 0x01
)

// innerPacket builds a complete IPv4 or IPv6 packet of the given kind with
// payloadLen octets of random data, correct lengths and checksums, and
// random values in the fields a network may change (TOS / traffic class
// with ECN, TTL / hop limit, flow label, DF, ID).
func innerPacket(rng *rand.Rand, version int, kind string, payloadLen int) []byte {
	data := make([]byte, payloadLen)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if version == 4 {
		return innerPacket4(rng, kind, data)
	}
	return innerPacket6(rng, kind, data)
}

func innerPacket4(rng *rand.Rand, kind string, data []byte) []byte {
	src := netip.AddrFrom4([4]byte{10, 1, 0, byte(1 + rng.IntN(250))})
	dst := netip.AddrFrom4([4]byte{10, 2, 0, byte(1 + rng.IntN(250))})
	var opts []byte
	proto := uint8(packet.ProtoUDP)
	switch kind {
	case "udp":
	case "tcp":
		proto = packet.ProtoTCP
	case "icmp":
		proto = packet.ProtoICMP
	case "options":
		// Record route with one empty slot (mutable), router alert
		// (immutable), then end of list: 12 octets.
		opts = []byte{optRecordRoute, 7, 4, 0, 0, 0, 0, optRouterAlert, 4, 0, 0, 0}
	default:
		panic("unknown IPv4 kind " + kind)
	}
	hl := packet.IPv4HeaderLen + len(opts)
	l4 := l4Header(rng, proto, len(data))
	pkt := make([]byte, hl+len(l4)+len(data))
	h := packet.IPv4Header{
		TOS:      byte(rng.IntN(64))<<2 | byte(rng.IntN(4)),
		TotalLen: len(pkt),
		ID:       uint16(rng.Uint32()),
		DontFrag: rng.IntN(2) == 0,
		TTL:      byte(2 + rng.IntN(250)),
		Protocol: proto,
		Src:      src,
		Dst:      dst,
	}
	h.Put(pkt)
	pkt[0] = 0x40 | byte(hl/4)
	copy(pkt[packet.IPv4HeaderLen:], opts)
	packet.SetIPv4Checksum(pkt)
	copy(pkt[hl:], l4)
	copy(pkt[hl+len(l4):], data)
	setL4Checksum(pkt[hl:], proto, src, dst)
	return pkt
}

func innerPacket6(rng *rand.Rand, kind string, data []byte) []byte {
	src := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(rng.Uint32()), 15: byte(rng.Uint32())})
	dst := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 2, 14: byte(rng.Uint32()), 15: byte(rng.Uint32())})
	var ext []byte
	first := uint8(0)
	proto := uint8(packet.ProtoUDP)
	switch kind {
	case "udp":
	case "icmpv6":
		proto = packet.ProtoICMPv6
	case "hbh+dstopts":
		// Hop-by-hop: router alert, a mutable option, PadN (16
		// octets); destination options: an immutable option, a
		// mutable one (8 octets).
		first = packet.ProtoHopByHop
		hbh := []byte{packet.ProtoDstOpts, 1,
			opt6RouterAlt, 2, 0, 0,
			opt6Mutable, 4, 0xde, 0xad, 0xbe, 0xef,
			opt6PadN, 2, 0, 0}
		dopt := []byte{proto, 0, opt6Immutable, 1, 'x', opt6Mutable, 1, 'y'}
		ext = append(hbh, dopt...)
	case "dstopts+tcp":
		proto = packet.ProtoTCP
		first = packet.ProtoDstOpts
		ext = []byte{proto, 0, opt6Immutable, 4, 1, 2, 3, 4}
	default:
		panic("unknown IPv6 kind " + kind)
	}
	if ext == nil {
		first = proto
	}
	l4 := l4Header(rng, proto, len(data))
	pkt := make([]byte, packet.IPv6HeaderLen+len(ext)+len(l4)+len(data))
	h := packet.IPv6Header{
		TrafficClass: byte(rng.IntN(256)),
		FlowLabel:    rng.Uint32() & 0xfffff,
		PayloadLen:   len(pkt) - packet.IPv6HeaderLen,
		NextHeader:   first,
		HopLimit:     byte(2 + rng.IntN(250)),
		Src:          src,
		Dst:          dst,
	}
	h.Put(pkt)
	off := packet.IPv6HeaderLen
	off += copy(pkt[off:], ext)
	copy(pkt[off:], l4)
	copy(pkt[off+len(l4):], data)
	setL4Checksum(pkt[off:], proto, src, dst)
	return pkt
}

// l4Header returns a UDP, TCP, ICMP or ICMPv6 header with a zero checksum.
func l4Header(rng *rand.Rand, proto uint8, dataLen int) []byte {
	switch proto {
	case packet.ProtoUDP:
		h := make([]byte, 8)
		binary.BigEndian.PutUint16(h[0:], uint16(1024+rng.IntN(60000)))
		binary.BigEndian.PutUint16(h[2:], uint16(1+rng.IntN(4000)))
		binary.BigEndian.PutUint16(h[4:], uint16(8+dataLen))
		return h
	case packet.ProtoTCP:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(1024+rng.IntN(60000)))
		binary.BigEndian.PutUint16(h[2:], 443)
		binary.BigEndian.PutUint32(h[4:], rng.Uint32())
		binary.BigEndian.PutUint32(h[8:], rng.Uint32())
		h[12] = 5 << 4
		h[13] = 0x18 // PSH, ACK
		binary.BigEndian.PutUint16(h[14:], 65535)
		return h
	case packet.ProtoICMP, packet.ProtoICMPv6:
		h := make([]byte, 8)
		h[0] = 8 // echo request
		if proto == packet.ProtoICMPv6 {
			h[0] = 128
		}
		binary.BigEndian.PutUint16(h[4:], uint16(rng.Uint32()))
		binary.BigEndian.PutUint16(h[6:], uint16(rng.Uint32()))
		return h
	}
	panic(fmt.Sprintf("no header for protocol %d", proto))
}

// setL4Checksum fills the checksum of the upper-layer packet l4.
func setL4Checksum(l4 []byte, proto uint8, src, dst netip.Addr) {
	at := map[uint8]int{packet.ProtoUDP: 6, packet.ProtoTCP: 16, packet.ProtoICMP: 2, packet.ProtoICMPv6: 2}[proto]
	binary.BigEndian.PutUint16(l4[at:], 0)
	var sum uint64
	if proto != packet.ProtoICMP {
		sum = packet.PseudoHeaderSum(src, dst, proto, len(l4))
	}
	c := ^packet.Fold(packet.Sum(l4, sum))
	if c == 0 && proto == packet.ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[at:], c)
}

// mutateEnRoute changes, in place, what routers may change in a packet and
// AH therefore leaves out of the ICV (RFC 4302 3.3.3.1 and appendix A): the
// DSCP (ECN is left alone, tunnel decapsulation acts on it), TTL / hop
// limit, the DF flag, the IPv6 flow label, the data of an IPv4 record route
// option and of IPv6 options with the "may change en route" bit. It walks
// only the IP header and the IPv6 options headers at its front, so it does
// the same to a packet and to that packet with AH inserted after them.
func mutateEnRoute(pkt []byte) {
	if packet.Version(pkt) == 4 {
		pkt[1] = pkt[1]&0x03 | 0xb8
		pkt[6] |= 0x40
		pkt[8]--
		hl := int(pkt[0]&0x0f) * 4
		for i := packet.IPv4HeaderLen; i < hl; {
			switch t := pkt[i]; t {
			case 0:
				i = hl
			case 1:
				i++
			default:
				l := int(pkt[i+1])
				if ptr := int(pkt[i+2]); t == optRecordRoute && ptr+3 <= l {
					copy(pkt[i+ptr-1:], []byte{192, 0, 2, 254})
					pkt[i+2] += 4
				}
				i += l
			}
		}
		packet.SetIPv4Checksum(pkt)
		return
	}
	tc := packet.TrafficClass(pkt)
	packet.SetTrafficClass(pkt, tc&0x03|0xb8)
	pkt[1] = pkt[1]&0xf0 | 0x0a
	pkt[2], pkt[3] = 0xbc, 0xde
	pkt[7]--
	next, off := pkt[6], packet.IPv6HeaderLen
	for next == packet.ProtoHopByHop || next == packet.ProtoDstOpts {
		end := off + (int(pkt[off+1])+1)*8
		for i := off + 2; i < end; {
			if pkt[i] == 0 {
				i++
				continue
			}
			dl := int(pkt[i+1])
			if pkt[i]&0x20 != 0 {
				for j := range dl {
					pkt[i+2+j] ^= 0xa5
				}
			}
			i += 2 + dl
		}
		next, off = pkt[off], end
	}
}

// routedPacket builds an IPv6/UDP packet with a type 0 routing header that
// still has hops segments to visit: the destination is the first hop, the
// header lists the other hops and then the final destination.
func routedPacket(rng *rand.Rand, hops int, payloadLen int) []byte {
	addr := func(net, host byte) []byte {
		return []byte{0x20, 0x01, 0x0d, 0xb8, 0, net, 14: 0, 15: host}
	}
	rh := []byte{packet.ProtoUDP, byte(2 * hops), 0, byte(hops), 0, 0, 0, 0}
	for i := range hops {
		rh = append(rh, addr(0xa0, byte(i+2))...)
	}
	data := randBytes(rng, payloadLen)
	l4 := l4Header(rng, packet.ProtoUDP, len(data))
	pkt := make([]byte, packet.IPv6HeaderLen+len(rh)+len(l4)+len(data))
	h := packet.IPv6Header{
		TrafficClass: byte(rng.IntN(256)),
		FlowLabel:    rng.Uint32() & 0xfffff,
		PayloadLen:   len(pkt) - packet.IPv6HeaderLen,
		NextHeader:   packet.ProtoRouting,
		HopLimit:     64,
		Src:          netip.AddrFrom16([16]byte(addr(1, 1))),
		Dst:          netip.AddrFrom16([16]byte(addr(0xa0, 1))),
	}
	h.Put(pkt)
	off := packet.IPv6HeaderLen
	off += copy(pkt[off:], rh)
	copy(pkt[off:], l4)
	copy(pkt[off+len(l4):], data)
	// The pseudo-header names the final destination (RFC 8200 8.1).
	final := netip.AddrFrom16([16]byte(rh[len(rh)-16:]))
	setL4Checksum(pkt[off:], packet.ProtoUDP, h.Src, final)
	return pkt
}

// routeHop does what the node a packet is addressed to does with a type 0
// routing header that has segments left (RFC 2460 4.4): swap the
// destination with the next address and count one segment less; the hop
// limit goes down on the way. It reports false when nothing was left.
func routeHop(pkt []byte) bool {
	next, off := pkt[6], packet.IPv6HeaderLen
	for next == packet.ProtoHopByHop || next == packet.ProtoDstOpts {
		next, off = pkt[off], off+(int(pkt[off+1])+1)*8
	}
	if next != packet.ProtoRouting || pkt[off+3] == 0 {
		return false
	}
	n, sl := int(pkt[off+1])/2, int(pkt[off+3])
	a := pkt[off+8+16*(n-sl):]
	var tmp [16]byte
	copy(tmp[:], pkt[24:40])
	copy(pkt[24:40], a[:16])
	copy(a[:16], tmp[:])
	pkt[off+3]--
	pkt[7]--
	return true
}
