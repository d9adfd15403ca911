package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary SK payload bodies and associated data to every
// protector. Open must never panic, must only fail with the documented
// errors, and must never return more plaintext than the body carries.
func FuzzOpen(f *testing.F) {
	for i, s := range protSuites {
		p := newTestProtector(f, s, 100)
		for _, n := range []int{0, 1, 15, 16, 100} {
			body, err := p.Seal(nil, testAD(), bytes.Repeat([]byte{0xa5}, n))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), uint8(32), append(testAD(), body...))
		}
	}
	f.Add(uint8(0), uint8(0), []byte{})
	f.Add(uint8(3), uint8(1), make([]byte, 64))
	f.Add(uint8(2), uint8(32), make([]byte, 32+8+1+16))

	protectors := make([]*Protector, len(protSuites))
	for i, s := range protSuites {
		protectors[i] = newTestProtector(f, s, 100)
	}
	f.Fuzz(func(t *testing.T, suite, adLen uint8, msg []byte) {
		p := protectors[int(suite)%len(protectors)]
		n := min(int(adLen), len(msg))
		ad, body := msg[:n], msg[n:]
		orig := bytes.Clone(msg)
		plain, err := p.Open(nil, ad, body)
		if err != nil {
			if !errors.Is(err, ErrSKTooShort) && !errors.Is(err, ErrSKBlockAlignment) &&
				!errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrSKPadding) {
				t.Fatalf("undocumented error: %v", err)
			}
			if len(plain) != 0 {
				t.Fatalf("error with %d octets of plaintext", len(plain))
			}
		} else if len(plain) > len(body)-p.IVLen()-p.ICVLen()-1 {
			t.Fatalf("%d octets of plaintext from a %d-octet body", len(plain), len(body))
		}
		if !bytes.Equal(msg, orig) {
			t.Fatal("Open modified its input")
		}
		// In place on a copy must not panic either.
		b := bytes.Clone(body)
		if len(b) >= p.IVLen() {
			_, _ = p.Open(b[p.IVLen():p.IVLen()], ad, b)
		}
	})
}
