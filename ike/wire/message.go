// Package wire is the IKEv2 message codec (RFC 7296 section 3, RFC 7383 fragments): every header, payload and
// substructure is parsed and marshalled here, with byte-exact round trips for well-formed input. Values that are
// opaque to the codec (SPIs, nonces, key exchange data, identities, AUTH data, certificates, notification data,
// encrypted bodies) are kept as bytes; parsed byte slices alias the input buffer.
//
// Encrypted payloads (SK, SKF) are kept as raw bodies: decryption lives elsewhere, after which the caller parses
// the plaintext chain with ParsePayloads. Message.AssociatedData and Message.EncryptedParts give the bytes that
// the AEAD or integrity algorithm must authenticate (RFC 7296 3.14, RFC 5282).
//
// What is not kept: RESERVED fields, and the critical bit of payloads the codec knows (RFC 7296 2.5 says to ignore
// it), are sent as zero; a received message that sets them re-marshals without them. Unknown header flag bits and
// the minor version are kept. Authentication therefore always uses the received bytes (Raw, EncryptedParts), never
// a re-marshalled message.
package wire

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// HeaderLen is the length of the IKE header.
const HeaderLen = 28

// Header is the IKE header (RFC 7296 3.1).
type Header struct {
	SPIi, SPIr   [8]byte
	NextPayload  PayloadType // as parsed; Marshal computes its own
	MinorVersion uint8       // 0 when sent; ignored when received (major version is always 2)
	Exchange     ExchangeType
	Flags        Flags
	MessageID    uint32
	Length       uint32 // as parsed; Marshal computes its own
}

// IsResponse reports whether the R flag is set.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// IsInitiator reports whether the I flag is set (sent by the IKE SA's original initiator).
func (h *Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// ParseHeader parses the IKE header at the start of b and checks its length field against len(b). It returns the
// header even when the only problem is the major version (error ErrInvalidMajorVersion), so that the caller can
// answer INVALID_MAJOR_VERSION with the right SPIs and message ID.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, fmt.Errorf("parse IKE header: %w", errf(ErrTruncated, "%d bytes, header needs %d", len(b), HeaderLen))
	}
	s := cryptobyte.String(b)
	var next, version, exch, flags uint8
	s.CopyBytes(h.SPIi[:])
	s.CopyBytes(h.SPIr[:])
	s.ReadUint8(&next)
	s.ReadUint8(&version)
	s.ReadUint8(&exch)
	s.ReadUint8(&flags)
	s.ReadUint32(&h.MessageID)
	s.ReadUint32(&h.Length)
	h.NextPayload, h.MinorVersion, h.Exchange, h.Flags = PayloadType(next), version&0x0f, ExchangeType(exch), Flags(flags)
	if h.Length < HeaderLen {
		return h, fmt.Errorf("parse IKE header: %w", errf(ErrInvalidLength, "length field %d, below the header's %d", h.Length, HeaderLen))
	}
	if int64(h.Length) != int64(len(b)) {
		return h, fmt.Errorf("parse IKE header: %w", errf(ErrInvalidLength, "length field %d, message has %d bytes", h.Length, len(b)))
	}
	if major := version >> 4; major != 2 {
		return h, fmt.Errorf("parse IKE header: %w %d.%d", ErrInvalidMajorVersion, major, version&0x0f)
	}
	return h, nil
}

// Message is an IKEv2 message: header and payload chain.
type Message struct {
	Header
	Payloads []Payload

	raw []byte // the parsed bytes, nil for built messages
}

// ParseMessage parses a whole IKE message (one UDP datagram without the non-ESP marker). The message aliases b.
func ParseMessage(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	payloads, err := parseChain(h.NextPayload, b[HeaderLen:], true)
	if err != nil {
		return nil, fmt.Errorf("parse %v %s %d: %w", h.Exchange, kind(&h), h.MessageID, err)
	}
	return &Message{Header: h, Payloads: payloads, raw: b}, nil
}

func kind(h *Header) string {
	if h.IsResponse() {
		return "response"
	}
	return "request"
}

// Raw returns the bytes the message was parsed from (nil for a message built in memory), e.g. for the signed
// octets of IKE_AUTH (RFC 7296 2.15), which cover the IKE_SA_INIT message exactly as it was sent.
func (m *Message) Raw() []byte { return m.raw }

// Marshal encodes the message, computing the header's Next Payload and Length and every payload's Next Payload and
// Payload Length. An SK or SKF payload must be the last one.
func (m *Message) Marshal() ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 512))
	b.AddBytes(m.SPIi[:])
	b.AddBytes(m.SPIr[:])
	b.AddUint8(0)
	b.AddUint8(0x20 | m.MinorVersion&0x0f)
	b.AddUint8(uint8(m.Exchange))
	b.AddUint8(uint8(m.Flags))
	b.AddUint32(m.MessageID)
	b.AddUint32(0) // length, patched below
	next := marshalChain(b, m.Payloads)
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("marshal %v message: %w", m.Exchange, err)
	}
	if uint64(len(out)) > 0xffffffff {
		return nil, fmt.Errorf("marshal %v message: %w", m.Exchange, errf(ErrInvalidLength, "%d bytes", len(out)))
	}
	out[16] = byte(next) // the header's Next Payload octet
	binary.BigEndian.PutUint32(out[24:28], uint32(len(out)))
	return out, nil
}

