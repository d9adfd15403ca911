package packet

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// The example header from RFC 1071's companion literature: a captured IPv4
// header whose checksum field holds 0xb861.
func TestIPv4ChecksumKnownHeader(t *testing.T) {
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	b := append([]byte(nil), h...)
	SetIPv4Checksum(b)
	if got := binary.BigEndian.Uint16(b[10:]); got != 0xb861 {
		t.Fatalf("checksum = %#04x, want 0xb861", got)
	}
	if Fold(Sum(b, 0)) != 0xffff {
		t.Fatal("a header with a valid checksum must sum to 0xffff")
	}
}

func TestIPv4HeaderPutRoundTrip(t *testing.T) {
	h := IPv4Header{TOS: 0xb8, TotalLen: 84, ID: 7, DontFrag: true, TTL: 64, Protocol: ProtoESP,
		Src: netip.MustParseAddr("10.99.0.1"), Dst: netip.MustParseAddr("10.99.0.2")}
	b := make([]byte, 84)
	h.Put(b)
	src, dst, err := Addrs(b)
	if err != nil || src != h.Src || dst != h.Dst {
		t.Fatalf("Addrs = %v %v %v", src, dst, err)
	}
	if n, _ := TotalLen(b); n != 84 {
		t.Fatalf("TotalLen = %d", n)
	}
	if TrafficClass(b) != 0xb8 || b[6] != 0x40 || b[9] != ProtoESP {
		t.Fatalf("header fields wrong: % x", b[:20])
	}
	SetTrafficClass(b, 0x02)
	if Fold(Sum(b[:20], 0)) != 0xffff {
		t.Fatal("incremental checksum update left a bad checksum")
	}
}

