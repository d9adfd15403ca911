package transform

import (
	"fmt"
	"testing"
)

// BenchmarkSealOpen measures one Seal plus one Open per iteration; the
// throughput counts the payload once.
func BenchmarkSealOpen(b *testing.B) {
	suites := []suiteEntry{
		{EncrAESGCM16, 128, IntegNone},
		{EncrAESGCM16, 256, IntegNone},
		{EncrChaCha20Poly1305, 256, IntegNone},
		{EncrNullAuthAESGMAC, 128, IntegNone},
		{EncrAESCBC, 128, IntegHMACSHA256_128},
		{EncrAESCBC, 256, IntegHMACSHA512_256},
		{EncrAESCTR, 128, IntegHMACSHA256_128},
		{EncrAESCTR, 256, IntegHMACSHA384_192},
		{EncrNull, 0, IntegHMACSHA256_128},
		{EncrAESGCM16, 192, IntegNone},
		{EncrAESGCM12, 128, IntegNone},
		{EncrAESGCM8, 128, IntegNone},
		{EncrAESCCM16, 128, IntegNone},
		{EncrAESCCM8, 256, IntegNone},
		{EncrAESCBC, 128, IntegAESXCBC96},
		{EncrAESCBC, 128, IntegAESCMAC96},
	}
	for _, s := range suites {
		for _, size := range []int{64, 512, 1400} {
			b.Run(fmt.Sprintf("%v/%d", s, size), func(b *testing.B) {
				x := newSuite(b, s)
				n := (size + x.BlockSize() - 1) / x.BlockSize() * x.BlockSize()
				buf := espBuf(1, 1, x.IVLen(), make([]byte, n), x.ICVLen())
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if err := x.Seal(buf, uint64(i), true); err != nil {
						b.Fatal(err)
					}
					if err := x.Open(buf, uint64(i), true); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkIntegrity measures AH-style Sum plus Verify.
func BenchmarkIntegrity(b *testing.B) {
	for _, id := range []IntegID{IntegHMACSHA256_128, IntegHMACSHA512_256, IntegAES128GMAC, IntegAESXCBC96, IntegAESCMAC96} {
		for _, size := range []int{64, 512, 1400} {
			b.Run(fmt.Sprintf("%v/%d", id, size), func(b *testing.B) {
				n, _ := integKeyLen(id)
				x, err := NewIntegrity(id, make([]byte, n), Options{})
				if err != nil {
					b.Fatal(err)
				}
				parts := [][]byte{make([]byte, 24), make([]byte, size)}
				icv := make([]byte, x.ICVLen())
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					_ = x.Sum(icv, uint64(i), false, parts...)
					if err := x.Verify(icv, uint64(i), false, parts...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
