package ah

import (
	"bytes"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
)

// fuzzSeeds returns sealed packets of both modes and families, with IPv4
// options and IPv6 extension headers, from the SAs FuzzOpen opens with.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	hbh := []byte{0, 0, 0x3e, 2, 0xaa, 0xbb, 0x1e, 0}
	opts4 := []byte{7, 7, 4, 0, 0, 0, 0, optNOP, optLSRR, 7, 4, 10, 0, 0, 2, optEOL}
	inners := [][]byte{
		simple4(16),
		simple6(16),
		build4(v4{ttl: 3, proto: packet.ProtoUDP, src: v4a, dst: r4a, opts: opts4}, udpPayload(4)),
		build6(v6{hop: 3, proto: packet.ProtoUDP, src: v6a, dst: r6a,
			exts: []ext{{packet.ProtoHopByHop, hbh}, {packet.ProtoRouting, rh0(0, 2, r6b, v6b)}}}, udpPayload(4)),
	}
	for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
		for _, outer6 := range []bool{false, true} {
			for _, a := range []alg{algs[1], algs[4]} {
				out, _, _ := newPair(t, saOpts{alg: a, mode: mode, outer6: outer6})
				for _, in := range inners {
					if mode == ipsec.ModeTransport && (packet.Version(in) == 6) != outer6 {
						continue
					}
					seeds = append(seeds, append([]byte(nil), seal(t, out, in).Bytes...))
				}
			}
		}
	}
	return seeds
}

// FuzzOpen decapsulates arbitrary IPv4 and IPv6 packets with tunnel- and
// transport-mode SAs of both algorithm kinds. It must never panic, a failed
// Open must leave the buffer as received, and a delivered packet must lie
// within the buffer and carry a consistent length.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte{0x45})
	f.Add([]byte{0x60, 0, 0, 0, 0, 0, packet.ProtoAH, 0})
	var sas []*SA
	for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
		for _, a := range []alg{algs[1], algs[4]} {
			// Replay protection off so that repeated inputs still
			// reach the decapsulation.
			_, in, _ := newPair(f, saOpts{alg: a, mode: mode, window: 0})
			sas = append(sas, in)
		}
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, sa := range sas {
			buf := append([]byte(nil), pkt...)
			got, err := sa.Open(buf)
			if err != nil {
				if !bytes.Equal(buf, pkt) {
					t.Fatalf("failed Open (%v) changed the buffer", err)
				}
				continue
			}
			tl, err := packet.TotalLen(got.Packet)
			if err != nil || tl != len(got.Packet) {
				t.Fatalf("delivered packet of %d octets claims %d (%v)", len(got.Packet), tl, err)
			}
		}
	})
}
