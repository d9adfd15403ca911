package wire

import (
	"os"
	"testing"
)

func BenchmarkParseIKESAInit(b *testing.B) {
	raw, err := os.ReadFile("testdata/multi-01-ike_sa_init-req.bin")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMessage(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalIKESAInit(b *testing.B) {
	raw, err := os.ReadFile("testdata/multi-01-ike_sa_init-req.bin")
	if err != nil {
		b.Fatal(err)
	}
	m, err := ParseMessage(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
