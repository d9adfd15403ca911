// Package eap implements the Extensible Authentication Protocol (RFC 3748)
// as IKEv2 carries it (RFC 7296 2.16): the packet codec, EAP-Identity,
// EAP-MSCHAPv2 (RFC 2759, draft-kamath-pppext-eap-mschapv2) with its MSK
// (RFC 3079) and EAP-MD5 (RFC 3748 5.4), for both the authenticator (the
// gateway, Server) and the peer (the client, Peer).
//
// The package does no I/O and keeps no global state: randomness and secrets
// come from the caller. Each conversation is one value driven message by
// message.
package eap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Codes (RFC 3748 4).
const (
	CodeRequest  uint8 = 1
	CodeResponse uint8 = 2
	CodeSuccess  uint8 = 3
	CodeFailure  uint8 = 4
)

// Method types (RFC 3748 5, IANA "EAP Method Types").
const (
	TypeIdentity     uint8 = 1
	TypeNotification uint8 = 2
	TypeNak          uint8 = 3
	TypeMD5          uint8 = 4
	TypeTLS          uint8 = 13
	TypeMSCHAPv2     uint8 = 26
)

// TypeName is a method type as strongSwan logs it.
func TypeName(t uint8) string {
	switch t {
	case TypeIdentity:
		return "Identity"
	case TypeNotification:
		return "Notification"
	case TypeNak:
		return "Nak"
	case TypeMD5:
		return "MD5"
	case TypeTLS:
		return "TLS"
	case TypeMSCHAPv2:
		return "MSCHAPV2"
	}
	return fmt.Sprintf("EAP type %d", t)
}

// Errors a parser returns, so callers can tell bad input apart.
var (
	ErrTruncated = errors.New("eap: truncated packet")
	ErrLength    = errors.New("eap: length field does not match")
)

// Packet is one EAP message. Success and Failure carry no Type; for them
// Type is 0 and Data empty.
type Packet struct {
	Code       uint8
	Identifier uint8
	Type       uint8
	Data       []byte
}

// HasType reports whether packets with this code carry a Type octet.
func (p *Packet) HasType() bool { return p.Code == CodeRequest || p.Code == CodeResponse }

// Parse decodes one EAP packet. Data aliases b. Bytes after the length the
// header gives are padding a lower layer may add (RFC 3748 4) and ignored.
func Parse(b []byte) (*Packet, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, the header needs 4", ErrTruncated, len(b))
	}
	l := int(binary.BigEndian.Uint16(b[2:]))
	if l < 4 || l > len(b) {
		return nil, fmt.Errorf("%w: length field %d, %d bytes present", ErrLength, l, len(b))
	}
	p := &Packet{Code: b[0], Identifier: b[1]}
	switch p.Code {
	case CodeRequest, CodeResponse:
		if l < 5 {
			return nil, fmt.Errorf("%w: code %d without a type", ErrTruncated, p.Code)
		}
		p.Type = b[4]
		p.Data = b[5:l]
	case CodeSuccess, CodeFailure:
		if l != 4 {
			return nil, fmt.Errorf("%w: code %d with length %d, want 4", ErrLength, p.Code, l)
		}
	default:
		return nil, fmt.Errorf("eap: unknown code %d", p.Code)
	}
	return p, nil
}

// Marshal encodes the packet.
func (p *Packet) Marshal() []byte {
	n := 4
	if p.HasType() {
		n += 1 + len(p.Data)
	}
	b := make([]byte, 4, n)
	b[0], b[1] = p.Code, p.Identifier
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	if p.HasType() {
		b = append(b, p.Type)
		b = append(b, p.Data...)
	}
	return b
}

// Outcome is where a conversation stands after a step.
type Outcome uint8

// Outcomes.
const (
	Continue Outcome = iota // more messages to exchange
	Succeeded
	Failed
)
