package ipsec

import (
	"errors"
	"sync/atomic"
)

// ErrSequenceExhausted means an SA's outbound sequence numbers are used up:
// it must be replaced by a rekeyed one, never wrap (RFC 4303 3.3.3, RFC 4302
// 2.5).
var ErrSequenceExhausted = errors.New("sequence number space exhausted")

// SequenceCounter hands out an outbound SA's sequence numbers: 1, 2, ...,
// up to 2^32-1 without extended sequence numbers and 2^64-1 with them. It is
// safe for concurrent use. The zero value is not ready: call Init.
type SequenceCounter struct {
	last       atomic.Uint64
	soft, hard uint64
}

// Init sets the limits. soft is where NeedsRekey turns true so IKE can
// rekey in time; 0 means 2^32 - 2^24 without ESN and 2^63 with.
func (c *SequenceCounter) Init(esn bool, soft uint64) {
	c.hard, c.soft = 1<<32-1, 1<<32-1<<24
	if esn {
		c.hard, c.soft = ^uint64(0), 1<<63
	}
	if soft != 0 {
		c.soft = min(soft, c.hard)
	}
}

// Next reserves the next sequence number.
func (c *SequenceCounter) Next() (uint64, error) {
	for {
		cur := c.last.Load()
		if cur >= c.hard {
			return 0, ErrSequenceExhausted
		}
		if c.last.CompareAndSwap(cur, cur+1) {
			return cur + 1, nil
		}
	}
}

// Reserve reserves up to k consecutive sequence numbers with one atomic
// operation and returns the first and how many it got: fewer than k only
// when the space runs out, ErrSequenceExhausted when none is left. A batch
// of packets takes its numbers in its order this way, before their
// cryptography is spread over several cores.
func (c *SequenceCounter) Reserve(k int) (first uint64, got int, err error) {
	if k <= 0 {
		return 0, 0, nil
	}
	for {
		cur := c.last.Load()
		if cur >= c.hard {
			return 0, 0, ErrSequenceExhausted
		}
		n := min(uint64(k), c.hard-cur)
		if c.last.CompareAndSwap(cur, cur+n) {
			return cur + 1, int(n), nil
		}
	}
}

// Used returns the last sequence number handed out, 0 before the first.
func (c *SequenceCounter) Used() uint64 { return c.last.Load() }

// Set makes seq the last number used, so the next is seq+1; the counter
// never goes backwards. It is for tests and for restoring an SA's state.
func (c *SequenceCounter) Set(seq uint64) {
	for {
		cur := c.last.Load()
		if seq <= cur || c.last.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// NeedsRekey reports that the soft limit is reached.
func (c *SequenceCounter) NeedsRekey() bool { return c.last.Load() >= c.soft }

// Errors ESP and AH share, so the data plane counts them with one errors.Is.
var (
	// ErrUnknownSPI means a packet's SPI is not the SA's it was handed to.
	ErrUnknownSPI = errors.New("unknown SPI")
	// ErrWrongDirection means Seal on an inbound SA or Open on an outbound one.
	ErrWrongDirection = errors.New("operation does not match the SA direction")
)
