package spd

import (
	"encoding/binary"
	"errors"
	"testing"
)

// ipv4 builds an IPv4 header (no options unless opts is given) followed by payload.
func ipv4(proto uint8, fragField uint16, opts, payload []byte) []byte {
	ihl := 20 + len(opts)
	b := make([]byte, ihl+len(payload))
	b[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[6:], fragField)
	b[8] = 64
	b[9] = proto
	copy(b[12:], []byte{192, 0, 2, 1})
	copy(b[16:], []byte{198, 51, 100, 7})
	copy(b[20:], opts)
	copy(b[ihl:], payload)
	return b
}

// ipv6 builds an IPv6 header with next header nh followed by rest (extension headers
// and payload).
func ipv6(nh uint8, rest []byte) []byte {
	b := make([]byte, 40+len(rest))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(rest)))
	b[6] = nh
	b[7] = 64
	copy(b[8:], mustAddr("2001:db8::1").AsSlice())
	copy(b[24:], mustAddr("2001:db8:ffff::2").AsSlice())
	copy(b[40:], rest)
	return b
}

// ext builds an 8n-byte extension header (hop-by-hop, routing, destination options).
func ext(next uint8, n int) []byte {
	b := make([]byte, 8*n)
	b[0] = next
	b[1] = byte(n - 1)
	return b
}

func fragHdr(next uint8, offset uint16, more bool) []byte {
	b := make([]byte, 8)
	b[0] = next
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	binary.BigEndian.PutUint32(b[4:], 0xdeadbeef)
	return b
}

