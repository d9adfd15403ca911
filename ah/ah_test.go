package ah

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// canonicalSimple builds, field by field, the ICV input of a sealed simple4
// or simple6 packet: what RFC 4302 3.3.3.1 says the sender authenticates.
func canonicalSimple(t *testing.T, o saOpts, innerV6 bool, sealed []byte, inner []byte, seq uint64) []byte {
	t.Helper()
	spi := uint32(0x1234abcd)
	if o.mode == ipsec.ModeTunnel {
		nh := uint8(packet.ProtoIPv4)
		if innerV6 {
			nh = packet.ProtoIPv6
		}
		if o.outer6 {
			ah := ahHeader(nh, align(12+o.alg.icvLen, 8), spi, seq)
			return build6(v6{proto: packet.ProtoAH, src: t6a, dst: t6b}, append(ah, inner...))
		}
		ah := ahHeader(nh, align(12+o.alg.icvLen, 4), spi, seq)
		b := build4(v4{id: binary.BigEndian.Uint16(sealed[4:]), proto: packet.ProtoAH, src: t4a, dst: t4b}, append(ah, inner...))
		b[10], b[11] = 0, 0
		return b
	}
	if innerV6 {
		ah := ahHeader(packet.ProtoUDP, align(12+o.alg.icvLen, 8), spi, seq)
		return build6(v6{proto: packet.ProtoAH, src: v6a, dst: v6b}, append(ah, inner[40:]...))
	}
	ah := ahHeader(packet.ProtoUDP, align(12+o.alg.icvLen, 4), spi, seq)
	b := build4(v4{id: 0x4242, proto: packet.ProtoAH, src: v4a, dst: v4b}, append(ah, inner[20:]...))
	b[10], b[11] = 0, 0
	return b
}

// TestRoundTrip seals and opens with every algorithm, mode, inner and outer
// family and ESN setting, checks the wire layout and cross-checks the ICV
// against an independent computation.
func TestRoundTrip(t *testing.T) {
	for _, a := range algs {
		for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
			for _, innerV6 := range []bool{false, true} {
				for _, outer6 := range []bool{false, true} {
					if mode == ipsec.ModeTransport && outer6 != innerV6 {
						continue
					}
					for _, esn := range []bool{false, true} {
						o := saOpts{alg: a, mode: mode, outer6: outer6, esn: esn, window: 64}
						name := fmt.Sprintf("%v/%v/inner%d/outer%d/esn=%v", a, mode, ver(innerV6), ver(outer6), esn)
						t.Run(name, func(t *testing.T) { roundTrip(t, o, innerV6) })
					}
				}
			}
		}
	}
}

func ver(v6 bool) int {
	if v6 {
		return 6
	}
	return 4
}

