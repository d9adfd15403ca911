package ah

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// Opened is the result of a successful Open.
type Opened struct {
	// Packet is the decapsulated IP packet: the inner packet in tunnel
	// mode, the original packet without AH in transport mode. It aliases
	// the buffer given to Open.
	Packet []byte
	// Seq is the full (ESN-inferred) sequence number.
	Seq uint64
	// NextHeader is the protocol the AH header named.
	NextHeader uint8
}

// Open verifies and decapsulates an IPv4 or IPv6 packet carrying AH, in
// place. It checks the lengths, the SPI and the replay window, verifies the
// ICV over the immutable fields (rewriting the mutable ones for the
// computation and putting them back, so the headers are delivered as
// received), updates the window only after the ICV verified, and returns
// the inner packet (tunnel mode, RFC 6040 ECN and the DSCP option applied)
// or the packet without its AH header (transport mode, next header, length
// and checksum fixed). On error the buffer holds the packet as received.
//
// Fragments are refused: reassemble before AH (RFC 4302 3.4.1).
func (sa *SA) Open(pkt []byte) (Opened, error) {
	if sa.dir != ipsec.Inbound {
		return Opened{}, ErrWrongDirection
	}
	if sa.wiped.Load() {
		return Opened{}, transform.ErrWiped
	}
	tl, err := packet.TotalLen(pkt)
	if err != nil {
		return Opened{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if tl > len(pkt) {
		return Opened{}, fmt.Errorf("%w: IP packet claims %d octets, has %d", ErrMalformed, tl, len(pkt))
	}
	v6 := packet.Version(pkt) == 6
	if !v6 && tl < packet.IPv4HeaderLen {
		return Opened{}, fmt.Errorf("%w: IPv4 total length %d", ErrMalformed, tl)
	}
	pkt = pkt[:tl]
	var ahOff, nhAt int
	if v6 {
		if ahOff, nhAt, err = findAH6(pkt); err != nil {
			return Opened{}, err
		}
	} else {
		ahOff, nhAt = int(pkt[0]&0x0f)*4, 9
		if ahOff < packet.IPv4HeaderLen || ahOff > tl {
			return Opened{}, fmt.Errorf("%w: IPv4 header length %d in a %d-octet packet", ErrMalformed, ahOff, tl)
		}
		if pkt[9] != packet.ProtoAH {
			return Opened{}, fmt.Errorf("%w: protocol %d is not AH", ErrMalformed, pkt[9])
		}
		if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
			return Opened{}, fmt.Errorf("%w: fragment (reassemble before AH)", ErrMalformed)
		}
	}
	if len(pkt) < ahOff+headerLen {
		return Opened{}, fmt.Errorf("%w: truncated AH header", ErrMalformed)
	}
	ahLen := (int(pkt[ahOff+1]) + 2) * 4
	if !sa.validLen(ahLen, v6) {
		return Opened{}, fmt.Errorf("%w: AH header of %d octets, %s needs %d", ErrMalformed, ahLen, sa.x.Name(), sa.HeaderLen(packet.Version(pkt)))
	}
	if ahOff+ahLen > len(pkt) {
		return Opened{}, fmt.Errorf("%w: AH header of %d octets in %d", ErrMalformed, ahLen, len(pkt)-ahOff)
	}
	if binary.BigEndian.Uint32(pkt[ahOff+4:]) != sa.spi {
		return Opened{}, ErrUnknownSPI
	}
	seq := sa.win.Infer(binary.BigEndian.Uint32(pkt[ahOff+8:]))
	if err := sa.win.Check(seq); err != nil {
		return Opened{Seq: seq}, err
	}
	if err := sa.icv(pkt, ahOff, seq, true); err != nil {
		if errors.Is(err, transform.ErrLength) {
			return Opened{Seq: seq}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return Opened{Seq: seq}, err
	}
	if err := sa.win.Accept(seq); err != nil {
		return Opened{Seq: seq}, err
	}
	nh := pkt[ahOff]
	if sa.mode == ipsec.ModeTunnel {
		inner, err := sa.tunnelInner(pkt[ahOff+ahLen:], nh, packet.TrafficClass(pkt))
		return Opened{Packet: inner, Seq: seq, NextHeader: nh}, err
	}

	// Transport mode: move the IP header (and the extension headers
	// before AH) up against the payload and fix its fields.
	copy(pkt[ahLen:ahLen+ahOff], pkt[:ahOff])
	out := pkt[ahLen:]
	out[nhAt] = nh
	if v6 {
		binary.BigEndian.PutUint16(out[4:], uint16(len(out)-packet.IPv6HeaderLen))
	} else {
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		packet.SetIPv4Checksum(out)
	}
	return Opened{Packet: out, Seq: seq, NextHeader: nh}, nil
}

// validLen reports whether an AH header of ahLen octets fits the SA's ICV:
// over IPv6 padded to 8 octets; over IPv4 padded to 4, or to 8 as some
// implementations do.
func (sa *SA) validLen(ahLen int, v6 bool) bool {
	if v6 {
		return ahLen == sa.len6
	}
	return ahLen == sa.len4 || ahLen == sa.len6
}

// tunnelInner checks the inner packet a tunnel-mode next header names and
// applies RFC 6040 ECN decapsulation and the DSCP copy (packet.TunnelInner).
func (sa *SA) tunnelInner(data []byte, nh, outerTC uint8) ([]byte, error) {
	want := 0
	switch nh {
	case packet.ProtoIPv4:
		want = 4
	case packet.ProtoIPv6:
		want = 6
	default:
		return nil, fmt.Errorf("%w: %d in tunnel mode", ErrBadNextHeader, nh)
	}
	if sa.ecn == packet.ECNOff {
		outerTC &^= 0x03 // a Not-ECT outer field leaves the inner one alone
	}
	inner, err := packet.TunnelInner(data, want, outerTC, sa.copyDSCP)
	if err != nil && !errors.Is(err, packet.ErrECNDrop) {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return inner, err
}
