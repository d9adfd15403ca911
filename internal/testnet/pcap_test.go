package testnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// pcapBuilder writes a classic pcap file for tests.
type pcapBuilder struct {
	bo   binary.ByteOrder
	nano bool
	buf  bytes.Buffer
}

func newPcap(bo binary.ByteOrder, nano bool, linkType uint32) *pcapBuilder {
	p := &pcapBuilder{bo: bo, nano: nano}
	magic := uint32(0xa1b2c3d4)
	if nano {
		magic = 0xa1b23c4d
	}
	h := make([]byte, 24)
	bo.PutUint32(h, magic)
	bo.PutUint16(h[4:], 2)
	bo.PutUint16(h[6:], 4)
	bo.PutUint32(h[16:], 65535)
	bo.PutUint32(h[20:], linkType)
	p.buf.Write(h)
	return p
}

func (p *pcapBuilder) add(ts time.Time, frame []byte) {
	h := make([]byte, 16)
	p.bo.PutUint32(h, uint32(ts.Unix()))
	frac := uint32(ts.Nanosecond())
	if !p.nano {
		frac /= 1000
	}
	p.bo.PutUint32(h[4:], frac)
	p.bo.PutUint32(h[8:], uint32(len(frame)))
	p.bo.PutUint32(h[12:], uint32(len(frame)))
	p.buf.Write(h)
	p.buf.Write(frame)
}

func ether(etherType uint16, payload []byte) []byte {
	f := make([]byte, 14, 14+len(payload))
	binary.BigEndian.PutUint16(f[12:], etherType)
	return append(f, payload...)
}

func ipv4(src, dst string, proto byte, l4 []byte) []byte {
	h := make([]byte, 20, 20+len(l4))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	h[8] = 64
	h[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	return append(h, l4...)
}

func ipv6(src, dst string, next byte, rest []byte) []byte {
	h := make([]byte, 40, 40+len(rest))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(rest)))
	h[6] = next
	h[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, rest...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

func TestClassifyPacket(t *testing.T) {
	prot := ProtectedSubnets()
	espPayload := []byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa, 0xbb}
	ikeOn4500 := append([]byte{0, 0, 0, 0}, make([]byte, 28)...)
	icmpEcho := []byte{8, 0, 0, 0, 0, 1, 0, 1}
	hopByHop := append([]byte{protoICMPv6, 0, 1, 4, 0, 0, 0, 0}, 135, 0, 0, 0)
	frag := func(next byte, offset uint16, l4 []byte) []byte {
		h := []byte{next, 0, 0, 0, 0, 0, 0, 1}
		binary.BigEndian.PutUint16(h[2:], offset<<3)
		return append(h, l4...)
	}
	tests := []struct {
		name  string
		frame []byte
		class PacketClass
		spi   uint32
	}{
		{"raw ESP", ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoESP, espPayload)), ClassESP, 0x12345678},
		{"ESP in UDP", ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoUDP, udp(4500, 4500, espPayload))), ClassESPInUDP, 0x12345678},
		{"ESP in UDP via NAT port", ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoUDP, udp(40123, 4500, espPayload))), ClassESPInUDP, 0x12345678},
		{"IKE on 4500", ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoUDP, udp(4500, 4500, ikeOn4500))), ClassIKE, 0},
		{"IKE on 500", ether(0x0800, ipv4("10.99.0.2", "10.99.0.1", protoUDP, udp(500, 500, make([]byte, 28)))), ClassIKE, 0},
		{"NAT keepalive", ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoUDP, udp(4500, 4500, []byte{0xff}))), ClassNATKeepalive, 0},
		{"AH", ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoAH, make([]byte, 24))), ClassAH, 0},
		{"plaintext ICMP", ether(0x0800, ipv4("10.99.1.1", "10.99.2.1", 1, icmpEcho)), ClassPlaintext, 0},
		{"plaintext UDP 4500 too short for ESP", ether(0x0800, ipv4("10.99.1.1", "10.99.2.1", protoUDP, udp(4500, 4500, []byte{1, 2}))), ClassPlaintext, 0},
		{"underlay ICMP", ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", 1, icmpEcho)), ClassOther, 0},
		{"half protected", ether(0x0800, ipv4("10.99.1.1", "10.99.0.2", 1, icmpEcho)), ClassOther, 0},
		{"ARP", ether(0x0806, make([]byte, 28)), ClassLinkControl, 0},
		{"VLAN ESP", ether(0x8100, append([]byte{0, 5, 0x08, 0x00}, ipv4("10.99.0.1", "10.99.0.2", protoESP, espPayload)...)), ClassESP, 0x12345678},
		{"IPv6 plaintext TCP", ether(0x86dd, ipv6("fd00:99:1::1", "fd00:99:2::1", protoTCP, make([]byte, 20))), ClassPlaintext, 0},
		{"IPv6 ESP", ether(0x86dd, ipv6("fd00:99::1", "fd00:99::2", protoESP, espPayload)), ClassESP, 0x12345678},
		{"IPv6 ND behind hop-by-hop", ether(0x86dd, ipv6("fe80::1", "ff02::1", protoHopByHop, hopByHop)), ClassLinkControl, 0},
		{"IPv6 first fragment of ESP in UDP", ether(0x86dd, ipv6("fd00:99::1", "fd00:99::2", protoFragment, frag(protoUDP, 0, udp(4500, 4500, espPayload)))), ClassESPInUDP, 0x12345678},
		{"IPv6 later fragment between subnets", ether(0x86dd, ipv6("fd00:99:1::1", "fd00:99:2::1", protoFragment, frag(protoUDP, 100, []byte{1, 2, 3}))), ClassPlaintext, 0},
		{"truncated IPv4", ether(0x0800, []byte{0x45, 0}), ClassOther, 0},
		{"bad IHL", ether(0x0800, append([]byte{0x4f}, make([]byte, 30)...)), ClassOther, 0},
		{"short frame", []byte{1, 2, 3}, ClassOther, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ClassifyPacket(LinkTypeEthernet, tt.frame, prot)
			if d.Class != tt.class || d.SPI != tt.spi {
				t.Errorf("got %v (SPI %#x), want %v (SPI %#x)", d, d.SPI, tt.class, tt.spi)
			}
		})
	}
}

