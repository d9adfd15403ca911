// Package replay implements the receiver's anti-replay window of ESP and AH
// (RFC 4303 section 3.4.3 and Appendix A, RFC 4302 section 3.4.3), including
// extended sequence numbers (ESN).
//
// The bitmap follows RFC 6479: a ring of 64-bit blocks with one spare block,
// so advancing the window only clears whole blocks and never shifts the map.
//
// A receiver processes a packet in three steps: Infer the full sequence
// number from the 32 bits on the wire (with ESN the high half goes into the
// ICV input), Check it cheaply before the ICV, and Accept it once the ICV has
// verified. Only Accept changes the window, so a forged packet cannot move it.
package replay

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Rejection reasons. The data plane counts drops by reason, so Check and
// Accept return errors that wrap exactly one of these (test with errors.Is).
var (
	// ErrReplayed means the number lies inside the window and was already
	// accepted.
	ErrReplayed = errors.New("replayed packet")
	// ErrTooOld means the number lies left of the window, so whether it
	// was seen can no longer be told.
	ErrTooOld = errors.New("packet too old for the replay window")
	// ErrOutOfWindow means the sender can never have sent the number: it is
	// 0, or exceeds 2^32-1 without ESN, or with ESN lies more than 2^31
	// beyond the highest number seen, where the inference of the high
	// half cannot be trusted.
	ErrOutOfWindow = errors.New("sequence number out of window")
)

const (
	blockBits = 64
	// MaxSize is the largest window New accepts, in packets.
	MaxSize = 65536
	// MinSize is the smallest enabled window New accepts; RFC 4303 asks
	// for at least 32 and a default of 64. Sizes are rounded up to a
	// multiple of 64.
	MinSize = 32
	// maxESNJump bounds how far ahead of the highest accepted number an
	// ESN sequence number may lie before it is refused.
	maxESNJump = 1 << 31
)

// Error is the error Check and Accept return. It wraps one of ErrReplayed,
// ErrTooOld or ErrOutOfWindow and keeps the number for the message; it is
// returned by value so that a rejection does not allocate.
type Error struct {
	Reason error  // ErrReplayed, ErrTooOld or ErrOutOfWindow
	Seq    uint64 // the full (inferred) sequence number
	Top    uint64 // the highest number accepted so far
	Size   uint64 // the window size in packets
}

func (e Error) Error() string {
	switch e.Reason {
	case ErrReplayed:
		return fmt.Sprintf("replayed packet: sequence number %d already seen", e.Seq)
	case ErrTooOld:
		return fmt.Sprintf("packet too old: sequence number %d is left of the replay window (highest seen %d, window %d)",
			e.Seq, e.Top, e.Size)
	default:
		if e.Seq == 0 {
			return "sequence number out of window: 0 is never sent"
		}
		return fmt.Sprintf("sequence number out of window: %d cannot have been sent (highest seen %d)", e.Seq, e.Top)
	}
}

// Unwrap returns the reason, so errors.Is(err, ErrReplayed) works.
func (e Error) Unwrap() error { return e.Reason }

// Window is the anti-replay state of one inbound SA. The zero value is not
// usable; create windows with New. A Window is safe for concurrent use by
// several goroutines that open packets of the same SA.
type Window struct {
	mu     sync.Mutex
	esn    bool
	size   uint64   // window size W in packets; 0 means disabled
	top    uint64   // highest accepted sequence number (0: none yet)
	topPos int      // index in blocks of the block holding top
	blocks []uint64 // ring of size/64+1 blocks
	// topSeen is top for readers that take no lock: Check of a number
	// above it and Infer. On several cores the lock taken per packet by
	// both the goroutines that check and the one that accepts bounced
	// between their caches; a read of a number the acceptor writes costs
	// less, and a stale one is harmless (Accept checks again).
	topSeen atomic.Uint64
}

// New returns a window of size packets, rounded up to a multiple of 64. A
// size of 0 disables replay protection (RFC 4303 allows the receiver to do
// so): the window then accepts every number, but with ESN it still tracks
// the highest number so that Infer keeps working. esn selects 64-bit
// extended sequence numbers.
func New(size int, esn bool) (*Window, error) {
	if size == 0 {
		return &Window{esn: esn}, nil
	}
	if size < MinSize || size > MaxSize {
		return nil, fmt.Errorf("replay window size %d: must be 0 (disabled) or between %d and %d", size, MinSize, MaxSize)
	}
	n := (size + blockBits - 1) / blockBits
	return &Window{
		esn:    esn,
		size:   uint64(n * blockBits),
		blocks: make([]uint64, n+1),
	}, nil
}

// Size returns the window size in packets after rounding, or 0 when replay
// protection is disabled.
func (w *Window) Size() int { return int(w.size) }

// ESN reports whether the window uses extended sequence numbers.
func (w *Window) ESN() bool { return w.esn }