func roundTrip(t *testing.T, o saOpts, innerV6 bool) {
	out, in, key := newPair(t, o)
	for seq := uint64(1); seq <= 3; seq++ {
		inner := simple4(37 + int(seq))
		if innerV6 {
			inner = simple6(37 + int(seq))
		}
		p := seal(t, out, inner)
		w := p.Bytes
		ahLen := align(12+o.alg.icvLen, 4)
		if o.outer6 {
			ahLen = align(12+o.alg.icvLen, 8)
		}
		// Wire layout: IP header, AH, payload.
		wantAH := 20
		if o.outer6 {
			wantAH = 40
		}
		if p.AH != wantAH {
			t.Fatalf("AH at %d, want %d", p.AH, wantAH)
		}
		if tl, _ := packet.TotalLen(w); tl != len(w) {
			t.Fatalf("IP length %d, packet %d", tl, len(w))
		}
		ah := w[p.AH:]
		if got := (int(ah[1]) + 2) * 4; got != ahLen {
			t.Fatalf("AH payload length says %d octets, want %d", got, ahLen)
		}
		if spi := binary.BigEndian.Uint32(ah[4:]); spi != 0x1234abcd {
			t.Fatalf("SPI %#x", spi)
		}
		if s := binary.BigEndian.Uint32(ah[8:]); uint64(s) != seq {
			t.Fatalf("sequence %d, want %d", s, seq)
		}
		if pad := ah[12+o.alg.icvLen : ahLen]; !bytes.Equal(pad, make([]byte, len(pad))) {
			t.Fatalf("ICV padding %x not zero", pad)
		}
		if o.outer6 {
			if w[6] != packet.ProtoAH {
				t.Fatalf("next header %d", w[6])
			}
		} else {
			if w[9] != packet.ProtoAH {
				t.Fatalf("protocol %d", w[9])
			}
			if packet.Fold(packet.Sum(w[:20], 0)) != 0xffff {
				t.Fatal("bad IPv4 header checksum")
			}
		}
		if o.mode == ipsec.ModeTunnel {
			if !bytes.Equal(w[p.AH+ahLen:], inner) {
				t.Fatal("tunnel payload is not the inner packet")
			}
		} else if !bytes.Equal(w[p.AH+ahLen:], inner[p.AH:]) {
			t.Fatal("transport payload is not the original payload")
		}

		// Independent ICV.
		canon := canonicalSimple(t, o, innerV6, w, inner, seq)
		icv := ah[12 : 12+o.alg.icvLen]
		if want := independentICV(t, o.alg, key, canon, icv, seq, o.esn); !bytes.Equal(icv, want) {
			t.Fatalf("ICV %x, independent computation %x", icv, want)
		}

		got, err := in.Open(w)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got.Seq != seq {
			t.Fatalf("Open seq %d, want %d", got.Seq, seq)
		}
		if d := hexDiff(got.Packet, inner); d != "" {
			t.Fatalf("opened packet differs from the original: %s", d)
		}
	}
}

// TestHeaderPadding checks RFC 4302 2.6: the AH header is a multiple of 4
// octets over IPv4 and of 8 over IPv6.
func TestHeaderPadding(t *testing.T) {
	want := map[transform.IntegID][2]int{
		transform.IntegHMACSHA1_96:    {24, 24},
		transform.IntegHMACSHA256_128: {28, 32},
		transform.IntegHMACSHA384_192: {36, 40},
		transform.IntegHMACSHA512_256: {44, 48},
		transform.IntegAES128GMAC:     {36, 40},
	}
	for id, w := range want {
		var a alg
		for _, x := range algs {
			if x.id == id {
				a = x
			}
		}
		out, _, _ := newPair(t, saOpts{alg: a, mode: ipsec.ModeTransport})
		if got4, got6 := out.HeaderLen(4), out.HeaderLen(6); got4 != w[0] || got6 != w[1] {
			t.Errorf("%v: AH header %d/%d octets over IPv4/IPv6, want %d/%d", id, got4, got6, w[0], w[1])
		}
	}
}

// flipCase is a sealed packet and the octets of it that are mutable.
type flipCase struct {
	name    string
	o       saOpts
	inner   []byte
	mutable map[int]byte // offset in the sealed packet -> XOR mask that keeps the packet valid, 0: not tested
}

// TestFlip checks what AH promises: changing any octet outside the mutable
// fields makes Open fail and leaves the buffer as received; changing a
// mutable field (TTL, TOS / traffic class, flow label, hop limit, DF, IPv4
// checksum, option data marked mutable) does not.
func TestFlip(t *testing.T) {
	for _, a := range []alg{algs[1], algs[2], algs[4]} {
		for _, c := range flipCases(a) {
			t.Run(a.String()+"/"+c.name, func(t *testing.T) { flip(t, c) })
		}
	}
}

