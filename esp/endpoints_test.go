package esp

import (
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
)

// TestSetEndpoints moves an outbound tunnel-mode SA (MOBIKE): the next
// packet carries the new outer addresses with a valid IPv4 checksum and
// the next sequence number, and still opens with the unchanged inbound SA.
func TestSetEndpoints(t *testing.T) {
	out, in := pair(t, algos[0], Config{SPI: 0x1234, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, ReplayWindow: 64})
	inner := udpPacket(in4a, in4b, 0, []byte("before"))
	if _, b := seal(t, out, inner); netip.AddrFrom4([4]byte(b[12:16])) != out4a || netip.AddrFrom4([4]byte(b[16:20])) != out4b {
		t.Fatalf("outer %v -> %v before the move", b[12:16], b[16:20])
	}
	newSrc, newDst := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.9")
	if err := out.SetEndpoints(newSrc, newDst); err != nil {
		t.Fatal(err)
	}
	_, b := seal(t, out, udpPacket(in4a, in4b, 0, []byte("after")))
	if src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])); src != newSrc || dst != newDst {
		t.Errorf("outer %v -> %v after the move, want %v -> %v", src, dst, newSrc, newDst)
	}
	if packet.Fold(packet.Sum(b[:packet.IPv4HeaderLen], 0)) != 0xffff {
		t.Errorf("outer IPv4 checksum invalid after the move")
	}
	buf := append([]byte(nil), b...)
	p, err := in.Open(buf)
	if err != nil {
		t.Fatalf("open after the move: %v", err)
	}
	if p.Seq != 2 {
		t.Errorf("sequence number %d after the move, want 2 (it goes on)", p.Seq)
	}
	if err := out.SetEndpoints(out6a, out6b); err == nil {
		t.Errorf("moving an IPv4 tunnel to IPv6 endpoints succeeded")
	}
}

// TestSetEndpointsWhileSealing runs a move concurrently with sealing (for
// the race detector): each packet has the old or the new endpoints whole.
func TestSetEndpointsWhileSealing(t *testing.T) {
	out, _ := pair(t, algos[0], Config{SPI: 0x1234, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b})
	newSrc, newDst := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("203.0.113.9")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			src, dst := out4a, out4b
			if i%2 == 0 {
				src, dst = newSrc, newDst
			}
			if err := out.SetEndpoints(src, dst); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	inner := udpPacket(in4a, in4b, 0, []byte("x"))
	for range 200 {
		_, b := seal(t, out, inner)
		src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		if !(src == out4a && dst == out4b) && !(src == newSrc && dst == newDst) {
			t.Fatalf("outer %v -> %v mixes two moves", src, dst)
		}
	}
	<-done
}
