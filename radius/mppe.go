package radius

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
)

// Microsoft's vendor-specific attributes (RFC 2548).
const (
	VendorMicrosoft = 311
	msMPPESendKey   = 16 // RFC 2548 2.4.2
	msMPPERecvKey   = 17 // RFC 2548 2.4.3
)

// ErrNoMSK is returned by MSK when the Access-Accept lacks either MPPE key.
var ErrNoMSK = errors.New("radius: Access-Accept without MS-MPPE-Send-Key and MS-MPPE-Recv-Key")

// MSK derives the EAP Master Session Key from an Access-Accept that answered
// a request with Request Authenticator reqAuth: MS-MPPE-Recv-Key followed by
// MS-MPPE-Send-Key, zero-padded to 64 octets, which is what strongSwan's
// eap-radius (and RFC 3748's MSK split of MPPE keys) uses for IKE's AUTH.
func MSK(p *Packet, reqAuth [16]byte, secret []byte) ([]byte, error) {
	var send, recv []byte
	for _, a := range p.Attributes {
		if a.Type != TypeVendorSpecific || len(a.Value) < 6 {
			continue
		}
		if binary.BigEndian.Uint32(a.Value[:4]) != VendorMicrosoft {
			continue
		}
		vt, vl := a.Value[4], int(a.Value[5])
		if vl != len(a.Value)-4 || (vt != msMPPESendKey && vt != msMPPERecvKey) {
			continue
		}
		key, err := decryptMPPEKey(a.Value[6:], secret, reqAuth)
		if err != nil {
			return nil, fmt.Errorf("MS-MPPE key %d: %w", vt, err)
		}
		if vt == msMPPESendKey {
			send = key
		} else {
			recv = key
		}
	}
	if send == nil || recv == nil {
		return nil, ErrNoMSK
	}
	msk := make([]byte, 0, max(64, len(send)+len(recv)))
	msk = append(msk, recv...)
	msk = append(msk, send...)
	for len(msk) < 64 {
		msk = append(msk, 0)
	}
	return msk, nil
}

// decryptMPPEKey reverses RFC 2548 2.4.2: v is Salt (2 octets) followed by
// the encrypted String, whose plaintext is a key-length octet, the key and
// padding. b(1) = MD5(S + R + A), b(i) = MD5(S + c(i-1)), p(i) = c(i) xor b(i).
func decryptMPPEKey(v, secret []byte, reqAuth [16]byte) ([]byte, error) {
	if len(v) < 2+16 || (len(v)-2)%16 != 0 {
		return nil, errors.New("encrypted string not a multiple of 16 octets")
	}
	salt, c := v[:2], v[2:]
	plain := make([]byte, len(c))
	for i := 0; i < len(c); i += 16 {
		h := md5.New()
		h.Write(secret)
		if i == 0 {
			h.Write(reqAuth[:])
			h.Write(salt)
		} else {
			h.Write(c[i-16 : i])
		}
		b := h.Sum(nil)
		for j := range 16 {
			plain[i+j] = c[i+j] ^ b[j]
		}
	}
	n := int(plain[0])
	if n == 0 || n >= len(plain) {
		return nil, errors.New("key length out of range (wrong shared secret?)")
	}
	return plain[1 : 1+n : 1+n], nil
}

// EncryptMPPEKey is the server side of decryptMPPEKey, for tests and tools:
// it returns the vendor-specific attribute value carrying key.
func EncryptMPPEKey(recv bool, key, secret []byte, reqAuth [16]byte, salt uint16) []byte {
	plainLen := (1 + len(key) + 15) / 16 * 16
	plain := make([]byte, plainLen)
	plain[0] = byte(len(key))
	copy(plain[1:], key)
	vt := byte(msMPPESendKey)
	if recv {
		vt = msMPPERecvKey
	}
	out := make([]byte, 6, 6+2+plainLen)
	binary.BigEndian.PutUint32(out, VendorMicrosoft)
	out[4], out[5] = vt, byte(2+2+plainLen)
	out = binary.BigEndian.AppendUint16(out, salt|0x8000)
	prev := []byte(nil)
	for i := 0; i < plainLen; i += 16 {
		h := md5.New()
		h.Write(secret)
		if i == 0 {
			h.Write(reqAuth[:])
			h.Write(out[6:8])
		} else {
			h.Write(prev)
		}
		b := h.Sum(nil)
		for j := range 16 {
			out = append(out, plain[i+j]^b[j])
		}
		prev = out[len(out)-16:]
	}
	return out
}
