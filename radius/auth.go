package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of VerifyResponse.
var (
	ErrResponseAuthenticator = errors.New("radius: Response Authenticator does not match (wrong shared secret?)")
	ErrMessageAuthenticator  = errors.New("radius: Message-Authenticator does not match")
	ErrNoMessageAuth         = errors.New("radius: EAP-Message without Message-Authenticator")
	ErrIdentifier            = errors.New("radius: response identifier does not match the request")
)

// Sign encodes a request for the server that shares secret. Access-Request
// keeps p.Authenticator, which the caller fills with 16 random octets (RFC
// 2865 3), and gains a Message-Authenticator (RFC 3579 3.2; required with
// EAP-Message and harmless otherwise). Accounting-Request gets its
// Authenticator computed (RFC 2866 3). User-Password values must already be
// hidden with HidePassword.
func (p *Packet) Sign(secret []byte) ([]byte, error) {
	switch p.Code {
	case CodeAccessRequest:
		ma := -1
		for i, a := range p.Attributes {
			if a.Type == TypeMessageAuthenticator {
				ma = i
			}
		}
		if ma < 0 {
			p.Attributes = append(p.Attributes, Attribute{Type: TypeMessageAuthenticator})
			ma = len(p.Attributes) - 1
		}
		p.Attributes[ma].Value = make([]byte, 16)
		b, err := p.Encode()
		if err != nil {
			return nil, err
		}
		off := maOffset(b)
		mac := hmac.New(md5.New, secret)
		mac.Write(b)
		mac.Sum(b[off:off])
		copy(p.Attributes[ma].Value, b[off:off+16])
		return b, nil
	case CodeAccountingRequest:
		p.Authenticator = [16]byte{}
		b, err := p.Encode()
		if err != nil {
			return nil, err
		}
		h := md5.New()
		h.Write(b)
		h.Write(secret)
		h.Sum(b[4:4])
		copy(p.Authenticator[:], b[4:HeaderLen])
		return b, nil
	}
	return nil, fmt.Errorf("radius: cannot sign a %v as a request", p.Code)
}

// maOffset returns the offset of the first Message-Authenticator value in an
// encoded packet, or -1.
func maOffset(b []byte) int {
	for i := HeaderLen; i+2 <= len(b) && b[i+1] >= 2; i += int(b[i+1]) {
		if Type(b[i]) == TypeMessageAuthenticator && b[i+1] == 18 && i+18 <= len(b) {
			return i + 2
		}
	}
	return -1
}

// VerifyResponse parses a response to the request with identifier id and
// Request Authenticator reqAuth, and checks its Response Authenticator (RFC
// 2865 3) and its Message-Authenticator (RFC 3579 3.2), which a response
// carrying EAP-Message must have. Comparisons are constant-time.
func VerifyResponse(raw []byte, id uint8, reqAuth [16]byte, secret []byte) (*Packet, error) {
	p, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if p.Identifier != id {
		return nil, ErrIdentifier
	}
	b := raw[:binary.BigEndian.Uint16(raw[2:4])]
	// Response Authenticator = MD5(Code+ID+Length+RequestAuth+Attributes+Secret)
	h := md5.New()
	h.Write(b[:4])
	h.Write(reqAuth[:])
	h.Write(b[HeaderLen:])
	h.Write(secret)
	var sum [16]byte
	h.Sum(sum[:0])
	if subtle.ConstantTimeCompare(sum[:], p.Authenticator[:]) != 1 {
		return nil, ErrResponseAuthenticator
	}
	off := maOffset(b)
	if off < 0 {
		if _, ok := p.Get(TypeEAPMessage); ok {
			return nil, ErrNoMessageAuth
		}
		return p, nil
	}
	// HMAC-MD5 over the packet with the Request Authenticator in place of
	// the Response Authenticator and the Message-Authenticator zeroed
	mac := hmac.New(md5.New, secret)
	mac.Write(b[:4])
	mac.Write(reqAuth[:])
	mac.Write(b[HeaderLen:off])
	mac.Write(make([]byte, 16))
	mac.Write(b[off+16:])
	if !hmac.Equal(mac.Sum(nil), b[off:off+16]) {
		return nil, ErrMessageAuthenticator
	}
	return p, nil
}

// HidePassword hides a User-Password for an Access-Request with Request
// Authenticator reqAuth (RFC 2865 5.2): padded to 16 octets, each block
// XORed with MD5(secret + previous block).
func HidePassword(password, secret []byte, reqAuth [16]byte) ([]byte, error) {
	if len(password) > 128 {
		return nil, errors.New("radius: User-Password longer than 128 octets")
	}
	n := max(16, (len(password)+15)/16*16)
	out := make([]byte, n)
	copy(out, password)
	prev := reqAuth[:]
	for i := 0; i < n; i += 16 {
		h := md5.New()
		h.Write(secret)
		h.Write(prev)
		b := h.Sum(nil)
		for j := range 16 {
			out[i+j] ^= b[j]
		}
		prev = out[i : i+16]
	}
	return out, nil
}
