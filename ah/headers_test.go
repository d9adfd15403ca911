package ah

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
)

var (
	r4a = netip.MustParseAddr("10.0.0.1")
	r4b = netip.MustParseAddr("10.0.0.2")
	r6a = netip.MustParseAddr("2001:db8:aa::1")
	r6b = netip.MustParseAddr("2001:db8:bb::2")
	r6c = netip.MustParseAddr("2001:db8:cc::3")
)

func a4(a netip.Addr) []byte  { b := a.As4(); return b[:] }
func a16(a netip.Addr) []byte { b := a.As16(); return b[:] }

func cat(bs ...[]byte) []byte {
	var r []byte
	for _, b := range bs {
		r = append(r, b...)
	}
	return r
}

// checkICV compares the ICV of a sealed packet with the independent one
// over the canonical form.
func checkICV(t *testing.T, a alg, key []byte, sealed Packet, canon []byte) {
	t.Helper()
	icv := sealed.Bytes[sealed.AH+12 : sealed.AH+12+a.icvLen]
	seq := uint64(binary.BigEndian.Uint32(sealed.Bytes[sealed.AH+8:]))
	if want := independentICV(t, a, key, canon, icv, seq, false); !bytes.Equal(icv, want) {
		t.Fatalf("ICV %x, independent computation over the canonical form %x", icv, want)
	}
}

// openOK opens a copy of pkt and checks the delivered packet.
func openOK(t *testing.T, in *SA, pkt, want []byte, stage string) {
	t.Helper()
	buf := append([]byte(nil), pkt...)
	got, err := in.Open(buf)
	if err != nil {
		t.Fatalf("%s: Open: %v", stage, err)
	}
	if want != nil {
		if d := hexDiff(got.Packet, want); d != "" {
			t.Fatalf("%s: delivered packet differs: %s", stage, d)
		}
	}
}

// stripAH is what transport-mode Open must deliver for a received packet:
// the AH header removed, next header, length and checksum fixed.
func stripAH(rcv []byte, ahOff, ahLen, nhAt int) []byte {
	out := cat(rcv[:ahOff], rcv[ahOff+ahLen:])
	out[nhAt] = rcv[ahOff]
	if packet.Version(out) == 4 {
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		packet.SetIPv4Checksum(out)
	} else {
		binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	}
	return out
}

// TestIPv4SourceRoute seals a loose source routed packet, lets two routers
// process the route, and checks that the ICV was computed with the final
// destination and the option zeroed (RFC 4302 appendix A.1), so that it
// verifies at every stage.
func TestIPv4SourceRoute(t *testing.T) {
	for _, a := range []alg{algs[1], algs[4]} {
		for _, typ := range []byte{optLSRR, optSSRR} {
			out, in, key := newPair(t, saOpts{alg: a, mode: ipsec.ModeTransport})
			// Sent to the first router; the route holds the second
			// router and the final destination.
			opt := cat([]byte{typ, 11, 4}, a4(r4b), a4(v4b), []byte{optEOL})
			rr := []byte{7, 7, 4, 0, 0, 0, 0, optNOP} // record route, mutable
			ra := []byte{optRouterAlert, 4, 0, 0}     // immutable
			opts := cat(ra, rr, opt)
			payload := udpPayload(11)
			pkt := build4(v4{tos: 0x10, ttl: 30, id: 99, proto: packet.ProtoUDP, src: v4a, dst: r4a, opts: opts}, payload)
			p := seal(t, out, pkt)
			hl := 20 + len(opts)
			if p.AH != hl {
				t.Fatalf("AH at %d, want %d (after the options)", p.AH, hl)
			}
			ahLen := in.HeaderLen(4)
			canonOpts := cat(ra, make([]byte, 7), []byte{optNOP}, make([]byte, 11), []byte{optEOL})
			canon := build4(v4{id: 99, proto: packet.ProtoAH, src: v4a, dst: v4b, opts: canonOpts},
				cat(ahHeader(packet.ProtoUDP, ahLen, 0x1234abcd, 1), payload))
			canon[10], canon[11] = 0, 0
			checkICV(t, a, key, p, canon)

			w := append([]byte(nil), p.Bytes...)
			openOK(t, in, w, stripAH(w, hl, ahLen, 9), "as sent")
			// Each router: destination <- next address, which its own
			// address replaces; pointer on; TTL down; record route.
			srOff := 20 + len(ra) + len(rr)
			for hop, self := range []netip.Addr{r4a, r4b} {
				ptr := int(w[srOff+2])
				copy(w[16:20], w[srOff+ptr-1:srOff+ptr+3])
				copy(w[srOff+ptr-1:], a4(self))
				w[srOff+2] += 4
				w[20+len(ra)+2] = 8
				copy(w[20+len(ra)+3:], a4(self))
				w[8]--
				packet.SetIPv4Checksum(w)
				openOK(t, in, w, stripAH(w, hl, ahLen, 9), "after hop "+string(rune('1'+hop)))
			}
			if !bytes.Equal(w[16:20], a4(v4b)) {
				t.Fatal("test routers did not deliver to the final destination")
			}
			// Changing the final destination in the route breaks it.
			bad := append([]byte(nil), p.Bytes...)
			bad[srOff+10] ^= 1
			if _, err := in.Open(bad); !errors.Is(err, ErrAuth) {
				t.Fatalf("final destination changed: %v, want ErrAuth", err)
			}
		}
	}
}

