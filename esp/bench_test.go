package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ipsec"
	"golang.org/x/crypto/chacha20poly1305"
)

// BenchmarkAEAD puts the whole packet path (Seal, then Open of the same
// packet: tunnel mode, IPv4 in IPv4, replay window, ESN) beside the raw
// cipher's Seal+Open (cipher.AEAD) at the same sizes, so one run shows the
// cost of the ESP engine on top of the cryptography.
func BenchmarkAEAD(b *testing.B) {
	raws := map[string]func() cipher.AEAD{
		"aes128gcm": func() cipher.AEAD { c, _ := aes.NewCipher(make([]byte, 16)); g, _ := cipher.NewGCM(c); return g },
		"aes256gcm": func() cipher.AEAD { c, _ := aes.NewCipher(make([]byte, 32)); g, _ := cipher.NewGCM(c); return g },
		"chacha20poly1305": func() cipher.AEAD {
			g, _ := chacha20poly1305.New(make([]byte, 32))
			return g
		},
	}
	for _, a := range algos[:3] {
		for _, size := range []int{64, 512, 1400} {
			b.Run(fmt.Sprintf("%s/%d/esp", a.name, size), func(b *testing.B) {
				cfg := Config{SPI: 1, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, ESN: true, ReplayWindow: 1024}
				out, in := pair(b, a, cfg)
				inner := udpPacket(in4a, in4b, 0, make([]byte, size-28))
				head, tail := out.Overhead()
				buf := make([]byte, head+size+tail)
				copy(buf[head:], inner)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					p, err := out.Seal(buf, head, size)
					if err != nil {
						b.Fatal(err)
					}
					// The inner packet is decrypted back to buf[head:].
					if _, err := in.Open(p.Bytes); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/raw", a.name, size), func(b *testing.B) {
				g := raws[a.name]()
				nonce := make([]byte, g.NonceSize())
				aad := make([]byte, 12)
				buf := make([]byte, size+g.Overhead())
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					ct := g.Seal(buf[:0], nonce, buf[:size], aad)
					if _, err := g.Open(ct[:0], nonce, ct, aad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
