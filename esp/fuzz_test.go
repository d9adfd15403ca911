package esp

import (
	"encoding/binary"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/transform"
)

var (
	nullAlgo = algo{"null-sha256", transform.EncrNull, 0, transform.IntegHMACSHA256_128}
	ccm128   = algo{"aes128ccm16", transform.EncrAESCCM16, 128, transform.IntegNone}
	gcm8     = algo{"aes128gcm8", transform.EncrAESGCM8, 128, transform.IntegNone}
)

// fuzzSeeds returns sealed packets of several shapes.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, cfg := range []Config{
		{SPI: 0x100, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b},
		{SPI: 0x100, Mode: ipsec.ModeTunnel, Src: out6a, Dst: out6b, ESN: true},
		{SPI: 0x100, Mode: ipsec.ModeTransport},
		{SPI: 0x100, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, UDP: &UDPEncap{SrcPort: 4500, DstPort: 4500}},
	} {
		for _, a := range []algo{gcm128, nullAlgo, ccm128, gcm8} {
			out, _ := pair(t, a, cfg)
			for _, inner := range [][]byte{udpPacket(in4a, in4b, 2, []byte("seed")), udpPacket(in6a, in6b, 0, make([]byte, 40))} {
				if cfg.Mode == ipsec.ModeTransport && inner[0]>>4 == 6 {
					continue
				}
				_, s := seal(t, out, inner)
				seeds = append(seeds, s)
			}
		}
	}
	return seeds
}

// wrapESP puts an IPv4 header in front of an ESP packet.
func wrapESP(esp []byte) []byte {
	pkt := make([]byte, 20+len(esp))
	h := packet.IPv4Header{TotalLen: len(pkt), TTL: 64, Protocol: packet.ProtoESP, Src: out4a, Dst: out4b}
	h.Put(pkt)
	copy(pkt[20:], esp)
	return pkt
}

// FuzzOpen feeds arbitrary packets to inbound SAs, and arbitrary decrypted
// payloads (sealed with the right key, so they pass the ICV) to exercise
// the padding and inner-packet checks. Nothing may panic, and a result must
// lie inside the input.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
	}
	f.Add([]byte{0x45, 0, 0, 20}, uint8(2))
	f.Add(make([]byte, 20), uint8(0))
	f.Add(append([]byte{0x45, 0, 0, 0}, make([]byte, 40)...), uint8(0)) // total length 0
	f.Add(udpPacket(in4a, in4b, 0, []byte{1, 2, 2, 4}), uint8(3))
	f.Add(udpPacket(in4a, in4b, 0, []byte{1, 2, 2, 4}), uint8(8))  // AES-CCM
	f.Add(udpPacket(in4a, in4b, 0, []byte{1, 2, 2, 4}), uint8(13)) // AES-GCM-8, ESN
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		modes := []ipsec.Mode{ipsec.ModeTunnel, ipsec.ModeTransport}
		cfg := Config{SPI: 0x100, Mode: modes[sel&1], ESN: sel&2 != 0, ReplayWindow: 64, Src: out4a, Dst: out4b}
		a := []algo{gcm128, nullAlgo, ccm128, gcm8}[sel>>2&3]
		_, in := pair(t, a, cfg)
		buf := append([]byte(nil), data...)
		if res, err := in.Open(buf); err == nil && res.Packet != nil && len(res.Packet) > len(buf) {
			t.Fatalf("result of %d octets from a %d-octet packet", len(res.Packet), len(buf))
		}

		// data as the plaintext payload of an authentic packet.
		payload := data
		if len(payload) > 2000 {
			payload = payload[:2000]
		}
		payload = payload[:len(payload)/4*4]
		if len(payload) == 0 {
			return
		}
		x := newTransform(t, a, 1)
		esp := make([]byte, 8+x.IVLen()+len(payload)+x.ICVLen())
		binary.BigEndian.PutUint32(esp, 0x100)
		binary.BigEndian.PutUint32(esp[4:], 1)
		copy(esp[8+x.IVLen():], payload)
		if err := x.Seal(esp, 1, cfg.ESN); err != nil {
			t.Fatal(err)
		}
		_, in2 := pair(t, a, cfg)
		pkt := wrapESP(esp)
		if res, err := in2.Open(pkt); err == nil && res.Packet != nil && len(res.Packet) > len(pkt) {
			t.Fatalf("result of %d octets from a %d-octet packet", len(res.Packet), len(pkt))
		}
	})
}

// FuzzUDPEncap classifies arbitrary UDP/4500 payloads and opens them as
// UDP-encapsulated ESP over IPv4 and IPv6.
func FuzzUDPEncap(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if u, err := packet.ParseUpperLayer(s); err == nil && u.Proto == packet.ProtoUDP {
			f.Add(s[u.Offset+8:])
		}
	}
	f.Add([]byte{0xff})
	f.Add([]byte{0, 0, 0, 0, 0x21, 0x20, 0x22, 0x08})
	f.Add([]byte{0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		kind := ClassifyUDP(payload)
		for _, v6 := range []bool{false, true} {
			cfg := Config{SPI: 0x100, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, UDP: &UDPEncap{SrcPort: 4500, DstPort: 4500}}
			_, in := pair(t, gcm128, cfg)
			var pkt []byte
			if v6 {
				pkt = udpPacket(out6a, out6b, 0, payload)
			} else {
				pkt = udpPacket(out4a, out4b, 0, payload)
			}
			_, err := in.Open(pkt)
			if kind != UDPESP && err == nil {
				t.Fatalf("%v payload opened", kind)
			}
			if (kind == UDPIKE || kind == UDPKeepalive) && err != ErrNotESP {
				t.Fatalf("%v payload: %v, want ErrNotESP", kind, err)
			}
		}
	})
}
