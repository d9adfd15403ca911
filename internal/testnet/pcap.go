package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// Link types of the classic pcap format that the reader decodes.
const (
	LinkTypeNull     = 0   // BSD loopback: 4-byte address family
	LinkTypeEthernet = 1   // Ethernet II, optional 802.1Q tags
	LinkTypeRaw      = 101 // raw IPv4/IPv6
	LinkTypeLinuxSLL = 113 // Linux cooked capture v1 (tcpdump -i any)
	LinkTypeIPv4     = 228
	LinkTypeIPv6     = 229
	LinkTypeSLL2     = 276 // Linux cooked capture v2
)

// ErrTruncatedPcap reports a pcap file that ends inside a record, as one
// still being written does.
var ErrTruncatedPcap = errors.New("pcap: truncated record")

// maxPcapRecord bounds a record's captured length (tcpdump's maximum
// snapshot length).
const maxPcapRecord = 262144

// Pcap is a parsed classic libpcap file.
type Pcap struct {
	LinkType uint32
	SnapLen  uint32
	Packets  []Packet
}

// Packet is one captured frame.
type Packet struct {
	Time    time.Time
	OrigLen int    // length on the wire
	Data    []byte // captured bytes (at most the snapshot length)
	Offset  int    // file offset of the record header
}

// ReadPcapFile reads and parses a pcap file.
func ReadPcapFile(path string) (*Pcap, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pcap: %w", err)
	}
	return ParsePcap(b)
}

// ParsePcap parses a classic pcap file (micro- or nanosecond timestamps,
// either byte order). On ErrTruncatedPcap the packets before the truncated
// record are returned too.
func ParsePcap(b []byte) (*Pcap, error) {
	if len(b) < 24 {
		return nil, errors.New("pcap: file shorter than its 24-byte header")
	}
	var bo binary.ByteOrder
	nano := false
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap: bad magic %#08x (pcapng is not supported)", binary.LittleEndian.Uint32(b))
	}
	if major := bo.Uint16(b[4:]); major != 2 {
		return nil, fmt.Errorf("pcap: unsupported version %d", major)
	}
	p := &Pcap{SnapLen: bo.Uint32(b[16:]), LinkType: bo.Uint32(b[20:]) & 0x0fffffff}
	off := 24
	for off < len(b) {
		if len(b)-off < 16 {
			return p, ErrTruncatedPcap
		}
		sec, frac := bo.Uint32(b[off:]), bo.Uint32(b[off+4:])
		incl, orig := bo.Uint32(b[off+8:]), bo.Uint32(b[off+12:])
		if incl > maxPcapRecord {
			return p, fmt.Errorf("pcap: record at offset %d claims %d bytes", off, incl)
		}
		if uint64(len(b)-off-16) < uint64(incl) {
			return p, ErrTruncatedPcap
		}
		ns := int64(frac)
		if !nano {
			ns *= 1000
		}
		p.Packets = append(p.Packets, Packet{
			Time:    time.Unix(int64(sec), ns),
			OrigLen: int(orig),
			Data:    b[off+16 : off+16+int(incl)],
			Offset:  off,
		})
		off += 16 + int(incl)
	}
	return p, nil
}

// PacketClass says what a captured packet is, from the point of view of a
// test checking that protected traffic is encrypted.
type PacketClass int

// Packet classes.
const (
	// ClassOther is anything not below: ARP, neighbour discovery, traffic
	// not between protected subnets, undecodable frames.
	ClassOther PacketClass = iota
	// ClassESP is raw ESP (IP protocol 50).
	ClassESP
	// ClassESPInUDP is ESP in UDP (RFC 3948): port 4500, non-zero SPI.
	ClassESPInUDP
	// ClassIKE is IKE on port 500, or on port 4500 behind the non-ESP marker.
	ClassIKE
	// ClassNATKeepalive is the one-byte 0xff NAT-T keepalive on port 4500.
	ClassNATKeepalive
	// ClassAH is IP protocol 51.
	ClassAH
	// ClassPlaintext is any other packet whose source and destination are
	// both inside the protected subnets: traffic that left unencrypted.
	ClassPlaintext
	// ClassLinkControl is link housekeeping: non-IP frames (ARP) and
	// ICMPv6 neighbour discovery and multicast listener messages.
	ClassLinkControl
)

func (c PacketClass) String() string {
	switch c {
	case ClassOther:
		return "other"
	case ClassESP:
		return "ESP"
	case ClassESPInUDP:
		return "ESP-in-UDP"
	case ClassIKE:
		return "IKE"
	case ClassNATKeepalive:
		return "NAT-keepalive"
	case ClassAH:
		return "AH"
	case ClassPlaintext:
		return "plaintext"
	case ClassLinkControl:
		return "link-control"
	}
	return fmt.Sprintf("PacketClass(%d)", int(c))
}

