package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// threadCPU returns the CPU time the calling OS thread has used. Unlike wall
// time it leaves out the time other processes of a loaded machine take. The
// caller locks its goroutine to the thread. CLOCK_THREAD_CPUTIME_ID is exact
// to the nanosecond; getrusage(RUSAGE_THREAD) advances only at scheduler
// ticks, which made the same code fail the gate now and then.
func threadCPU(t *testing.T) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		t.Fatalf("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %v", err)
	}
	return time.Duration(ts.Nano())
}

// TestAESGCMEngineRatio compares the packet path (Seal+Open, tunnel mode,
// ESN, replay window) with the raw AES-128-GCM Seal+Open at 1400 octets by
// thread CPU time, alternating the two, and reports the median ratio of
// throughputs. It runs only with CYGNET_RATIO=1 (it takes a few seconds).
func TestAESGCMEngineRatio(t *testing.T) {
	if os.Getenv("CYGNET_RATIO") == "" {
		t.Skip("set CYGNET_RATIO=1 to measure")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const size, iters, rounds = 1400, 20000, 15

	out, in := pair(t, gcm128, Config{SPI: 1, Mode: ipsec.ModeTunnel, Src: out4a, Dst: out4b, ESN: true, ReplayWindow: 1024})
	inner := udpPacket(in4a, in4b, 0, make([]byte, size-28))
	head, tail := out.Overhead()
	buf := make([]byte, head+size+tail)
	copy(buf[head:], inner)
	espRun := func() {
		for range iters {
			p, err := out.Seal(buf, head, size)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := in.Open(p.Bytes); err != nil {
				t.Fatal(err)
			}
		}
	}
	blk, _ := aes.NewCipher(make([]byte, 16))
	g, _ := cipher.NewGCM(blk)
	nonce, aad := make([]byte, 12), make([]byte, 12)
	raw := make([]byte, size+16)
	rawRun := func() {
		for range iters {
			ct := g.Seal(raw[:0], nonce, raw[:size], aad)
			if _, err := g.Open(ct[:0], nonce, ct, aad); err != nil {
				t.Fatal(err)
			}
		}
	}
	measure := func(f func()) time.Duration {
		start := threadCPU(t)
		f()
		return threadCPU(t) - start
	}
	espRun()
	rawRun()
	var ratios []float64
	var espNs, rawNs []float64
	for range rounds {
		e := measure(espRun)
		r := measure(rawRun)
		espNs = append(espNs, float64(e.Nanoseconds())/iters)
		rawNs = append(rawNs, float64(r.Nanoseconds())/iters)
		ratios = append(ratios, float64(r)/float64(e))
	}
	slices.Sort(ratios)
	slices.Sort(espNs)
	slices.Sort(rawNs)
	t.Logf("AES-128-GCM %d octets, thread CPU time per Seal+Open: engine median %.0f ns (%.0f MB/s), raw cipher median %.0f ns (%.0f MB/s); median ratio %.3f",
		size, espNs[rounds/2], size*1e3/espNs[rounds/2], rawNs[rounds/2], size*1e3/rawNs[rounds/2], ratios[rounds/2])
	if ratios[rounds/2] < 0.85 {
		t.Errorf("engine reaches %.1f%% of the raw cipher's throughput, target 85%%", 100*ratios[rounds/2])
	}
}
