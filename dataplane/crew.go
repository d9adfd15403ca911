package dataplane

import (
	"sync"
	"sync/atomic"
)

// minParallel is the smallest batch whose cryptography is spread over the
// crew: below it (a few ACKs) waking a helper costs more than it saves.
const minParallel = 8

// crew is a set of helper goroutines that seal or open the packets of one
// batch together with the goroutine that owns the batch (fork-join): the
// owner assigns the sequence numbers (outbound) and checks the replay
// window (inbound) in the batch's order before, and hands the packets on
// in that order after, so spreading the cryptography reorders nothing.
// Helpers take the next packet by index, so a slow one holds up at most
// one packet. A nil crew, or one without helpers, works inline.
type crew struct {
	work chan *fanOut
	done chan struct{}
}

// fanOut is one batch being worked on; every path owns one and reuses it,
// so a batch allocates nothing.
type fanOut struct {
	fn   func(i int) // set once by the owner
	n    int
	next atomic.Int64
	wg   sync.WaitGroup
}

// newCrew starts helpers goroutines (none when helpers < 1).
func newCrew(helpers int) *crew {
	c := &crew{work: make(chan *fanOut, 4*max(helpers, 1)), done: make(chan struct{})}
	for range helpers {
		go c.loop()
	}
	if helpers < 1 {
		c.work = nil
	}
	return c
}

func (c *crew) loop() {
	for {
		select {
		case f := <-c.work:
			f.drain()
			f.wg.Done()
		case <-c.done:
			return
		}
	}
}

// stop ends the helpers; run then works inline.
func (c *crew) stop() {
	if c != nil {
		close(c.done)
	}
}

// drain runs f.fn for indexes nobody has taken yet.
func (f *fanOut) drain() {
	for {
		i := int(f.next.Add(1)) - 1
		if i >= f.n {
			return
		}
		f.fn(i)
	}
}

// run calls f.fn(i) for every i in [0, n), on the caller's goroutine and on
// as many helpers as are free and useful, and returns when all are done.
func (c *crew) run(f *fanOut, n int) {
	f.n = n
	f.next.Store(0)
	if c != nil && c.work != nil && n >= minParallel {
		helpers := min(cap(c.work)/4, n/minParallel)
	wake:
		for range helpers {
			f.wg.Add(1)
			select {
			case c.work <- f:
			case <-c.done:
				f.wg.Done()
				break wake
			default:
				f.wg.Done() // every helper is busy: do it ourselves
				break wake
			}
		}
	}
	f.drain()
	f.wg.Wait()
}
