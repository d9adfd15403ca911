package auth

import (
	"fmt"
	"testing"
)

var benchCases = []struct {
	name string
	key  string
	opts SignerOptions
	peer []uint16
}{
	{"RSA-2048/sha256WithRSAEncryption", "rsa2048", SignerOptions{}, SupportedHashes()},
	{"RSA-2048/RSASSA-PSS-SHA256", "rsa2048", SignerOptions{RSAPSS: true}, SupportedHashes()},
	{"P-256/ecdsa-with-SHA256", "p256", SignerOptions{}, SupportedHashes()},
	{"P-256/RFC4754", "p256", SignerOptions{}, nil},
	{"P-384/ecdsa-with-SHA384", "p384", SignerOptions{}, SupportedHashes()},
	{"Ed25519", "ed25519", SignerOptions{}, SupportedHashes()},
}

func BenchmarkSign(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			s, err := NewSigner(key(b, bc.key), bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Sign(octets, bc.peer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := NewSigner(key(b, bc.key), bc.opts)
			m, data, err := s.Sign(octets, bc.peer)
			if err != nil {
				b.Fatal(err)
			}
			pub := s.Public()
			b.ReportAllocs()
			for b.Loop() {
				if err := Verify(pub, m, data, octets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseAlgorithmIdentifier(b *testing.B) {
	der, _ := RSAPSSSHA256.AlgorithmIdentifier()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAlgorithmIdentifier(der); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyChain(b *testing.B) {
	p := newPKI(b)
	store := NewTrustStore(p.root)
	inter := [][]byte{p.inter.Raw}
	b.ReportAllocs()
	for b.Loop() {
		if err := store.VerifyChain(p.moon, inter, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSecretsLookup(b *testing.B) {
	s := &Secrets{}
	for i := range 100 {
		_ = s.Add(fmt.Sprint(i), []byte("k"), fmt.Sprintf("host%d.example.org", i), "*.example.org")
	}
	local, remote := fqdn("host3.example.org"), fqdn("host77.example.org")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := s.Lookup(local, remote); !ok {
			b.Fatal("no match")
		}
	}
}
