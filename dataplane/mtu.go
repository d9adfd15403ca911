package dataplane

import (
	"encoding/binary"

	"github.com/cygnet-ipsec/cygnet/packet"
)

// Buffer layout. Every packet buffer leaves HeadRoom octets in front of the
// packet and TailRoom after it, so any SA's Seal works in place and the
// inbound path can rebuild an outer header a socket stripped.
const (
	// HeadRoom covers the largest head room an ESP or AH SA asks for (an
	// IPv6 outer header, UDP, ESP and a 16-octet IV is 72; AH with a
	// 64-octet ICV over IPv6 is 116) and the TUN's virtio header.
	HeadRoom = 128
	// TailRoom covers padding to a 16-octet block, the trailer and a
	// 32-octet ICV, with room for modest TFC padding. An SA asking for more
	// (large TFCPadTo) is refused by AddSA.
	TailRoom = 256
	// DefaultUnderlayMTU is the underlay link MTU assumed when the
	// configuration gives none.
	DefaultUnderlayMTU = 1500
	// minIPv6MTU is the smallest link MTU IPv6 allows (RFC 8200 section 5).
	minIPv6MTU = 1280
	// minIPv4MTU is the smallest MTU any IPv4 host must accept whole.
	minIPv4MTU = 576
)

// InnerMTU is the largest inner packet sa can carry in one underlay packet
// of underlay octets: underlay minus the outer IP header (tunnel mode), the
// UDP header (when encapsulated), the ESP header, the IV, the worst-case
// padding, the pad length and next header octets, the ICV and any TFC
// padding - all of which the engine's Overhead reports. Set the TUN MTU to
// the smallest InnerMTU of its SAs (see [DataPlane.SetMTU]); a larger
// packet is fragmented or answered with ICMP.
func InnerMTU(sa *SA, underlay int) int {
	head, tail := sa.overhead()
	return underlay - head - tail
}

// dontFragment reports whether an oversized packet must be answered with
// ICMP instead of being fragmented: IPv6 always, IPv4 with DF set.
func dontFragment(pkt []byte) bool {
	if packet.Version(pkt) == 6 {
		return true
	}
	return len(pkt) >= packet.IPv4HeaderLen && binary.BigEndian.Uint16(pkt[6:])&0x4000 != 0
}

// isICMPError reports whether pkt is an ICMP or ICMPv6 error message, which
// never gets an ICMP error in reply (RFC 1122 3.2.2, RFC 4443 2.4 e.1).
func isICMPError(pkt []byte) bool {
	u, err := packet.ParseUpperLayer(pkt)
	if err != nil || u.Fragment || u.Offset >= len(pkt) {
		return err == nil && u.Fragment // no ICMP for non-first fragments either
	}
	t := pkt[u.Offset]
	switch u.Proto {
	case packet.ProtoICMP:
		return t != 0 && t != 8 && t != 13 && t != 14 && t != 15 && t != 16 && t != 17 && t != 18
	case packet.ProtoICMPv6:
		return t < 128
	}
	return false
}

// buildTooBig writes into out the ICMP "fragmentation needed" (IPv4, type 3
// code 4, RFC 1191) or ICMPv6 "packet too big" (RFC 4443 3.2) error for the
// oversized packet orig, with the next-hop MTU mtu, addressed from orig's
// destination back to its source so that it passes reverse-path filters on
// the TUN. It returns the length written, or 0 when no error may be sent
// (orig is malformed, an ICMP error itself, or a non-first fragment).
func buildTooBig(out, orig []byte, mtu int) int {
	src, dst, err := packet.Addrs(orig)
	if err != nil || isICMPError(orig) || src.IsMulticast() || !src.IsValid() || src.IsUnspecified() {
		return 0
	}
	if packet.Version(orig) == 4 {
		hl := int(orig[0]&0x0f) * 4
		quote := min(len(orig), hl+8)
		// RFC 1812 4.3.2.3 allows more, but the header and 8 octets are
		// what every stack needs to find the socket.
		n := packet.IPv4HeaderLen + 8 + quote
		if len(out) < n || hl < packet.IPv4HeaderLen {
			return 0
		}
		h := packet.IPv4Header{TotalLen: n, TTL: 64, Protocol: packet.ProtoICMP, Src: dst, Dst: src}
		h.Put(out)
		icmp := out[packet.IPv4HeaderLen:n]
		icmp[0], icmp[1] = 3, 4
		binary.BigEndian.PutUint16(icmp[2:], 0)
		binary.BigEndian.PutUint16(icmp[4:], 0)
		binary.BigEndian.PutUint16(icmp[6:], uint16(mtu))
		copy(icmp[8:], orig[:quote])
		binary.BigEndian.PutUint16(icmp[2:], ^packet.Fold(packet.Sum(icmp, 0)))
		return n
	}
	mtu = max(mtu, minIPv6MTU)
	quote := min(len(orig), minIPv6MTU-packet.IPv6HeaderLen-8)
	n := packet.IPv6HeaderLen + 8 + quote
	if len(out) < n {
		return 0
	}
	h := packet.IPv6Header{PayloadLen: 8 + quote, NextHeader: packet.ProtoICMPv6, HopLimit: 64, Src: dst, Dst: src}
	h.Put(out)
	icmp := out[packet.IPv6HeaderLen:n]
	icmp[0], icmp[1] = 2, 0
	binary.BigEndian.PutUint16(icmp[2:], 0)
	binary.BigEndian.PutUint32(icmp[4:], uint32(mtu))
	copy(icmp[8:], orig[:quote])
	sum := packet.Sum(icmp, packet.PseudoHeaderSum(dst, src, packet.ProtoICMPv6, len(icmp)))
	binary.BigEndian.PutUint16(icmp[2:], ^packet.Fold(sum))
	return n
}

