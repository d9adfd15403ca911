package esp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

var (
	in4a  = netip.MustParseAddr("10.1.0.1")
	in4b  = netip.MustParseAddr("10.2.0.1")
	out4a = netip.MustParseAddr("192.0.2.1")
	out4b = netip.MustParseAddr("198.51.100.1")
	in6a  = netip.MustParseAddr("2001:db8:1::1")
	in6b  = netip.MustParseAddr("2001:db8:2::1")
	out6a = netip.MustParseAddr("2001:db8:ffff::1")
	out6b = netip.MustParseAddr("2001:db8:eeee::1")
)

// udpPacket builds an IPv4 or IPv6 UDP packet with a valid checksum.
func udpPacket(src, dst netip.Addr, tc uint8, payload []byte) []byte {
	hl := packet.IPv4HeaderLen
	if src.Is6() {
		hl = packet.IPv6HeaderLen
	}
	b := make([]byte, hl+8+len(payload))
	if src.Is6() {
		h := packet.IPv6Header{TrafficClass: tc, PayloadLen: 8 + len(payload), NextHeader: packet.ProtoUDP, HopLimit: 64, Src: src, Dst: dst}
		h.Put(b)
	} else {
		h := packet.IPv4Header{TOS: tc, TotalLen: len(b), ID: 7, TTL: 64, Protocol: packet.ProtoUDP, Src: src, Dst: dst}
		h.Put(b)
	}
	u := b[hl:]
	binary.BigEndian.PutUint16(u[0:], 5000)
	binary.BigEndian.PutUint16(u[2:], 6000)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	c := ^packet.Fold(packet.Sum(u, packet.PseudoHeaderSum(src, dst, packet.ProtoUDP, len(u))))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return b
}

type algo struct {
	name  string
	encr  transform.EncrID
	bits  int
	integ transform.IntegID
}

var algos = []algo{
	{"aes128gcm", transform.EncrAESGCM16, 128, transform.IntegNone},
	{"aes256gcm", transform.EncrAESGCM16, 256, transform.IntegNone},
	{"chacha20poly1305", transform.EncrChaCha20Poly1305, 256, transform.IntegNone},
	{"aes128gmac", transform.EncrNullAuthAESGMAC, 128, transform.IntegNone},
	{"aes128cbc-sha256", transform.EncrAESCBC, 128, transform.IntegHMACSHA256_128},
	{"aes256cbc-sha512", transform.EncrAESCBC, 256, transform.IntegHMACSHA512_256},
	{"aes128ctr-sha256", transform.EncrAESCTR, 128, transform.IntegHMACSHA256_128},
	{"aes256ctr-sha384", transform.EncrAESCTR, 256, transform.IntegHMACSHA384_192},
	{"null-sha256", transform.EncrNull, 0, transform.IntegHMACSHA256_128},
	{"3des-sha1", transform.Encr3DES, 0, transform.IntegHMACSHA1_96},
	{"aes192gcm", transform.EncrAESGCM16, 192, transform.IntegNone},
	{"aes128gcm8", transform.EncrAESGCM8, 128, transform.IntegNone},
	{"aes256gcm12", transform.EncrAESGCM12, 256, transform.IntegNone},
	{"aes128ccm16", transform.EncrAESCCM16, 128, transform.IntegNone},
	{"aes256ccm8", transform.EncrAESCCM8, 256, transform.IntegNone},
	{"aes128cbc-aesxcbc", transform.EncrAESCBC, 128, transform.IntegAESXCBC96},
	{"aes256ctr-aescmac", transform.EncrAESCTR, 256, transform.IntegAESCMAC96},
}

func newTransform(t testing.TB, a algo, seed byte) transform.ESP {
	t.Helper()
	n, err := transform.KeyLen(a.encr, a.bits, a.integ)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, n)
	for i := range key {
		key[i] = seed + byte(i)*3
	}
	x, err := transform.NewESP(a.encr, a.bits, a.integ, key, transform.Options{AllowLegacy: true})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// pair builds an outbound and an inbound SA sharing keys.
func pair(t testing.TB, a algo, cfg Config) (out, in *SA) {
	t.Helper()
	cfg.Direction = ipsec.Outbound
	cfg.Transform = newTransform(t, a, 1)
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Direction = ipsec.Inbound
	cfg.Transform = newTransform(t, a, 1)
	i, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o, i
}

// seal copies inner into a fresh buffer with the SA's head and tail room
// and seals it; the returned slice is a copy of the outer packet.
func seal(t testing.TB, sa *SA, inner []byte) (Packet, []byte) {
	t.Helper()
	head, tail := sa.Overhead()
	buf := make([]byte, head+len(inner)+tail)
	copy(buf[head:], inner)
	p, err := sa.Seal(buf, head, len(inner))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return p, append([]byte(nil), p.Bytes...)
}
