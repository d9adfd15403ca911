package esp

import (
	"bytes"
	"sync"
	"testing"
)

// TestConcurrentSealOpen seals and opens on one SA pair from several
// goroutines; run with -race. Every sequence number is used exactly once.
func TestConcurrentSealOpen(t *testing.T) {
	cfg := tunnel4()
	cfg.ESN = true
	cfg.ReplayWindow = 4096
	out, in := pair(t, gcm128, cfg)
	inner := udpPacket(in4a, in4b, 0, []byte("concurrent"))
	const workers, each = 4, 200
	sealed := make(chan []byte, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			head, tail := out.Overhead()
			for range each {
				buf := make([]byte, head+len(inner)+tail)
				copy(buf[head:], inner)
				p, err := out.Seal(buf, head, len(inner))
				if err != nil {
					t.Error(err)
					return
				}
				sealed <- p.Bytes
			}
		}()
	}
	wg.Wait()
	close(sealed)
	seen := make(chan uint64, workers*each)
	var wg2 sync.WaitGroup
	for range workers {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for s := range sealed {
				res, err := in.Open(s)
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(res.Packet, inner) {
					t.Error("wrong inner packet")
				}
				seen <- res.Seq
			}
		}()
	}
	wg2.Wait()
	close(seen)
	got := map[uint64]bool{}
	for s := range seen {
		if got[s] {
			t.Fatalf("sequence number %d used twice", s)
		}
		got[s] = true
	}
	if len(got) != workers*each {
		t.Fatalf("%d packets opened, want %d", len(got), workers*each)
	}
}
