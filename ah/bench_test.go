package ah

import (
	"fmt"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
)

// BenchmarkSealOpen measures one Seal plus one Open per iteration (the
// inner packet is copied into place first); the throughput counts the inner
// packet once.
func BenchmarkSealOpen(b *testing.B) {
	for _, a := range []alg{algs[1], algs[4]} {
		for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
			for _, v6 := range []bool{false, true} {
				for _, size := range []int{64, 512, 1400} {
					name := fmt.Sprintf("%v/%v/ipv%d/%d", a, mode, ver(v6), size)
					b.Run(name, func(b *testing.B) {
						out, in, _ := newPair(b, saOpts{alg: a, mode: mode, outer6: v6, window: 64})
						inner := simple4(size - 28)
						if v6 {
							inner = simple6(size - 48)
						}
						head, _ := out.Overhead()
						buf := make([]byte, head+len(inner))
						b.SetBytes(int64(len(inner)))
						b.ReportAllocs()
						for b.Loop() {
							copy(buf[head:], inner)
							p, err := out.Seal(buf, head, len(inner))
							if err != nil {
								b.Fatal(err)
							}
							if _, err := in.Open(p.Bytes); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}

// BenchmarkCanonicalize measures the in-place rewrite and restore of the
// mutable fields alone, for a plain header and for IPv4 options and IPv6
// extension headers with mutable options and a routing header to rearrange.
func BenchmarkCanonicalize(b *testing.B) {
	hbh := []byte{0, 1, 0x3e, 4, 1, 2, 3, 4, 0x1e, 4, 5, 6, 7, 8, 1, 0}
	opts4 := []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, optNOP, optLSRR, 11, 4, 10, 0, 0, 2, 10, 0, 0, 3, optEOL}
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"ipv4", simple4(100)},
		{"ipv4-options", build4(v4{ttl: 3, proto: packet.ProtoUDP, src: v4a, dst: r4a, opts: opts4}, udpPayload(100))},
		{"ipv6", simple6(100)},
		{"ipv6-ext", build6(v6{hop: 3, proto: packet.ProtoUDP, src: v6a, dst: r6a,
			exts: []ext{{packet.ProtoHopByHop, hbh}, {packet.ProtoRouting, rh0(0, 3, r6b, r6c, v6b)}}}, udpPayload(100))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			out, _, _ := newPair(b, saOpts{alg: algs[1], mode: ipsec.ModeTransport})
			p := seal(b, out, c.pkt)
			st := new(scratch)
			b.ReportAllocs()
			for b.Loop() {
				st.begin()
				if err := st.canonicalize(p.Bytes, p.AH); err != nil {
					b.Fatal(err)
				}
				st.restore(p.Bytes)
			}
		})
	}
}