func flipCases(a alg) []flipCase {
	// IPv4 header offsets: TOS 1, flags 6 (DF 0x40), TTL 8, checksum 10-11.
	v4mut := func(base int) map[int]byte {
		return map[int]byte{base + 1: 0xff, base + 6: 0x40, base + 8: 0xff, base + 10: 0xff, base + 11: 0x5a}
	}
	// IPv6: traffic class and flow label in 0-3 (not the version nibble),
	// hop limit 7.
	v6mut := func() map[int]byte {
		return map[int]byte{0: 0x0f, 1: 0xff, 2: 0xff, 3: 0xff, 7: 0xff}
	}
	merge := func(ms ...map[int]byte) map[int]byte {
		r := map[int]byte{}
		for _, m := range ms {
			for k, v := range m {
				r[k] = v
			}
		}
		return r
	}
	// IPv4 with a record route option (mutable, zeroed whole) and a
	// router alert (immutable).
	opts4 := []byte{
		7, 11, 4, 10, 0, 0, 1, 0, 0, 0, 0, // record route, room for 2 addresses
		148, 4, 0, 0, // router alert
		1, // NOP
	}
	// Routers rewrite the pointer and the addresses of a record route;
	// its type and length decide how the options parse, so changing them
	// may or may not break the packet.
	rr := map[int]byte{20: 0, 21: 0}
	for i := 22; i < 31; i++ {
		rr[i] = 0xff
	}
	// IPv6 hop-by-hop with an experimental option that may change en
	// route (0x3e: C bit set) and one that may not (0x1e), then a
	// destination options header with a mutable option.
	hbh := []byte{0, 1, 0x3e, 4, 1, 2, 3, 4, 0x1e, 4, 5, 6, 7, 8, 1, 0}
	dst := []byte{0, 0, 0x3e, 2, 9, 9, 1, 0}
	hbhMut := map[int]byte{44: 0xff, 45: 0xff, 46: 0xff, 47: 0xff, 60: 0xff, 61: 0xff}

	tun4 := saOpts{alg: a, mode: ipsec.ModeTunnel, window: 0}
	tun6 := saOpts{alg: a, mode: ipsec.ModeTunnel, outer6: true, window: 0}
	tr := saOpts{alg: a, mode: ipsec.ModeTransport, window: 0}
	return []flipCase{
		{"tunnel/4in4", tun4, simple4(20), v4mut(0)},
		{"tunnel/6in6", tun6, simple6(20), v6mut()},
		{"tunnel/6in4", tun4, simple6(8), v4mut(0)},
		{"tunnel/4in6", tun6, simple4(8), v6mut()},
		{"transport/4", tr, simple4(24), v4mut(0)},
		{"transport/6", tr, simple6(24), v6mut()},
		{"transport/4-options", tr,
			build4(v4{tos: 4, ttl: 9, id: 7, proto: packet.ProtoUDP, src: v4a, dst: v4b, opts: opts4}, udpPayload(5)),
			merge(v4mut(0), rr)},
		{"transport/6-ext", tr,
			build6(v6{tc: 1, flow: 2, hop: 3, proto: packet.ProtoUDP, src: v6a, dst: v6b,
				exts: []ext{{packet.ProtoHopByHop, hbh}, {packet.ProtoDstOpts, dst}}}, udpPayload(5)),
			merge(v6mut(), hbhMut)},
	}
}

func flip(t *testing.T, c flipCase) {
	out, in, _ := newPair(t, c.o)
	p := seal(t, out, c.inner)
	sealed := append([]byte(nil), p.Bytes...)
	if _, err := in.Open(append([]byte(nil), sealed...)); err != nil {
		t.Fatalf("unmodified packet: %v", err)
	}
	for i := range sealed {
		pkt := append([]byte(nil), sealed...)
		mask, mutable := c.mutable[i]
		if mutable && mask == 0 {
			continue // either outcome is right
		}
		if !mutable {
			mask = 0xff
		}
		pkt[i] ^= mask
		received := append([]byte(nil), pkt...)
		got, err := in.Open(pkt)
		if mutable {
			if err != nil {
				t.Errorf("octet %d is mutable, but Open failed: %v", i, err)
				continue
			}
			if c.o.mode == ipsec.ModeTransport {
				// Delivered as received, less the AH header.
				ahLen := in.HeaderLen(packet.Version(received))
				want := append(append([]byte(nil), received[:p.AH]...), received[p.AH+ahLen:]...)
				u, _ := packet.ParseUpperLayer(c.inner)
				want[u.NextHeaderAt] = c.inner[u.NextHeaderAt]
				if packet.Version(want) == 4 {
					binary.BigEndian.PutUint16(want[2:], uint16(len(want)))
					packet.SetIPv4Checksum(want)
				} else {
					binary.BigEndian.PutUint16(want[4:], uint16(len(want)-40))
				}
				if d := hexDiff(got.Packet, want); d != "" {
					t.Errorf("octet %d: delivered packet is not the received one: %s", i, d)
				}
			}
			continue
		}
		if err == nil {
			t.Errorf("octet %d changed, Open succeeded", i)
			continue
		}
		if !bytes.Equal(pkt, received) {
			t.Errorf("octet %d: failed Open (%v) left the buffer modified", i, err)
		}
	}
}