// lastEncrypted returns the final SK or SKF payload's body, if the message ends with one.
func (m *Message) lastEncrypted() ([]byte, bool) {
	if len(m.Payloads) == 0 {
		return nil, false
	}
	switch p := m.Payloads[len(m.Payloads)-1].(type) {
	case *Encrypted:
		return p.Body, true
	case *EncryptedFragment:
		return p.Body, true
	}
	return nil, false
}

// AssociatedData returns, for a message to be sent whose last payload is SK or SKF and whose encrypted body (IV,
// ciphertext, ICV) will be bodyLen bytes long, the octets from the start of the IKE header to the end of the
// encrypted payload's header (for SKF including Fragment Number and Total Fragments): the AEAD associated data of
// RFC 5282 5.1 and RFC 7383 2.5. The current Body is ignored; the message is not modified.
func (m *Message) AssociatedData(bodyLen int) ([]byte, error) {
	if _, ok := m.lastEncrypted(); !ok {
		return nil, fmt.Errorf("associated data: %w", errf(ErrInvalidSyntax, "message does not end with SK or SKF"))
	}
	if err := checkEncryptedBody(m.Payloads[len(m.Payloads)-1].Type(), bodyLen); err != nil {
		return nil, fmt.Errorf("associated data: %w", err)
	}
	c := *m
	c.Payloads = append([]Payload(nil), m.Payloads...)
	placeholder := make([]byte, bodyLen)
	switch p := c.Payloads[len(c.Payloads)-1].(type) {
	case *Encrypted:
		q := *p
		q.Body = placeholder
		c.Payloads[len(c.Payloads)-1] = &q
	case *EncryptedFragment:
		q := *p
		q.Body = placeholder
		c.Payloads[len(c.Payloads)-1] = &q
	}
	out, err := c.Marshal()
	if err != nil {
		return nil, fmt.Errorf("associated data: %w", err)
	}
	return out[:len(out)-bodyLen], nil
}

// EncryptedParts splits a parsed message that ends with SK or SKF into the received octets before the encrypted
// body (the AEAD associated data) and the body itself (IV, ciphertext, ICV). For integrity-protected ciphers the
// ICV covers Raw() minus the trailing ICV.
func (m *Message) EncryptedParts() (associated, body []byte, err error) {
	if m.raw == nil {
		return nil, nil, fmt.Errorf("encrypted parts: message was not parsed")
	}
	body, ok := m.lastEncrypted()
	if !ok {
		return nil, nil, fmt.Errorf("encrypted parts: %w", errf(ErrInvalidSyntax, "message does not end with SK or SKF"))
	}
	return m.raw[:len(m.raw)-len(body)], m.raw[len(m.raw)-len(body):], nil
}

// UnsupportedCritical returns the type of the first payload that the codec does not know and whose critical bit is
// set: the receiver must reject the message with UNSUPPORTED_CRITICAL_PAYLOAD carrying that type (RFC 7296 2.5).
// Unknown payloads without the critical bit are to be skipped.
func (m *Message) UnsupportedCritical() (PayloadType, bool) {
	return UnsupportedCritical(m.Payloads)
}

// UnsupportedCritical is Message.UnsupportedCritical for a payload chain, such as a decrypted SK payload.
func UnsupportedCritical(payloads []Payload) (PayloadType, bool) {
	for _, p := range payloads {
		if u, ok := p.(*Unknown); ok && u.Critical {
			return u.Kind, true
		}
	}
	return 0, false
}

// String summarises the message for logs, e.g. "IKE_SA_INIT request 0 [ SA KE No N(NAT_DETECTION_SOURCE_IP) ]".
func (m *Message) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%v %s %d [", m.Exchange, kind(&m.Header), m.MessageID)
	writePayloadList(&sb, m.Payloads)
	sb.WriteString(" ]")
	return sb.String()
}

// PayloadSummary summarises a payload chain the way Message.String does, e.g. "IDi AUTH SA TSi TSr".
func PayloadSummary(payloads []Payload) string {
	var sb strings.Builder
	writePayloadList(&sb, payloads)
	return strings.TrimPrefix(sb.String(), " ")
}

func writePayloadList(sb *strings.Builder, payloads []Payload) {
	for _, p := range payloads {
		sb.WriteByte(' ')
		switch q := p.(type) {
		case *Notify:
			fmt.Fprintf(sb, "N(%v)", q.NotifyType)
		case *Encrypted:
			fmt.Fprintf(sb, "SK{first %v, %d bytes}", q.FirstPayload, len(q.Body))
		case *EncryptedFragment:
			fmt.Fprintf(sb, "SKF(%d/%d)", q.Number, q.Total)
		case *Delete:
			fmt.Fprintf(sb, "D(%v)", q.Protocol)
		case *Unknown:
			if q.Critical {
				fmt.Fprintf(sb, "%v!", q.Kind)
			} else {
				sb.WriteString(q.Kind.String())
			}
		default:
			sb.WriteString(p.Type().String())
		}
	}
}
