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
