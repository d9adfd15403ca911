package dataplane

import (
	"sync/atomic"
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

// work is a batch and the channel its crypt signals on.
type work struct {
	b     batch
	ready chan<- struct{}
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
			j.b.crypt()
			j.ready <- struct{}{}
		case <-w.done:
			return
		}
	}
}

// slot is one batch of a pipeline with the channel its worker signals.
type slot[B batch] struct {
	b     B
	ready chan struct{}
}

// pipeline moves the batches of one reader (the TUN, or one socket)
// through the workers and one in-order writer. The reader takes a free
// batch, reads into it, does what must happen in arrival order (the SPD,
// sequence numbers, finding the SA) and submits it; a worker does its
// crypto; the writer waits for the batches in the order they were
// submitted and hands each on. A fixed set of batches circulates, so
// nothing is allocated and a reader ahead of the workers waits for a free
// batch. With no workers, or while the pipeline is idle and a batch is
// small, the reader does everything itself.
type pipeline[B batch] struct {
	w     *workers
	done  <-chan struct{}
	free  chan slot[B]
	order chan slot[B]
	// inflight counts the submitted batches the writer has not handed on;
	// drained gets a token whenever it falls to zero.
	inflight atomic.Int32
	drained  chan struct{}
	// exited is closed when the writer returns.
	exited chan struct{}
}

// newPipeline circulates batches (at least one) through w; with w nil
// only the first batch is used, inline.
func newPipeline[B batch](w *workers, done <-chan struct{}, batches []B) *pipeline[B] {
	p := &pipeline[B]{w: w, done: done, drained: make(chan struct{}, 1), exited: make(chan struct{})}
	if w == nil {
		batches = batches[:1]
	}
	p.free = make(chan slot[B], len(batches))
	p.order = make(chan slot[B], len(batches))
	for _, b := range batches {
		p.free <- slot[B]{b: b, ready: make(chan struct{}, 1)}
	}
	go p.writer()
	return p
}

// get returns a free batch, waiting for the writer to hand one on when
// all are in flight; false when the data plane is closing.
func (p *pipeline[B]) get() (slot[B], bool) {
	select {
	case s := <-p.free:
		return s, true
	case <-p.done:
		return slot[B]{}, false
	}
}

// submit sends s on its way: inline when there are no workers, or when
// nothing is in flight and the batch is too small to be worth a worker;
// otherwise to a worker and, in order, to the writer.
func (p *pipeline[B]) submit(s slot[B]) {
	if p.w == nil || (s.b.pending() < minParallel && p.inflight.Load() == 0) {
		s.b.crypt()
		s.b.handOn()
		p.free <- s
		return
	}
	p.inflight.Add(1)
	p.order <- s // never blocks: it holds every batch
	select {
	case p.w.q <- work{b: s.b, ready: s.ready}:
	case <-p.done:
	}
}

// put returns a batch that carried nothing.
func (p *pipeline[B]) put(s slot[B]) { p.free <- s }

// wait returns when every submitted batch has been handed on, so the
// reader may send something itself without overtaking them (a batch that
// must be flushed before it is full); false when the data plane is closing.
func (p *pipeline[B]) wait() bool {
	for p.inflight.Load() > 0 {
		select {
		case <-p.drained:
		case <-p.done:
			return false
		}
	}
	return true
}

// writer hands the submitted batches on in the order they were submitted.
func (p *pipeline[B]) writer() {
	defer close(p.exited)
	for s := range p.order {
		select {
		case <-s.ready:
		case <-p.done:
			return
		}
		s.b.handOn()
		if p.inflight.Add(-1) == 0 {
			select {
			case p.drained <- struct{}{}:
			default:
			}
		}
		p.free <- s
	}
}

// close lets what is in flight finish, stops the writer and waits for it
// (it returns at once when the data plane is closing).
func (p *pipeline[B]) close() {
	p.wait()
	close(p.order)
	<-p.exited
}
