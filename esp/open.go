package esp

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
	// mode, the rebuilt original in transport mode. It aliases the buffer
	// given to Open. It is nil for a dummy packet.
	Packet []byte
	// Seq is the full (ESN-inferred) sequence number.
	Seq uint64
	// NextHeader is the protocol the ESP trailer named.
	NextHeader uint8
	// Dummy is true for an authentic dummy packet (next header 59, RFC
	// 4303 section 2.6): drop it silently, it is not an attack.
	Dummy bool
}

// Verified is an ESP packet whose ICV has verified and whose payload is
// decrypted in place, but whose sequence number the replay window has not
// taken yet: [SA.Finish] does that and returns the inner packet. Verify
// may run on several goroutines at once; Finish runs in the packets'
// order, so the window only ever moves for authentic packets in the order
// they came.
type Verified struct {
	pkt     []byte // the whole IP packet, nil for VerifyESP
	esp     []byte // the ESP packet
	seq     uint64
	hl      int // IP header length (and the extension headers before ESP)
	nhAt    int // where the IP header names the next protocol
	espOff  int // the ESP header's offset in pkt
	encap   bool
	outerTC uint8

	// What the ICV vouched for, worked out by Verify so that Finish, the
	// serial half, only moves the window: the payload without padding,
	// the next header, the tunnel-mode inner packet, and the error the
	// padding or the inner packet gave.
	data  []byte
	nh    uint8
	inner []byte
	err   error
}

// Inner is the tunnel-mode inner packet Verify found: what Finish returns
// once the replay window takes the packet, for checks that need not wait
// for it. It is nil in transport mode, for a dummy packet and when the
// padding or the inner packet was refused.
func (v *Verified) Inner() []byte {
	if v.err != nil {
		return nil
	}
	return v.inner
}

// Open decapsulates an IPv4 or IPv6 packet carrying ESP, directly or in UDP
// (RFC 3948), in place. It checks the SPI, the replay window, the ICV (before
// decrypting), updates the window only after the ICV verified, checks the
// padding and returns the inner packet (tunnel mode, TFC padding stripped,
// RFC 6040 ECN applied) or the rebuilt original packet (transport mode).
// It is Verify followed by Finish.
func (sa *SA) Open(pkt []byte) (Opened, error) {
	v, err := sa.Verify(pkt)
	if err != nil {
		return Opened{}, err
	}
	return sa.Finish(&v)
}

