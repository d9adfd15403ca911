package ah_test

import (
	"fmt"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/ah"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// Example builds both directions of an HMAC-SHA-256-128 transport-mode AH SA
// from raw key material (32 octets, as IKE derives it), seals an IPv6
// packet, lets a router lower its hop limit (a mutable field) and opens it.
func Example() {
	key := make([]byte, 32)
	sa := func(dir ipsec.Direction) *ah.SA {
		x, err := transform.NewIntegrity(transform.IntegHMACSHA256_128, key, transform.Options{})
		if err != nil {
			panic(err)
		}
		s, err := ah.New(ah.Config{
			SPI: 0xc0ffee02, Mode: ipsec.ModeTransport, Direction: dir, Integrity: x,
			ESN: true, ReplayWindow: 64,
		})
		if err != nil {
			panic(err)
		}
		return s
	}
	out, in := sa(ipsec.Outbound), sa(ipsec.Inbound)

	inner := make([]byte, 48) // an empty UDP datagram
	h := packet.IPv6Header{PayloadLen: 8, NextHeader: packet.ProtoUDP, HopLimit: 64,
		Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2")}
	h.Put(inner)

	head, _ := out.Overhead()
	buf := make([]byte, head+len(inner))
	copy(buf[head:], inner)
	p, err := out.Seal(buf, head, len(inner))
	if err != nil {
		panic(err)
	}
	fmt.Printf("sealed packet %d octets, AH at offset %d, %d octets long\n", len(p.Bytes), p.AH, out.HeaderLen(6))

	p.Bytes[7]-- // hop limit
	res, err := in.Open(p.Bytes)
	if err != nil {
		panic(err)
	}
	fmt.Printf("opened packet %d octets, hop limit %d, sequence number %d\n", len(res.Packet), res.Packet[7], res.Seq)
	// Output:
	// sealed packet 80 octets, AH at offset 40, 32 octets long
	// opened packet 48 octets, hop limit 63, sequence number 1
}
