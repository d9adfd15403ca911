package ah

import (
	"encoding/binary"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// Packet is an authenticated packet Seal produced inside the caller's buffer.
type Packet struct {
	// Bytes is the whole outer packet, from the IP header to the end of
	// the payload.
	Bytes []byte
	// AH is the offset of the AH header in Bytes.
	AH int
}

// Seal authenticates the IP packet buf[off:off+n] in place. buf needs the
// head room Overhead reports in front of off; AH needs no tail room. The
// outer packet is written around the inner one and returned.
//
// Tunnel mode writes a new IPv4 or IPv6 header for the configured endpoints
// (any inner family in any outer family). Transport mode moves the original
// header, IPv4 options and the IPv6 extension headers that precede AH (RFC
// 4302 3.1.1) included, in front of the AH header and fixes its protocol,
// lengths and checksum; it refuses fragments.
func (sa *SA) Seal(buf []byte, off, n int) (Packet, error) {
	if sa.dir != ipsec.Outbound {
		return Packet{}, ErrWrongDirection
	}
	if sa.wiped.Load() {
		return Packet{}, transform.ErrWiped
	}
	if off < 0 || n < 0 || off+n > len(buf) {
		return Packet{}, fmt.Errorf("%w: inner packet [%d:%d] outside a %d-octet buffer", ErrBufferTooSmall, off, off+n, len(buf))
	}
	inner := buf[off : off+n]
	tl, err := packet.TotalLen(inner)
	if err != nil {
		return Packet{}, fmt.Errorf("%w: inner packet: %w", ErrMalformed, err)
	}
	if tl != n {
		return Packet{}, fmt.Errorf("%w: inner packet claims %d octets, has %d", ErrMalformed, tl, n)
	}
	if sa.mode == ipsec.ModeTransport {
		return sa.sealTransport(buf, off, n)
	}
	return sa.sealTunnel(buf, off, n)
}

// putHeader writes the AH header with a zero ICV field (padding included)
// to ah[:ahLen].
func (sa *SA) putHeader(ah []byte, nh uint8, ahLen int, seq uint64) {
	ah[0] = nh
	ah[1] = byte(ahLen/4 - 2)
	ah[2], ah[3] = 0, 0
	binary.BigEndian.PutUint32(ah[4:], sa.spi)
	binary.BigEndian.PutUint32(ah[8:], uint32(seq))
	clear(ah[headerLen:ahLen])
}

// checkSize refuses a sealed packet whose length does not fit the length
// field of its IP header.
func checkSize(v6 bool, total int) error {
	if (v6 && total-packet.IPv6HeaderLen > 0xffff) || (!v6 && total > 0xffff) {
		return fmt.Errorf("%w: sealed packet of %d octets exceeds the IP length field", ErrMalformed, total)
	}
	return nil
}

func (sa *SA) sealTunnel(buf []byte, off, n int) (Packet, error) {
	inner := buf[off : off+n]
	ipLen, ahLen := packet.IPv4HeaderLen, sa.len4
	if sa.outer6 {
		ipLen, ahLen = packet.IPv6HeaderLen, sa.len6
	}
	start := off - ipLen - ahLen
	if start < 0 {
		return Packet{}, fmt.Errorf("%w: need %d octets before the inner packet", ErrBufferTooSmall, ipLen+ahLen)
	}
	if err := checkSize(sa.outer6, ipLen+ahLen+n); err != nil {
		return Packet{}, err
	}
	nh := uint8(packet.ProtoIPv4)
	if packet.Version(inner) == 6 {
		nh = packet.ProtoIPv6
	}
	innerTC := packet.TrafficClass(inner)
	seq, err := sa.seq.Next()
	if err != nil {
		return Packet{}, err
	}
	out := buf[start : off+n]

	tc := packet.OuterTrafficClass(innerTC, sa.copyDSCP, sa.ecn)
	if sa.outer6 {
		h := packet.IPv6Header{TrafficClass: tc, PayloadLen: len(out) - ipLen, NextHeader: packet.ProtoAH, HopLimit: sa.ttl, Src: sa.src, Dst: sa.dst}
		h.Put(out)
	} else {
		df := sa.copyDF && nh == packet.ProtoIPv4 && inner[6]&0x40 != 0
		h := packet.IPv4Header{TOS: tc, TotalLen: len(out), ID: uint16(sa.ipID.Add(1)), DontFrag: df, TTL: sa.ttl, Protocol: packet.ProtoAH, Src: sa.src, Dst: sa.dst}
		h.Put(out)
	}
	sa.putHeader(out[ipLen:], nh, ahLen, seq)
	if err := sa.icv(out, ipLen, seq, false); err != nil {
		return Packet{}, err
	}
	return Packet{Bytes: out, AH: ipLen}, nil
}

func (sa *SA) sealTransport(buf []byte, off, n int) (Packet, error) {
	inner := buf[off : off+n]
	u, err := packet.ParseUpperLayer(inner)
	if err != nil {
		return Packet{}, fmt.Errorf("%w: inner packet: %w", ErrMalformed, err)
	}
	v6 := packet.Version(inner) == 6
	if u.Fragment || (!v6 && binary.BigEndian.Uint16(inner[6:])&0x2000 != 0) {
		return Packet{}, fmt.Errorf("%w: transport mode cannot protect a fragment", ErrMalformed)
	}
	hl, nhAt := u.InsertAt, u.NextHeaderAt
	ahLen := sa.len4
	if v6 {
		ahLen = sa.len6
	}
	start := off - ahLen
	if start < 0 {
		return Packet{}, fmt.Errorf("%w: need %d octets before the inner packet", ErrBufferTooSmall, ahLen)
	}
	if err := checkSize(v6, n+ahLen); err != nil {
		return Packet{}, err
	}
	seq, err := sa.seq.Next()
	if err != nil {
		return Packet{}, err
	}
	// Keep what is rewritten below, to give the caller its packet back
	// if the headers turn out to be unusable.
	nh := inner[nhAt]
	var saved [4]byte
	if v6 {
		copy(saved[:2], inner[4:6])
	} else {
		copy(saved[:2], inner[2:4])
		copy(saved[2:], inner[10:12])
	}

	copy(buf[start:start+hl], inner[:hl])
	out := buf[start : off+n]
	out[nhAt] = packet.ProtoAH
	if v6 {
		binary.BigEndian.PutUint16(out[4:], uint16(len(out)-packet.IPv6HeaderLen))
	} else {
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
	}
	sa.putHeader(out[hl:], nh, ahLen, seq)
	if err := sa.icv(out, hl, seq, false); err != nil {
		copy(inner[:hl], out[:hl])
		inner[nhAt] = nh
		if v6 {
			copy(inner[4:6], saved[:2])
		} else {
			copy(inner[2:4], saved[:2])
			copy(inner[10:12], saved[2:])
		}
		return Packet{}, err
	}
	if !v6 {
		packet.SetIPv4Checksum(out)
	}
	return Packet{Bytes: out, AH: hl}, nil
}
