package ike

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Collisions (RFC 7296 2.8.1, 2.8.2, 2.25): two peers start crossing
// exchanges, and every order in which the datagrams in flight can be
// delivered is tried, each on a fresh pair: requests, responses and
// DELETEs overtaking each other, and responses held back (delayed) while
// everything else goes. After every single datagram both data plane models
// must still carry traffic both ways; at the end exactly one tunnel is left.

// collisionPair is newPair without the log dump on failure (thousands of
// pairs are made); the failing order is reported instead.
func collisionPair(tb testing.TB, skew int) *pair {
	t, _ := tb.(*testing.T) // nil in benchmarks: pump's endless-talk check then panics
	clock := &fakeClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	mk := func(name, addr string, cfg *PeerConfig, seed byte) *peer {
		p := &peer{name: name, addr: netip.MustParseAddr(addr), logs: &bytes.Buffer{}, keys: map[uint32][4][]byte{}}
		var s [32]byte
		s[0] = seed
		p.m = NewManager(Config{
			Conns: []*PeerConfig{cfg}, Creds: testPSK, Transport: p, Installer: p, Clock: clock, Rand: rand.NewChaCha8(s),
			Log: slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		})
		return p
	}
	p := &pair{t: t, clock: clock, a: mk("a", "10.99.0.1", siteConfig(tb, 1, 2), 1), b: mk("b", "10.99.0.2", siteConfig(tb, 2, 1), 2)}
	// Shift b's random stream so that different skews give different nonce
	// orders, and so different winners of simultaneous rekeys.
	_, _ = p.b.m.rand.Read(make([]byte, skew))
	return p
}

type collision struct {
	name string
	// deletes: the tunnel goes on purpose, so traffic may stop.
	deletes bool
	start   func(p *pair) error
	// final checks the settled pair; it returns an outcome label, so the
	// test can tell that both winners of a nonce comparison were seen.
	final func(p *pair, ma, mb *dpModel, a0, b0 *IKESA, c0a, c0b *ChildSA) (string, error)
}

// oneTunnel checks that exactly one IKE SA and one Child SA are left on
// each side, matching each other, none of them the original ones where
// want says they were rekeyed.
func oneTunnel(p *pair, ma, mb *dpModel, a0 *IKESA, c0a *ChildSA, ikeRekeyed, childRekeyed bool) error {
	as, bs := p.a.m.SAs(), p.b.m.SAs()
	if len(as) != 1 || len(bs) != 1 {
		return fmt.Errorf("IKE SAs a %d b %d", len(as), len(bs))
	}
	a, b := as[0], bs[0]
	if a.SPIi != b.SPIi || a.SPIr != b.SPIr || a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" {
		return fmt.Errorf("IKE SAs do not match: a %016x_%016x %s, b %016x_%016x %s", a.SPIi, a.SPIr, a.State(), b.SPIi, b.SPIr, b.State())
	}
	if (a != a0) != ikeRekeyed {
		return fmt.Errorf("IKE SA rekeyed %v, want %v", a != a0, ikeRekeyed)
	}
	if len(a.Children()) != 1 || len(b.Children()) != 1 {
		return fmt.Errorf("Child SAs a %d b %d", len(a.Children()), len(b.Children()))
	}
	ca, cb := a.Children()[0], b.Children()[0]
	if ca.State() != "INSTALLED" || ca.SPIIn != cb.SPIOut || ca.SPIOut != cb.SPIIn {
		return fmt.Errorf("Child SAs a %08x/%08x %s, b %08x/%08x %s", ca.SPIIn, ca.SPIOut, ca.State(), cb.SPIIn, cb.SPIOut, cb.State())
	}
	if (ca != c0a) != childRekeyed {
		return fmt.Errorf("Child SA rekeyed %v, want %v", ca != c0a, childRekeyed)
	}
	if len(ma.in) != 1 || len(mb.in) != 1 || len(p.a.m.childSPI) != 1 || len(p.b.m.childSPI) != 1 {
		return fmt.Errorf("left in the SAD: a %v b %v; SPIs reserved a %d b %d", keysOf(ma.in), keysOf(mb.in), len(p.a.m.childSPI), len(p.b.m.childSPI))
	}
	return flows(ma, mb)
}

