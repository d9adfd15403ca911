package ah

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// alg is an AH integrity algorithm under test.
type alg struct {
	id     transform.IntegID
	keyLen int // key octets, salt included for GMAC
	icvLen int
}

var algs = []alg{
	{transform.IntegHMACSHA1_96, 20, 12},
	{transform.IntegHMACSHA256_128, 32, 16},
	{transform.IntegHMACSHA384_192, 48, 24},
	{transform.IntegHMACSHA512_256, 64, 32},
	{transform.IntegAES128GMAC, 20, 24},
	{transform.IntegAES192GMAC, 28, 24},
	{transform.IntegAES256GMAC, 36, 24},
	{transform.IntegAESXCBC96, 16, 12},
	{transform.IntegAESCMAC96, 16, 12},
}

func (a alg) String() string { return a.id.String() }

// testKey returns deterministic key material of n octets.
func testKey(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

var (
	v4a = netip.MustParseAddr("192.0.2.1")
	v4b = netip.MustParseAddr("198.51.100.2")
	v6a = netip.MustParseAddr("2001:db8::1")
	v6b = netip.MustParseAddr("2001:db8:ffff::2")
	// Tunnel endpoints, distinct from the inner addresses.
	t4a = netip.MustParseAddr("203.0.113.10")
	t4b = netip.MustParseAddr("203.0.113.20")
	t6a = netip.MustParseAddr("2001:db8:1::a")
	t6b = netip.MustParseAddr("2001:db8:2::b")
)

// saOpts describes an SA pair under test.
type saOpts struct {
	alg      alg
	mode     ipsec.Mode
	outer6   bool
	esn      bool
	window   int
	copyDSCP bool
	copyDF   bool
	ecn      packet.ECNMode
	spi      uint32
}

// newPair builds the outbound and inbound SA of one direction with the same
// key, and returns the key too.
func newPair(t testing.TB, o saOpts) (out, in *SA, key []byte) {
	t.Helper()
	key = testKey(o.alg.keyLen, byte(o.alg.id))
	mk := func(dir ipsec.Direction) *SA {
		x, err := transform.NewIntegrity(o.alg.id, key, transform.Options{AllowLegacy: true})
		if err != nil {
			t.Fatalf("NewIntegrity(%v): %v", o.alg, err)
		}
		src, dst := t4a, t4b
		if o.outer6 {
			src, dst = t6a, t6b
		}
		spi := o.spi
		if spi == 0 {
			spi = 0x1234abcd
		}
		sa, err := New(Config{
			SPI: spi, Mode: o.mode, Direction: dir, Integrity: x,
			Src: src, Dst: dst, ESN: o.esn, ReplayWindow: o.window,
			CopyDSCP: o.copyDSCP, CopyDF: o.copyDF, ECN: o.ecn,
		})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return sa
	}
	return mk(ipsec.Outbound), mk(ipsec.Inbound), key
}

// v4 describes an IPv4 header to build.
type v4 struct {
	tos, ttl uint8
	id       uint16
	df       bool
	proto    uint8
	src, dst netip.Addr
	opts     []byte // options, a multiple of 4 octets
}

// build4 writes an IPv4 packet with a valid checksum.
func build4(h v4, payload []byte) []byte {
	hl := packet.IPv4HeaderLen + len(h.opts)
	b := make([]byte, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	b[1] = h.tos
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], h.id)
	if h.df {
		b[6] = 0x40
	}
	b[8] = h.ttl
	b[9] = h.proto
	s, d := h.src.As4(), h.dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], h.opts)
	packet.SetIPv4Checksum(b)
	copy(b[hl:], payload)
	return b
}

// ext is an IPv6 extension header: its protocol number and its octets, the
// next header octet (data[0]) being filled in by build6.
type ext struct {
	proto uint8
	data  []byte
}

// v6 describes an IPv6 header to build.
type v6 struct {
	tc       uint8
	flow     uint32
	hop      uint8
	proto    uint8 // upper-layer protocol
	src, dst netip.Addr
	exts     []ext
}

// build6 writes an IPv6 packet with its extension headers chained.
func build6(h v6, payload []byte) []byte {
	var b []byte
	hdr := make([]byte, packet.IPv6HeaderLen)
	b = append(b, hdr...)
	prev := 6
	for _, e := range h.exts {
		b[prev] = e.proto
		prev = len(b)
		b = append(b, e.data...)
	}
	b[prev] = h.proto
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(h.tc)<<20|h.flow&0xfffff)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-packet.IPv6HeaderLen))
	b[7] = h.hop
	s, d := h.src.As16(), h.dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return b
}

// udpPayload is a UDP header and n octets of data (checksum not computed;
// AH does not read it).
func udpPayload(n int) []byte {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint16(b[0:], 4500)
	binary.BigEndian.PutUint16(b[2:], 53)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	for i := 8; i < len(b); i++ {
		b[i] = byte(i * 13)
	}
	return b
}