// TestReplayReasons checks that the drop reasons of the replay window come
// through Open.
func TestReplayReasons(t *testing.T) {
	out, in, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTunnel, window: 64})
	var pkts [][]byte
	for range 100 {
		pkts = append(pkts, append([]byte(nil), seal(t, out, simple4(10)).Bytes...))
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
	if err := open(99); err != nil {
		t.Fatal(err)
	}
	if err := open(10); !errors.Is(err, ErrTooOld) {
		t.Fatalf("old packet: %v, want ErrTooOld", err)
	}
	if err := open(50); err != nil {
		t.Fatalf("in window: %v", err)
	}
	// Sequence number 0 is never sent; the window refuses it before the
	// ICV is even computed.
	zero := append([]byte(nil), pkts[1]...)
	binary.BigEndian.PutUint32(zero[20+8:], 0)
	if _, err := in.Open(zero); !errors.Is(err, ErrOutOfWindow) {
		t.Fatalf("sequence 0: %v, want ErrOutOfWindow", err)
	}
	// A forged packet must not move the window.
	forged := append([]byte(nil), pkts[1]...)
	binary.BigEndian.PutUint32(forged[20+8:], 5000)
	if _, err := in.Open(forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("forged: %v, want ErrAuth", err)
	}
	if top := in.ReplayWindow().Top(); top != 100 {
		t.Fatalf("window top %d after a forgery, want 100", top)
	}
	// SPI.
	other := append([]byte(nil), pkts[2]...)
	other[20+4] ^= 1
	if _, err := in.Open(other); !errors.Is(err, ErrUnknownSPI) {
		t.Fatalf("other SPI: %v, want ErrUnknownSPI", err)
	}
}

// TestSequenceExhausted checks that the sender stops at 2^32-1 without ESN
// (and at 2^64-1 with it) instead of wrapping.
func TestSequenceExhausted(t *testing.T) {
	for _, esn := range []bool{false, true} {
		out, _, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTransport, esn: esn})
		last := uint64(1<<32 - 1)
		if esn {
			last = ^uint64(0)
		}
		out.SetSeq(last - 1)
		p := seal(t, out, simple4(1))
		if s := binary.BigEndian.Uint32(p.Bytes[20+8:]); s != uint32(last) {
			t.Fatalf("esn=%v: last sequence %#x", esn, s)
		}
		pkt := simple4(1)
		head, _ := out.Overhead()
		buf := make([]byte, head+len(pkt))
		copy(buf[head:], pkt)
		if _, err := out.Seal(buf, head, len(pkt)); !errors.Is(err, ErrSequenceExhausted) {
			t.Fatalf("esn=%v: Seal after the last number: %v", esn, err)
		}
		if !bytes.Equal(buf[head:], pkt) {
			t.Fatalf("esn=%v: refused Seal changed the packet", esn)
		}
		if !out.NeedsRekey() {
			t.Fatalf("esn=%v: NeedsRekey false at exhaustion", esn)
		}
	}
}

// TestESNHighBits checks that the high 32 bits are authenticated: a
// receiver that infers them right accepts, a wrong guess fails the ICV.
func TestESNHighBits(t *testing.T) {
	for _, a := range []alg{algs[1], algs[4]} {
		out, in, _ := newPair(t, saOpts{alg: a, mode: ipsec.ModeTunnel, esn: true, window: 64})
		// Walk the receiver up to the 2^32 boundary in steps it accepts.
		for _, s := range []uint64{1 << 30, 1 << 31, 3 << 30, 1<<32 - 10, 1<<32 + 5} {
			out.SetSeq(s - 1)
			p := seal(t, out, simple4(3))
			got, err := in.Open(p.Bytes)
			if err != nil {
				t.Fatalf("%v: seq %#x: %v", a, s, err)
			}
			if got.Seq != s {
				t.Fatalf("%v: inferred %#x, want %#x", a, got.Seq, s)
			}
		}
		// A fresh receiver infers high bits 0 for the same packet.
		_, fresh, _ := newPair(t, saOpts{alg: a, mode: ipsec.ModeTunnel, esn: true, window: 64})
		out.SetSeq(1<<32 + 9)
		p := seal(t, out, simple4(3))
		if _, err := fresh.Open(p.Bytes); !errors.Is(err, ErrAuth) {
			t.Fatalf("%v: wrong high bits: %v, want ErrAuth", a, err)
		}
	}
}

