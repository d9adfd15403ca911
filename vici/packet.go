package vici

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PacketType is the first byte of a VICI packet.
type PacketType uint8

// Packet types.
const (
	CmdRequest      PacketType = 0 // named request, a message follows
	CmdResponse     PacketType = 1 // unnamed response to a request
	CmdUnknown      PacketType = 2 // the requested command is unknown
	EventRegister   PacketType = 3 // named event registration
	EventUnregister PacketType = 4 // named event deregistration
	EventConfirm    PacketType = 5 // unnamed confirmation of (de)registration
	EventUnknown    PacketType = 6 // the event is unknown
	Event           PacketType = 7 // named event, a message follows
)

func (t PacketType) String() string {
	names := [...]string{"CMD_REQUEST", "CMD_RESPONSE", "CMD_UNKNOWN", "EVENT_REGISTER",
		"EVENT_UNREGISTER", "EVENT_CONFIRM", "EVENT_UNKNOWN", "EVENT"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("PACKET_TYPE_%d", uint8(t))
}

// named reports whether packets of type t carry a name.
func (t PacketType) named() bool {
	return t == CmdRequest || t == EventRegister || t == EventUnregister || t == Event
}

// MaxPacket bounds a packet's length, as strongSwan does (512 KiB).
const MaxPacket = 512 * 1024

// Packet is one VICI packet.
type Packet struct {
	Type PacketType
	Name string   // for named types
	Msg  *Message // for CmdRequest, CmdResponse and Event; nil is empty
}

// MarshalPacket encodes p without its length prefix.
func MarshalPacket(p Packet) ([]byte, error) {
	b := []byte{byte(p.Type)}
	if p.Type.named() {
		if len(p.Name) > 255 {
			return nil, errors.New("vici: packet name longer than 255 bytes")
		}
		b = append(b, byte(len(p.Name)))
		b = append(b, p.Name...)
	}
	if p.Msg != nil {
		var err error
		if b, err = p.Msg.Encode(b); err != nil {
			return nil, err
		}
	}
	if len(b) > MaxPacket {
		return nil, fmt.Errorf("vici: packet of %d bytes exceeds %d", len(b), MaxPacket)
	}
	return b, nil
}

// UnmarshalPacket decodes a packet without its length prefix.
func UnmarshalPacket(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, errors.New("vici: empty packet")
	}
	p := Packet{Type: PacketType(b[0])}
	if p.Type > Event {
		return Packet{}, fmt.Errorf("vici: unknown packet type %d", b[0])
	}
	rest := b[1:]
	if p.Type.named() {
		if len(rest) == 0 || len(rest) < 1+int(rest[0]) {
			return Packet{}, fmt.Errorf("vici: %v packet: truncated name", p.Type)
		}
		p.Name = string(rest[1 : 1+int(rest[0])])
		rest = rest[1+int(rest[0]):]
	}
	switch p.Type {
	case CmdRequest, CmdResponse, Event:
		m, err := Decode(rest)
		if err != nil {
			return Packet{}, fmt.Errorf("%v %q: %w", p.Type, p.Name, err)
		}
		p.Msg = m
	default:
		if len(rest) != 0 {
			return Packet{}, fmt.Errorf("vici: %v packet with %d trailing bytes", p.Type, len(rest))
		}
	}
	return p, nil
}

// ReadPacket reads one length-prefixed packet.
func ReadPacket(r io.Reader) (Packet, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Packet{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > MaxPacket {
		return Packet{}, fmt.Errorf("vici: packet length %d out of range 1..%d", n, MaxPacket)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return Packet{}, fmt.Errorf("vici: reading a %d byte packet: %w", n, err)
	}
	return UnmarshalPacket(b)
}

// WritePacket writes one length-prefixed packet in a single Write.
func WritePacket(w io.Writer, p Packet) error {
	b, err := MarshalPacket(p)
	if err != nil {
		return err
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(out, b...))
	return err
}