func TestClassifyPacketLinkTypes(t *testing.T) {
	pkt := ipv4("10.99.1.1", "10.99.2.1", 1, []byte{8, 0, 0, 0})
	sll := append(make([]byte, 16), pkt...)
	binary.BigEndian.PutUint16(sll[14:], 0x0800)
	sll2 := append(make([]byte, 20), pkt...)
	binary.BigEndian.PutUint16(sll2, 0x0800)
	null := append([]byte{2, 0, 0, 0}, pkt...)
	for _, c := range []struct {
		lt    uint32
		frame []byte
	}{{LinkTypeRaw, pkt}, {LinkTypeIPv4, pkt}, {LinkTypeLinuxSLL, sll}, {LinkTypeSLL2, sll2}, {LinkTypeNull, null}} {
		if d := ClassifyPacket(c.lt, c.frame, ProtectedSubnets()); d.Class != ClassPlaintext {
			t.Errorf("link type %d: got %v, want plaintext", c.lt, d)
		}
	}
	if d := ClassifyPacket(147, pkt, ProtectedSubnets()); d.Class != ClassOther {
		t.Errorf("unknown link type: got %v", d)
	}
}

func TestParsePcap(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	frames := [][]byte{
		ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoUDP, udp(500, 500, make([]byte, 28)))),
		ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoUDP, udp(4500, 4500, []byte{1, 2, 3, 4, 0, 0, 0, 1}))),
		ether(0x0800, ipv4("10.99.1.1", "10.99.2.1", 1, []byte{8, 0, 0, 0})),
		ether(0x0806, make([]byte, 28)),
	}
	for _, c := range []struct {
		name string
		bo   binary.ByteOrder
		nano bool
	}{{"le-usec", binary.LittleEndian, false}, {"be-usec", binary.BigEndian, false}, {"le-nsec", binary.LittleEndian, true}, {"be-nsec", binary.BigEndian, true}} {
		t.Run(c.name, func(t *testing.T) {
			b := newPcap(c.bo, c.nano, LinkTypeEthernet)
			for _, f := range frames {
				b.add(ts, f)
			}
			p, err := ParsePcap(b.buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if p.LinkType != LinkTypeEthernet || p.SnapLen != 65535 || len(p.Packets) != len(frames) {
				t.Fatalf("link type %d, snaplen %d, %d packets", p.LinkType, p.SnapLen, len(p.Packets))
			}
			want := ts.Truncate(time.Microsecond)
			if c.nano {
				want = ts
			}
			if !p.Packets[0].Time.Equal(want) || p.Packets[1].Offset != 24+16+len(frames[0]) {
				t.Errorf("time %v offset %d", p.Packets[0].Time, p.Packets[1].Offset)
			}
			s := Summarize(p, ProtectedSubnets())
			if s.Total != 4 || s.IKE500 != 1 || s.ESPInUDP != 1 || s.Plaintext != 1 || s.LinkControl != 1 || len(s.PlaintextSamples) != 1 {
				t.Errorf("summary %v", s)
			}
			// a file still being written ends inside a record
			full := b.buf.Bytes()
			p, err = ParsePcap(full[:len(full)-3])
			if !errors.Is(err, ErrTruncatedPcap) || p == nil || len(p.Packets) != 3 {
				t.Errorf("truncated: %v, %v", p, err)
			}
		})
	}
}