// simple4 and simple6 are plain UDP packets with non-zero mutable fields.
func simple4(n int) []byte {
	return build4(v4{tos: 0xb8 | packet.ECT0, ttl: 61, id: 0x4242, df: true, proto: packet.ProtoUDP, src: v4a, dst: v4b}, udpPayload(n))
}

func simple6(n int) []byte {
	return build6(v6{tc: 0xb8 | packet.ECT0, flow: 0xabcde, hop: 59, proto: packet.ProtoUDP, src: v6a, dst: v6b}, udpPayload(n))
}

// seal copies pkt into a buffer with the SA's head room and seals it; the
// sealed packet is returned as a fresh slice.
func seal(t testing.TB, sa *SA, pkt []byte) Packet {
	t.Helper()
	head, _ := sa.Overhead()
	buf := make([]byte, head+len(pkt))
	copy(buf[head:], pkt)
	p, err := sa.Seal(buf, head, len(pkt))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return p
}

// independentICV computes the ICV of a sealed packet from a canonical form
// built by the caller (mutable fields zero, AH ICV zero), with the standard
// library only. For GMAC the IV is taken from the sealed ICV field.
func independentICV(t testing.TB, a alg, key, canonical []byte, ivField []byte, seq uint64, esn bool) []byte {
	t.Helper()
	in := append([]byte(nil), canonical...)
	if esn {
		in = binary.BigEndian.AppendUint32(in, uint32(seq>>32))
	}
	var fn func() hash.Hash
	switch a.id {
	case transform.IntegHMACSHA1_96:
		fn = sha1.New
	case transform.IntegHMACSHA256_128:
		fn = sha256.New
	case transform.IntegHMACSHA384_192:
		fn = sha512.New384
	case transform.IntegHMACSHA512_256:
		fn = sha512.New
	case transform.IntegAESXCBC96, transform.IntegAESCMAC96:
		return refAESMAC(t, a.id == transform.IntegAESXCBC96, key, in)[:a.icvLen]
	default:
		blk, err := aes.NewCipher(key[:len(key)-4])
		if err != nil {
			t.Fatal(err)
		}
		g, err := cipher.NewGCM(blk)
		if err != nil {
			t.Fatal(err)
		}
		nonce := append(append([]byte(nil), key[len(key)-4:]...), ivField[:8]...)
		return append(append([]byte(nil), ivField[:8]...), g.Seal(nil, nonce, nil, in)...)
	}
	m := hmac.New(fn, key)
	m.Write(in)
	return m.Sum(nil)[:a.icvLen]
}

// ahHeader builds an AH header with a zero ICV field for the canonical form.
func ahHeader(nh uint8, ahLen int, spi uint32, seq uint64) []byte {
	b := make([]byte, ahLen)
	b[0] = nh
	b[1] = byte(ahLen/4 - 2)
	binary.BigEndian.PutUint32(b[4:], spi)
	binary.BigEndian.PutUint32(b[8:], uint32(seq))
	return b
}

func hexDiff(a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at %d: %#02x vs %#02x (lengths %d, %d)", i, a[i], b[i], len(a), len(b))
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}

// refAESMAC is AES-XCBC-MAC (RFC 3566 section 4) or AES-CMAC (RFC 4493
// section 2.4) written straight from the RFCs' pseudo-code, whole message
// at once, as an independent check of the transform package's.
func refAESMAC(t testing.TB, xcbc bool, key, msg []byte) []byte {
	t.Helper()
	blk, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(b cipher.Block, in []byte) []byte {
		out := make([]byte, 16)
		b.Encrypt(out, in)
		return out
	}
	var chain cipher.Block
	var kFull, kPad []byte
	if xcbc {
		k1 := enc(blk, bytes.Repeat([]byte{1}, 16))
		kFull, kPad = enc(blk, bytes.Repeat([]byte{2}, 16)), enc(blk, bytes.Repeat([]byte{3}, 16))
		if chain, err = aes.NewCipher(k1); err != nil {
			t.Fatal(err)
		}
	} else {
		chain = blk
		shift := func(b []byte) []byte {
			out := make([]byte, 16)
			for i := range 15 {
				out[i] = b[i]<<1 | b[i+1]>>7
			}
			out[15] = b[15] << 1
			if b[0]&0x80 != 0 {
				out[15] ^= 0x87
			}
			return out
		}
		kFull = shift(enc(blk, make([]byte, 16)))
		kPad = shift(kFull)
	}
	n := (len(msg) + 15) / 16
	if n == 0 {
		n = 1
	}
	last := make([]byte, 16)
	rest := msg[(n-1)*16:]
	copy(last, rest)
	if len(rest) == 16 {
		for i := range last {
			last[i] ^= kFull[i]
		}
	} else {
		last[len(rest)] = 0x80
		for i := range last {
			last[i] ^= kPad[i]
		}
	}
	x := make([]byte, 16)
	for i := 0; i < n-1; i++ {
		for j := range x {
			x[j] ^= msg[i*16+j]
		}
		x = enc(chain, x)
	}
	for j := range x {
		x[j] ^= last[j]
	}
	return enc(chain, x)
}
