package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/sad"
)

// ESP that arrives before IKE has installed its SA (the peer answered the
// exchange and sealed at once) is held, and opened in order once the SA is
// in; what has waited too long, or was never for a new SA, is not.
func TestEarlyPacketsOpenOnceTheirSAIsIn(t *testing.T) {
	cases := []struct {
		name string
		spec linkSpec
		role int
	}{
		{"raw ESP over IPv4", tunnelSpec(ua4, ub4, false), sockESP4},
		{"ESP-in-UDP over IPv6", tunnelSpec(ua6, ub6, true), sockUDP6NATT},
		{"transport over IPv4", transportSpec(ua4, ub4, true), sockUDP4NATT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := makeLink(t, c.spec)
			bWithout := *b
			bWithout.in = nil
			dpA, dpB := memDP(t, a), memDP(t, &bWithout)
			src, dst := hA4, hB4
			if c.spec.encap && c.role == sockUDP4NATT {
				src, dst = ua4, ub4
			}
			var ra, rb recorder
			pkts := [][]byte{udpPacket(src, dst, 100, false), udpPacket(src, dst, 1300, true), udpPacket(src, dst, 60, false), udpPacket(src, dst, 80, false)}
			pushOut(memOut(dpA, &ra, 8), pkts...)
			if len(ra.sent[c.role]) != len(pkts) {
				t.Fatalf("A sent %d packets on socket %d, want %d", len(ra.sent[c.role]), c.role, len(pkts))
			}
			// One packet for an SPI that never comes.
			stray := append([]byte(nil), ra.sent[c.role][3]...)
			spiAt := 0
			if c.role == sockESP4 {
				spiAt = 20
			}
			binary.BigEndian.PutUint32(stray[spiAt:], 0xdead)
			ra.sent[c.role] = append(ra.sent[c.role], stray)
			wire(t, &ra, dpB, &rb, c.spec)
			if st := dpB.Stats(); len(rb.tun) != 0 || st.NoSA != 5 || st.InPackets != 0 {
				t.Fatalf("before the SA: %d packets on the TUN, stats %+v", len(rb.tun), st)
			}

			// The third packet waited too long.
			h := &dpB.early
			for i := range h.pkts {
				if e := &h.pkts[i]; e.spi == b.in.SPI() && e.meta.N == len(ra.sent[c.role][2]) {
					e.at = e.at.Add(-earlyAge - time.Second)
				}
			}
			var re recorder
			h.paths[c.role] = memIn(dpB, c.role, &re, 1)
			h.paths[c.role].early = true
			if err := dpB.AddSA(b.in, sad.Lifetime{}); err != nil {
				t.Fatal(err)
			}
			if n := dpB.OpenEarly(b.in.SPI()); n != 3 {
				t.Errorf("OpenEarly opened %d, want 3", n)
			}
			if len(re.tun) != 3 {
				t.Fatalf("TUN got %d packets, want 3 (stats %+v)", len(re.tun), dpB.Stats())
			}
			for i, want := range [][]byte{pkts[0], pkts[1], pkts[3]} {
				if c.spec.encap && c.role == sockUDP4NATT {
					// transport mode rebuilds the IP header: compare the payload
					if !bytes.Equal(re.tun[i][len(re.tun[i])-40:], want[len(want)-40:]) {
						t.Errorf("packet %d differs", i)
					}
				} else if !bytes.Equal(re.tun[i], want) {
					t.Errorf("packet %d differs", i)
				}
			}
			if st := dpB.Stats(); st.InPackets != 3 || st.EarlyOpened != 3 || st.NoSA != 5 {
				t.Errorf("after the SA: stats %+v", st)
			}
			if n := dpB.OpenEarly(b.in.SPI()); n != 0 {
				t.Errorf("a second OpenEarly opened %d", n)
			}
			// The held copies went through the replay window.
			rb.reset()
			pushIn(memIn(dpB, c.role, &rb, 8), []rxMeta{metaFor(c.spec, c.role)}, ra.sent[c.role][0])
			if st := dpB.Stats(); st.Replay != 1 || len(rb.tun) != 0 {
				t.Errorf("the first packet again: %d on the TUN, stats %+v", len(rb.tun), st)
			}
		})
	}
}

// An inbound path that opens held packets does not hold what it cannot
// open: OpenEarly runs it under the hold's lock.
func TestEarlyPathHoldsNothing(t *testing.T) {
	a, b := makeLink(t, tunnelSpec(ua4, ub4, false))
	bWithout := *b
	bWithout.in = nil
	dpA, dpB := memDP(t, a), memDP(t, &bWithout)
	var ra, rb recorder
	pushOut(memOut(dpA, &ra, 8), udpPacket(hA4, hB4, 100, false))
	p := memIn(dpB, sockESP4, &rb, 1)
	p.early = true
	pushIn(p, []rxMeta{metaFor(tunnelSpec(ua4, ub4, false), sockESP4)}, ra.sent[sockESP4][0])
	if st := dpB.Stats(); st.NoSA != 1 || dpB.early.pkts != nil {
		t.Errorf("stats %+v, hold made: %v", st, dpB.early.pkts != nil)
	}
}

// metaFor is the packet information B's socket of role reports for what A
// sent over s.
func metaFor(s linkSpec, role int) rxMeta {
	m := rxMeta{Src: netip.AddrPortFrom(s.outerA, 0), Dst: s.outerB}
	if role&^1 == sockUDP4NATT {
		m.Src = netip.AddrPortFrom(s.outerA, DefaultNATTPort)
	}
	return m
}
