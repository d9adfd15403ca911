package eap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// EAP-TLS framing (RFC 5216 3.1): after the Type octet, a Flags octet, a
// four-octet TLS Message Length when the L flag is set, and TLS record
// bytes. A TLS message larger than an EAP packet may carry goes in
// fragments, each with M set but the last; the receiver acknowledges each
// with an EAP-TLS packet that carries no data.

// EAP-TLS flags (RFC 5216 3.1).
const (
	TLSFlagLength uint8 = 0x80 // L: TLS Message Length present
	TLSFlagMore   uint8 = 0x40 // M: more fragments follow
	TLSFlagStart  uint8 = 0x20 // S: EAP-TLS Start
)

// MaxTLSMessage bounds a reassembled TLS message. A handshake flight with a
// few certificates fits many times over; a peer claiming more is refused
// before anything is buffered for it.
const MaxTLSMessage = 64 << 10

// DefaultTLSFragmentSize is the largest EAP packet we send with EAP-TLS,
// strongSwan's charon.plugins.eap-tls.fragment_size default: an IKE_AUTH
// message carrying it stays well under the 1280 bytes IPv6 guarantees.
const DefaultTLSFragmentSize = 1024

// ErrTLSFrame marks a malformed EAP-TLS packet or fragment sequence.
var ErrTLSFrame = errors.New("eap-tls: malformed packet")

// TLSFragment is the Type-Data of one EAP-TLS packet.
type TLSFragment struct {
	Flags uint8
	// Length is the TLS Message Length, valid when Flags has TLSFlagLength.
	Length uint32
	// Data aliases the parsed packet.
	Data []byte
}

// IsAck reports whether the packet is an acknowledgement: no TLS data, no
// length, no start (RFC 5216 3.1, 3.2).
func (f TLSFragment) IsAck() bool {
	return len(f.Data) == 0 && f.Flags&(TLSFlagLength|TLSFlagStart|TLSFlagMore) == 0
}

// ParseTLS decodes the Type-Data of an EAP-TLS packet. It only checks the
// framing: the length field against MaxTLSMessage and the data present.
func ParseTLS(d []byte) (TLSFragment, error) {
	if len(d) < 1 {
		return TLSFragment{}, fmt.Errorf("%w: no flags octet", ErrTLSFrame)
	}
	f := TLSFragment{Flags: d[0]}
	d = d[1:]
	if f.Flags&TLSFlagLength != 0 {
		if len(d) < 4 {
			return TLSFragment{}, fmt.Errorf("%w: L flag set, %d bytes for the 4-byte length", ErrTLSFrame, len(d))
		}
		f.Length = binary.BigEndian.Uint32(d)
		d = d[4:]
		if f.Length > MaxTLSMessage {
			return TLSFragment{}, fmt.Errorf("%w: TLS message length %d above the %d we accept", ErrTLSFrame, f.Length, MaxTLSMessage)
		}
		if uint32(len(d)) > f.Length {
			return TLSFragment{}, fmt.Errorf("%w: %d bytes of data, the TLS message length says %d", ErrTLSFrame, len(d), f.Length)
		}
	}
	f.Data = d
	return f, nil
}

// Marshal encodes the fragment as Type-Data.
func (f TLSFragment) Marshal() []byte {
	n := 1 + len(f.Data)
	if f.Flags&TLSFlagLength != 0 {
		n += 4
	}
	b := make([]byte, 0, n)
	b = append(b, f.Flags)
	if f.Flags&TLSFlagLength != 0 {
		b = binary.BigEndian.AppendUint32(b, f.Length)
	}
	return append(b, f.Data...)
}

// tlsReassembler collects the fragments of one TLS message.
type tlsReassembler struct {
	buf    []byte
	total  int // the announced TLS Message Length, -1 when not announced
	active bool
}

// add takes one fragment. It returns the whole message once the last
// fragment (M clear) arrived. The buffer grows only with data received, so
// a peer's length field makes us allocate nothing in advance.
func (r *tlsReassembler) add(f TLSFragment) ([]byte, bool, error) {
	if !r.active {
		r.active, r.total, r.buf = true, -1, r.buf[:0]
		if f.Flags&TLSFlagLength != 0 {
			r.total = int(f.Length)
		}
	} else if f.Flags&TLSFlagLength != 0 && int(f.Length) != r.total {
		r.active = false
		return nil, false, fmt.Errorf("%w: fragment announces TLS message length %d, the first said %d", ErrTLSFrame, f.Length, r.total)
	}
	if len(r.buf)+len(f.Data) > MaxTLSMessage || (r.total >= 0 && len(r.buf)+len(f.Data) > r.total) {
		r.active = false
		return nil, false, fmt.Errorf("%w: fragments exceed the TLS message length", ErrTLSFrame)
	}
	if f.Flags&TLSFlagMore != 0 && len(f.Data) == 0 {
		r.active = false
		return nil, false, fmt.Errorf("%w: empty fragment with more to follow", ErrTLSFrame)
	}
	r.buf = append(r.buf, f.Data...)
	if f.Flags&TLSFlagMore != 0 {
		return nil, false, nil
	}
	r.active = false
	if r.total >= 0 && len(r.buf) != r.total {
		return nil, false, fmt.Errorf("%w: %d bytes reassembled, the TLS message length says %d", ErrTLSFrame, len(r.buf), r.total)
	}
	if len(r.buf) == 0 {
		return nil, false, fmt.Errorf("%w: empty TLS message", ErrTLSFrame)
	}
	return r.buf, true, nil
}

// tlsFragmenter sends one TLS message in fragments of at most size bytes
// of EAP packet.
type tlsFragmenter struct {
	pending []byte
	total   int
	first   bool
}

func (s *tlsFragmenter) load(msg []byte) {
	s.pending, s.total, s.first = msg, len(msg), true
}

func (s *tlsFragmenter) busy() bool { return len(s.pending) > 0 }

// next returns the Type-Data of the next fragment. size is the largest EAP
// packet: the 4-byte EAP header, Type and Flags, the length on the first
// of several fragments.
func (s *tlsFragmenter) next(size int) []byte {
	room := size - 6
	f := TLSFragment{}
	if s.first {
		// The length goes into the first packet of a message always, as
		// strongSwan's include_length default does.
		f.Flags |= TLSFlagLength
		f.Length = uint32(s.total)
		room -= 4
	}
	room = max(room, 64)
	n := min(room, len(s.pending))
	f.Data = s.pending[:n]
	s.pending = s.pending[n:]
	if len(s.pending) > 0 {
		f.Flags |= TLSFlagMore
	}
	s.first = false
	return f.Marshal()
}

// tlsAck is the Type-Data of an acknowledgement.
func tlsAck() []byte { return []byte{0} }