func TestParsePcapErrors(t *testing.T) {
	good := newPcap(binary.LittleEndian, false, LinkTypeEthernet).buf.Bytes()
	badMagic := bytes.Clone(good)
	badMagic[0] = 0x0a
	badVersion := bytes.Clone(good)
	badVersion[4] = 3
	huge := bytes.Clone(good)
	huge = append(huge, make([]byte, 16)...)
	binary.LittleEndian.PutUint32(huge[24+8:], 1<<30)
	for name, in := range map[string][]byte{"short": good[:10], "magic": badMagic, "version": badVersion, "huge record": huge} {
		if _, err := ParsePcap(in); err == nil || errors.Is(err, ErrTruncatedPcap) {
			t.Errorf("%s: err = %v, want a format error", name, err)
		}
	}
	if p, err := ParsePcap(good); err != nil || len(p.Packets) != 0 {
		t.Errorf("empty capture: %v, %v", p, err)
	}
}

func FuzzParsePcap(f *testing.F) {
	b := newPcap(binary.LittleEndian, false, LinkTypeEthernet)
	b.add(time.Unix(1, 0), ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoUDP, udp(4500, 4500, []byte{1, 2, 3, 4, 0, 0, 0, 1}))))
	b.add(time.Unix(2, 0), ether(0x86dd, ipv6("fd00:99:1::1", "fd00:99:2::1", protoHopByHop, []byte{protoTCP, 0, 1, 4, 0, 0, 0, 0, 0, 1, 0, 2})))
	f.Add(b.buf.Bytes())
	b2 := newPcap(binary.BigEndian, true, LinkTypeLinuxSLL)
	b2.add(time.Unix(3, 0), append(make([]byte, 14), 0x08, 0x00, 0x45))
	f.Add(b2.buf.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParsePcap(in)
		if err != nil && !errors.Is(err, ErrTruncatedPcap) {
			return
		}
		s := Summarize(p, ProtectedSubnets())
		if s.Total != len(p.Packets) {
			t.Fatalf("summary counts %d of %d packets", s.Total, len(p.Packets))
		}
		sum := s.ESP + s.ESPInUDP + s.IKE500 + s.IKE4500 + s.NATKeepalive + s.AH + s.Plaintext + s.LinkControl + s.Other
		if sum != s.Total {
			t.Fatalf("classes add up to %d, want %d", sum, s.Total)
		}
	})
}

func BenchmarkClassifyPacket(b *testing.B) {
	frame := ether(0x0800, ipv4("10.99.0.1", "10.99.0.2", protoUDP, udp(4500, 4500, make([]byte, 1400))))
	frame[14+20+8] = 0x12 // non-zero SPI
	prot := ProtectedSubnets()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if ClassifyPacket(LinkTypeEthernet, frame, prot).Class != ClassESPInUDP {
			b.Fatal("misclassified")
		}
	}
}
