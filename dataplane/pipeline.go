package dataplane

import (
	"sync"
)

// batch is a batch of packets as a pipeline moves it: its crypto runs on
// the lane that read it, then it is handed on (sent, or written to the
// TUN) in the order the batches were read.
type batch interface {
	// crypt seals or opens every packet of the batch; it only reads the
	// state the in-order stages share (SA keys, the replay window).
	crypt()
	// handOn queues and sends the crypt's results in the batch's order,
	// moving what must move in order (the replay window).
	handOn()
	// busy reports that more is waiting to be read than this batch took,
	// so that a second lane would find work.
	busy() bool
}

// batchesPerLane is how many batches each lane owns: one it reads and
// seals while the one before waits to be handed on.
const batchesPerLane = 2

// pipeline runs the batches of one source (the TUN, or one socket) on
// several lanes, one goroutine per core. A lane takes the read lock, reads
// a batch and does what must happen in arrival order (the SPD, sequence
// numbers, finding the SA), takes the next ticket and lets go of the lock;
// it then seals or opens the batch itself and hands it to the sequencer,
// which hands the batches on in ticket order, on whichever lane finds the
// oldest one done. A batch is read, sealed and sent from one core: the
// data the read copied in stays in that core's cache (on the 2-core VMs
// this was written on, moving a batch to another core for its crypto cost
// about as much as the crypto saved). Each lane owns batchesPerLane
// batches, so nothing is allocated, and a lane ahead of the others waits
// for its batch to be handed on. With one lane everything happens on the
// caller's goroutine, in order.
//
// Lane 0 always reads. The other lanes wait until a busy batch (a full
// one: more may be waiting to be read) calls one in, and go back to
// waiting after a batch that is not busy. So a second core joins when one
// cannot keep up, and otherwise a batch does not pay for a hand-off
// between lanes: on the 2-vCPU VM, with both ends and iperf3 on it, a raw
// ESP transfer took a sixth to a fifth less CPU per packet that way than
// with every lane always reading, and ESP-in-UDP no more.
type pipeline[B batch] struct {
	done    <-chan struct{}
	lanes   int
	batches []B
	// free[i] has a token while batches[i] may be read into.
	free []chan struct{}
	// help has a token while a waiting lane is wanted; stopped is closed
	// when a lane's fill says to stop, so that the waiting ones stop too.
	help     chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once

	// read serialises reading and preparing: their order is the
	// batches' order.
	read sync.Mutex

	mu sync.Mutex // guards the sequencer's state below
	// next is the ticket the next batch read gets, head the oldest one
	// not handed on; ring holds the batches by ticket.
	next, head uint64
	ring       []int
	ready      []bool
	// handing is set while a lane hands batches on.
	handing bool
	// drained gets a token whenever the last batch in flight is handed on.
	drained chan struct{}
}

// newPipeline spreads batches (batchesPerLane for each of lanes lanes, or
// at least one) over the lanes.
func newPipeline[B batch](done <-chan struct{}, lanes int, batches []B) *pipeline[B] {
	lanes = max(1, min(lanes, len(batches)/batchesPerLane))
	if lanes == 1 {
		batches = batches[:1]
	}
	p := &pipeline[B]{done: done, lanes: lanes, batches: batches, free: make([]chan struct{}, len(batches)),
		ring: make([]int, len(batches)), ready: make([]bool, len(batches)), drained: make(chan struct{}, 1),
		help: make(chan struct{}, 1), stopped: make(chan struct{})}
	for i := range p.free {
		p.free[i] = make(chan struct{}, 1)
		p.free[i] <- struct{}{}
	}
	return p
}

// lanesBatches is how many batches a pipeline of lanes lanes needs.
func lanesBatches(lanes int) int {
	if lanes <= 1 {
		return 1
	}
	return lanes * batchesPerLane
}

// run runs the lanes until fill says to stop on every one of them (or the
// data plane closes), then waits for what is in flight to be handed on.
// fill reads into a batch and prepares it, under the read lock; it returns
// whether the batch holds anything, and whether to stop.
func (p *pipeline[B]) run(fill func(B) (got, stop bool)) {
	var wg sync.WaitGroup
	for l := 1; l < p.lanes; l++ {
		wg.Add(1)
		go func() { defer wg.Done(); p.lane(l, fill) }()
	}
	p.lane(0, fill)
	wg.Wait()
	p.wait()
}

// lane reads, seals and hands on with the batches l, l+lanes, ...
func (p *pipeline[B]) lane(l int, fill func(B) (got, stop bool)) {
	waiting := l > 0
	for i := l; ; i += p.lanes {
		if i >= len(p.batches) {
			i = l
		}
		if waiting {
			select {
			case <-p.help:
			case <-p.stopped:
				return
			case <-p.done:
				return
			}
		}
		select {
		case <-p.free[i]:
		case <-p.done:
			return
		}
		b := p.batches[i]
		p.read.Lock()
		got, stop := fill(b)
		if stop || !got {
			p.read.Unlock()
			p.free[i] <- struct{}{}
			if stop {
				p.stopOnce.Do(func() { close(p.stopped) })
				return
			}
			waiting = l > 0
			continue
		}
		busy := b.busy()
		if busy && p.lanes > 1 {
			select {
			case p.help <- struct{}{}:
			default: // one is called in already
			}
		}
		waiting = l > 0 && !busy
		p.mu.Lock()
		t := p.next
		p.next++
		p.ring[t%uint64(len(p.ring))] = i
		p.mu.Unlock()
		p.read.Unlock()
		b.crypt()
		p.finish(t)
	}
}

// finish marks the batch of ticket t done and hands on, oldest first,
// every batch that is done, unless another lane is at it already (it will
// find this one done when it gets there).
func (p *pipeline[B]) finish(t uint64) {
	size := uint64(len(p.ring))
	p.mu.Lock()
	p.ready[t%size] = true
	if p.handing {
		p.mu.Unlock()
		return
	}
	p.handing = true
	for p.head < p.next && p.ready[p.head%size] {
		at := p.head % size
		i := p.ring[at]
		p.mu.Unlock()
		p.batches[i].handOn()
		p.mu.Lock()
		// Only now is it gone: until then a lane flushing a batch early
		// must not find the pipeline idle (one socket is not sent on
		// from two goroutines at once).
		p.ready[at] = false
		p.head++
		p.free[i] <- struct{}{}
	}
	p.handing = false
	if p.head == p.next {
		select {
		case p.drained <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

// wait returns when every batch read so far has been handed on, so that a
// lane may send something itself without overtaking them (a batch that
// must be flushed before it is full; the lane holds the read lock, so no
// batch is read meanwhile); false when the data plane is closing.
func (p *pipeline[B]) wait() bool {
	for {
		p.mu.Lock()
		idle := p.head == p.next
		p.mu.Unlock()
		if idle {
			return true
		}
		select {
		case <-p.drained:
		case <-p.done:
			return false
		}
	}
}
