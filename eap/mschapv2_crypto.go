package eap

import (
	"crypto/des"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"unicode/utf16"

	//lint:ignore SA1019 MS-CHAPv2 (RFC 2759) is defined over MD4; this is the compatibility use the deprecation allows
	"golang.org/x/crypto/md4"
)

// The MS-CHAPv2 functions of RFC 2759 section 8 and the key derivation of
// RFC 3079 section 3, named as the RFCs name them.

// ntPasswordHash is MD4 over the password in UTF-16LE (RFC 2759 8.3).
func ntPasswordHash(password []byte) [16]byte {
	u := utf16.Encode([]rune(string(password)))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	h := md4.New()
	h.Write(b)
	clear(b)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// hashNTPasswordHash is MD4 of the password hash (RFC 2759 8.4).
func hashNTPasswordHash(ph [16]byte) [16]byte {
	h := md4.New()
	h.Write(ph[:])
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// userNameForHash strips a Windows domain ("DOMAIN\user"), as RFC 2759 8.2
// asks: only the user name enters the challenge hash.
func userNameForHash(name string) string {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// challengeHash is RFC 2759 8.2.
func challengeHash(peerChallenge, authChallenge []byte, userName string) [8]byte {
	h := sha1.New()
	h.Write(peerChallenge)
	h.Write(authChallenge)
	h.Write([]byte(userNameForHash(userName)))
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

// desKey spreads 7 key bytes over the 8 bytes DES takes (parity bits are
// ignored by crypto/des).
func desKey(k []byte) []byte {
	return []byte{
		k[0],
		k[0]<<7 | k[1]>>1,
		k[1]<<6 | k[2]>>2,
		k[2]<<5 | k[3]>>3,
		k[3]<<4 | k[4]>>4,
		k[4]<<3 | k[5]>>5,
		k[5]<<2 | k[6]>>6,
		k[6] << 1,
	}
}

// challengeResponse is RFC 2759 8.5: three DES encryptions of the challenge
// under the zero-padded password hash.
func challengeResponse(challenge [8]byte, ph [16]byte) [24]byte {
	var z [21]byte
	copy(z[:], ph[:])
	var out [24]byte
	for i := range 3 {
		c, _ := des.NewCipher(desKey(z[7*i : 7*i+7])) // 8-byte key: cannot fail
		c.Encrypt(out[8*i:], challenge[:])
	}
	return out
}

// generateNTResponse is RFC 2759 8.1.
func generateNTResponse(authChallenge, peerChallenge []byte, userName string, password []byte) [24]byte {
	return challengeResponse(challengeHash(peerChallenge, authChallenge, userName), ntPasswordHash(password))
}

var (
	magic1 = []byte("Magic server to client signing constant")
	magic2 = []byte("Pad to make it do more than one iteration")
)

// generateAuthenticatorResponse is RFC 2759 8.7: "S=" and 40 hex digits.
func generateAuthenticatorResponse(ph [16]byte, ntResponse []byte, peerChallenge, authChallenge []byte, userName string) string {
	phh := hashNTPasswordHash(ph)
	h := sha1.New()
	h.Write(phh[:])
	h.Write(ntResponse)
	h.Write(magic1)
	digest := h.Sum(nil)
	c := challengeHash(peerChallenge, authChallenge, userName)
	h.Reset()
	h.Write(digest)
	h.Write(c[:])
	h.Write(magic2)
	return "S=" + strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// RFC 3079 3.4 constants.
var (
	keyMagic1 = []byte("This is the MPPE Master Key")
	keyMagic2 = []byte("On the client side, this is the send key; on the server side, it is the receive key.")
	keyMagic3 = []byte("On the client side, this is the receive key; on the server side, it is the send key.")
	shsPad1   = make([]byte, 40)
	shsPad2   = func() []byte {
		b := make([]byte, 40)
		for i := range b {
			b[i] = 0xf2
		}
		return b
	}()
)

// masterKey is RFC 3079 3.4 GetMasterKey.
func masterKey(phh [16]byte, ntResponse []byte) [16]byte {
	h := sha1.New()
	h.Write(phh[:])
	h.Write(ntResponse)
	h.Write(keyMagic1)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// asymmetricStartKey is RFC 3079 3.4 GetAsymmetricStartKey for a 16-byte
// key with the given magic.
func asymmetricStartKey(mk [16]byte, magic []byte) [16]byte {
	h := sha1.New()
	h.Write(mk[:])
	h.Write(shsPad1)
	h.Write(magic)
	h.Write(shsPad2)
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// mschapv2MSK is the 64-byte MSK of EAP-MSCHAPv2 as strongSwan and
// Microsoft build it (the MS-MPPE-Recv-Key and -Send-Key of a RADIUS
// server): the server's receive key (client's send key), then the server's
// send key, then 32 zero bytes. Both ends compute the same bytes.
func mschapv2MSK(ph [16]byte, ntResponse []byte) []byte {
	mk := masterKey(hashNTPasswordHash(ph), ntResponse)
	recv := asymmetricStartKey(mk, keyMagic2)
	send := asymmetricStartKey(mk, keyMagic3)
	msk := make([]byte, 64)
	copy(msk, recv[:])
	copy(msk[16:], send[:])
	return msk
}