// Decoded is what ClassifyPacket found in a frame.
type Decoded struct {
	Class    PacketClass
	Src, Dst netip.Addr // outer IP addresses; invalid for non-IP frames
	Proto    uint8      // IP protocol of the transport header
	SrcPort  uint16     // UDP/TCP ports, when present
	DstPort  uint16
	SPI      uint32 // ESP SPI (raw or in UDP), when captured
	Payload  []byte // transport payload (UDP) as captured
}

func (d Decoded) String() string {
	if !d.Src.IsValid() {
		return d.Class.String() + " (non-IP)"
	}
	s := fmt.Sprintf("%s %s", d.Class, netip.AddrPortFrom(d.Src, d.SrcPort))
	return s + fmt.Sprintf(" > %s proto %d", netip.AddrPortFrom(d.Dst, d.DstPort), d.Proto)
}

// IP protocol numbers the classifier knows.
const (
	protoHopByHop = 0
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoESP      = 50
	protoAH       = 51
	protoICMPv6   = 58
	protoDestOpts = 60
)

// ClassifyPacket decodes one captured frame of the given link type and
// classifies it; protected are the subnets whose traffic must never appear
// in clear. It never fails: what it cannot decode is ClassOther.
func ClassifyPacket(linkType uint32, frame []byte, protected []netip.Prefix) Decoded {
	ipPkt, ok, ip := linkPayload(linkType, frame)
	if !ok {
		return Decoded{}
	}
	if !ip {
		return Decoded{Class: ClassLinkControl}
	}
	var d Decoded
	var l4 []byte
	var fragment bool
	switch {
	case len(ipPkt) >= 20 && ipPkt[0]>>4 == 4:
		ihl := int(ipPkt[0]&0x0f) * 4
		if ihl < 20 || len(ipPkt) < ihl {
			return Decoded{}
		}
		d.Src = netip.AddrFrom4([4]byte(ipPkt[12:16]))
		d.Dst = netip.AddrFrom4([4]byte(ipPkt[16:20]))
		d.Proto = ipPkt[9]
		fragment = binary.BigEndian.Uint16(ipPkt[6:])&0x1fff != 0
		l4 = ipPkt[ihl:]
	case len(ipPkt) >= 40 && ipPkt[0]>>4 == 6:
		d.Src = netip.AddrFrom16([16]byte(ipPkt[8:24]))
		d.Dst = netip.AddrFrom16([16]byte(ipPkt[24:40]))
		d.Proto, l4, fragment = skipIPv6Extensions(ipPkt[6], ipPkt[40:])
	default:
		return Decoded{}
	}
	d.Class = ClassOther
	switch {
	case d.Proto == protoESP:
		d.Class = ClassESP
		if len(l4) >= 4 && !fragment {
			d.SPI = binary.BigEndian.Uint32(l4)
		}
		return d
	case d.Proto == protoAH:
		d.Class = ClassAH
		return d
	case d.Proto == protoUDP && !fragment && len(l4) >= 8:
		d.SrcPort = binary.BigEndian.Uint16(l4)
		d.DstPort = binary.BigEndian.Uint16(l4[2:])
		d.Payload = l4[8:]
		udpPayloadLen := int(binary.BigEndian.Uint16(l4[4:])) - 8
		switch {
		case d.SrcPort == 4500 || d.DstPort == 4500:
			switch {
			case udpPayloadLen == 1 && len(d.Payload) >= 1 && d.Payload[0] == 0xff:
				d.Class = ClassNATKeepalive
				return d
			case len(d.Payload) >= 4 && binary.BigEndian.Uint32(d.Payload) == 0:
				d.Class = ClassIKE
				return d
			case len(d.Payload) >= 8:
				d.Class = ClassESPInUDP
				d.SPI = binary.BigEndian.Uint32(d.Payload)
				return d
			}
		case d.SrcPort == 500 || d.DstPort == 500:
			d.Class = ClassIKE
			return d
		}
	case d.Proto == protoICMPv6 && !fragment && len(l4) >= 1:
		switch l4[0] {
		case 130, 131, 132, 133, 134, 135, 136, 137, 143:
			d.Class = ClassLinkControl
			return d
		}
	case d.Proto == protoTCP && !fragment && len(l4) >= 4:
		d.SrcPort = binary.BigEndian.Uint16(l4)
		d.DstPort = binary.BigEndian.Uint16(l4[2:])
	}
	if inAny(d.Src, protected) && inAny(d.Dst, protected) {
		d.Class = ClassPlaintext
	}
	return d
}

