package packet

import (
	"encoding/binary"
	"net/netip"
)

// Sum adds b to the running one's-complement sum (RFC 1071) as 16-bit words.
// An odd trailing byte is padded with zero. Fold the result before use.
func Sum(b []byte, sum uint64) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v >> 32
		sum += v & 0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// Fold reduces a running sum to 16 bits. The checksum field takes its complement.
func Fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// PseudoHeaderSum is the running sum of the TCP/UDP/ICMPv6 pseudo-header
// (RFC 768, RFC 8200 section 8.1) for the given addresses.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint64 {
	var sum uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = Sum(s[:], sum)
		sum = Sum(d[:], sum)
	} else {
		s, d := src.As16(), dst.As16()
		sum = Sum(s[:], sum)
		sum = Sum(d[:], sum)
	}
	return sum + uint64(proto) + uint64(length)
}

// UpdateChecksum adjusts the 16-bit checksum at field for one 16-bit word of
// the covered data changing from old to new (RFC 1624 equation 3).
func UpdateChecksum(field []byte, old, new uint16) {
	sum := uint64(^binary.BigEndian.Uint16(field)) + uint64(^old) + uint64(new)
	binary.BigEndian.PutUint16(field, ^Fold(sum))
}
