package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

var gcm128 = algos[0]

func tunnel4() Config {
	return Config{SPI: 0xabcd, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, ReplayWindow: 64}
}

// TestTamperEveryByte flips each byte of the ESP part of a sealed packet in
// turn: Open must fail every time, with ErrAuth from the sequence number on.
func TestTamperEveryByte(t *testing.T) {
	for _, a := range algos {
		for _, esn := range []bool{false, true} {
			cfg := tunnel4()
			cfg.ESN = esn
			out, _ := pair(t, a, cfg)
			p, sealed := seal(t, out, udpPacket(in4a, in4b, 0, []byte("tamper me")))
			for i := p.ESP; i < len(sealed); i++ {
				_, in := pair(t, a, cfg)
				c := append([]byte(nil), sealed...)
				c[i] ^= 0x01
				_, err := in.Open(c)
				switch {
				case err == nil:
					t.Fatalf("%s esn=%v: byte %d flipped, Open succeeded", a.name, esn, i)
				case i < p.ESP+4 && !errors.Is(err, ErrUnknownSPI):
					t.Fatalf("%s: SPI byte %d flipped: %v", a.name, i, err)
				case i >= p.ESP+8 && !errors.Is(err, ErrAuth):
					t.Fatalf("%s esn=%v: byte %d flipped: %v, want ErrAuth", a.name, esn, i, err)
				}
			}
		}
	}
}

func TestReplay(t *testing.T) {
	out, in := pair(t, gcm128, tunnel4())
	inner := udpPacket(in4a, in4b, 0, []byte("x"))
	var pkts [][]byte
	for range 200 {
		_, s := seal(t, out, inner)
		pkts = append(pkts, s)
	}
	open := func(i int) error {
		_, err := in.Open(append([]byte(nil), pkts[i]...))
		return err
	}
	if err := open(0); err != nil {
		t.Fatal(err)
	}
	if err := open(0); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v, want ErrReplayed", err)
	}
	if err := open(199); err != nil {
		t.Fatal(err)
	}
	if err := open(10); !errors.Is(err, ErrTooOld) {
		t.Fatalf("old packet: %v, want ErrTooOld", err)
	}
	if err := open(150); err != nil {
		t.Fatalf("in-window packet: %v", err)
	}
	if err := open(150); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay in window: %v", err)
	}
	// A forged packet must not move the window.
	_, forged := seal(t, out, inner)
	forged[len(forged)-1] ^= 1
	if _, err := in.Open(forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged: %v", err)
	}
	if in.ReplayWindow().Top() != 200 {
		t.Fatalf("window top %d after a forgery, want 200", in.ReplayWindow().Top())
	}
}

func TestOutOfWindowESN(t *testing.T) {
	cfg := tunnel4()
	cfg.ESN = true
	out, in := pair(t, gcm128, cfg)
	inner := udpPacket(in4a, in4b, 0, nil)
	_, first := seal(t, out, inner)
	if _, err := in.Open(first); err != nil {
		t.Fatal(err)
	}
	out.SetSeq(1<<31 + 10)
	_, far := seal(t, out, inner)
	if _, err := in.Open(far); !errors.Is(err, ErrOutOfWindow) {
		t.Fatalf("far ahead: %v, want ErrOutOfWindow", err)
	}
}

func TestESNAcrossWrap(t *testing.T) {
	cfg := tunnel4()
	cfg.ESN = true
	out, in := pair(t, gcm128, cfg)
	inner := udpPacket(in4a, in4b, 0, nil)
	for _, seq := range []uint64{1 << 30, 1<<31 + 5, 3 << 30, 1<<32 - 2, 1<<32 + 3, 1<<32 + 1<<30} {
		out.SetSeq(seq - 1)
		_, s := seal(t, out, inner)
		if lo := binary.BigEndian.Uint32(s[20+4:]); lo != uint32(seq) {
			t.Fatalf("wire seq %#x, want %#x", lo, uint32(seq))
		}
		res, err := in.Open(s)
		if err != nil {
			t.Fatalf("seq %#x: %v", seq, err)
		}
		if res.Seq != seq {
			t.Fatalf("inferred %#x, want %#x", res.Seq, seq)
		}
	}
}

