package ah

import (
	"errors"
	"github.com/cygnet-ipsec/cygnet/ipsec"

	"github.com/cygnet-ipsec/cygnet/packet"
	"github.com/cygnet-ipsec/cygnet/replay"
	"github.com/cygnet-ipsec/cygnet/transform"
)

// Drop reasons. Every error Seal and Open return wraps exactly one of these
// (or transform.ErrWiped after Wipe), so the data plane counts drops with
// errors.Is.
var (
	// ErrAuth means the ICV did not verify.
	ErrAuth = transform.ErrAuth
	// ErrReplayed, ErrTooOld and ErrOutOfWindow come from the anti-replay
	// window (package replay).
	ErrReplayed    = replay.ErrReplayed
	ErrTooOld      = replay.ErrTooOld
	ErrOutOfWindow = replay.ErrOutOfWindow
	// ErrMalformed means the packet is too short or its headers are
	// inconsistent (lengths, option encoding, a fragment); the wrapping
	// error says what.
	ErrMalformed = errors.New("malformed AH packet")
	// ErrUnsupportedHeader means the packet is well formed but carries a
	// header whose value at the destination AH cannot predict (a routing
	// header type it does not know with segments left, two source routes)
	// or more mutable option data than its scratch area holds.
	ErrUnsupportedHeader = errors.New("IP header not supported by AH")
	// ErrBadNextHeader means the AH next header does not fit the SA's mode
	// (tunnel mode carries only IPv4 or IPv6).
	ErrBadNextHeader = errors.New("unexpected AH next header")
	// ErrUnknownSPI means the packet's SPI is not this SA's.
	ErrUnknownSPI = ipsec.ErrUnknownSPI
	// ErrSequenceExhausted means the outbound sequence number space is
	// used up; the SA must be replaced (RFC 4302 section 2.5).
	ErrSequenceExhausted = ipsec.ErrSequenceExhausted
	// ErrECNDrop means RFC 6040 decapsulation requires the drop (outer CE
	// on a not-ECN-capable inner packet).
	ErrECNDrop = packet.ErrECNDrop
	// ErrBufferTooSmall means the caller's buffer lacks the head room
	// Overhead asks for.
	ErrBufferTooSmall = errors.New("buffer lacks head room")
	// ErrWrongDirection means Seal on an inbound SA or Open on an outbound
	// one.
	ErrWrongDirection = ipsec.ErrWrongDirection
)
