package esp

import (
	"errors"
	"github.com/cygnet-ipsec/cygnet/ipsec"

	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/replay"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// Drop reasons. Every error Seal and Open return wraps exactly one of these,
// so the data plane counts drops with errors.Is.
var (
	// ErrAuth means the ICV did not verify.
	ErrAuth = transform.ErrAuth
	// ErrReplayed, ErrTooOld and ErrOutOfWindow come from the anti-replay
	// window (package replay).
	ErrReplayed    = replay.ErrReplayed
	ErrTooOld      = replay.ErrTooOld
	ErrOutOfWindow = replay.ErrOutOfWindow
	// ErrMalformed means the packet is too short or its headers are
	// inconsistent; the wrapping error says what.
	ErrMalformed = errors.New("malformed ESP packet")
	// ErrBadPadding means the decrypted padding is not 1, 2, 3, ... or the
	// pad length runs past the payload (RFC 4303 section 2.4).
	ErrBadPadding = errors.New("bad ESP padding")
	// ErrBadNextHeader means the decrypted next header does not fit the
	// SA's mode (tunnel mode carries only IPv4 or IPv6).
	ErrBadNextHeader = errors.New("unexpected ESP next header")
	// ErrUnknownSPI means the packet's SPI is not this SA's.
	ErrUnknownSPI = ipsec.ErrUnknownSPI
	// ErrSequenceExhausted means the outbound sequence number space is
	// used up; the SA must be replaced (RFC 4303 section 3.3.3).
	ErrSequenceExhausted = ipsec.ErrSequenceExhausted
	// ErrECNDrop means RFC 6040 decapsulation requires the drop (outer CE
	// on a not-ECN-capable inner packet).
	ErrECNDrop = packet.ErrECNDrop
	// ErrNotESP means a UDP-encapsulated datagram is an IKE message or a
	// NAT-keepalive, not ESP (RFC 3948): hand it to IKE or ignore it.
	ErrNotESP = errors.New("not an ESP packet")
	// ErrBufferTooSmall means the caller's buffer lacks the head or tail
	// room Overhead asks for.
	ErrBufferTooSmall = errors.New("buffer lacks head or tail room")
	// ErrTooBig means the encapsulated packet would exceed the 65535
	// octets an IP length field can express.
	ErrTooBig = errors.New("encapsulated packet too big")
	// ErrWrongDirection means Seal on an inbound SA or Open on an outbound
	// one.
	ErrWrongDirection = ipsec.ErrWrongDirection
)
