package dataplane

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeBatch is a pipeline batch that records which of the pipeline's
// batches crypt ran on and the order handOn saw.
type fakeBatch struct {
	idx  int
	seq  int // the fill's number
	size int
	log  *fakeLog
}

type fakeLog struct {
	mu      sync.Mutex
	crypted map[int]int // batch index -> times used
	handed  []int       // seq in handOn order
}

func (b *fakeBatch) crypt() {
	if b.busy() {
		time.Sleep(200 * time.Microsecond) // crypto that takes a while
	}
	b.log.mu.Lock()
	b.log.crypted[b.idx]++
	b.log.mu.Unlock()
}

func (b *fakeBatch) handOn() {
	b.log.mu.Lock()
	b.log.handed = append(b.log.handed, b.seq)
	b.log.mu.Unlock()
}

// fakeFull is a full fake batch.
const fakeFull = 128

func (b *fakeBatch) busy() bool { return b.size >= fakeFull }

// runFake runs batches of the given sizes through a pipeline of lanes
// lanes and returns the log.
func runFake(lanes int, sizes []int) *fakeLog {
	log := &fakeLog{crypted: map[int]int{}}
	batches := make([]*fakeBatch, lanesBatches(lanes))
	for i := range batches {
		batches[i] = &fakeBatch{idx: i, log: log}
	}
	p := newPipeline(make(chan struct{}), lanes, batches)
	next := 0
	p.run(func(b *fakeBatch) (got, stop bool) {
		if next == len(sizes) {
			return false, true
		}
		b.seq, b.size = next, sizes[next]
		next++
		return true, false
	})
	return log
}

// Batches that are not full stay on the lane that reads them (lane 0,
// which owns batches 0 and lanes); full ones call the other lanes in. Either way every batch is handed on, in the order read,
// and a pipeline whose reader stops ends with its waiting lanes.
func TestPipelineCallsLanesForBigBatches(t *testing.T) {
	const lanes = 3
	inOrder := func(t *testing.T, log *fakeLog, n int) {
		t.Helper()
		if len(log.handed) != n {
			t.Fatalf("handed on %d batches, want %d", len(log.handed), n)
		}
		for i, s := range log.handed {
			if s != i {
				t.Fatalf("batch %d handed on at place %d", s, i)
			}
		}
	}
	small := slices.Repeat([]int{1, 3, 45, fakeFull - 1}, 100)
	log := runFake(lanes, small)
	inOrder(t, log, len(small))
	for idx, n := range log.crypted {
		if idx%lanes != 0 {
			t.Errorf("small batches: batch %d (another lane's) used %d times", idx, n)
		}
	}

	big := slices.Repeat([]int{fakeFull, 1, fakeFull}, 100)
	log = runFake(lanes, big)
	inOrder(t, log, len(big))
	others := 0
	for idx, n := range log.crypted {
		if idx%lanes != 0 {
			others += n
		}
	}
	if others == 0 {
		t.Errorf("full batches: no other lane was called in: %v", log.crypted)
	}
	t.Logf("full batches among others: %d of %d on other lanes", others, len(big))
}