func ports(src, dst uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, src)
	binary.BigEndian.PutUint16(b[2:], dst)
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestExtractFlow(t *testing.T) {
	v4src, v4dst := mustAddr("192.0.2.1"), mustAddr("198.51.100.7")
	v6src, v6dst := mustAddr("2001:db8::1"), mustAddr("2001:db8:ffff::2")
	tests := []struct {
		name string
		pkt  []byte
		want Flow
	}{
		{"ipv4 tcp", ipv4(ProtoTCP, 0, nil, ports(40000, 443)),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoTCP, SrcPort: 40000, DstPort: 443}},
		{"ipv4 udp with options", ipv4(ProtoUDP, 0, []byte{1, 1, 1, 0}, ports(500, 4500)[:8]),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoUDP, SrcPort: 500, DstPort: 4500}},
		{"ipv4 sctp", ipv4(ProtoSCTP, 0, nil, ports(2905, 2906)[:12]),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoSCTP, SrcPort: 2905, DstPort: 2906}},
		{"ipv4 icmp echo", ipv4(ProtoICMP, 0, nil, []byte{8, 0, 0xf7, 0xff, 0, 0, 0, 0}),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoICMP, SrcPort: 8, DstPort: 0}},
		{"ipv4 icmp frag needed", ipv4(ProtoICMP, 0, nil, []byte{3, 4, 0, 0, 0, 0, 5, 0xdc}),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoICMP, SrcPort: 3, DstPort: 4}},
		{"ipv4 esp has no ports", ipv4(50, 0, nil, []byte{0, 0, 0, 1, 0, 0, 0, 1}),
			Flow{Src: v4src, Dst: v4dst, Proto: 50}},
		{"ipv4 first fragment has ports", ipv4(ProtoTCP, 0x2000, nil, ports(1, 2)),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoTCP, SrcPort: 1, DstPort: 2}},
		{"ipv4 DF set", ipv4(ProtoTCP, 0x4000, nil, ports(1, 2)),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoTCP, SrcPort: 1, DstPort: 2}},
		{"ipv4 non-first fragment", ipv4(ProtoTCP, 185, nil, []byte{1, 2}),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoTCP, PortsOpaque: true}},
		{"ipv4 trailing padding ignored", append(ipv4(ProtoUDP, 0, nil, ports(7, 9)[:8]), make([]byte, 18)...),
			Flow{Src: v4src, Dst: v4dst, Proto: ProtoUDP, SrcPort: 7, DstPort: 9}},
		{"ipv6 tcp", ipv6(ProtoTCP, ports(1234, 22)),
			Flow{Src: v6src, Dst: v6dst, Proto: ProtoTCP, SrcPort: 1234, DstPort: 22}},
		{"ipv6 icmpv6 echo", ipv6(ProtoICMPv6, []byte{128, 0, 0, 0, 0, 1, 0, 1}),
			Flow{Src: v6src, Dst: v6dst, Proto: ProtoICMPv6, SrcPort: 128}},
		{"ipv6 hop-by-hop, routing, dest opts", ipv6(ipv6HopByHop, cat(ext(ipv6Routing, 1), ext(ipv6DestOpts, 3), ext(ProtoUDP, 2), ports(53, 5353)[:8])),
			Flow{Src: v6src, Dst: v6dst, Proto: ProtoUDP, SrcPort: 53, DstPort: 5353}},
		{"ipv6 atomic fragment", ipv6(ipv6Fragment, cat(fragHdr(ProtoTCP, 0, false), ports(80, 8080))),
			Flow{Src: v6src, Dst: v6dst, Proto: ProtoTCP, SrcPort: 80, DstPort: 8080}},
		{"ipv6 first fragment then dest opts", ipv6(ipv6HopByHop, cat(ext(ipv6Fragment, 1), fragHdr(ipv6DestOpts, 0, true), ext(ProtoTCP, 1), ports(80, 8080))),
			Flow{Src: v6src, Dst: v6dst, Proto: ProtoTCP, SrcPort: 80, DstPort: 8080}},
		{"ipv6 non-first fragment", ipv6(ipv6Fragment, cat(fragHdr(ProtoUDP, 181, true), []byte{9, 9})),
			Flow{Src: v6src, Dst: v6dst, Proto: ProtoUDP, PortsOpaque: true}},
		{"ipv6 no next header", ipv6(59, nil),
			Flow{Src: v6src, Dst: v6dst, Proto: 59}},
		{"ipv6 jumbogram payload length 0", func() []byte {
			b := ipv6(ProtoUDP, ports(1, 2)[:8])
			b[4], b[5] = 0, 0
			return b
		}(), Flow{Src: v6src, Dst: v6dst, Proto: ProtoUDP, SrcPort: 1, DstPort: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExtractFlow(tt.pkt)
			if err != nil {
				t.Fatalf("ExtractFlow: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestExtractFlowErrors(t *testing.T) {
	short := func(b []byte, n int) []byte { return b[:len(b)-n] }
	tcp4 := ipv4(ProtoTCP, 0, nil, ports(1, 2)[:4])
	tests := []struct {
		name string
		pkt  []byte
		err  error
	}{
		{"empty", nil, ErrTruncated},
		{"version 5", []byte{0x50, 0, 0, 0}, ErrMalformed},
		{"ipv4 short header", ipv4(ProtoTCP, 0, nil, nil)[:19], ErrTruncated},
		{"ipv4 ihl below 5", func() []byte { b := ipv4(ProtoTCP, 0, nil, ports(1, 2)); b[0] = 0x44; return b }(), ErrMalformed},
		{"ipv4 total length below ihl", func() []byte { b := ipv4(ProtoTCP, 0, nil, ports(1, 2)); b[3] = 10; return b }(), ErrMalformed},
		{"ipv4 options cut", short(ipv4(ProtoTCP, 0, make([]byte, 8), nil), 3), ErrTruncated},
		{"ipv4 tcp ports cut", short(tcp4, 1), ErrTruncated},
		{"ipv4 total length cuts ports", func() []byte { b := ipv4(ProtoTCP, 0, nil, ports(1, 2)); b[3] = 22; return b }(), ErrTruncated},
		{"ipv4 icmp cut", ipv4(ProtoICMP, 0, nil, []byte{8}), ErrTruncated},
		{"ipv6 short header", ipv6(ProtoTCP, nil)[:39], ErrTruncated},
		{"ipv6 ext header cut", ipv6(ipv6HopByHop, []byte{ProtoTCP}), ErrTruncated},
		{"ipv6 ext length beyond packet", ipv6(ipv6DestOpts, cat(ext(ProtoTCP, 2)[:12])), ErrTruncated},
		{"ipv6 fragment header cut", ipv6(ipv6Fragment, fragHdr(ProtoTCP, 0, false)[:7]), ErrTruncated},
		{"ipv6 udp cut", ipv6(ProtoUDP, []byte{0, 1, 0}), ErrTruncated},
		{"ipv6 payload length cuts ports", func() []byte { b := ipv6(ProtoUDP, ports(1, 2)); b[5] = 2; return b }(), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ExtractFlow(tt.pkt); !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
		})
	}
}

func TestExtractFlowAllocs(t *testing.T) {
	pkt := ipv6(ipv6HopByHop, cat(ext(ProtoTCP, 1), ports(1, 2)))
	if n := testing.AllocsPerRun(100, func() { _, _ = ExtractFlow(pkt) }); n != 0 {
		t.Errorf("ExtractFlow allocates %v times", n)
	}
}
