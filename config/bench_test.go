package config

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkParseSettings measures the settings parser on a configuration
// with 100 connections (about 3000 lines).
func BenchmarkParseSettings(b *testing.B) {
	one, err := os.ReadFile("testdata/interop/psk-tunnel.a.conf")
	if err != nil {
		b.Fatal(err)
	}
	src := []byte(strings.Repeat(string(one), 100))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ctx := parseSource(noFiles{}, "b.conf", src); len(ctx.problems) > 0 {
			b.Fatal(ctx.problems)
		}
	}
}

// BenchmarkLoad measures a full Load of the largest interop sample.
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load("testdata/interop/multi-proposal.b.conf"); err != nil {
			b.Fatal(err)
		}
	}
}
