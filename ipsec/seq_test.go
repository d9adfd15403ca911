package ipsec

import (
	"errors"
	"sync"
	"testing"
)

func TestSequenceCounterNeverWraps(t *testing.T) {
	var c SequenceCounter
	c.Init(false, 0)
	c.Set(1<<32 - 3)
	for want := uint64(1<<32 - 2); want <= 1<<32-1; want++ {
		if got, err := c.Next(); err != nil || got != want {
			t.Fatalf("Next = %d, %v; want %d", got, err, want)
		}
	}
	if _, err := c.Next(); !errors.Is(err, ErrSequenceExhausted) {
		t.Fatalf("after 2^32-1: %v, want ErrSequenceExhausted", err)
	}
	if !c.NeedsRekey() {
		t.Error("an exhausted counter must ask for a rekey")
	}
	c.Set(5)
	if c.Used() != 1<<32-1 {
		t.Error("Set moved the counter backwards")
	}
}

func TestSequenceCounterESNAndSoftLimit(t *testing.T) {
	var c SequenceCounter
	c.Init(true, 10)
	c.Set(1 << 40)
	if n, err := c.Next(); err != nil || n != 1<<40+1 {
		t.Fatalf("ESN counter past 2^32: %d, %v", n, err)
	}
	if !c.NeedsRekey() {
		t.Error("soft limit 10 passed but no rekey asked")
	}
}

func TestSequenceCounterConcurrentUnique(t *testing.T) {
	var c SequenceCounter
	c.Init(false, 0)
	const workers, each = 4, 10000
	seen := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				n, _ := c.Next()
				seen[w] = append(seen[w], n)
			}
		})
	}
	wg.Wait()
	all := map[uint64]bool{}
	for _, s := range seen {
		for _, n := range s {
			if all[n] {
				t.Fatalf("sequence number %d handed out twice", n)
			}
			all[n] = true
		}
	}
	if c.Used() != workers*each {
		t.Fatalf("Used = %d", c.Used())
	}
}

// TestReserve: a batch reserves consecutive numbers at once; near the end
// of the space it gets what is left, then the exhaustion error.
func TestReserve(t *testing.T) {
	var c SequenceCounter
	c.Init(false, 0)
	first, got, err := c.Reserve(4)
	if first != 1 || got != 4 || err != nil {
		t.Fatalf("Reserve(4) = %d, %d, %v; want 1, 4, nil", first, got, err)
	}
	if n, _ := c.Next(); n != 5 {
		t.Fatalf("Next after a reservation = %d, want 5", n)
	}
	c.Set(1<<32 - 3)
	first, got, err = c.Reserve(5)
	if first != 1<<32-2 || got != 2 || err != nil {
		t.Fatalf("Reserve(5) near the end = %d, %d, %v; want %d, 2, nil", first, got, err, uint64(1<<32-2))
	}
	if _, got, err = c.Reserve(1); got != 0 || !errors.Is(err, ErrSequenceExhausted) {
		t.Fatalf("Reserve on an exhausted counter = %d, %v", got, err)
	}
}
