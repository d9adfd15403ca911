// Package tcpencap is the stream framing of RFC 9329 (TCP encapsulation of
// IKE and ESP, which obsoletes RFC 8229), apart from any socket: the
// "IKETCP" stream prefix the TCP originator sends once at the start of a
// connection (section 4), and the frames that follow in both directions
// (section 3): a 16-bit big-endian Length that counts itself, then either
// an IKE message behind the 4-octet non-ESP marker (zero, where an ESP
// packet has its SPI) or an ESP packet as it is.
//
// A Reader checks each Length before it reads what the Length claims, never
// allocates per frame, and tells a broken stream (a Length below 2, the
// prefix missing, the stream cut inside a frame) from a frame whose content
// is neither IKE nor ESP, which a receiver skips without losing the
// framing.
package tcpencap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Prefix is the TCP-Encapsulated Stream Prefix (RFC 9329 section 4): the
// TCP originator sends it once, before its first frame; the responder never
// sends it.
const Prefix = "IKETCP"

// Frame sizes (RFC 9329 section 3).
const (
	// LengthSize is the Length field, which counts itself.
	LengthSize = 2
	// MarkerSize is the non-ESP marker in front of an IKE message.
	MarkerSize = 4
	// MaxFrame is the largest frame, Length field included.
	MaxFrame = 0xffff
	// MaxContent is the largest content behind the Length field, and so
	// the buffer a Reader needs for any frame.
	MaxContent = MaxFrame - LengthSize
	// MaxIKE is the largest IKE message a frame carries.
	MaxIKE = MaxContent - MarkerSize
	// minESP is the SPI and the sequence number: an ESP packet is at
	// least that.
	minESP = 8
	// minIKE is the IKE header (RFC 7296 section 3.1).
	minIKE = 28
)

// Errors. ErrPrefix, ErrLength and ErrTruncated mean the stream cannot be
// followed any more: the receiver closes the connection.
var (
	ErrPrefix    = errors.New("tcpencap: stream does not start with the IKETCP prefix")
	ErrLength    = errors.New("tcpencap: frame length below the length field itself")
	ErrTruncated = errors.New("tcpencap: stream ends inside a frame")
	ErrTooLong   = errors.New("tcpencap: message too long for one frame")
	ErrBuffer    = errors.New("tcpencap: buffer too small for the frame")
)

// Kind is what a frame carries.
type Kind uint8

// Frame kinds.
const (
	// Invalid is a frame neither IKE nor ESP could be: shorter than an
	// ESP header, or a non-ESP marker without an IKE header behind it.
	Invalid Kind = iota
	// IKE is an IKE message behind the non-ESP marker.
	IKE
	// ESP is an ESP packet (its SPI first, never zero).
	ESP
)

func (k Kind) String() string {
	switch k {
	case IKE:
		return "IKE"
	case ESP:
		return "ESP"
	}
	return "invalid"
}

// Classify tells what the content of a frame (what follows the Length)
// carries and returns the IKE message without the marker, or the ESP
// packet as it is.
func Classify(content []byte) (Kind, []byte) {
	if len(content) >= MarkerSize && binary.BigEndian.Uint32(content) == 0 {
		if len(content) < MarkerSize+minIKE {
			return Invalid, nil
		}
		return IKE, content[MarkerSize:]
	}
	if len(content) < minESP {
		return Invalid, nil
	}
	return ESP, content
}

// AppendIKE appends the frame of one IKE message to dst: Length, non-ESP
// marker, message.
func AppendIKE(dst, msg []byte) ([]byte, error) {
	if len(msg) > MaxIKE {
		return dst, fmt.Errorf("%w: IKE message of %d octets", ErrTooLong, len(msg))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(LengthSize+MarkerSize+len(msg)))
	dst = append(dst, 0, 0, 0, 0)
	return append(dst, msg...), nil
}

// AppendESP appends the frame of one ESP packet to dst: Length, packet.
func AppendESP(dst, pkt []byte) ([]byte, error) {
	if len(pkt) > MaxContent {
		return dst, fmt.Errorf("%w: ESP packet of %d octets", ErrTooLong, len(pkt))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(LengthSize+len(pkt)))
	return append(dst, pkt...), nil
}

// PutESPHeader writes the Length of an ESP frame of an n-octet packet into
// the 2 octets in front of it, for senders that seal in place with head
// room; n must be at most MaxContent.
func PutESPHeader(b []byte, n int) {
	binary.BigEndian.PutUint16(b, uint16(LengthSize+n))
}

// Reader reads frames from one direction of a TCP connection. It is not
// safe for concurrent use.
type Reader struct {
	br *bufio.Reader
	// l holds a Length as it is read: a field, not a local, so reading a
	// frame does not allocate it.
	l [LengthSize]byte
}

// readBuf is the Reader's buffer: ten frames of 1500-octet ESP packets,
// so one read(2) delivers several, and little per idle connection.
const readBuf = 16 << 10

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readBuf)}
}

// ReadPrefix reads and checks the stream prefix: the TCP responder calls it
// once before the first frame.
func (r *Reader) ReadPrefix() error {
	var p [len(Prefix)]byte
	if _, err := io.ReadFull(r.br, p[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return ErrPrefix
		}
		return fmt.Errorf("tcpencap: read prefix: %w", err)
	}
	if string(p[:]) != Prefix {
		return ErrPrefix
	}
	return nil
}

// ReadFrame reads the next frame's content (what follows its Length) into
// dst and returns its size. io.EOF means the stream ended between frames;
// ErrLength and ErrTruncated that it is broken. dst must hold the frame:
// MaxContent octets hold any.
func (r *Reader) ReadFrame(dst []byte) (int, error) {
	n, err := r.ReadLength()
	if err != nil {
		return 0, err
	}
	if n > len(dst) {
		return 0, fmt.Errorf("%w: %d octets, %d available", ErrBuffer, n, len(dst))
	}
	return n, r.ReadContent(dst[:n])
}

// ReadLength reads the next frame's Length and returns the size of its
// content, for a reader that picks the buffer by size; ReadContent must
// follow. io.EOF means the stream ended between frames.
func (r *Reader) ReadLength() (int, error) {
	if _, err := io.ReadFull(r.br, r.l[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, ErrTruncated
		}
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(r.l[:]))
	if n < LengthSize {
		return 0, fmt.Errorf("%w: %d", ErrLength, n)
	}
	return n - LengthSize, nil
}

// ReadContent reads the content of the frame whose Length ReadLength
// returned into dst, which must be exactly that long.
func (r *Reader) ReadContent(dst []byte) error {
	if _, err := io.ReadFull(r.br, dst); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return ErrTruncated
		}
		return err
	}
	return nil
}

// Complete reports whether a whole frame is already buffered, so a reader
// batching frames can take it without waiting on the connection.
func (r *Reader) Complete() bool {
	b, _ := r.br.Peek(min(LengthSize, r.br.Buffered()))
	if len(b) < LengthSize {
		return false
	}
	n := int(binary.BigEndian.Uint16(b))
	return n < LengthSize || r.br.Buffered() >= n
}
