package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/ah"
	"github.com/cygnet-ipsec/cygnet/esp"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

type espSuite struct {
	name  string
	encr  transform.EncrID
	bits  int
	integ transform.IntegID
}

var selftestESP = []espSuite{
	{"aes128gcm16", transform.EncrAESGCM16, 128, transform.IntegNone},
	{"aes256gcm16", transform.EncrAESGCM16, 256, transform.IntegNone},
	{"chacha20poly1305", transform.EncrChaCha20Poly1305, 256, transform.IntegNone},
	{"aes128-sha256", transform.EncrAESCBC, 128, transform.IntegHMACSHA256_128},
	{"aes256-sha512", transform.EncrAESCBC, 256, transform.IntegHMACSHA512_256},
	{"aes256ctr-sha384", transform.EncrAESCTR, 256, transform.IntegHMACSHA384_192},
	{"aes128gmac", transform.EncrNullAuthAESGMAC, 128, transform.IntegNone},
	{"null-sha256", transform.EncrNull, 0, transform.IntegHMACSHA256_128},
	{"aes192gcm16", transform.EncrAESGCM16, 192, transform.IntegNone},
	{"aes128gcm12", transform.EncrAESGCM12, 128, transform.IntegNone},
	{"aes128gcm8", transform.EncrAESGCM8, 128, transform.IntegNone},
	{"aes128ccm16", transform.EncrAESCCM16, 128, transform.IntegNone},
	{"aes256ccm8", transform.EncrAESCCM8, 256, transform.IntegNone},
	{"aes128-aesxcbc", transform.EncrAESCBC, 128, transform.IntegAESXCBC96},
	{"aes128-aescmac", transform.EncrAESCBC, 128, transform.IntegAESCMAC96},
}

// cmdSelftest builds SAs for every ESP algorithm and AH, in tunnel and
// transport mode, IPv4 and IPv6, seals and opens traffic through each pair,
// checks every packet comes back intact and prints the throughput.
func cmdSelftest(args []string, out io.Writer) error {
	fs := newFlags("selftest")
	dur := fs.Duration("time", 150*time.Millisecond, "how long to run each case")
	size := fs.Int("size", 1400, "inner packet size in bytes")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(out, "cygnet engine self-test: %d-byte packets, %v per case, one core\n\n", *size, *dur)
	fmt.Fprintf(out, "%-8s %-18s %-10s %-5s %12s %10s\n", "proto", "algorithm", "mode", "inner", "Mbit/s", "packets")
	for _, s := range selftestESP {
		for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
			for _, fam := range []int{4, 6} {
				n, rate, err := runESP(s, mode, fam, *size, *dur)
				if err != nil {
					return fmt.Errorf("ESP %s %v IPv%d: %w", s.name, mode, fam, err)
				}
				fmt.Fprintf(out, "%-8s %-18s %-10v %-5s %12.0f %10d\n", "ESP", s.name, mode, fmt.Sprintf("IPv%d", fam), rate, n)
			}
		}
	}
	ahNames := map[transform.IntegID]string{transform.IntegHMACSHA256_128: "sha256", transform.IntegAES128GMAC: "aes128gmac",
		transform.IntegAESXCBC96: "aesxcbc", transform.IntegAESCMAC96: "aescmac"}
	for _, integ := range []transform.IntegID{transform.IntegHMACSHA256_128, transform.IntegAES128GMAC, transform.IntegAESXCBC96, transform.IntegAESCMAC96} {
		for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
			n, rate, err := runAH(integ, mode, *size, *dur)
			if err != nil {
				return fmt.Errorf("AH %v %v: %w", integ, mode, err)
			}
			fmt.Fprintf(out, "%-8s %-18s %-10v %-5s %12.0f %10d\n", "AH", ahNames[integ], mode, "IPv4", rate, n)
		}
	}
	fmt.Fprintln(out, "\nall cases sealed and opened intact")
	return nil
}

func addrs(fam int) (innerSrc, innerDst, outerSrc, outerDst netip.Addr) {
	if fam == 6 {
		return netip.MustParseAddr("fd00:99:1::1"), netip.MustParseAddr("fd00:99:2::1"),
			netip.MustParseAddr("fd00:99::1"), netip.MustParseAddr("fd00:99::2")
	}
	return netip.MustParseAddr("10.99.1.1"), netip.MustParseAddr("10.99.2.1"),
		netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")
}