// TestECNAndDSCP checks RFC 6040 in tunnel mode: the outer ECN and DSCP are
// mutable for AH, so a router's CE mark verifies and reaches the inner
// packet, and CE on a Not-ECT inner packet is dropped.
func TestECNAndDSCP(t *testing.T) {
	cases := []struct {
		name      string
		copyDSCP  bool
		ecn       packet.ECNMode
		innerTC   uint8
		wantOuter uint8
		routerCE  bool
		wantInner uint8
		wantErr   error
	}{
		{"pipe/ect0", false, packet.ECNNormal, 0xb8 | packet.ECT0, packet.ECT0, false, 0xb8 | packet.ECT0, nil},
		{"uniform/ect0", true, packet.ECNNormal, 0xb8 | packet.ECT0, 0xb8 | packet.ECT0, false, 0xb8 | packet.ECT0, nil},
		{"ce-mark", false, packet.ECNNormal, 0x20 | packet.ECT1, packet.ECT1, true, 0x20 | packet.CE, nil},
		{"compat", true, packet.ECNCompat, 0x20 | packet.ECT0, 0x20, false, 0x20 | packet.ECT0, nil},
		{"not-ect-ce", false, packet.ECNNormal, 0x20, 0, true, 0, ErrECNDrop},
		// copy_ecn = no: Not-ECT outside, the inner field untouched by a
		// router's CE mark and no drop for a Not-ECT inner packet
		{"off/ect1-ce", false, packet.ECNOff, 0x20 | packet.ECT1, 0, true, 0x20 | packet.ECT1, nil},
		{"off/not-ect-ce", false, packet.ECNOff, 0x20, 0, true, 0x20, nil},
	}
	for _, c := range cases {
		for _, outer6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/outer%d", c.name, ver(outer6)), func(t *testing.T) {
				out, in, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTunnel, outer6: outer6, copyDSCP: c.copyDSCP, ecn: c.ecn})
				inner := build4(v4{tos: c.innerTC, ttl: 3, proto: packet.ProtoUDP, src: v4a, dst: v4b}, udpPayload(4))
				p := seal(t, out, inner)
				if got := packet.TrafficClass(p.Bytes); got != c.wantOuter {
					t.Fatalf("outer TOS %#x, want %#x", got, c.wantOuter)
				}
				if c.routerCE {
					packet.SetTrafficClass(p.Bytes, packet.TrafficClass(p.Bytes)|packet.CE)
				}
				got, err := in.Open(p.Bytes)
				if c.wantErr != nil {
					if !errors.Is(err, c.wantErr) {
						t.Fatalf("Open: %v, want %v", err, c.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if tc := packet.TrafficClass(got.Packet); tc != c.wantInner {
					t.Fatalf("inner TOS %#x, want %#x", tc, c.wantInner)
				}
				if packet.Fold(packet.Sum(got.Packet[:20], 0)) != 0xffff {
					t.Fatal("inner IPv4 checksum not fixed")
				}
			})
		}
	}
}