func TestIPv6HeaderTrafficClass(t *testing.T) {
	h := IPv6Header{TrafficClass: 0xb9, FlowLabel: 0x12345, PayloadLen: 8, NextHeader: ProtoUDP, HopLimit: 64,
		Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")}
	b := make([]byte, 48)
	h.Put(b)
	if TrafficClass(b) != 0xb9 {
		t.Fatalf("TrafficClass = %#x", TrafficClass(b))
	}
	SetTrafficClass(b, 0x03)
	if TrafficClass(b) != 0x03 || binary.BigEndian.Uint32(b)&0xfffff != 0x12345 {
		t.Fatalf("SetTrafficClass broke the header: % x", b[:4])
	}
	if n, _ := TotalLen(b); n != 48 {
		t.Fatalf("TotalLen = %d", n)
	}
}

// RFC 6040 figure 4, every combination.
func TestECNDecapsulateTable(t *testing.T) {
	want := [4][4]struct {
		ecn  uint8
		drop bool
	}{
		NotECT: {{NotECT, false}, {NotECT, false}, {NotECT, false}, {0, true}},
		ECT1:   {{ECT1, false}, {ECT1, false}, {ECT1, false}, {CE, false}},
		ECT0:   {{ECT0, false}, {ECT1, false}, {ECT0, false}, {CE, false}},
		CE:     {{CE, false}, {CE, false}, {CE, false}, {CE, false}},
	}
	for inner := range uint8(4) {
		for outer := range uint8(4) {
			ecn, drop := ECNDecapsulate(inner, outer)
			w := want[inner][outer]
			if drop != w.drop || (!drop && ecn != w.ecn) {
				t.Errorf("inner %02b outer %02b: got %02b drop=%v, want %02b drop=%v", inner, outer, ecn, drop, w.ecn, w.drop)
			}
		}
	}
	for e := range uint8(4) {
		if ECNEncapsulate(0xb8|e) != e {
			t.Errorf("ECNEncapsulate(%02b) must copy the field", e)
		}
	}
}

func ipv6WithExt(ext ...[]byte) []byte {
	b := make([]byte, IPv6HeaderLen)
	h := IPv6Header{NextHeader: ext[0][0], HopLimit: 1, Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::2")}
	h.Put(b)
	for _, e := range ext[1:] {
		b = append(b, e...)
	}
	return b
}

func TestParseUpperLayerIPv6Chain(t *testing.T) {
	// first slice: {first next header}; then headers: each starts with its next header.
	hop := []byte{ProtoRouting, 0, 0, 0, 0, 0, 0, 0}
	rt := []byte{ProtoDstOpts, 0, 0, 0, 0, 0, 0, 0}
	dst := []byte{ProtoTCP, 0, 0, 0, 0, 0, 0, 0}
	tcp := make([]byte, 20)
	p := ipv6WithExt([]byte{ProtoHopByHop}, hop, rt, dst, tcp)
	u, err := ParseUpperLayer(p)
	if err != nil {
		t.Fatal(err)
	}
	if u.Proto != ProtoTCP || u.Offset != 64 || u.InsertAt != 56 || u.NextHeaderAt != 48 || u.Fragment {
		t.Fatalf("got %+v", u)
	}
	// A non-first fragment has no readable upper layer.
	frag := []byte{ProtoUDP, 0, 0x00, 0x08, 0, 0, 0, 1}
	p = ipv6WithExt([]byte{ProtoFragment}, frag, make([]byte, 8))
	u, err = ParseUpperLayer(p)
	if err != nil || !u.Fragment || u.Proto != ProtoUDP || u.Offset != 48 {
		t.Fatalf("fragment: %+v %v", u, err)
	}
	// Truncated extension header.
	if _, err := ParseUpperLayer(p[:44]); err == nil {
		t.Fatal("truncated chain accepted")
	}
}

func TestParseUpperLayerIPv4(t *testing.T) {
	b := make([]byte, 28)
	h := IPv4Header{TotalLen: 28, TTL: 1, Protocol: ProtoUDP, Src: netip.MustParseAddr("1.2.3.4"), Dst: netip.MustParseAddr("5.6.7.8")}
	h.Put(b)
	u, err := ParseUpperLayer(b)
	if err != nil || u.Proto != ProtoUDP || u.Offset != 20 || u.NextHeaderAt != 9 {
		t.Fatalf("%+v %v", u, err)
	}
	b[0] = 0x4f // IHL 60 > length
	if _, err := ParseUpperLayer(b); err == nil {
		t.Fatal("bad IHL accepted")
	}
	if _, err := ParseUpperLayer([]byte{0x10}); err != ErrNotIP {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseUpperLayer(f *testing.F) {
	f.Add(ipv6WithExt([]byte{ProtoHopByHop}, []byte{ProtoTCP, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 20)))
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUpperLayer(b)
		if err == nil && (u.Offset > len(b) || u.InsertAt > u.Offset || u.NextHeaderAt >= len(b)) {
			t.Fatalf("offsets outside the packet: %+v len %d", u, len(b))
		}
	})
}

func BenchmarkSum1400(b *testing.B) {
	buf := make([]byte, 1400)
	b.SetBytes(1400)
	b.ReportAllocs()
	for b.Loop() {
		Fold(Sum(buf, 0))
	}
}

func TestOuterTrafficClass(t *testing.T) {
	for _, tc := range []struct {
		inner    uint8
		copyDSCP bool
		mode     ECNMode
		want     uint8
	}{
		{0xb8 | ECT0, false, ECNNormal, ECT0},       // pipe model: DSCP 0, ECN copied
		{0xb8 | ECT0, true, ECNNormal, 0xb8 | ECT0}, // uniform model
		{0xb8 | CE, true, ECNCompat, 0xb8 | NotECT}, // compatibility mode: outer Not-ECT
		{0x20 | CE, false, ECNNormal, CE},           // CE survives encapsulation
	} {
		if got := OuterTrafficClass(tc.inner, tc.copyDSCP, tc.mode); got != tc.want {
			t.Errorf("OuterTrafficClass(%#x, %v, %v) = %#x, want %#x", tc.inner, tc.copyDSCP, tc.mode, got, tc.want)
		}
	}
}

func TestTunnelInnerChecksVersionAndLength(t *testing.T) {
	b := make([]byte, 40)
	h := IPv4Header{TotalLen: 28, TTL: 1, Protocol: ProtoUDP, Src: netip.MustParseAddr("1.2.3.4"), Dst: netip.MustParseAddr("5.6.7.8")}
	h.Put(b)
	inner, err := TunnelInner(b, 4, 0, false)
	if err != nil || len(inner) != 28 {
		t.Fatalf("inner %d octets, %v; want the 28 it claims (TFC padding cut)", len(inner), err)
	}
	if _, err := TunnelInner(b, 6, 0, false); err == nil {
		t.Error("IPv4 packet accepted for an IPv6 next header")
	}
	if _, err := TunnelInner(b[:20], 4, 0, false); err == nil {
		t.Error("packet shorter than its total length accepted")
	}
	if _, err := TunnelInner(b, 4, CE, false); err != ErrECNDrop {
		t.Errorf("CE on a Not-ECT inner packet: %v, want ErrECNDrop", err)
	}
}
