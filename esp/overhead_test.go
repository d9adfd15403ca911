package esp

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// nopTransform does no cryptography, so BenchmarkPacketPathOverhead
// measures the ESP engine alone.
type nopTransform struct{}

func (nopTransform) Name() string                    { return "nop" }
func (nopTransform) IVLen() int                      { return 8 }
func (nopTransform) BlockSize() int                  { return 4 }
func (nopTransform) ICVLen() int                     { return 16 }
func (nopTransform) Seal([]byte, uint64, bool) error { return nil }
func (nopTransform) Open([]byte, uint64, bool) error { return nil }
func (nopTransform) Wipe()                           {}

// BenchmarkPacketPathOverhead is Seal+Open of a 1400-octet tunnel-mode
// packet with a transform that does nothing: the per-packet cost of headers,
// padding, sequence numbers and the replay window.
func BenchmarkPacketPathOverhead(b *testing.B) {
	cfg := Config{SPI: 1, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, ESN: true, ReplayWindow: 1024, Transform: nopTransform{}}
	cfg.Direction = ipsec.Outbound
	out, _ := New(cfg)
	cfg.Direction = ipsec.Inbound
	in, _ := New(cfg)
	inner := udpPacket(in4a, in4b, 0, make([]byte, 1372))
	head, tail := out.Overhead()
	buf := make([]byte, head+len(inner)+tail)
	copy(buf[head:], inner)
	b.ReportAllocs()
	for b.Loop() {
		p, err := out.Seal(buf, head, len(inner))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := in.Open(p.Bytes); err != nil {
			b.Fatal(err)
		}
	}
}