// TestErrors covers the refusals that do not need a packet on the wire.
func TestErrors(t *testing.T) {
	out, in, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTunnel, window: 64})
	pkt := simple4(10)
	if _, err := in.Seal(pkt, 0, len(pkt)); !errors.Is(err, ErrWrongDirection) {
		t.Errorf("Seal on inbound: %v", err)
	}
	if _, err := out.Open(pkt); !errors.Is(err, ErrWrongDirection) {
		t.Errorf("Open on outbound: %v", err)
	}
	if _, err := out.Seal(append([]byte(nil), pkt...), 0, len(pkt)); !errors.Is(err, ErrBufferTooSmall) {
		t.Errorf("no head room: %v", err)
	}
	head, _ := out.Overhead()
	buf := make([]byte, head+len(pkt))
	copy(buf[head:], pkt)
	if _, err := out.Seal(buf, head, len(pkt)-1); !errors.Is(err, ErrMalformed) {
		t.Errorf("length mismatch: %v", err)
	}
	// Transport mode refuses fragments.
	tr, trIn, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTransport})
	frag := simple4(10)
	frag[6] |= 0x20
	packet.SetIPv4Checksum(frag)
	head, _ = tr.Overhead()
	buf = make([]byte, head+len(frag))
	copy(buf[head:], frag)
	if _, err := tr.Seal(buf, head, len(frag)); !errors.Is(err, ErrMalformed) {
		t.Errorf("transport fragment: %v", err)
	}
	// Open refuses a fragment of an AH packet.
	p := seal(t, tr, simple4(10))
	p.Bytes[7] = 1
	if _, err := trIn.Open(p.Bytes); !errors.Is(err, ErrMalformed) {
		t.Errorf("open fragment: %v", err)
	}
	// Not AH.
	if _, err := trIn.Open(simple4(10)); !errors.Is(err, ErrMalformed) {
		t.Errorf("UDP packet: %v", err)
	}
	if _, err := trIn.Open(simple6(10)); !errors.Is(err, ErrMalformed) {
		t.Errorf("UDP packet: %v", err)
	}
	// Wipe.
	out.Wipe()
	buf = make([]byte, head+len(pkt)+40)
	copy(buf[head+40:], pkt)
	if _, err := out.Seal(buf, head+40, len(pkt)); !errors.Is(err, transform.ErrWiped) {
		t.Errorf("Seal after Wipe: %v", err)
	}
	in.Wipe()
	if _, err := in.Open(pkt); !errors.Is(err, transform.ErrWiped) {
		t.Errorf("Open after Wipe: %v", err)
	}
	// Configuration.
	if _, err := New(Config{Mode: ipsec.ModeTunnel}); err == nil {
		t.Error("SA without integrity accepted")
	}
	x, _ := transform.NewIntegrity(transform.IntegHMACSHA256_128, testKey(32, 1), transform.Options{})
	if _, err := New(Config{Mode: ipsec.ModeTunnel, Integrity: x, Src: t4a, Dst: t6b}); err == nil {
		t.Error("mixed-family tunnel endpoints accepted")
	}
	if _, err := New(Config{Mode: ipsec.ModeTunnel, Direction: ipsec.Inbound, Integrity: x, ReplayWindow: 5}); err == nil {
		t.Error("replay window of 5 accepted")
	}
}

// TestPeerPadding accepts an IPv4 AH header padded to 8 octets, as some
// implementations send, and refuses other lengths.
func TestPeerPadding(t *testing.T) {
	a := algs[1] // 28 octets, 32 when padded to 8
	out, in, _ := newPair(t, saOpts{alg: a, mode: ipsec.ModeTransport, window: 64})
	_ = out
	// Build by hand an IPv4 packet whose AH is padded to 32 octets.
	_, _, key := newPair(t, saOpts{alg: a, mode: ipsec.ModeTransport})
	payload := udpPayload(9)
	for _, ahLen := range []int{32, 36} {
		ah := ahHeader(packet.ProtoUDP, ahLen, 0x1234abcd, uint64(ahLen))
		canon := build4(v4{id: 1, proto: packet.ProtoAH, src: v4a, dst: v4b}, append(ah, payload...))
		canon[10], canon[11] = 0, 0
		icv := independentICV(t, a, key, canon, nil, uint64(ahLen), false)
		wire := build4(v4{ttl: 7, id: 1, proto: packet.ProtoAH, src: v4a, dst: v4b}, append(ah, payload...))
		copy(wire[20+12:], icv)
		_, err := in.Open(wire)
		if ahLen == 32 && err != nil {
			t.Fatalf("AH padded to 8 octets: %v", err)
		}
		if ahLen == 36 && !errors.Is(err, ErrMalformed) {
			t.Fatalf("AH of 36 octets: %v, want ErrMalformed", err)
		}
	}
}

