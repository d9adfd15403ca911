package dataplane

import (
	"sync"
)

// minParallel is the smallest batch that goes through the pipeline while
// nothing else is in flight: below it (a few ACKs) handing it to a worker
// and a writer costs more latency than the crypto it moves off the reader.
const minParallel = 8

// batch is a batch of packets as a pipeline moves it: its crypto runs on
// any worker, then it is handed on (sent, or written to the TUN) in the
// order its reader read it.
type batch interface {
	// crypt seals or opens every packet of the batch; it only reads the
	// state the in-order stages share (SA keys, the replay window).
	crypt()
	// handOn queues and sends the crypt's results in the batch's order,
	// moving what must move in order (the replay window).
	handOn()
	// pending is how many packets crypt has to do.
	pending() int
}

// workers seal and open whole batches for every path of a data plane, one
// goroutine per core, as wireguard-go's encryption and decryption workers
// do: each batch is sealed on one core, so its packets and jobs do not
// cross between caches, and a reader goes on reading while the batches it
// read before are sealed in parallel.
type workers struct {
	n    int
	q    chan work
	done <-chan struct{}
}

// work is batch i of a pipeline.
type work struct {
	p runner
	i int
}

// runner is a pipeline as its workers see it.
type runner interface {
	// run does the crypto of batch i and hands on what is ready in order.
	run(i int)
}

// newWorkers starts n workers that run until done is closed; with fewer
// than two there is no one to overlap with, and it returns nil (every path
// works inline).
func newWorkers(n int, done <-chan struct{}) *workers {
	if n < 2 {
		return nil
	}
	w := &workers{n: n, q: make(chan work, 16*n), done: done}
	for range n {
		go w.loop()
	}
	return w
}

// depth is how many batches a pipeline on w circulates: one being read,
// one per worker, one being handed on (one in all without workers).
func (w *workers) depth() int {
	if w == nil {
		return 1
	}
	return w.n + 2
}

func (w *workers) loop() {
	for {
		select {
		case j := <-w.q:
			j.p.run(j.i)
		case <-w.done:
			return
		}
	}
}

// pipeline moves the batches of one reader (the TUN, or one socket)
// through the workers. The reader takes a free batch, reads into it, does
// what must happen in arrival order (the SPD, sequence numbers, finding the
// SA) and submits it; a worker does its crypto; then the batches are handed
// on in the order they were submitted, by whichever worker finds the oldest
// one done (a sequencer, not a writer goroutine: one wake-up less per
// batch, and a batch is sent from the core that sealed it). A fixed set of
// batches circulates, so nothing is allocated and a reader ahead of the
// workers waits for a free batch. With no workers, or while the pipeline
// is idle and a batch is small, the reader does everything itself.
type pipeline[B batch] struct {
	w       *workers
	done    <-chan struct{}
	batches []B
	free    chan int

	mu sync.Mutex
	// ring holds the submitted batches not yet handed on, oldest at head.
	ring    []int
	head, n int
	ready   []bool
	// handing is set while a worker hands batches on.
	handing bool
	// drained gets a token whenever the last batch in flight is handed on.
	drained chan struct{}
}

// newPipeline circulates batches (at least one) through w; with w nil
// only the first batch is used, inline.
func newPipeline[B batch](w *workers, done <-chan struct{}, batches []B) *pipeline[B] {
	if w == nil {
		batches = batches[:1]
	}
	p := &pipeline[B]{w: w, done: done, batches: batches, free: make(chan int, len(batches)),
		ring: make([]int, len(batches)), ready: make([]bool, len(batches)), drained: make(chan struct{}, 1)}
	for i := range batches {
		p.free <- i
	}
	return p
}

// get returns a free batch, waiting for one to be handed on when all are
// in flight; false when the data plane is closing.
func (p *pipeline[B]) get() (int, B, bool) {
	select {
	case i := <-p.free:
		return i, p.batches[i], true
	case <-p.done:
		var none B
		return 0, none, false
	}
}

// put returns a batch that carried nothing.
func (p *pipeline[B]) put(i int) { p.free <- i }

// submit sends batch i on its way: inline when there are no workers, or
// when nothing is in flight and the batch is too small to be worth a
// worker; otherwise to a worker.
func (p *pipeline[B]) submit(i int) {
	b := p.batches[i]
	p.mu.Lock()
	idle := p.n == 0
	if p.w != nil && !(idle && b.pending() < minParallel) {
		p.ring[(p.head+p.n)%len(p.ring)] = i
		p.n++
		p.ready[i] = false
		p.mu.Unlock()
		select {
		case p.w.q <- work{p: p, i: i}:
		case <-p.done:
		}
		return
	}
	p.mu.Unlock()
	b.crypt()
	b.handOn()
	p.free <- i
}

// run does batch i's crypto on a worker, then hands on, oldest first,
// every batch that is done, unless another worker is at it already (it
// will find this one done when it gets there).
func (p *pipeline[B]) run(i int) {
	p.batches[i].crypt()
	p.mu.Lock()
	p.ready[i] = true
	if p.handing {
		p.mu.Unlock()
		return
	}
	p.handing = true
	for p.n > 0 && p.ready[p.ring[p.head]] {
		j := p.ring[p.head]
		p.mu.Unlock()
		p.batches[j].handOn()
		p.mu.Lock()
		// Only now is it gone: until the batch is handed on, the reader
		// must not find the pipeline idle and send a batch itself (one
		// socket is not sent on from two goroutines at once).
		p.head = (p.head + 1) % len(p.ring)
		p.n--
		p.free <- j
	}
	p.handing = false
	if p.n == 0 {
		select {
		case p.drained <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

// wait returns when every submitted batch has been handed on, so the
// reader may send something itself without overtaking them (a batch that
// must be flushed before it is full); false when the data plane is closing.
func (p *pipeline[B]) wait() bool {
	for {
		p.mu.Lock()
		n := p.n
		p.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-p.drained:
		case <-p.done:
			return false
		}
	}
}

// close lets what is in flight finish (it returns at once when the data
// plane is closing).
func (p *pipeline[B]) close() { p.wait() }
