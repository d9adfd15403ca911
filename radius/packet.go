package radius

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Code is the packet type (RFC 2865 section 3).
type Code uint8

// Packet codes (RFC 2865 section 3, RFC 2866 section 3).
const (
	CodeAccessRequest      Code = 1
	CodeAccessAccept       Code = 2
	CodeAccessReject       Code = 3
	CodeAccountingRequest  Code = 4
	CodeAccountingResponse Code = 5
	CodeAccessChallenge    Code = 11
)

func (c Code) String() string {
	switch c {
	case CodeAccessRequest:
		return "Access-Request"
	case CodeAccessAccept:
		return "Access-Accept"
	case CodeAccessReject:
		return "Access-Reject"
	case CodeAccountingRequest:
		return "Accounting-Request"
	case CodeAccountingResponse:
		return "Accounting-Response"
	case CodeAccessChallenge:
		return "Access-Challenge"
	}
	return fmt.Sprintf("code %d", uint8(c))
}

// Type is an attribute type (RFC 2865 section 5).
type Type uint8

// Attribute types used by the EAP pass-through.
const (
	TypeUserName             Type = 1  // RFC 2865 5.1
	TypeUserPassword         Type = 2  // RFC 2865 5.2
	TypeNASIPAddress         Type = 4  // RFC 2865 5.4
	TypeNASPort              Type = 5  // RFC 2865 5.5
	TypeServiceType          Type = 6  // RFC 2865 5.6
	TypeFramedMTU            Type = 12 // RFC 2865 5.12
	TypeReplyMessage         Type = 18 // RFC 2865 5.18
	TypeState                Type = 24 // RFC 2865 5.24
	TypeClass                Type = 25 // RFC 2865 5.25
	TypeVendorSpecific       Type = 26 // RFC 2865 5.26
	TypeSessionTimeout       Type = 27 // RFC 2865 5.27
	TypeCalledStationID      Type = 30 // RFC 2865 5.30
	TypeCallingStationID     Type = 31 // RFC 2865 5.31
	TypeNASIdentifier        Type = 32 // RFC 2865 5.32
	TypeAcctStatusType       Type = 40 // RFC 2866 5.1
	TypeAcctSessionID        Type = 44 // RFC 2866 5.5
	TypeNASPortType          Type = 61 // RFC 2865 5.41
	TypeEAPMessage           Type = 79 // RFC 3579 3.1
	TypeMessageAuthenticator Type = 80 // RFC 3579 3.2
)

// Sizes of the wire format (RFC 2865 section 3).
const (
	HeaderLen     = 20   // code, identifier, length, authenticator
	MaxPacketLen  = 4096 // RFC 2865 section 3: larger packets are silently discarded
	MaxValueLen   = 253  // an attribute's value: 255 minus type and length
	authenticator = 16
)

// Attribute is one attribute. Value aliases the parsed buffer.
type Attribute struct {
	Type  Type
	Value []byte
}

// Packet is one RADIUS packet.
type Packet struct {
	Code          Code
	Identifier    uint8
	Authenticator [16]byte
	Attributes    []Attribute
}

// Errors of Parse, for callers that count drops by reason.
var (
	ErrShort     = errors.New("radius: packet shorter than its header or length field")
	ErrTooLong   = errors.New("radius: packet length above 4096")
	ErrAttribute = errors.New("radius: attribute length out of bounds")
)

// Parse decodes a packet. Octets after the Length field are padding and
// ignored (RFC 2865 section 3). Attribute values alias b. It allocates one
// slice whose size is bounded by len(b)/2.
func Parse(b []byte) (*Packet, error) {
	if len(b) < HeaderLen {
		return nil, ErrShort
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < HeaderLen || n > len(b) {
		return nil, ErrShort
	}
	if n > MaxPacketLen {
		return nil, ErrTooLong
	}
	b = b[:n]
	// count first so that the slice is allocated once, at its final size
	count := 0
	for rest := b[HeaderLen:]; len(rest) > 0; count++ {
		if len(rest) < 2 || rest[1] < 2 || int(rest[1]) > len(rest) {
			return nil, ErrAttribute
		}
		rest = rest[rest[1]:]
	}
	p := &Packet{Code: Code(b[0]), Identifier: b[1], Attributes: make([]Attribute, 0, count)}
	copy(p.Authenticator[:], b[4:HeaderLen])
	for rest := b[HeaderLen:]; len(rest) > 0; rest = rest[rest[1]:] {
		p.Attributes = append(p.Attributes, Attribute{Type: Type(rest[0]), Value: rest[2:rest[1]:rest[1]]})
	}
	return p, nil
}

// Encode returns the wire form of p with the Authenticator as it stands.
func (p *Packet) Encode() ([]byte, error) {
	n := HeaderLen
	for _, a := range p.Attributes {
		if len(a.Value) > MaxValueLen {
			return nil, fmt.Errorf("radius: attribute %d value of %d octets exceeds %d", a.Type, len(a.Value), MaxValueLen)
		}
		n += 2 + len(a.Value)
	}
	if n > MaxPacketLen {
		return nil, fmt.Errorf("radius: packet of %d octets exceeds %d", n, MaxPacketLen)
	}
	b := make([]byte, HeaderLen, n)
	b[0], b[1] = byte(p.Code), p.Identifier
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	copy(b[4:HeaderLen], p.Authenticator[:])
	for _, a := range p.Attributes {
		b = append(b, byte(a.Type), byte(2+len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}

// Get returns the value of the first attribute of type t.
func (p *Packet) Get(t Type) ([]byte, bool) {
	for _, a := range p.Attributes {
		if a.Type == t {
			return a.Value, true
		}
	}
	return nil, false
}

// Add appends an attribute.
func (p *Packet) Add(t Type, v []byte) {
	p.Attributes = append(p.Attributes, Attribute{Type: t, Value: v})
}

// SplitEAP returns the EAP-Message attributes that carry msg, in 253-octet
// pieces (RFC 3579 3.1).
func SplitEAP(msg []byte) []Attribute {
	out := make([]Attribute, 0, (len(msg)+MaxValueLen-1)/MaxValueLen)
	for len(msg) > 0 {
		k := min(len(msg), MaxValueLen)
		out = append(out, Attribute{Type: TypeEAPMessage, Value: msg[:k:k]})
		msg = msg[k:]
	}
	return out
}

// EAPMessage joins the EAP-Message attributes of p into one EAP packet
// (RFC 3579 3.1); ok is false when p has none. The result is checked against
// the EAP length field (RFC 3748 4) so a truncated message is refused here.
func (p *Packet) EAPMessage() (msg []byte, ok bool, err error) {
	n := 0
	for _, a := range p.Attributes {
		if a.Type == TypeEAPMessage {
			n += len(a.Value)
			ok = true
		}
	}
	if !ok {
		return nil, false, nil
	}
	msg = make([]byte, 0, n)
	for _, a := range p.Attributes {
		if a.Type == TypeEAPMessage {
			msg = append(msg, a.Value...)
		}
	}
	if len(msg) < 4 || int(binary.BigEndian.Uint16(msg[2:4])) != len(msg) {
		return nil, true, fmt.Errorf("radius: EAP-Message of %d octets does not match its EAP length", len(msg))
	}
	return msg, true, nil
}