// innerPacket writes a UDP datagram of size bytes between the addresses.
func innerPacket(b []byte, src, dst netip.Addr, size int) []byte {
	p := b[:size]
	hl := packet.IPv4HeaderLen
	if src.Is4() {
		h := packet.IPv4Header{TotalLen: size, TTL: 64, Protocol: packet.ProtoUDP, Src: src, Dst: dst}
		h.Put(p)
	} else {
		hl = packet.IPv6HeaderLen
		h := packet.IPv6Header{PayloadLen: size - hl, NextHeader: packet.ProtoUDP, HopLimit: 64, Src: src, Dst: dst}
		h.Put(p)
	}
	p[hl], p[hl+1], p[hl+2], p[hl+3] = 0x30, 0x39, 0x30, 0x39
	p[hl+4], p[hl+5] = byte((size-hl)>>8), byte(size-hl)
	p[hl+6], p[hl+7] = 0, 0
	_, _ = rand.Read(p[hl+8:])
	return p
}

func runESP(s espSuite, mode ipsec.Mode, fam, size int, dur time.Duration) (int, float64, error) {
	klen, err := transform.KeyLen(s.encr, s.bits, s.integ)
	if err != nil {
		return 0, 0, err
	}
	key := make([]byte, klen)
	_, _ = rand.Read(key)
	mk := func(dir ipsec.Direction) (*esp.SA, error) {
		x, err := transform.NewESP(s.encr, s.bits, s.integ, key, transform.Options{})
		if err != nil {
			return nil, err
		}
		_, _, src, dst := addrs(fam)
		return esp.New(esp.Config{SPI: 0x1000, Mode: mode, Direction: dir, Transform: x, Src: src, Dst: dst, ReplayWindow: 128, ESN: true})
	}
	out, err := mk(ipsec.Outbound)
	if err != nil {
		return 0, 0, err
	}
	in, err := mk(ipsec.Inbound)
	if err != nil {
		return 0, 0, err
	}
	is, id, _, _ := addrs(fam)
	if mode == ipsec.ModeTransport {
		_, _, is, id = addrs(fam)
	}
	head, tail := out.Overhead()
	return measure(head, tail, size, dur, innerPacket(make([]byte, size), is, id, size), func(buf []byte) ([]byte, error) {
		p, err := out.Seal(buf, head, size)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		o, err := in.Open(p.Bytes)
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		return o.Packet, nil
	})
}

// measure runs roundTrip (seal then open, in buf) on copies of want for
// dur and checks every packet comes back intact.
func measure(head, tail, size int, dur time.Duration, want []byte, roundTrip func(buf []byte) ([]byte, error)) (int, float64, error) {
	buf := make([]byte, head+size+tail)
	n := 0
	start := time.Now()
	for time.Since(start) < dur {
		for range 64 {
			copy(buf[head:], want)
			got, err := roundTrip(buf)
			if err != nil {
				return n, 0, err
			}
			if !bytes.Equal(got, want) {
				return n, 0, fmt.Errorf("packet %d came back different", n)
			}
			n++
		}
	}
	el := time.Since(start).Seconds()
	return n, float64(n*size*8) / el / 1e6, nil
}

func runAH(integ transform.IntegID, mode ipsec.Mode, size int, dur time.Duration) (int, float64, error) {
	klen := 32
	switch integ {
	case transform.IntegAES128GMAC:
		klen = 20
	case transform.IntegAESXCBC96, transform.IntegAESCMAC96:
		klen = 16
	}
	key := make([]byte, klen)
	_, _ = rand.Read(key)
	mk := func(dir ipsec.Direction) (*ah.SA, error) {
		x, err := transform.NewIntegrity(integ, key, transform.Options{})
		if err != nil {
			return nil, err
		}
		_, _, src, dst := addrs(4)
		return ah.New(ah.Config{SPI: 0x2000, Mode: mode, Direction: dir, Integrity: x, Src: src, Dst: dst, ReplayWindow: 128})
	}
	out, err := mk(ipsec.Outbound)
	if err != nil {
		return 0, 0, err
	}
	in, err := mk(ipsec.Inbound)
	if err != nil {
		return 0, 0, err
	}
	is, id, _, _ := addrs(4)
	if mode == ipsec.ModeTransport {
		_, _, is, id = addrs(4)
	}
	head, tail := out.Overhead()
	return measure(head, tail, size, dur, innerPacket(make([]byte, size), is, id, size), func(buf []byte) ([]byte, error) {
		p, err := out.Seal(buf, head, size)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		o, err := in.Open(p.Bytes)
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		return o.Packet, nil
	})
}