func winner(p *pair) string {
	switch {
	case logHas(p.a, "ours holds the lowest nonce"):
		return "b won"
	case logHas(p.b, "ours holds the lowest nonce"):
		return "a won"
	}
	return "no nonce comparison"
}

func wantEvents(p *pair, want map[EventKind]int) error {
	for _, x := range []*peer{p.a, p.b} {
		got := eventsOf(x)
		for _, k := range []EventKind{EventChildUp, EventChildDown, EventIKEUp, EventIKEDown, EventChildRekeyed, EventIKERekeyed} {
			if got[k] != want[k] {
				return fmt.Errorf("peer %s events %v, want %v", x.name, got, want)
			}
		}
	}
	return nil
}

var collisions = []collision{
	{
		name: "both rekey the Child SA",
		start: func(p *pair) error {
			return errorsOf(p.a.m.RekeyChild("net"), p.b.m.RekeyChild("net"))
		},
		final: func(p *pair, ma, mb *dpModel, a0, _ *IKESA, c0a, _ *ChildSA) (string, error) {
			if err := oneTunnel(p, ma, mb, a0, c0a, false, true); err != nil {
				return "", err
			}
			return winner(p), wantEvents(p, map[EventKind]int{EventChildRekeyed: 1})
		},
	},
	{
		name:    "a rekeys the Child SA while b deletes it",
		deletes: true,
		start: func(p *pair) error {
			return errorsOf(p.a.m.RekeyChild("net"), p.b.m.TerminateChild("net"))
		},
		final: deletedWins,
	},
	{
		name:    "b rekeys the Child SA while a deletes it",
		deletes: true,
		start: func(p *pair) error {
			return errorsOf(p.b.m.RekeyChild("net"), p.a.m.TerminateChild("net"))
		},
		final: deletedWins,
	},
	{
		name: "a rekeys the IKE SA while b rekeys the Child SA",
		start: func(p *pair) error {
			return errorsOf(p.a.m.RekeyIKE("site", false), p.b.m.RekeyChild("net"))
		},
		final: bothRekeyed,
	},
	{
		name: "b rekeys the IKE SA while a rekeys the Child SA",
		start: func(p *pair) error {
			return errorsOf(p.b.m.RekeyIKE("site", false), p.a.m.RekeyChild("net"))
		},
		final: bothRekeyed,
	},
	{
		name: "both rekey the IKE SA",
		start: func(p *pair) error {
			return errorsOf(p.a.m.RekeyIKE("site", false), p.b.m.RekeyIKE("site", false))
		},
		final: func(p *pair, ma, mb *dpModel, a0, _ *IKESA, c0a, _ *ChildSA) (string, error) {
			if err := oneTunnel(p, ma, mb, a0, c0a, true, false); err != nil {
				return "", err
			}
			return winner(p), wantEvents(p, map[EventKind]int{EventIKERekeyed: 1})
		},
	},
}

func errorsOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// deletedWins: a DELETE crossing a rekey of the same Child SA takes it
// down on both sides; the rekey is refused (TEMPORARY_FAILURE) or finds
// nothing, and no SA of it stays behind.
func deletedWins(p *pair, ma, mb *dpModel, a0, b0 *IKESA, _, _ *ChildSA) (string, error) {
	if len(a0.Children())+len(b0.Children()) != 0 || len(ma.in)+len(mb.in)+len(ma.out)+len(mb.out) != 0 {
		return "", fmt.Errorf("left: children a %d b %d, SAD a %v b %v", len(a0.Children()), len(b0.Children()), keysOf(ma.in), keysOf(mb.in))
	}
	if len(p.a.m.childSPI)+len(p.b.m.childSPI) != 0 {
		return "", fmt.Errorf("SPIs still reserved a %d b %d", len(p.a.m.childSPI), len(p.b.m.childSPI))
	}
	if a0.State() != "ESTABLISHED" || b0.State() != "ESTABLISHED" {
		return "", fmt.Errorf("IKE SAs %s/%s", a0.State(), b0.State())
	}
	how := "refused"
	if logHas(p.a, "deleting the new one") || logHas(p.b, "deleting the new one") {
		how = "new SA deleted"
	}
	return how, wantEvents(p, map[EventKind]int{EventChildDown: 1})
}