func TestSequenceExhaustion(t *testing.T) {
	for _, esn := range []bool{false, true} {
		cfg := tunnel4()
		cfg.ESN = esn
		cfg.SoftSeqLimit = 100
		out, _ := pair(t, gcm128, cfg)
		inner := udpPacket(in4a, in4b, 0, nil)
		if out.NeedsRekey() {
			t.Fatal("NeedsRekey before any packet")
		}
		out.SetSeq(100)
		if !out.NeedsRekey() {
			t.Fatal("NeedsRekey false at the soft limit")
		}
		last := uint64(1<<32 - 1)
		if esn {
			last = ^uint64(0)
		}
		out.SetSeq(last - 1)
		seal(t, out, inner) // uses the last number
		head, tail := out.Overhead()
		buf := make([]byte, head+len(inner)+tail)
		copy(buf[head:], inner)
		if _, err := out.Seal(buf, head, len(inner)); !errors.Is(err, ErrSequenceExhausted) {
			t.Fatalf("esn=%v: %v, want ErrSequenceExhausted", esn, err)
		}
		if out.SeqUsed() != last {
			t.Fatalf("counter moved past the end: %#x", out.SeqUsed())
		}
	}
}

// TestPadding checks the trailer on the wire (NULL encryption shows it):
// padding 1, 2, 3, ... up to the alignment, and rejects bad padding.
func TestPadding(t *testing.T) {
	null := algo{"null-sha256", transform.EncrNull, 0, transform.IntegHMACSHA256_128}
	cbc := algo{"aes128cbc-sha256", transform.EncrAESCBC, 128, transform.IntegHMACSHA256_128}
	for size := range 20 {
		out, in := pair(t, null, tunnel4())
		inner := udpPacket(in4a, in4b, 0, make([]byte, size))
		p, s := seal(t, out, inner)
		esp := s[p.ESP:]
		payload := esp[8 : len(esp)-16]
		if len(payload)%4 != 0 {
			t.Fatalf("payload of %d octets is not 4-aligned", len(payload))
		}
		padLen := int(payload[len(payload)-2])
		if want := (4 - (len(inner)+2)%4) % 4; padLen != want {
			t.Fatalf("size %d: pad length %d, want %d", size, padLen, want)
		}
		for i := range padLen {
			if payload[len(inner)+i] != byte(i+1) {
				t.Fatalf("pad octet %d = %d", i, payload[len(inner)+i])
			}
		}
		if payload[len(payload)-1] != packet.ProtoIPv4 {
			t.Fatalf("next header %d", payload[len(payload)-1])
		}
		if _, err := in.Open(s); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := pair(t, cbc, tunnel4())
	p, _ := seal(t, out, udpPacket(in4a, in4b, 0, make([]byte, 3)))
	if n := len(p.Bytes) - p.ESP - 8 - 16 - 16; n%16 != 0 {
		t.Fatalf("CBC payload of %d octets is not block-aligned", n)
	}

	// Authentic packets with bad padding, built with the transform directly.
	bad := []struct {
		name    string
		trailer []byte
	}{
		{"non-monotonic", []byte{1, 3, 2, 4}},
		{"pad length too long", []byte{1, 2, 200, 4}},
		{"zero pad octet", []byte{0, 2, 2, 4}},
	}
	for _, b := range bad {
		inner := udpPacket(in4a, in4b, 0, make([]byte, 8)) // 36 octets
		esp := make([]byte, 8+len(inner)+len(b.trailer)+16)
		binary.BigEndian.PutUint32(esp, 0xabcd)
		binary.BigEndian.PutUint32(esp[4:], 1)
		copy(esp[8:], inner)
		copy(esp[8+len(inner):], b.trailer)
		x := newTransform(t, null, 1)
		if err := x.Seal(esp, 1, false); err != nil {
			t.Fatal(err)
		}
		pkt := make([]byte, 20+len(esp))
		h := packet.IPv4Header{TotalLen: len(pkt), TTL: 64, Protocol: packet.ProtoESP, Src: out4a, Dst: out4b}
		h.Put(pkt)
		copy(pkt[20:], esp)
		_, in := pair(t, null, tunnel4())
		if _, err := in.Open(pkt); !errors.Is(err, ErrBadPadding) {
			t.Errorf("%s: %v, want ErrBadPadding", b.name, err)
		}
	}
}

func TestTFCPadding(t *testing.T) {
	for _, inner := range [][]byte{udpPacket(in4a, in4b, 0, []byte("short")), udpPacket(in6a, in6b, 0, []byte("short"))} {
		cfg := tunnel4()
		cfg.TFCPadTo = 300
		out, in := pair(t, gcm128, cfg)
		p, s := seal(t, out, inner)
		if n := len(p.Bytes) - p.ESP - 8 - 8 - 16; n < 300 {
			t.Fatalf("ESP payload %d octets, want at least the TFC size 300", n)
		}
		res, err := in.Open(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.Packet, inner) {
			t.Fatalf("TFC padding not stripped: %d octets, want %d", len(res.Packet), len(inner))
		}
		// A packet longer than the TFC size is not padded.
		big := udpPacket(in4a, in4b, 0, make([]byte, 400))
		p, _ = seal(t, out, big)
		if n := len(p.Bytes) - p.ESP - 8 - 8 - 16; n > len(big)+2+3 {
			t.Fatalf("packet above the TFC size padded to %d", n)
		}
	}
}

func TestDummy(t *testing.T) {
	out, in := pair(t, gcm128, tunnel4())
	head, tail := out.Overhead()
	buf := make([]byte, head+100+tail)
	p, err := out.SealDummy(buf, head, 100)
	if err != nil {
		t.Fatal(err)
	}
	res, err := in.Open(append([]byte(nil), p.Bytes...))
	if err != nil {
		t.Fatalf("dummy: %v", err)
	}
	if !res.Dummy || res.Packet != nil || res.NextHeader != packet.ProtoNoNext {
		t.Fatalf("dummy result %+v", res)
	}
	// Dummy packets use the window like any other.
	if _, err := in.Open(append([]byte(nil), p.Bytes...)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replayed dummy: %v", err)
	}
	tr := tunnel4()
	tr.Mode = ipsec.ModeTransport
	o, _ := pair(t, gcm128, tr)
	if _, err := o.SealDummy(buf, head, 10); err == nil {
		t.Fatal("transport-mode dummy accepted")
	}
}

// TestECN walks RFC 6040: encapsulation copies the inner ECN field (normal
// mode) or writes Not-ECT (compatibility mode); decapsulation applies
// figure 4, including the drop of CE on a Not-ECT inner packet.
func TestECN(t *testing.T) {
	for _, mode := range []packet.ECNMode{packet.ECNNormal, packet.ECNCompat} {
		for inECN := range uint8(4) {
			cfg := tunnel4()
			cfg.ECN = mode
			out, _ := pair(t, gcm128, cfg)
			p, _ := seal(t, out, udpPacket(in4a, in4b, inECN, nil))
			want := inECN
			if mode == packet.ECNCompat {
				want = packet.NotECT
			}
			if got := packet.TrafficClass(p.Bytes) & 3; got != want {
				t.Errorf("mode %d: inner ECN %02b -> outer %02b, want %02b", mode, inECN, got, want)
			}
		}
	}
	// Decapsulation table (RFC 6040 figure 4): [inner][outer].
	const drop = 0xff
	table := [4][4]uint8{
		packet.NotECT: {packet.NotECT, packet.NotECT, packet.NotECT, drop},
		packet.ECT1:   {packet.ECT1, packet.ECT1, packet.ECT1, packet.CE},
		packet.ECT0:   {packet.ECT0, packet.ECT1, packet.ECT0, packet.CE},
		packet.CE:     {packet.CE, packet.CE, packet.CE, packet.CE},
	}
	for inECN := range uint8(4) {
		for outECN := range uint8(4) {
			cfg := tunnel4()
			cfg.ECN = packet.ECNCompat // outer starts Not-ECT; the test sets it
			out, in := pair(t, gcm128, cfg)
			_, s := seal(t, out, udpPacket(in4a, in4b, inECN, []byte("ecn")))
			packet.SetTrafficClass(s, packet.TrafficClass(s)&^3|outECN) // a router marks the outer header
			res, err := in.Open(s)
			want := table[inECN][outECN]
			if want == drop {
				if !errors.Is(err, ErrECNDrop) {
					t.Errorf("inner %02b outer %02b: %v, want ErrECNDrop", inECN, outECN, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("inner %02b outer %02b: %v", inECN, outECN, err)
			}
			if got := packet.TrafficClass(res.Packet) & 3; got != want {
				t.Errorf("inner %02b outer %02b: forwarded %02b, want %02b", inECN, outECN, got, want)
			}
			if packet.Version(res.Packet) == 4 && packet.Fold(packet.Sum(res.Packet[:20], 0)) != 0xffff {
				t.Error("inner IPv4 checksum not fixed")
			}
		}
	}
}

// TestECNOff: copy_ecn = no (packet.ECNOff) writes a Not-ECT outer header
// and leaves the inner ECN field as it was sent, whatever a router marked
// on the outer header: no CE propagated, no drop.
func TestECNOff(t *testing.T) {
	for inECN := range uint8(4) {
		for outECN := range uint8(4) {
			cfg := tunnel4()
			cfg.ECN = packet.ECNOff
			out, in := pair(t, gcm128, cfg)
			p, s := seal(t, out, udpPacket(in4a, in4b, inECN, []byte("ecn")))
			if got := packet.TrafficClass(p.Bytes) & 3; got != packet.NotECT {
				t.Errorf("inner ECN %02b -> outer %02b, want Not-ECT", inECN, got)
			}
			packet.SetTrafficClass(s, packet.TrafficClass(s)&^3|outECN)
			res, err := in.Open(s)
			if err != nil {
				t.Fatalf("inner %02b outer %02b: %v", inECN, outECN, err)
			}
			if got := packet.TrafficClass(res.Packet) & 3; got != inECN {
				t.Errorf("inner %02b outer %02b: forwarded %02b, want the inner field unchanged", inECN, outECN, got)
			}
		}
	}
}

func TestDSCPCopy(t *testing.T) {
	const af41 = 34 << 2
	for _, copyDSCP := range []bool{false, true} {
		for _, inner := range [][]byte{udpPacket(in4a, in4b, af41, nil), udpPacket(in6a, in6b, af41, nil)} {
			cfg := Config{SPI: 1, Mode: ipsec.ModeTunnel, Src: out6a, Dst: out6b, CopyDSCP: copyDSCP}
			out, in := pair(t, gcm128, cfg)
			p, s := seal(t, out, inner)
			want := uint8(0)
			if copyDSCP {
				want = 34
			}
			if got := packet.DSCP(packet.TrafficClass(p.Bytes)); got != want {
				t.Errorf("copy=%v: outer DSCP %d, want %d", copyDSCP, got, want)
			}
			// Decapsulation: a re-marked outer DSCP reaches the inner
			// packet only with the copy on.
			packet.SetTrafficClass(s, 10<<2)
			res, err := in.Open(s)
			if err != nil {
				t.Fatal(err)
			}
			want = 34
			if copyDSCP {
				want = 10
			}
			if got := packet.DSCP(packet.TrafficClass(res.Packet)); got != want {
				t.Errorf("copy=%v: inner DSCP after decapsulation %d, want %d", copyDSCP, got, want)
			}
		}
	}
}

func TestCopyDF(t *testing.T) {
	for _, copyDF := range []bool{false, true} {
		for _, innerDF := range []bool{false, true} {
			inner := udpPacket(in4a, in4b, 0, nil)
			if innerDF {
				inner[6] |= 0x40
				packet.SetIPv4Checksum(inner)
			}
			cfg := Config{SPI: 1, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, CopyDF: copyDF}
			out, in := pair(t, gcm128, cfg)
			p, s := seal(t, out, inner)
			if got, want := p.Bytes[6]&0x40 != 0, copyDF && innerDF; got != want {
				t.Errorf("copy_df=%v inner DF=%v: outer DF %v, want %v", copyDF, innerDF, got, want)
			}
			if packet.Fold(packet.Sum(p.Bytes[:packet.IPv4HeaderLen], 0)) != 0xffff {
				t.Errorf("copy_df=%v inner DF=%v: bad outer header checksum", copyDF, innerDF)
			}
			if _, err := in.Open(s); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestUDPClassify(t *testing.T) {
	cases := []struct {
		b    []byte
		want UDPKind
	}{
		{[]byte{0xff}, UDPKeepalive},
		{[]byte{0, 0, 0, 0, 1, 2, 3}, UDPIKE},
		{[]byte{0, 0, 0, 1, 0, 0, 0, 1}, UDPESP},
		{[]byte{0, 0, 1}, UDPInvalid},
		{[]byte{1, 2, 3, 4, 5}, UDPInvalid},
		{nil, UDPInvalid},
	}
	for _, c := range cases {
		if got := ClassifyUDP(c.b); got != c.want {
			t.Errorf("ClassifyUDP(%x) = %v, want %v", c.b, got, c.want)
		}
	}
	// Open hands IKE and keepalives back with ErrNotESP.
	cfg := tunnel4()
	cfg.UDP = &UDPEncap{SrcPort: 4500, DstPort: 4500}
	out, in := pair(t, gcm128, cfg)
	p, s := seal(t, out, udpPacket(in4a, in4b, 0, nil))
	for _, payload := range [][]byte{{0xff}, {0, 0, 0, 0, 0x11, 0x22}} {
		pkt := append([]byte(nil), s[:p.ESP]...)
		pkt = append(pkt, payload...)
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		binary.BigEndian.PutUint16(pkt[p.UDP+4:], uint16(len(pkt)-p.UDP))
		if _, err := in.Open(pkt); !errors.Is(err, ErrNotESP) {
			t.Errorf("payload %x: %v, want ErrNotESP", payload, err)
		}
	}
}

// TestTransportNAT rewrites the outer source address of a UDP-encapsulated
// transport-mode packet as a NAT would: the decapsulated TCP/UDP checksum
// must be valid for the new addresses (RFC 3948 3.1.2).
func TestTransportNAT(t *testing.T) {
	cfg := Config{SPI: 7, Mode: ipsec.ModeTransport, UDP: &UDPEncap{SrcPort: 4500, DstPort: 4500}}
	out, in := pair(t, gcm128, cfg)
	priv, pub := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("203.0.113.9")
	inner := udpPacket(priv, out4b, 0, []byte("behind NAT"))
	_, s := seal(t, out, inner)
	copy(s[12:16], pub.AsSlice())
	packet.SetIPv4Checksum(s)
	res, err := in.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	src, dst, _ := packet.Addrs(res.Packet)
	if src != pub {
		t.Fatalf("source %v", src)
	}
	l4 := res.Packet[20:]
	if packet.Fold(packet.Sum(l4, packet.PseudoHeaderSum(src, dst, packet.ProtoUDP, len(l4)))) != 0xffff {
		t.Fatal("inner UDP checksum not fixed after NAT")
	}
	if !bytes.Equal(l4[8:], []byte("behind NAT")) {
		t.Fatal("payload changed")
	}
}

// TestTransportIPv6ExtHeaders keeps a hop-by-hop header in front of ESP
// (RFC 4303 3.1.1) and restores it on decapsulation.
func TestTransportIPv6ExtHeaders(t *testing.T) {
	base := udpPacket(in6a, in6b, 0, []byte("with hop-by-hop"))
	hbh := []byte{packet.ProtoUDP, 0, 1, 4, 0, 0, 0, 0} // PadN option
	inner := append(append(append([]byte(nil), base[:40]...), hbh...), base[40:]...)
	inner[6] = packet.ProtoHopByHop
	binary.BigEndian.PutUint16(inner[4:], uint16(len(inner)-40))
	out, in := pair(t, gcm128, Config{SPI: 9, Mode: ipsec.ModeTransport})
	p, s := seal(t, out, inner)
	if p.ESP != 48 || s[6] != packet.ProtoHopByHop || s[40] != packet.ProtoESP {
		t.Fatalf("ESP at %d, chain %d -> %d", p.ESP, s[6], s[40])
	}
	res, err := in.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Packet, inner) {
		t.Fatalf("got\n%x\nwant\n%x", res.Packet, inner)
	}
}

func TestErrors(t *testing.T) {
	out, in := pair(t, gcm128, tunnel4())
	inner := udpPacket(in4a, in4b, 0, nil)
	if _, err := in.Seal(make([]byte, 200), 60, len(inner)); !errors.Is(err, ErrWrongDirection) {
		t.Errorf("Seal on inbound: %v", err)
	}
	if _, err := out.Open(inner); !errors.Is(err, ErrWrongDirection) {
		t.Errorf("Open on outbound: %v", err)
	}
	buf := make([]byte, 10+len(inner))
	copy(buf[10:], inner)
	if _, err := out.Seal(buf, 10, len(inner)); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("no head room: %v", err)
	}
	big := udpPacket(in4a, in4b, 0, make([]byte, 65535-28))
	bigBuf := make([]byte, 100+len(big)+100)
	copy(bigBuf[100:], big)
	if _, err := out.Seal(bigBuf, 100, len(big)); !errors.Is(err, ErrTooBig) {
		t.Errorf("oversized packet: %v", err)
	}
	p, s := seal(t, out, inner)
	short := append([]byte(nil), s[:p.ESP+13]...)
	binary.BigEndian.PutUint16(short[2:], uint16(len(short)))
	_, err := in.Open(short)
	if !errors.Is(err, ErrMalformed) || err.Error() != "malformed ESP packet: truncated ESP packet: 13 bytes" {
		t.Errorf("short packet: %v", err)
	}
	other, _ := pair(t, gcm128, Config{SPI: 0x9999, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b})
	_, s2 := seal(t, other, inner)
	if _, err := in.Open(s2); !errors.Is(err, ErrUnknownSPI) {
		t.Errorf("foreign SPI: %v", err)
	}
	in.Wipe()
	if _, err := in.Open(s); err == nil {
		t.Error("Open after Wipe succeeded")
	}
	if _, err := New(Config{SPI: 1, Mode: ipsec.ModeTunnel, Transform: newTransform(t, gcm128, 1), Src: out4a, Dst: out6b}); err == nil {
		t.Error("mixed-family tunnel endpoints accepted")
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	for _, a := range algos {
		for _, udp := range []bool{false, true} {
			cfg := Config{SPI: 5, Mode: ipsec.ModeTunnel, Src: out6a, Dst: out6b, ESN: true, ReplayWindow: 1024}
			if udp {
				cfg.UDP = &UDPEncap{SrcPort: 4500, DstPort: 4500}
			}
			out, in := pair(t, a, cfg)
			inner := udpPacket(in4a, in4b, 0, make([]byte, 1000))
			head, tail := out.Overhead()
			buf := make([]byte, head+len(inner)+tail)
			n := testing.AllocsPerRun(100, func() {
				copy(buf[head:], inner)
				p, err := out.Seal(buf, head, len(inner))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := in.Open(p.Bytes); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%s udp=%v: %.1f allocations per packet", a.name, udp, n)
			}
		}
	}
}