// Verify is the first half of Open: parsing, the SPI, the replay check
// (without moving the window) and the ICV, then decryption in place. It is
// safe for concurrent use.
func (sa *SA) Verify(pkt []byte) (Verified, error) {
	if sa.dir != ipsec.Inbound {
		return Verified{}, ErrWrongDirection
	}
	tl, err := packet.TotalLen(pkt)
	if err != nil {
		return Verified{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if tl > len(pkt) {
		return Verified{}, fmt.Errorf("%w: IP packet claims %d octets, has %d", ErrMalformed, tl, len(pkt))
	}
	pkt = pkt[:tl]
	var u packet.UpperLayer
	switch {
	case len(pkt) >= packet.IPv4HeaderLen && pkt[0] == 0x45:
		// The common IPv4 header without options needs no walk.
		u = packet.UpperLayer{Proto: pkt[9], Offset: packet.IPv4HeaderLen, InsertAt: packet.IPv4HeaderLen, NextHeaderAt: 9}
		u.Fragment = binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0
	case len(pkt) >= packet.IPv6HeaderLen && pkt[0]>>4 == 6 && (pkt[6] == packet.ProtoESP || pkt[6] == packet.ProtoUDP):
		u = packet.UpperLayer{Proto: pkt[6], Offset: packet.IPv6HeaderLen, InsertAt: packet.IPv6HeaderLen, NextHeaderAt: 6}
	default:
		if u, err = packet.ParseUpperLayer(pkt); err != nil {
			return Verified{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	if u.Fragment || (packet.Version(pkt) == 4 && binary.BigEndian.Uint16(pkt[6:])&0x2000 != 0) {
		return Verified{}, fmt.Errorf("%w: fragment (reassemble before ESP)", ErrMalformed)
	}
	hl := u.Offset
	espOff := hl
	encap := false
	switch u.Proto {
	case packet.ProtoESP:
	case packet.ProtoUDP:
		if len(pkt) < hl+udpHeaderLen {
			return Verified{}, fmt.Errorf("%w: truncated UDP header", ErrMalformed)
		}
		if ul := int(binary.BigEndian.Uint16(pkt[hl+4:])); ul != len(pkt)-hl {
			return Verified{}, fmt.Errorf("%w: UDP length %d, packet has %d", ErrMalformed, ul, len(pkt)-hl)
		}
		switch ClassifyUDP(pkt[hl+udpHeaderLen:]) {
		case UDPKeepalive, UDPIKE:
			return Verified{}, ErrNotESP
		case UDPInvalid:
			return Verified{}, fmt.Errorf("%w: truncated UDP-encapsulated ESP packet: %d bytes", ErrMalformed, len(pkt)-hl-udpHeaderLen)
		}
		espOff += udpHeaderLen
		encap = true
	default:
		return Verified{}, fmt.Errorf("%w: protocol %d is not ESP", ErrMalformed, u.Proto)
	}
	if u.InsertAt != u.Offset {
		return Verified{}, fmt.Errorf("%w: IPv6 destination options before ESP", ErrMalformed)
	}
	v := Verified{pkt: pkt, esp: pkt[espOff:], hl: hl, nhAt: u.NextHeaderAt, espOff: espOff, encap: encap, outerTC: packet.TrafficClass(pkt)}
	if v.seq, err = sa.decrypt(v.esp); err != nil {
		return v, err
	}
	sa.unwrap(&v)
	return v, nil
}

// unwrap checks the padding of a decrypted packet and, in tunnel mode,
// the inner packet, leaving the results in v for Finish.
func (sa *SA) unwrap(v *Verified) {
	v.data, v.nh, v.err = sa.stripTrailer(v.esp)
	if v.err == nil && v.nh != packet.ProtoNoNext && sa.mode == ipsec.ModeTunnel {
		v.inner, v.err = sa.tunnelInner(v.data, v.nh, v.outerTC)
	}
}

// OpenESP decapsulates a tunnel-mode ESP packet given without its outer IP
// and UDP headers, as a UDP socket delivers it; outerTC is the outer TOS /
// Traffic Class octet (for RFC 6040 ECN and the DSCP copy). It is VerifyESP
// followed by Finish.
func (sa *SA) OpenESP(esp []byte, outerTC uint8) (Opened, error) {
	v, err := sa.VerifyESP(esp, outerTC)
	if err != nil {
		return Opened{}, err
	}
	return sa.Finish(&v)
}

// VerifyESP is the first half of OpenESP, as Verify is of Open. It is safe
// for concurrent use.
func (sa *SA) VerifyESP(esp []byte, outerTC uint8) (Verified, error) {
	return sa.verifyESP(nil, esp, outerTC)
}

// verifyESP is VerifyESP, decrypting into dst when it is not nil.
func (sa *SA) verifyESP(dst, esp []byte, outerTC uint8) (Verified, error) {
	if sa.dir != ipsec.Inbound {
		return Verified{}, ErrWrongDirection
	}
	if sa.mode != ipsec.ModeTunnel {
		return Verified{}, fmt.Errorf("esp: OpenESP needs tunnel mode: %w", ErrWrongDirection)
	}
	v := Verified{esp: esp, outerTC: outerTC}
	if dst != nil {
		v.esp = dst
	}
	var err error
	if v.seq, err = sa.decryptFrom(dst, esp); err != nil {
		return v, err
	}
	sa.unwrap(&v)
	return v, nil
}

// VerifyESPFrom is VerifyESP for an ESP packet src that is decrypted into
// dst, at least as long and not overlapping it, instead of in place: a
// packet that needs a buffer of its own (a segment of a coalesced
// datagram) is copied there by its decryption. The Verified packet lives
// in dst. Transforms that only decrypt in place get src copied first.
func (sa *SA) VerifyESPFrom(dst, src []byte, outerTC uint8) (Verified, error) {
	if len(dst) < len(src) {
		return Verified{}, fmt.Errorf("esp: %d-octet packet into a %d-octet buffer: %w", len(src), len(dst), ErrMalformed)
	}
	dst = dst[:len(src)]
	if sa.xTo == nil {
		copy(dst, src)
		return sa.VerifyESP(dst, outerTC)
	}
	return sa.verifyESP(dst, src, outerTC)
}

// Finish is the second half of Open and OpenESP for a packet Verify or
// VerifyESP passed: the replay window takes its sequence number (which
// fails if another packet with it came first), the padding is checked and
// the inner packet is returned.
func (sa *SA) Finish(v *Verified) (Opened, error) {
	if err := sa.win.Accept(v.seq); err != nil {
		return Opened{}, err
	}
	data, nh := v.data, v.nh
	if v.err != nil && v.inner == nil {
		return Opened{}, v.err
	}
	if nh == packet.ProtoNoNext {
		return Opened{Seq: v.seq, NextHeader: nh, Dummy: true}, nil
	}
	if sa.mode == ipsec.ModeTunnel {
		return Opened{Packet: v.inner, Seq: v.seq, NextHeader: nh}, v.err
	}

	// Transport mode: move the IP header (and the extension headers
	// before ESP) up against the payload and restore its fields.
	pkt, hl := v.pkt, v.hl
	dataStart := v.espOff + espHeaderLen + sa.ivLen
	start := dataStart - hl
	copy(pkt[start:dataStart], pkt[:hl])
	out := pkt[start : dataStart+len(data)]
	out[v.nhAt] = nh
	if packet.Version(out) == 4 {
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		packet.SetIPv4Checksum(out)
	} else {
		binary.BigEndian.PutUint16(out[4:], uint16(len(out)-packet.IPv6HeaderLen))
	}
	if v.encap {
		// RFC 3948 3.1.2: NAT rewrote the addresses the TCP/UDP checksum
		// covers; the ICV already vouched for the data, so recompute it.
		fixL4Checksum(out, hl, nh)
	}
	return Opened{Packet: out, Seq: v.seq, NextHeader: nh}, nil
}

// decrypt runs the SPI, replay and ICV checks over an ESP packet and
// decrypts it in place; the window is not changed.
func (sa *SA) decrypt(esp []byte) (seq uint64, err error) {
	return sa.decryptFrom(nil, esp)
}

// decryptFrom is decrypt into dst (out of place) when dst is not nil.
func (sa *SA) decryptFrom(dst, esp []byte) (seq uint64, err error) {
	if sa.wiped.Load() {
		return 0, transform.ErrWiped
	}
	if len(esp) < espHeaderLen+sa.ivLen+4+sa.icvLen {
		return 0, fmt.Errorf("%w: truncated ESP packet: %d bytes", ErrMalformed, len(esp))
	}
	if binary.BigEndian.Uint32(esp) != sa.spi {
		return 0, ErrUnknownSPI
	}
	seq = sa.win.Infer(binary.BigEndian.Uint32(esp[4:]))
	if err := sa.win.Check(seq); err != nil {
		return seq, err
	}
	if dst != nil {
		err = sa.xTo.OpenTo(dst, esp, seq, sa.esn)
	} else {
		err = sa.x.Open(esp, seq, sa.esn)
	}
	if err != nil {
		if errors.Is(err, transform.ErrLength) {
			return seq, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return seq, err
	}
	return seq, nil
}

// stripTrailer returns the decrypted payload of an authentic packet without
// padding and trailer, and its next header.
func (sa *SA) stripTrailer(esp []byte) (data []byte, nh uint8, err error) {
	payload := esp[espHeaderLen+sa.ivLen : len(esp)-sa.icvLen]
	nh = payload[len(payload)-1]
	padLen := int(payload[len(payload)-2])
	if padLen+trailerLen > len(payload) {
		return nil, nh, fmt.Errorf("%w: pad length %d in a %d-octet payload", ErrBadPadding, padLen, len(payload))
	}
	end := len(payload) - trailerLen - padLen
	for i, b := range payload[end : len(payload)-trailerLen] {
		if b != byte(i+1) {
			return nil, nh, fmt.Errorf("%w: octet %d of the padding is %d", ErrBadPadding, i+1, b)
		}
	}
	return payload[:end], nh, nil
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

// fixL4Checksum recomputes the TCP or UDP checksum of a transport-mode
// packet after UDP decapsulation. A zero IPv4 UDP checksum stays zero.
func fixL4Checksum(pkt []byte, hl int, proto uint8) {
	l4 := pkt[hl:]
	at := 0
	switch {
	case proto == packet.ProtoTCP && len(l4) >= 20:
		at = 16
	case proto == packet.ProtoUDP && len(l4) >= 8:
		at = 6
		if packet.Version(pkt) == 4 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return
		}
	default:
		return
	}
	src, dst, err := packet.Addrs(pkt)
	if err != nil {
		return
	}
	binary.BigEndian.PutUint16(l4[at:], 0)
	c := ^packet.Fold(packet.Sum(l4, packet.PseudoHeaderSum(src, dst, proto, len(l4))))
	if c == 0 && proto == packet.ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[at:], c)
}