func inAny(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// skipIPv6Extensions walks IPv6 extension headers to the transport header.
func skipIPv6Extensions(next byte, b []byte) (proto uint8, l4 []byte, fragment bool) {
	for range 8 {
		switch next {
		case protoHopByHop, protoRouting, protoDestOpts:
			if len(b) < 8 {
				return next, nil, fragment
			}
			n := (int(b[1]) + 1) * 8
			if len(b) < n {
				return next, nil, fragment
			}
			next, b = b[0], b[n:]
		case protoFragment:
			if len(b) < 8 {
				return next, nil, fragment
			}
			if binary.BigEndian.Uint16(b[2:])&0xfff8 != 0 {
				fragment = true
			}
			next, b = b[0], b[8:]
		default:
			return next, b, fragment
		}
	}
	return next, nil, fragment
}

// linkPayload strips the link-layer header and returns the IP packet; ok is
// false for frames it cannot decode, isIP false for well-formed non-IP frames.
func linkPayload(linkType uint32, f []byte) (pkt []byte, ok, isIP bool) {
	var etherType uint16
	switch linkType {
	case LinkTypeEthernet:
		if len(f) < 14 {
			return nil, false, false
		}
		etherType, f = binary.BigEndian.Uint16(f[12:]), f[14:]
		for etherType == 0x8100 || etherType == 0x88a8 {
			if len(f) < 4 {
				return nil, false, false
			}
			etherType, f = binary.BigEndian.Uint16(f[2:]), f[4:]
		}
	case LinkTypeLinuxSLL:
		if len(f) < 16 {
			return nil, false, false
		}
		etherType, f = binary.BigEndian.Uint16(f[14:]), f[16:]
	case LinkTypeSLL2:
		if len(f) < 20 {
			return nil, false, false
		}
		etherType, f = binary.BigEndian.Uint16(f), f[20:]
	case LinkTypeNull:
		if len(f) < 4 {
			return nil, false, false
		}
		return f[4:], true, true // family checked by the IP version nibble
	case LinkTypeRaw, LinkTypeIPv4, LinkTypeIPv6:
		return f, true, true
	default:
		return nil, false, false
	}
	if etherType != 0x0800 && etherType != 0x86dd {
		return nil, true, false
	}
	return f, true, true
}

// CaptureSummary counts a capture's packets by class.
type CaptureSummary struct {
	Total        int
	ESP          int // raw ESP
	ESPInUDP     int
	IKE500       int // IKE on UDP 500
	IKE4500      int // IKE on UDP 4500 (non-ESP marker)
	NATKeepalive int
	AH           int
	Plaintext    int
	LinkControl  int // ARP, neighbour discovery, MLD
	Other        int
	// PlaintextSamples are the first few plaintext packets, for messages.
	PlaintextSamples []Decoded
}

// Encrypted is the number of ESP packets, raw and in UDP.
func (s CaptureSummary) Encrypted() int { return s.ESP + s.ESPInUDP }

func (s CaptureSummary) String() string {
	return fmt.Sprintf("%d packets: %d ESP, %d ESP-in-UDP, %d IKE/500, %d IKE/4500, %d keepalive, %d AH, %d plaintext, %d link-control, %d other",
		s.Total, s.ESP, s.ESPInUDP, s.IKE500, s.IKE4500, s.NATKeepalive, s.AH, s.Plaintext, s.LinkControl, s.Other)
}

// Summarize classifies every packet of a capture.
func Summarize(p *Pcap, protected []netip.Prefix) CaptureSummary {
	var s CaptureSummary
	for _, pkt := range p.Packets {
		d := ClassifyPacket(p.LinkType, pkt.Data, protected)
		s.Total++
		switch d.Class {
		case ClassESP:
			s.ESP++
		case ClassESPInUDP:
			s.ESPInUDP++
		case ClassIKE:
			if d.SrcPort == 500 || d.DstPort == 500 {
				s.IKE500++
			} else {
				s.IKE4500++
			}
		case ClassNATKeepalive:
			s.NATKeepalive++
		case ClassAH:
			s.AH++
		case ClassPlaintext:
			s.Plaintext++
			if len(s.PlaintextSamples) < 5 {
				s.PlaintextSamples = append(s.PlaintextSamples, d)
			}
		case ClassLinkControl:
			s.LinkControl++
		default:
			s.Other++
		}
	}
	return s
}

// IPPacket returns the IP packet inside a captured frame of the given link
// type, or false when the frame is not IP (or cannot be decoded).
func IPPacket(linkType uint32, frame []byte) ([]byte, bool) {
	p, ok, ip := linkPayload(linkType, frame)
	return p, ok && ip
}