// bothRekeyed: an IKE SA rekey crossing a Child SA rekey is refused with
// TEMPORARY_FAILURE by one or both sides; the retries later complete both.
func bothRekeyed(p *pair, ma, mb *dpModel, a0, _ *IKESA, c0a, _ *ChildSA) (string, error) {
	if err := oneTunnel(p, ma, mb, a0, c0a, true, true); err != nil {
		return "", err
	}
	how := "no refusal"
	if logHas(p.a, "TEMPORARY_FAILURE") || logHas(p.b, "TEMPORARY_FAILURE") {
		how = "TEMPORARY_FAILURE, retried"
	}
	return how, wantEvents(p, map[EventKind]int{EventIKERekeyed: 1, EventChildRekeyed: 1})
}

// runOrder runs one collision, delivering the in-flight datagrams in the
// order prefix says (index into a's queue then b's; 0 after the prefix)
// and returns how many choices each step had.
func runOrder(t *testing.T, c collision, skew int, prefix []int) (choices []int, outcome string, err error) {
	p := collisionPair(t, skew)
	ma, mb := models(p)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		return nil, "", err
	}
	p.pump()
	as, bs := p.a.m.SAs(), p.b.m.SAs()
	if len(as) != 1 || len(bs) != 1 {
		return nil, "", fmt.Errorf("setup failed")
	}
	a0, b0 := as[0], bs[0]
	c0a, c0b := a0.Children()[0], b0.Children()[0]
	eventsOf(p.a)
	eventsOf(p.b)
	if err := c.start(p); err != nil {
		return nil, "", err
	}
	for step := 0; ; step++ {
		na, nb := len(p.a.out), len(p.b.out)
		if na+nb == 0 {
			break
		}
		if step > 60 {
			return choices, "", fmt.Errorf("no end after %d datagrams", step)
		}
		choices = append(choices, na+nb)
		i := 0
		if step < len(prefix) {
			i = prefix[step]
		}
		if i < na {
			p.deliver(p.a, i)
		} else {
			p.deliver(p.b, i-na)
		}
		if err := flows(ma, mb); err != nil && !c.deletes {
			return choices, "", fmt.Errorf("after datagram %d: %w", step+1, err)
		}
	}
	// Let retries, grace times and collision waits run out.
	for range 40 {
		p.clock.now = p.clock.now.Add(time.Second)
		p.a.m.Tick()
		p.b.m.Tick()
		for range 100 {
			if len(p.a.out)+len(p.b.out) == 0 {
				break
			}
			from := p.a
			if len(from.out) == 0 {
				from = p.b
			}
			p.deliver(from, 0)
			if err := flows(ma, mb); err != nil && !c.deletes {
				return choices, "", fmt.Errorf("settling: %w", err)
			}
		}
	}
	outcome, err = c.final(p, ma, mb, a0, b0, c0a, c0b)
	if err != nil {
		err = fmt.Errorf("%w\npeer a log:\n%s\npeer b log:\n%s", err, p.a.logs, p.b.logs)
	}
	return choices, outcome, err
}

func TestCollisionsEveryOrder(t *testing.T) {
	const maxRuns = 4000
	for _, c := range collisions {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			outcomes := map[string]int{}
			runs := 0
			for skew := range 4 {
				var prefix []int
				for {
					choices, outcome, err := runOrder(t, c, skew, prefix)
					runs++
					if err != nil {
						t.Fatalf("order %v (skew %d): %v", prefix, skew, err)
					}
					outcomes[outcome]++
					seq := append(append([]int(nil), prefix...), make([]int, max(0, len(choices)-len(prefix)))...)[:len(choices)]
					i := len(seq) - 1
					for i >= 0 && seq[i]+1 >= choices[i] {
						i--
					}
					if i < 0 || runs >= maxRuns {
						break
					}
					seq[i]++
					prefix = seq[:i+1]
				}
			}
			t.Logf("%d delivery orders, outcomes %v", runs, outcomes)
			if runs >= maxRuns {
				t.Logf("stopped at %d orders", maxRuns)
			}
			if strings.Contains(c.name, "both rekey") && (outcomes["a won"] == 0 || outcomes["b won"] == 0) {
				t.Fatalf("both winners of the nonce comparison must be exercised: %v", outcomes)
			}
		})
	}
}