// rh0 builds a type 0 (or 2) routing header with the addresses and
// segments left.
func rh0(typ byte, sl int, addrs ...netip.Addr) []byte {
	b := []byte{0, byte(2 * len(addrs)), typ, byte(sl), 0, 0, 0, 0}
	for _, a := range addrs {
		b = append(b, a16(a)...)
	}
	return b
}

// hop0 is a router processing a type 0/2 routing header at off.
func hop0(w []byte, off int) {
	n := int(w[off+1]) / 2
	sl := int(w[off+3])
	i := n - sl
	at := off + 8 + 16*i
	var tmp [16]byte
	copy(tmp[:], w[24:40])
	copy(w[24:40], w[at:at+16])
	copy(w[at:at+16], tmp[:])
	w[off+3]--
	w[7]--
}

// TestIPv6RoutingHeader seals packets with a type 0, a type 2 and a segment
// routing header with segments left, lets routers process them, and checks
// that the ICV covers the header as the destination sees it (RFC 4302
// appendix A.2), against an independent computation.
func TestIPv6RoutingHeader(t *testing.T) {
	hbh := []byte{0, 0, 0x3e, 2, 0xaa, 0xbb, 0x1e, 0} // mutable option, then an immutable one with no data
	hbhCanon := []byte{0, 0, 0x3e, 2, 0, 0, 0x1e, 0}
	// A segment routing header: list in reverse, a mutable TLV, PadN.
	srh := func(sl int, list ...netip.Addr) []byte {
		b := []byte{0, byte((8+16*len(list)+8)/8 - 1), routingTypeSRH, byte(sl), byte(len(list) - 1), 0, 0, 0}
		for _, a := range list {
			b = append(b, a16(a)...)
		}
		return append(b, 0x85, 2, 0xde, 0xad, 4, 2, 0, 0)
	}
	cases := []struct {
		name  string
		dst   netip.Addr // destination as sent
		rh    []byte
		hops  int
		final []byte // routing header at the destination, for the canonical form
		srh   bool
	}{
		{"type0", r6a, rh0(0, 3, r6b, r6c, v6b), 3, rh0(0, 0, r6a, r6b, r6c), false},
		{"type0-sl1-of-3", r6c, rh0(0, 1, r6a, r6b, v6b), 1, rh0(0, 0, r6a, r6b, r6c), false},
		{"type2", r6a, rh0(2, 1, v6b), 1, rh0(2, 0, r6a), false},
		{"srh", r6a, srh(2, v6b, r6b, r6a), 2, nil, true},
	}
	for _, a := range []alg{algs[1], algs[2], algs[4]} {
		for _, c := range cases {
			t.Run(a.String()+"/"+c.name, func(t *testing.T) {
				out, in, key := newPair(t, saOpts{alg: a, mode: ipsec.ModeTransport})
				payload := udpPayload(13)
				pkt := build6(v6{tc: 0x28, flow: 0x12345, hop: 64, proto: packet.ProtoUDP, src: v6a, dst: c.dst,
					exts: []ext{{packet.ProtoHopByHop, hbh}, {packet.ProtoRouting, c.rh}}}, payload)
				p := seal(t, out, pkt)
				ahOff := 40 + len(hbh) + len(c.rh)
				if p.AH != ahOff {
					t.Fatalf("AH at %d, want %d (after the routing header)", p.AH, ahOff)
				}
				ahLen := in.HeaderLen(6)
				final := c.final
				if c.srh {
					final = append([]byte(nil), c.rh...)
					final[3] = 0
					final[len(final)-6], final[len(final)-5] = 0, 0 // mutable TLV data
				}
				canon := build6(v6{proto: packet.ProtoUDP, src: v6a, dst: v6b, exts: []ext{
					{packet.ProtoHopByHop, hbhCanon}, {packet.ProtoRouting, final},
					{packet.ProtoAH, ahHeader(0, ahLen, 0x1234abcd, 1)}}}, payload)
				checkICV(t, a, key, p, canon)

				rhOff := 40 + len(hbh)
				w := append([]byte(nil), p.Bytes...)
				openOK(t, in, w, stripAH(w, ahOff, ahLen, rhOff), "as sent")
				for range c.hops {
					if c.srh {
						w[rhOff+3]--
						sl := int(w[rhOff+3])
						copy(w[24:40], w[rhOff+8+16*sl:])
						w[rhOff+len(c.rh)-6] ^= 0x55 // a router updates the mutable TLV
					} else {
						hop0(w, rhOff)
					}
					w[44] ^= 0x77 // and the mutable hop-by-hop option
					openOK(t, in, w, stripAH(w, ahOff, ahLen, rhOff), "after a hop")
				}
				if !bytes.Equal(w[24:40], a16(v6b)) {
					t.Fatal("test routers did not deliver to the final destination")
				}
				// Any address change breaks it.
				naddr := int(c.rh[1]) / 2
				if c.srh {
					naddr = int(c.rh[4]) + 1
				}
				for _, at := range []int{24, rhOff + 8, rhOff + 8 + 16*(naddr-1)} {
					bad := append([]byte(nil), w...)
					bad[at+15] ^= 1
					if _, err := in.Open(bad); !errors.Is(err, ErrAuth) {
						t.Fatalf("address at %d changed: %v, want ErrAuth", at, err)
					}
				}
			})
		}
	}
}

