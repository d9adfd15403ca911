package crosscheck

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/replay"
)

// seed makes every run send the same keys and packets, so a failure
// reproduces.
const seed = 0x63796e6574

// layout is a mode with the address families of the outer and inner packet.
type layout struct {
	name  string
	mode  ipsec.Mode
	outer int // 4 or 6 in tunnel mode, 0 in transport mode
	inner int
}

var layouts = []layout{
	{"tunnel-4in4", ipsec.ModeTunnel, 4, 4},
	{"tunnel-6in6", ipsec.ModeTunnel, 6, 6},
	{"tunnel-4in6", ipsec.ModeTunnel, 6, 4},
	{"tunnel-6in4", ipsec.ModeTunnel, 4, 6},
	{"transport-4", ipsec.ModeTransport, 0, 4},
	{"transport-6", ipsec.ModeTransport, 0, 6},
}

// endpoints returns the tunnel endpoints for cygnet and for scapy; in
// transport mode they are invalid and nil.
func (l layout) endpoints() (src, dst netip.Addr, spec *tunnelSpec) {
	switch l.outer {
	case 4:
		src, dst = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.2")
	case 6:
		src, dst = netip.MustParseAddr("2001:db8:ffff::1"), netip.MustParseAddr("2001:db8:eeee::2")
	default:
		return src, dst, nil
	}
	return src, dst, &tunnelSpec{Src: src.String(), Dst: dst.String()}
}

// kinds returns the inner packet kinds of the layout's inner family.
func (l layout) kinds() []string {
	if l.inner == 4 {
		return kinds4
	}
	return kinds6
}

// firstSeq is the sequence number of the first packet of a direction.
// Without ESN it is anywhere in the lower half of the 32-bit space. With
// ESN it is 3 below 2^33: the packets run from high half 1 into high half
// 2, one of them with low half 0, so the receiver has to infer the high
// bits across the boundary and a wrong guess (or high bits left out of the
// ICV) shows.
func firstSeq(rng *rand.Rand, esn bool) uint64 {
	if esn {
		return 2<<32 - 3
	}
	return 1 + uint64(rng.IntN(1<<31))
}

// primeWindow makes an inbound replay window expect first next, as if the
// packets before it had arrived. The window refuses ESN jumps of more than
// 2^31, so it moves there in such steps.
func primeWindow(t *testing.T, w *replay.Window, first uint64) {
	t.Helper()
	for top := w.Top(); top+1 < first; top = w.Top() {
		next := min(top+1<<31, first-1)
		if err := w.Accept(next); err != nil {
			t.Fatalf("prime replay window at %#x: %v", next, err)
		}
	}
}

// randBytes returns n random octets.
func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// clone copies a packet so that an in-place operation leaves the original.
func clone(b []byte) []byte { return append([]byte(nil), b...) }

// diff describes where two packets first differ, for failure messages.
func diff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Sprintf("first difference at octet %d (lengths %d and %d)\n got: %x\nwant: %x", i, len(got), len(want), got, want)
}
