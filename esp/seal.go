package esp

import (
	"encoding/binary"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// Packet is an encapsulated packet Seal produced inside the caller's buffer.
type Packet struct {
	// Bytes is the whole outer packet, from the IP header to the ICV.
	Bytes []byte
	// UDP is the offset of the UDP header in Bytes, or -1 without UDP
	// encapsulation.
	UDP int
	// ESP is the offset of the ESP header in Bytes: Bytes[ESP:] is what a
	// UDP socket (RFC 3948) or a raw ESP socket sends.
	ESP int
}

// Seal encapsulates the IP packet buf[off:off+n] in place. buf needs the
// head room and tail room Overhead reports (at least the head room in front
// of off, and the tail room after off+n); the outer packet is written around
// the inner one and returned.
//
// Tunnel mode writes a new IPv4 or IPv6 header for the configured endpoints
// (any inner family in any outer family). Transport mode moves the original
// header, with the IPv6 extension headers that precede ESP (RFC 4303 3.1.1),
// in front of the ESP header and fixes its protocol, lengths and checksum.
func (sa *SA) Seal(buf []byte, off, n int) (Packet, error) {
	return sa.seal(buf, off, n, 0)
}

// ReserveSeq reserves up to k consecutive outbound sequence numbers and
// returns the first and how many it got (fewer only when the space runs
// out), for [SA.SealSeq]: a batch takes its numbers in order, then its
// packets may be sealed on several goroutines at once.
func (sa *SA) ReserveSeq(k int) (first uint64, got int, err error) {
	if sa.dir != ipsec.Outbound {
		return 0, 0, ErrWrongDirection
	}
	return sa.seq.Reserve(k)
}

// SealSeq is Seal with a sequence number reserved by [SA.ReserveSeq]
// instead of the next one. It is safe for concurrent use.
func (sa *SA) SealSeq(buf []byte, off, n int, seq uint64) (Packet, error) {
	if seq == 0 {
		return Packet{}, fmt.Errorf("esp: sequence number 0: %w", ErrWrongDirection)
	}
	return sa.seal(buf, off, n, seq)
}

// seal is Seal with sequence number seq, or the next one when seq is 0.
func (sa *SA) seal(buf []byte, off, n int, seq uint64) (Packet, error) {
	if sa.dir != ipsec.Outbound {
		return Packet{}, ErrWrongDirection
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
		return sa.sealTransport(buf, off, n, seq)
	}
	nh := uint8(packet.ProtoIPv4)
	if packet.Version(inner) == 6 {
		nh = packet.ProtoIPv6
	}
	extra := 0
	if sa.tfc > n {
		extra = sa.tfc - n
	}
	df := sa.copyDF && nh == packet.ProtoIPv4 && inner[6]&0x40 != 0
	return sa.sealTunnel(buf, off, n, extra, nh, packet.TrafficClass(inner), df, seq)
}

// SealDummy builds a tunnel-mode dummy packet (next header 59, RFC 4303
// section 2.6) with size octets of payload, for traffic flow
// confidentiality. The payload starts at buf[off]; buf needs Overhead's head
// room before it and size plus the tail room after it.
func (sa *SA) SealDummy(buf []byte, off, size int) (Packet, error) {
	if sa.dir != ipsec.Outbound {
		return Packet{}, ErrWrongDirection
	}
	if sa.mode != ipsec.ModeTunnel {
		return Packet{}, fmt.Errorf("esp: dummy packets need tunnel mode: %w", ErrWrongDirection)
	}
	if off < 0 || size < 0 || off+size > len(buf) {
		return Packet{}, fmt.Errorf("%w: dummy payload [%d:%d] outside a %d-octet buffer", ErrBufferTooSmall, off, off+size, len(buf))
	}
	clear(buf[off : off+size])
	return sa.sealTunnel(buf, off, size, 0, packet.ProtoNoNext, 0, false, 0)
}

// padLen is the ESP padding for a payload of n octets: up to the
// alignment, a power of two.
func (sa *SA) padLen(n int) int {
	return -(n + trailerLen) & (sa.align - 1)
}

// trailer writes TFC padding (extra zero octets), padLen octets of
// monotonic padding and the pad length / next header after payload
// buf[:end], and returns the end of the trailer.
func (sa *SA) trailer(buf []byte, end, extra, padLen int, nh uint8) int {
	if extra > 0 {
		clear(buf[end : end+extra])
		end += extra
	}
	for i := 1; i <= padLen; i++ {
		buf[end] = byte(i)
		end++
	}
	buf[end] = byte(padLen)
	buf[end+1] = nh
	return end + trailerLen
}

// protect writes the ESP header at espOff, takes a sequence number (unless
// seq is one already reserved) and runs the transform over
// buf[espOff:end]. It returns the sequence number used.
func (sa *SA) protect(buf []byte, espOff, end int, seq uint64) (uint64, error) {
	if sa.wiped.Load() {
		return 0, transform.ErrWiped
	}
	if seq == 0 {
		var err error
		if seq, err = sa.seq.Next(); err != nil {
			return 0, err
		}
	}
	binary.BigEndian.PutUint32(buf[espOff:], sa.spi)
	binary.BigEndian.PutUint32(buf[espOff+4:], uint32(seq))
	return seq, sa.x.Seal(buf[espOff:end], seq, sa.esn)
}

// sealTunnel encapsulates in tunnel mode; df sets DF in an IPv4 outer
// header (copy_df, decided before the inner packet is encrypted).
func (sa *SA) sealTunnel(buf []byte, off, n, extra int, nh, innerTC uint8, df bool, seq uint64) (Packet, error) {
	ipLen := packet.IPv4HeaderLen
	if sa.outer6 {
		ipLen = packet.IPv6HeaderLen
	}
	udpLen := 0
	if sa.udp {
		udpLen = udpHeaderLen
	}
	start := off - ipLen - udpLen - espHeaderLen - sa.ivLen
	padLen := sa.padLen(n + extra)
	end := off + n + extra + padLen + trailerLen + sa.icvLen
	if start < 0 || end > len(buf) {
		return Packet{}, fmt.Errorf("%w: need %d octets before and %d after the inner packet", ErrBufferTooSmall, off-start, end-off-n)
	}
	if end-start > 65535 {
		return Packet{}, fmt.Errorf("%w: %d octets", ErrTooBig, end-start)
	}
	espOff := start + ipLen + udpLen
	trailerEnd := sa.trailer(buf, off+n, extra, padLen, nh)
	seq, err := sa.protect(buf, espOff, trailerEnd+sa.icvLen, seq)
	if err != nil {
		return Packet{}, err
	}
	out := buf[start:end]

	tc := packet.OuterTrafficClass(innerTC, sa.copyDSCP, sa.ecn)
	h := out[:ipLen]
	oh := sa.outer.Load()
	copy(h, oh.b[:ipLen])
	if sa.outer6 {
		binary.BigEndian.PutUint16(h[0:], 6<<12|uint16(tc)<<4)
		binary.BigEndian.PutUint16(h[4:], uint16(len(out)-ipLen))
	} else {
		// The ID only has to be unique per source, destination and
		// protocol while fragments live: the sequence number is.
		id := uint16(seq)
		h[1] = tc
		binary.BigEndian.PutUint16(h[2:], uint16(len(out)))
		binary.BigEndian.PutUint16(h[4:], id)
		sum := oh.sum + uint64(tc) + uint64(len(out)) + uint64(id)
		if df {
			h[6] |= 0x40
			sum += 0x4000
		}
		binary.BigEndian.PutUint16(h[10:], ^packet.Fold(sum))
	}
	p := Packet{Bytes: out, UDP: -1, ESP: ipLen + udpLen}
	if sa.udp {
		p.UDP = ipLen
		sa.putUDP(out, ipLen)
	}
	return p, nil
}

func (sa *SA) sealTransport(buf []byte, off, n int, seq uint64) (Packet, error) {
	inner := buf[off : off+n]
	u, err := packet.ParseUpperLayer(inner)
	if err != nil {
		return Packet{}, fmt.Errorf("%w: inner packet: %w", ErrMalformed, err)
	}
	if u.Fragment || (packet.Version(inner) == 4 && binary.BigEndian.Uint16(inner[6:])&0x2000 != 0) {
		return Packet{}, fmt.Errorf("%w: transport mode cannot protect a fragment", ErrMalformed)
	}
	hl := u.InsertAt
	nh := inner[u.NextHeaderAt]
	udpLen := 0
	if sa.udp {
		udpLen = udpHeaderLen
	}
	shift := udpLen + espHeaderLen + sa.ivLen
	start := off - shift
	payloadLen := n - hl
	padLen := sa.padLen(payloadLen)
	end := off + n + padLen + trailerLen + sa.icvLen
	if start < 0 || end > len(buf) {
		return Packet{}, fmt.Errorf("%w: need %d octets before and %d after the inner packet", ErrBufferTooSmall, shift, end-off-n)
	}
	if end-start > 65535 {
		return Packet{}, fmt.Errorf("%w: %d octets", ErrTooBig, end-start)
	}
	copy(buf[start:start+hl], buf[off:off+hl])
	out := buf[start:end]
	espOff := hl + udpLen
	trailerEnd := sa.trailer(buf, off+n, 0, padLen, nh)
	if _, err := sa.protect(buf, start+espOff, trailerEnd+sa.icvLen, seq); err != nil {
		// Put the header back so the caller's packet is intact.
		copy(buf[off:off+hl], buf[start:start+hl])
		return Packet{}, err
	}
	proto := uint8(packet.ProtoESP)
	if sa.udp {
		proto = packet.ProtoUDP
	}
	out[u.NextHeaderAt] = proto
	if packet.Version(out) == 4 {
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		packet.SetIPv4Checksum(out)
	} else {
		binary.BigEndian.PutUint16(out[4:], uint16(len(out)-packet.IPv6HeaderLen))
	}
	p := Packet{Bytes: out, UDP: -1, ESP: espOff}
	if sa.udp {
		p.UDP = hl
		sa.putUDP(out, hl)
	}
	return p, nil
}

// putUDP writes the RFC 3948 UDP header at out[at:]: checksum 0 over IPv4,
// computed over IPv6 where it is mandatory.
func (sa *SA) putUDP(out []byte, at int) {
	u := out[at:]
	binary.BigEndian.PutUint16(u[0:], sa.sport)
	binary.BigEndian.PutUint16(u[2:], sa.dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	binary.BigEndian.PutUint16(u[6:], 0)
	if packet.Version(out) == 6 {
		src, dst, _ := packet.Addrs(out)
		sum := packet.Sum(u, packet.PseudoHeaderSum(src, dst, packet.ProtoUDP, len(u)))
		c := ^packet.Fold(sum)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(u[6:], c)
	}
}
