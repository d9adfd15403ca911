package crypto

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"
)

func TestNATDetectionHashIPv6AndMapped(t *testing.T) {
	ip := netip.MustParseAddr("fd00:99::1")
	got := NATDetectionHash(0x0102030405060708, 0, ip, 500)
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0x0102030405060708)
	b = binary.BigEndian.AppendUint64(b, 0)
	a := ip.As16()
	b = append(b, a[:]...)
	b = binary.BigEndian.AppendUint16(b, 500)
	if got != sha1.Sum(b) {
		t.Errorf("IPv6 NAT-D hash %x", got)
	}
	v4 := NATDetectionHash(1, 2, netip.MustParseAddr("10.99.0.1"), 4500)
	mapped := NATDetectionHash(1, 2, netip.MustParseAddr("::ffff:10.99.0.1"), 4500)
	if v4 != mapped {
		t.Errorf("IPv4-mapped address hashed differently from IPv4")
	}
}

func TestSharedKeyAuthEAP(t *testing.T) {
	// RFC 7296 section 2.16: with EAP the MSK takes the place of the
	// shared secret; the formula is the same.
	p, _ := NewPRF(PRFHMACSHA2256, PRFOptions{})
	msk := make([]byte, 64)
	octets := []byte("signed octets")
	inner := p.Sum(nil, msk, []byte("Key Pad for IKEv2"))
	want := p.Sum(nil, inner, octets)
	if got := SharedKeyAuth(p, msk, octets); hex.EncodeToString(got) != hex.EncodeToString(want) {
		t.Errorf("EAP AUTH %x, want %x", got, want)
	}
	if err := VerifySharedKeyAuth(p, msk, octets, want[:31]); err != ErrAuthMismatch {
		t.Errorf("truncated AUTH: %v", err)
	}
	if err := VerifySharedKeyAuth(PRF{}, msk, octets, want); err == nil {
		t.Errorf("zero PRF accepted")
	}
}