// TestIPv6RoutingRefused checks the routing headers AH cannot predict or
// that lie about their length.
func TestIPv6RoutingRefused(t *testing.T) {
	out, in, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTransport})
	// Unknown type (RPL, 3) with segments left: refused; without: fine.
	for sl, want := range map[int]error{1: ErrUnsupportedHeader, 0: nil} {
		rh := rh0(3, sl, r6b)
		pkt := build6(v6{hop: 1, proto: packet.ProtoUDP, src: v6a, dst: r6a, exts: []ext{{packet.ProtoRouting, rh}}}, udpPayload(3))
		head, _ := out.Overhead()
		buf := make([]byte, head+len(pkt))
		copy(buf[head:], pkt)
		_, err := out.Seal(buf, head, len(pkt))
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("type 3, segments left %d: %v, want %v", sl, err, want)
		}
		if err != nil && !bytes.Equal(buf[head:], pkt) {
			t.Fatal("refused Seal changed the packet")
		}
	}
	// Segments left larger than the address count (the Linux ah6 bug):
	// malformed, and nothing is touched.
	rh := rh0(0, 200, r6b)
	ahLen := in.HeaderLen(6)
	pkt := build6(v6{hop: 1, proto: packet.ProtoUDP, src: v6a, dst: r6a,
		exts: []ext{{packet.ProtoRouting, rh}, {packet.ProtoAH, ahHeader(0, ahLen, 0x1234abcd, 1)}}}, udpPayload(3))
	rcv := append([]byte(nil), pkt...)
	if _, err := in.Open(pkt); !errors.Is(err, ErrMalformed) {
		t.Fatalf("segments left 200 of 1: %v, want ErrMalformed", err)
	}
	if !bytes.Equal(pkt, rcv) {
		t.Fatal("refused Open changed the packet")
	}
}

// TestIPv6DestOptsAfterRouting checks that transport mode puts AH before
// destination options meant for the final destination, and that those are
// covered as payload.
func TestIPv6DestOptsAfterRouting(t *testing.T) {
	out, in, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTransport})
	rh := rh0(2, 1, v6b)
	dst := []byte{0, 0, 0x3e, 2, 1, 2, 1, 0}
	pkt := build6(v6{hop: 9, proto: packet.ProtoUDP, src: v6a, dst: r6a,
		exts: []ext{{packet.ProtoRouting, rh}, {packet.ProtoDstOpts, dst}}}, udpPayload(3))
	p := seal(t, out, pkt)
	if p.AH != 40+len(rh) {
		t.Fatalf("AH at %d, want %d", p.AH, 40+len(rh))
	}
	if p.Bytes[p.AH] != packet.ProtoDstOpts {
		t.Fatalf("AH next header %d", p.Bytes[p.AH])
	}
	// Destination options after AH are payload: even their mutable
	// option data is covered.
	w := append([]byte(nil), p.Bytes...)
	w[p.AH+in.HeaderLen(6)+4] ^= 1
	if _, err := in.Open(w); !errors.Is(err, ErrAuth) {
		t.Fatalf("destination option after AH changed: %v", err)
	}
	got, err := in.Open(append([]byte(nil), p.Bytes...))
	if err != nil {
		t.Fatal(err)
	}
	if d := hexDiff(got.Packet, pkt); d != "" {
		t.Fatalf("opened packet differs: %s", d)
	}
}

// TestMutableScratchLimit checks that more mutable option data than the
// scratch area holds is refused, not mishandled.
func TestMutableScratchLimit(t *testing.T) {
	out, _, _ := newPair(t, saOpts{alg: algs[1], mode: ipsec.ModeTransport})
	// A hop-by-hop header of 2048 octets full of mutable options.
	hbh := []byte{0, 255}
	for len(hbh) < 2048 {
		n := min(2048-len(hbh)-2, 200)
		hbh = append(hbh, 0x3e, byte(n))
		hbh = append(hbh, make([]byte, n)...)
	}
	pkt := build6(v6{hop: 1, proto: packet.ProtoUDP, src: v6a, dst: v6b, exts: []ext{{packet.ProtoHopByHop, hbh}}}, udpPayload(3))
	head, _ := out.Overhead()
	buf := make([]byte, head+len(pkt))
	copy(buf[head:], pkt)
	if _, err := out.Seal(buf, head, len(pkt)); !errors.Is(err, ErrUnsupportedHeader) {
		t.Fatalf("2 KiB of mutable options: %v, want ErrUnsupportedHeader", err)
	}
	if !bytes.Equal(buf[head:], pkt) {
		t.Fatal("refused Seal changed the packet")
	}
}