// Top returns the highest sequence number accepted so far, 0 if none.
func (w *Window) Top() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.top
}

// Infer returns the full sequence number of a packet whose low 32 bits are
// low. Without ESN that is low itself. With ESN it is the guess of RFC 4303
// Appendix A2.2: the number closest to the current window, so the high half
// is the one of the highest number seen (Th), one more when low lies below
// the window's bottom, or one less when the window straddles a multiple of
// 2^32 and low belongs to the older half. The caller puts the high 32 bits
// into the ICV input; a wrong guess makes the ICV fail.
func (w *Window) Infer(low uint32) uint64 {
	if !w.esn {
		return uint64(low)
	}
	return infer(w.topSeen.Load(), w.inferSize(), low)
}

// inferSize is the W of Appendix A2.2. A disabled window has no bitmap, so
// any number within 2^31 either side of the highest one is taken as the
// nearest guess.
func (w *Window) inferSize() uint64 {
	if w.size == 0 {
		return maxESNJump
	}
	return w.size
}

// infer is Appendix A2.2 with Tl, Th taken from top and W from size.
func infer(top, size uint64, low uint32) uint64 {
	tl := uint32(top)
	th := top >> 32
	bottom := tl - uint32(size) + 1 // Tl - W + 1, modulo 2^32
	if uint64(tl) >= size-1 {
		// Case A: the window lies within one 2^32 subspace.
		if low >= bottom {
			return th<<32 | uint64(low)
		}
		return (th+1)<<32 | uint64(low)
	}
	// Case B: the window spans two subspaces.
	if low >= bottom {
		if th == 0 {
			// Below the very first subspace: nothing was sent
			// there, so take it as a (far) jump ahead, which
			// Check refuses as out of window.
			return uint64(low)
		}
		return (th-1)<<32 | uint64(low)
	}
	return th<<32 | uint64(low)
}

// Check reports whether seq may be a fresh packet, without changing the
// window. Call it before verifying the ICV so that replays cost no
// cryptography. The result is advisory: call Accept after the ICV verifies.
func (w *Window) Check(seq uint64) error {
	if w.size == 0 {
		return nil
	}
	if top := w.topSeen.Load(); seq > top {
		// Newer than anything accepted (or than what was, a moment
		// ago): no bitmap to look at.
		if (!w.esn && seq > 1<<32-1) || (w.esn && seq-top > maxESNJump) {
			return Error{Reason: ErrOutOfWindow, Seq: seq, Top: top, Size: w.size}
		}
		return nil
	}
	w.mu.Lock()
	err := w.check(seq)
	w.mu.Unlock()
	return err
}

// Accept marks seq as received, advancing the window when seq is the
// highest number so far. Call it only after the ICV has verified. It checks
// again and can fail where Check passed, when another goroutine accepted
// the same number in between; the packet must then be dropped.
func (w *Window) Accept(seq uint64) error {
	if w.size == 0 {
		if w.esn {
			w.mu.Lock()
			if seq > w.top && seq-w.top <= maxESNJump {
				w.top = seq
				w.topSeen.Store(seq)
			}
			w.mu.Unlock()
		}
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(seq); err != nil {
		return err
	}
	n := len(w.blocks)
	if seq > w.top {
		// Clear the blocks the window slides over; after n of them
		// the ring is empty and further clearing is pointless.
		diff := seq/blockBits - w.top/blockBits
		if diff > uint64(n) {
			diff = uint64(n)
		}
		for ; diff > 0; diff-- {
			w.topPos++
			if w.topPos == n {
				w.topPos = 0
			}
			w.blocks[w.topPos] = 0
		}
		w.top = seq
		w.topSeen.Store(seq)
	}
	w.blocks[w.pos(seq)] |= 1 << (seq % blockBits)
	return nil
}

// pos returns the ring index of the block holding seq, which must lie
// within the window (check returned nil).
func (w *Window) pos(seq uint64) int {
	p := w.topPos - int(w.top/blockBits-seq/blockBits)
	if p < 0 {
		p += len(w.blocks)
	}
	return p
}

// check is Check with w.mu held and the window enabled.
func (w *Window) check(seq uint64) error {
	switch {
	case seq == 0:
		return Error{Reason: ErrOutOfWindow, Seq: seq, Top: w.top, Size: w.size}
	case seq > w.top:
		if (!w.esn && seq > 1<<32-1) || (w.esn && seq-w.top > maxESNJump) {
			return Error{Reason: ErrOutOfWindow, Seq: seq, Top: w.top, Size: w.size}
		}
		return nil
	case w.top-seq >= w.size:
		return Error{Reason: ErrTooOld, Seq: seq, Top: w.top, Size: w.size}
	case w.blocks[w.pos(seq)]&(1<<(seq%blockBits)) != 0:
		return Error{Reason: ErrReplayed, Seq: seq, Top: w.top, Size: w.size}
	}
	return nil
}
