package ike

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// retransmitTimes returns when a sent its IKE_SA_INIT request (first send
// and retransmissions) to a peer that never answers, relative to the first,
// stepping the fake clock by 10 ms for up to a minute.
func retransmitTimes(t *testing.T, set func(o *Options)) []time.Duration {
	t.Helper()
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	set(&p.a.m.opts)
	var start time.Time
	var times []time.Duration
	p.drop = func(f *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil && f == p.a && h.Exchange == wire.IKE_SA_INIT {
			if start.IsZero() {
				start = p.clock.now
			}
			times = append(times, p.clock.now.Sub(start))
		}
		return true
	}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	for range 6000 {
		p.advance(10 * time.Millisecond)
	}
	return times
}

// charon.retransmit_limit caps each wait of the exponential back-off.
func TestRetransmitLimit(t *testing.T) {
	times := retransmitTimes(t, func(o *Options) {
		o.RetransmitTimeout, o.RetransmitBase, o.RetransmitTries, o.RetransmitLimit = time.Second, 2, 5, 3*time.Second
	})
	// waits 1, 2, then 4, 8, 16 capped at 3
	want := []time.Duration{0, 1 * time.Second, 3 * time.Second, 6 * time.Second, 9 * time.Second, 12 * time.Second}
	if len(times) < len(want) {
		t.Fatalf("sent at %v, want %v", times, want)
	}
	for i, w := range want {
		if d := times[i] - w; d < 0 || d > 20*time.Millisecond {
			t.Fatalf("sent at %v, want %v", times[:len(want)], want)
		}
	}
}

// charon.retransmit_tries = 0 sends once and gives up after the timeout.
func TestRetransmitNoTries(t *testing.T) {
	times := retransmitTimes(t, func(o *Options) { o.RetransmitTimeout, o.RetransmitTries = time.Second, -1 })
	if len(times) != 1 {
		t.Fatalf("sent at %v, want one send", times)
	}
}

// charon.retransmit_jitter takes up to that share off each wait, at random.
func TestRetransmitJitter(t *testing.T) {
	times := retransmitTimes(t, func(o *Options) {
		o.RetransmitTimeout, o.RetransmitBase, o.RetransmitTries, o.RetransmitJitter = 2*time.Second, 1, 8, 20
	})
	if len(times) < 9 {
		t.Fatalf("sent at %v", times)
	}
	distinct := map[time.Duration]bool{}
	for i := 1; i < 9; i++ {
		wait := times[i] - times[i-1]
		distinct[wait.Round(10*time.Millisecond)] = true
		if wait < 1600*time.Millisecond-20*time.Millisecond || wait > 2*time.Second+20*time.Millisecond {
			t.Fatalf("wait %d is %v, want 1.6 s to 2 s (2 s less up to 20%%)", i, wait)
		}
	}
	if len(distinct) < 3 {
		t.Fatalf("waits %v: the jitter did not vary them", times)
	}
}

// dos_protection = no, cookie_threshold = 0, block_threshold = 0 and
// init_limit_half_open = 0 reach the Manager as math.MaxInt: no cookie, no
// block, no cap, even for many requests from one address.
func TestDoSLimitsDisabled(t *testing.T) {
	p := cookiePair(t)
	o := &p.b.m.opts
	o.CookieThreshold, o.CookieThresholdPerSource, o.HalfOpenPerSource, o.HalfOpenLimit = math.MaxInt, math.MaxInt, math.MaxInt, math.MaxInt
	from := spoofed(1)
	for i := range 40 {
		if a := ask(t, p, initRequest(t, uint64(100+i), testNonce(i), nil), netip.AddrPortFrom(from.Addr(), uint16(2000+i))); !a.sa {
			t.Fatalf("request %d from one source: %+v", i, a)
		}
	}
	if p.b.m.HalfOpen() != 40 || p.b.m.Stats.CookiesSent != 0 {
		t.Fatalf("%d half-open, %d cookies", p.b.m.HalfOpen(), p.b.m.Stats.CookiesSent)
	}
}