// fragmentCount returns how many fragments of at most mtu octets the IPv4
// packet pkt needs, 0 when it cannot be fragmented (bad header, DF, or an
// MTU too small for 8 octets of payload).
func fragmentCount(pkt []byte, mtu int) int {
	if packet.Version(pkt) != 4 || len(pkt) < packet.IPv4HeaderLen || dontFragment(pkt) {
		return 0
	}
	hl := int(pkt[0]&0x0f) * 4
	if hl < packet.IPv4HeaderLen || hl > len(pkt) {
		return 0
	}
	if len(pkt) <= mtu {
		return 1
	}
	first := (mtu - hl) &^ 7
	later := (mtu - laterHeaderLen(pkt[:hl])) &^ 7
	if first <= 0 || later <= 0 {
		return 0
	}
	rest := len(pkt) - hl - first
	return 1 + (rest+later-1)/later
}

// laterHeaderLen is the header length of the second and later fragments:
// only options with the copied flag travel in them (RFC 791).
func laterHeaderLen(hdr []byte) int {
	return packet.IPv4HeaderLen + (copiedOptions(nil, hdr[packet.IPv4HeaderLen:])+3)&^3
}

// copiedOptions appends to dst (when non-nil, it must be large enough) the
// options of opts whose copied flag is set and returns their length.
func copiedOptions(dst, opts []byte) int {
	n := 0
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 { // end of options
			break
		}
		if t == 1 { // no-op
			i++
			continue
		}
		if i+1 >= len(opts) {
			break
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			break
		}
		if t&0x80 != 0 {
			if dst != nil {
				copy(dst[n:], opts[i:i+l])
			}
			n += l
		}
		i += l
	}
	return n
}

// fragment4 writes fragment k of the IPv4 packet pkt (see fragmentCount)
// into out and returns its length.
func fragment4(out, pkt []byte, mtu, k int) int {
	hl := int(pkt[0]&0x0f) * 4
	first := (mtu - hl) &^ 7
	origFrag := binary.BigEndian.Uint16(pkt[6:])
	origOff := int(origFrag&0x1fff) * 8
	origMF := origFrag&0x2000 != 0
	payload := pkt[hl:]
	var start, size, fhl int
	if k == 0 {
		start, size, fhl = 0, min(first, len(payload)), hl
		copy(out, pkt[:hl])
	} else {
		fhl = laterHeaderLen(pkt[:hl])
		later := (mtu - fhl) &^ 7
		start = first + (k-1)*later
		size = min(later, len(payload)-start)
		copy(out, pkt[:packet.IPv4HeaderLen])
		n := copiedOptions(out[packet.IPv4HeaderLen:], pkt[packet.IPv4HeaderLen:hl])
		clear(out[packet.IPv4HeaderLen+n : fhl])
		out[0] = 0x40 | byte(fhl/4)
	}
	copy(out[fhl:], payload[start:start+size])
	flags := uint16((origOff + start) / 8)
	if start+size < len(payload) || origMF {
		flags |= 0x2000
	}
	binary.BigEndian.PutUint16(out[2:], uint16(fhl+size))
	binary.BigEndian.PutUint16(out[6:], flags)
	packet.SetIPv4Checksum(out)
	return fhl + size
}
