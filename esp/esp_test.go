package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
)

func TestRoundTripMatrix(t *testing.T) {
	families := []struct {
		name           string
		inSrc, inDst   netip.Addr
		outSrc, outDst netip.Addr
	}{
		{"4in4", in4a, in4b, out4a, out4b},
		{"6in6", in6a, in6b, out6a, out6b},
		{"4in6", in4a, in4b, out6a, out6b},
		{"6in4", in6a, in6b, out4a, out4b},
	}
	for _, a := range algos {
		for _, mode := range []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport} {
			for _, f := range families {
				if mode == ipsec.ModeTransport && f.inSrc.Is4() != f.outSrc.Is4() {
					continue // transport mode has one header
				}
				for _, esn := range []bool{false, true} {
					for _, udp := range []bool{false, true} {
						name := fmt.Sprintf("%s/%v/%s/esn=%v/udp=%v", a.name, mode, f.name, esn, udp)
						t.Run(name, func(t *testing.T) {
							cfg := Config{SPI: 0x1000, Mode: mode, Src: f.outSrc, Dst: f.outDst, ESN: esn, ReplayWindow: 64}
							if udp {
								cfg.UDP = &UDPEncap{SrcPort: 4500, DstPort: 4500}
							}
							out, in := pair(t, a, cfg)
							for i, size := range []int{0, 1, 13, 100, 1400} {
								payload := bytes.Repeat([]byte{byte(i + 1)}, size)
								inner := udpPacket(f.inSrc, f.inDst, 0, payload)
								p, sealed := seal(t, out, inner)
								checkOuter(t, p, mode, udp)
								res, err := in.Open(sealed)
								if err != nil {
									t.Fatalf("size %d: Open: %v", size, err)
								}
								if !bytes.Equal(res.Packet, inner) {
									t.Fatalf("size %d: got\n%x\nwant\n%x", size, res.Packet, inner)
								}
								if res.Seq != uint64(i+1) {
									t.Fatalf("seq %d, want %d", res.Seq, i+1)
								}
							}
						})
					}
				}
			}
		}
	}
}

// checkOuter verifies the headers Seal wrote in front of ESP.
func checkOuter(t *testing.T, p Packet, mode ipsec.Mode, udp bool) {
	t.Helper()
	b := p.Bytes
	tl, err := packet.TotalLen(b)
	if err != nil || tl != len(b) {
		t.Fatalf("outer length %d (%v), packet has %d", tl, err, len(b))
	}
	u, err := packet.ParseUpperLayer(b)
	if err != nil {
		t.Fatal(err)
	}
	wantProto := uint8(packet.ProtoESP)
	if udp {
		wantProto = packet.ProtoUDP
		if p.UDP != u.Offset || p.ESP != u.Offset+8 {
			t.Fatalf("UDP at %d, ESP at %d; header ends at %d", p.UDP, p.ESP, u.Offset)
		}
		if binary.BigEndian.Uint16(b[p.UDP+4:]) != uint16(len(b)-p.UDP) {
			t.Fatal("bad UDP length")
		}
		sum := binary.BigEndian.Uint16(b[p.UDP+6:])
		if packet.Version(b) == 4 && sum != 0 {
			t.Fatalf("IPv4 UDP checksum %#x, want 0 (RFC 3948)", sum)
		}
		if packet.Version(b) == 6 {
			src, dst, _ := packet.Addrs(b)
			if packet.Fold(packet.Sum(b[p.UDP:], packet.PseudoHeaderSum(src, dst, packet.ProtoUDP, len(b)-p.UDP))) != 0xffff {
				t.Fatal("bad IPv6 UDP checksum")
			}
		}
	} else if p.UDP != -1 || p.ESP != u.Offset {
		t.Fatalf("UDP %d, ESP at %d; header ends at %d", p.UDP, p.ESP, u.Offset)
	}
	if u.Proto != wantProto {
		t.Fatalf("outer protocol %d, want %d", u.Proto, wantProto)
	}
	if packet.Version(b) == 4 && packet.Fold(packet.Sum(b[:20], 0)) != 0xffff {
		t.Fatal("bad IPv4 header checksum")
	}
}

// TestVerifyESPFrom opens tunnel-mode packets as a UDP socket delivers
// them (ESP alone) out of place, for transforms that decrypt out of place
// and for those that copy first: the same inner packet as OpenESP, the
// source left as it was, the replay window moved only by Finish, and a
// tampered packet refused.
func TestVerifyESPFrom(t *testing.T) {
	for _, a := range algos {
		t.Run(a.name, func(t *testing.T) {
			cfg := Config{SPI: 0x2000, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, ReplayWindow: 64, UDP: &UDPEncap{SrcPort: 4500, DstPort: 4500}}
			out, in := pair(t, a, cfg)
			inner := udpPacket(in4a, in4b, 0, bytes.Repeat([]byte{7}, 1000))
			p, _ := seal(t, out, inner)
			src := append([]byte(nil), p.Bytes[p.ESP:]...)
			kept := append([]byte(nil), src...)
			dst := make([]byte, len(src)+100)
			v, err := in.VerifyESPFrom(dst, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(src, kept) {
				t.Fatal("VerifyESPFrom changed its source")
			}
			if !bytes.Equal(v.Inner(), inner) {
				t.Fatalf("inner packet before Finish\n%x\nwant\n%x", v.Inner(), inner)
			}
			// Verified, not yet finished: the same packet still verifies.
			if _, err := in.VerifyESPFrom(make([]byte, len(src)), src, 0); err != nil {
				t.Fatalf("second Verify before Finish: %v", err)
			}
			res, err := in.Finish(&v)
			if err != nil || !bytes.Equal(res.Packet, inner) {
				t.Fatalf("Finish: %v", err)
			}
			if _, err := in.VerifyESPFrom(dst, src, 0); !errors.Is(err, ErrReplayed) {
				t.Fatalf("replayed: %v, want ErrReplayed", err)
			}
			p2, _ := seal(t, out, inner)
			bad := append([]byte(nil), p2.Bytes[p2.ESP:]...)
			bad[len(bad)-1] ^= 1
			if _, err := in.VerifyESPFrom(make([]byte, len(bad)), bad, 0); err == nil {
				t.Fatal("tampered packet verified")
			}
			if _, err := in.VerifyESPFrom(make([]byte, len(bad)-1), bad, 0); err == nil {
				t.Fatal("short destination accepted")
			}
		})
	}
}