// TestConcurrent seals and opens on shared SAs from several goroutines; with
// -race it checks the pooled scratch areas and the sequence counter.
func TestConcurrent(t *testing.T) {
	for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
		out, in, _ := newPair(t, saOpts{alg: algs[4], mode: mode, outer6: true, window: 1024})
		const workers, each = 4, 200
		errs := make(chan error, workers)
		for w := range workers {
			go func() {
				hbh := []byte{0, 0, 0x3e, 2, byte(w), 0, 1, 0}
				inner := build6(v6{hop: 7, flow: uint32(w), proto: packet.ProtoUDP, src: v6a, dst: v6b,
					exts: []ext{{packet.ProtoHopByHop, hbh}}}, udpPayload(40+w))
				head, _ := out.Overhead()
				buf := make([]byte, head+len(inner))
				for range each {
					copy(buf[head:], inner)
					p, err := out.Seal(buf, head, len(inner))
					if err != nil {
						errs <- err
						return
					}
					got, err := in.Open(p.Bytes)
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got.Packet, inner) {
						errs <- fmt.Errorf("worker %d: opened packet differs", w)
						return
					}
				}
				errs <- nil
			}()
		}
		for range workers {
			if err := <-errs; err != nil {
				t.Fatalf("%v: %v", mode, err)
			}
		}
		if got := out.SeqUsed(); got != workers*each {
			t.Fatalf("%v: %d sequence numbers used, want %d", mode, got, workers*each)
		}
	}
}

// TestZeroAllocs checks that the packet path does not allocate, with IPv4
// options and IPv6 extension headers to rewrite. Pools make the first call
// allocate; AllocsPerRun runs one warm-up call first.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	hbh := []byte{0, 0, 0x3e, 2, 1, 2, 1, 0}
	opts4 := []byte{7, 7, 4, 0, 0, 0, 0, optNOP}
	inners := [][]byte{
		build4(v4{ttl: 3, proto: packet.ProtoUDP, src: v4a, dst: v4b, opts: opts4}, udpPayload(100)),
		build6(v6{hop: 3, proto: packet.ProtoUDP, src: v6a, dst: r6a,
			exts: []ext{{packet.ProtoHopByHop, hbh}, {packet.ProtoRouting, rh0(0, 2, r6b, v6b)}}}, udpPayload(100)),
	}
	for _, a := range algs {
		for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
			for i, inner := range inners {
				esn := i%2 == 0 && a.id != transform.IntegHMACSHA1_96
				out, in, _ := newPair(t, saOpts{alg: a, mode: mode, outer6: packet.Version(inner) == 6, esn: esn, window: 64})
				head, _ := out.Overhead()
				buf := make([]byte, head+len(inner))
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
					t.Errorf("%v %v IPv%d esn=%v: %.1f allocations per packet", a, mode, packet.Version(inner), esn, n)
				}
			}
		}
	}
}

// TestCopyDF: in tunnel mode over IPv4 the outer header gets DF when the
// inner IPv4 packet has it and CopyDF is set (swanctl's copy_df), never
// otherwise; DF is a mutable field, so the packet verifies either way.
func TestCopyDF(t *testing.T) {
	for _, c := range []struct {
		copyDF, innerDF, want bool
	}{
		{true, true, true},
		{true, false, false},
		{false, true, false},
	} {
		out, in, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTunnel, copyDF: c.copyDF})
		inner := build4(v4{ttl: 9, df: c.innerDF, proto: packet.ProtoUDP, src: v4a, dst: v4b}, udpPayload(40))
		p := seal(t, out, inner)
		if got := p.Bytes[6]&0x40 != 0; got != c.want {
			t.Errorf("copy_df %v, inner DF %v: outer DF %v, want %v", c.copyDF, c.innerDF, got, c.want)
		}
		if _, err := in.Open(p.Bytes); err != nil {
			t.Errorf("copy_df %v, inner DF %v: Open: %v", c.copyDF, c.innerDF, err)
		}
	}
}
