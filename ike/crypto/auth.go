package crypto

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// keyPad is the 17 ASCII characters, without a terminating NUL, that RFC 7296
// section 2.15 mixes into a shared-secret AUTH.
const keyPad = "Key Pad for IKEv2"

// ErrAuthMismatch is returned when a received AUTH payload does not match the
// one computed from the shared secret.
var ErrAuthMismatch = errors.New("AUTH payload does not match")

// SharedKeyAuth computes the Authentication Data of a shared-secret AUTH
// payload (RFC 7296 section 2.15):
//
//	AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//
// with the IKE SA's PRF and the signed octets from IKESAKeys.SignedOctets.
// For EAP (section 2.16) pass the MSK as secret, or SK_pi/SK_pr when the EAP
// method yields no MSK.
func SharedKeyAuth(prf PRF, secret, signedOctets []byte) []byte {
	var inner [64]byte
	k := prf.Sum(inner[:0], secret, []byte(keyPad))
	defer clear(k)
	return prf.Sum(nil, k, signedOctets)
}

// VerifySharedKeyAuth checks a received shared-secret (or EAP) AUTH payload
// in constant time and returns ErrAuthMismatch if it does not match.
func VerifySharedKeyAuth(prf PRF, secret, signedOctets, auth []byte) error {
	if prf.Size() == 0 {
		return fmt.Errorf("verify AUTH: %w", ErrUnsupported)
	}
	want := SharedKeyAuth(prf, secret, signedOctets)
	if !hmac.Equal(want, auth) {
		return ErrAuthMismatch
	}
	return nil
}

// NATDetectionHash returns the data of a NAT_DETECTION_SOURCE_IP or
// NAT_DETECTION_DESTINATION_IP notification (RFC 7296 section 2.23):
//
//	SHA-1(SPIi | SPIr | IP | Port)
//
// SHA-1 is what the RFC mandates here; it is a consistency check, not a
// security mechanism. In IKE_SA_INIT requests spiR is zero. An IPv4-mapped
// IPv6 address is hashed as IPv4.
func NATDetectionHash(spiI, spiR uint64, ip netip.Addr, port uint16) [sha1.Size]byte {
	var b [8 + 8 + 16 + 2]byte
	binary.BigEndian.PutUint64(b[0:], spiI)
	binary.BigEndian.PutUint64(b[8:], spiR)
	n := 16
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		copy(b[16:], a[:])
		n = 4
	} else {
		a := ip.As16()
		copy(b[16:], a[:])
	}
	binary.BigEndian.PutUint16(b[16+n:], port)
	return sha1.Sum(b[:16+n+2])
}
