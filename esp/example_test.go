package esp_test

import (
	"fmt"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// Example builds both directions of an AES-128-GCM tunnel-mode SA from raw
// key material (16-octet key and 4-octet salt, as IKE derives them), seals
// an IPv4 packet and opens it again.
func Example() {
	keymat := make([]byte, 20)
	sa := func(dir ipsec.Direction) *esp.SA {
		x, err := transform.NewESP(transform.EncrAESGCM16, 128, transform.IntegNone, keymat, transform.Options{})
		if err != nil {
			panic(err)
		}
		s, err := esp.New(esp.Config{
			SPI: 0xc0ffee01, Mode: ipsec.ModeTunnel, Direction: dir, Transform: x,
			Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.1"),
			ESN: true, ReplayWindow: 64,
		})
		if err != nil {
			panic(err)
		}
		return s
	}
	out, in := sa(ipsec.Outbound), sa(ipsec.Inbound)

	inner := make([]byte, 28) // an empty UDP datagram
	h := packet.IPv4Header{TotalLen: len(inner), TTL: 64, Protocol: packet.ProtoUDP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	h.Put(inner)

	head, tail := out.Overhead()
	buf := make([]byte, head+len(inner)+tail)
	copy(buf[head:], inner)
	p, err := out.Seal(buf, head, len(inner))
	if err != nil {
		panic(err)
	}
	fmt.Printf("outer packet %d octets, ESP at offset %d\n", len(p.Bytes), p.ESP)

	res, err := in.Open(p.Bytes)
	if err != nil {
		panic(err)
	}
	fmt.Printf("inner packet %d octets, sequence number %d\n", len(res.Packet), res.Seq)
	// Output:
	// outer packet 84 octets, ESP at offset 20
	// inner packet 28 octets, sequence number 1
}
