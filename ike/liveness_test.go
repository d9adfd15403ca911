package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// lcInstaller adds what liveness asks of the daemon's packet path to a
// test peer: inbound activity per Child SA and trap policies.
type lcInstaller struct {
	*peer
	last    map[uint32]time.Time // by SPIIn
	traps   []*Trap
	untraps []*Trap
}

func (l *lcInstaller) LastInbound(c *ChildSA) time.Time { return l.last[c.SPIIn] }
func (l *lcInstaller) InstallTrap(t *Trap) error        { l.traps = append(l.traps, t); return nil }
func (l *lcInstaller) UninstallTrap(t *Trap)            { l.untraps = append(l.untraps, t) }

func withLifecycle(p *peer) *lcInstaller {
	l := &lcInstaller{peer: p, last: map[uint32]time.Time{}}
	p.m.installer = l
	return l
}

// isRequest reports a datagram's exchange and whether it is a request.
func exchangeOf(d datagram) (wire.ExchangeType, bool) {
	h, err := wire.ParseHeader(d.b)
	if err != nil {
		return 0, false
	}
	return h.Exchange, !h.IsResponse()
}

// countRequests counts the requests of an exchange that from sends (and
// drops them all while *lost is set).
func countRequests(p *pair, from *peer, ex wire.ExchangeType, lost *bool) *[]time.Time {
	var at []time.Time
	p.drop = func(f *peer, d datagram) bool {
		if e, req := exchangeOf(d); f == from && req && e == ex {
			at = append(at, p.clock.now)
		}
		return *lost
	}
	return &at
}

// retransmitSchedule is how long a request is retransmitted before the SA
// gives up, with the Manager's options.
func retransmitSchedule(o Options) time.Duration {
	var total time.Duration
	for i := 0; i <= o.RetransmitTries; i++ {
		total += time.Duration(float64(o.RetransmitTimeout) * math.Pow(o.RetransmitBase, float64(i)))
	}
	return total
}

// stepUntil advances the clock in steps until cond holds (bounded) and
// returns the time it took.
func stepUntil(t *testing.T, p *pair, step, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := p.clock.now
	for p.clock.now.Sub(start) < limit {
		p.advance(step)
		if cond() {
			return p.clock.now.Sub(start)
		}
	}
	t.Fatalf("condition not reached within %v", limit)
	return 0
}

func dpdConfigs(t *testing.T, delay time.Duration) (*PeerConfig, *PeerConfig) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.DPDDelay = delay
	return ca, cb
}

func TestDPDOnlyWhenIdle(t *testing.T) {
	ca, cb := dpdConfigs(t, 10*time.Second)
	p := newPair(t, ca, cb, testPSK, testPSK)
	la := withLifecycle(p.a)
	a, _ := establish(t, p)
	lost := false
	dpd := countRequests(p, p.a, wire.INFORMATIONAL, &lost)
	spi := a.Children()[0].SPIIn

	// ESP keeps arriving every 6 s: no liveness check for a minute.
	for range 10 {
		p.advance(6 * time.Second)
		la.last[spi] = p.clock.now
	}
	if len(*dpd) != 0 {
		t.Fatalf("DPD sent %d times although ESP arrived every 6 s (dpd_delay 10 s)", len(*dpd))
	}
	// Traffic stops: the check goes out dpd_delay after the last packet.
	quiet := p.clock.now
	stepUntil(t, p, time.Second, 20*time.Second, func() bool { return len(*dpd) == 1 })
	if got := (*dpd)[0].Sub(quiet); got != 10*time.Second {
		t.Fatalf("DPD %v after the last ESP packet, want 10s", got)
	}
	// The answer is a sign of life too: the next check is 10 s later.
	stepUntil(t, p, time.Second, 20*time.Second, func() bool { return len(*dpd) == 2 })
	if got := (*dpd)[1].Sub((*dpd)[0]); got != 10*time.Second {
		t.Fatalf("second DPD %v after the first, want 10s", got)
	}
	// An IKE request from the peer resets it as well.
	p.advance(5 * time.Second)
	if err := p.b.m.TerminateChild("net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	p.advance(9 * time.Second)
	if len(*dpd) != 2 {
		t.Fatalf("DPD sent 9 s after the peer's last request (%d checks)", len(*dpd))
	}
	if a.State() != "ESTABLISHED" {
		t.Fatalf("IKE SA %s", a.State())
	}
}

func TestDeadPeerDetectionTiming(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{
		{"retransmission limit", 0},
		{"dpd_timeout", 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := dpdConfigs(t, 10*time.Second)
			ca.DPDTimeout = tc.timeout
			p := newPair(t, ca, cb, testPSK, testPSK)
			withLifecycle(p.a)
			establish(t, p)
			lost := true
			countRequests(p, p.a, wire.INFORMATIONAL, &lost)
			took := stepUntil(t, p, 100*time.Millisecond, 10*time.Minute, func() bool { return len(p.a.m.SAs()) == 0 })
			want := ca.DPDDelay + retransmitSchedule(p.a.m.opts)
			if tc.timeout > 0 {
				want = ca.DPDDelay + tc.timeout
			}
			// Each retransmission is timed from the tick that sent the
			// previous one, so every try may add up to one step.
			slack := time.Duration(p.a.m.opts.RetransmitTries+1) * 100 * time.Millisecond
			if took < want || took > want+slack {
				t.Fatalf("peer declared dead after %v, want %v", took, want)
			}
			if !logHas(p.a, "peer is dead, deleting IKE SA") {
				t.Fatalf("no log line for the dead peer:\n%s", p.a.logs)
			}
			t.Logf("dead after %v (dpd_delay %v, dpd_timeout %v)", took, ca.DPDDelay, tc.timeout)
		})
	}
}

func TestDPDActions(t *testing.T) {
	for _, action := range []Action{ActionClear, ActionTrap, ActionRestart} {
		t.Run(actionName(action), func(t *testing.T) {
			ca, cb := dpdConfigs(t, 10*time.Second)
			ca.Children[0].DPDAction = action
			p := newPair(t, ca, cb, testPSK, testPSK)
			la := withLifecycle(p.a)
			establish(t, p)
			lost := true
			inits := countRequests(p, p.a, wire.IKE_SA_INIT, &lost)
			stepUntil(t, p, time.Second, 5*time.Minute, func() bool {
				for _, sa := range p.a.m.SAs() {
					if sa.State() == "ESTABLISHED" {
						return false
					}
				}
				return true
			})
			if !logHas(p.a, `dpd_action="net=`+actionName(action)) {
				t.Fatalf("log does not name the action:\n%s", p.a.logs)
			}
			switch action {
			case ActionClear:
				if len(p.a.m.SAs()) != 0 || len(la.traps) != 0 || len(*inits) != 0 {
					t.Fatalf("clear left SAs %d, traps %d, initiations %d", len(p.a.m.SAs()), len(la.traps), len(*inits))
				}
			case ActionTrap:
				if len(p.a.m.SAs()) != 0 || len(*inits) != 0 {
					t.Fatal("trap initiated at once")
				}
				traps := p.a.m.Traps()
				if len(traps) != 1 || len(la.traps) != 1 || la.traps[0] != traps[0] {
					t.Fatalf("traps %v, installed %v", traps, la.traps)
				}
				tr := traps[0]
				if got := fmt.Sprint(tsStrings(tr.LocalTS), tsStrings(tr.RemoteTS)); got != "[10.99.1.0/24] [10.99.2.0/24]" || tr.Remote != ca.Remote {
					t.Fatalf("trap selectors %s remote %v", got, tr.Remote)
				}
				// The peer is back; the first packet brings the tunnel up.
				lost = false
				if err := p.a.m.Acquire("site", "net"); err != nil {
					t.Fatal(err)
				}
				p.pump()
				if sa := onlySA(t, p.a); sa.State() != "ESTABLISHED" || len(sa.Children()) != 1 {
					t.Fatalf("after acquire: %s with %d children", sa.State(), len(sa.Children()))
				}
			case ActionRestart:
				if len(*inits) != 1 {
					t.Fatalf("restart sent %d IKE_SA_INIT at once, want 1", len(*inits))
				}
				// The peer comes back while the new IKE_SA_INIT is retransmitted.
				lost = false
				p.advance(4 * time.Second)
				sa := onlySA(t, p.a)
				if sa.State() != "ESTABLISHED" || len(sa.Children()) != 1 || sa.Children()[0].Name != "net" {
					t.Fatalf("after restart: %s with %d children", sa.State(), len(sa.Children()))
				}
			}
		})
	}
}

func TestCloseActions(t *testing.T) {
	for _, tc := range []struct {
		action Action
		ike    bool // the peer deletes the IKE SA, not the Child SA
	}{
		{ActionNone, true}, {ActionTrap, true}, {ActionStart, true},
		{ActionNone, false}, {ActionTrap, false}, {ActionStart, false},
	} {
		what := "child"
		if tc.ike {
			what = "ike"
		}
		t.Run(what+"/"+actionName(tc.action), func(t *testing.T) {
			ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
			ca.Children[0].CloseAction = tc.action
			p := newPair(t, ca, cb, testPSK, testPSK)
			la := withLifecycle(p.a)
			old, _ := establish(t, p)
			oldChild := old.Children()[0]
			var err error
			if tc.ike {
				err = p.b.m.TerminateIKE("site")
			} else {
				err = p.b.m.TerminateChild("net")
			}
			if err != nil {
				t.Fatal(err)
			}
			p.pump()
			sas := p.a.m.SAs()
			switch tc.action {
			case ActionNone:
				if tc.ike && len(sas) != 0 || !tc.ike && (len(sas) != 1 || len(sas[0].Children()) != 0) {
					t.Fatalf("close_action none: %d SAs left", len(sas))
				}
				if len(la.traps) != 0 {
					t.Fatal("trap installed")
				}
			case ActionTrap:
				if len(la.traps) != 1 || la.traps[0].Child.Name != "net" {
					t.Fatalf("traps %v", la.traps)
				}
				for _, sa := range sas {
					if len(sa.Children()) != 0 {
						t.Fatal("trap re-created the Child SA at once")
					}
				}
			case ActionStart:
				sa := onlySA(t, p.a)
				if sa == old && tc.ike || sa != old && !tc.ike {
					t.Fatalf("restart on the wrong IKE SA (new %v)", sa != old)
				}
				if len(sa.Children()) != 1 || sa.Children()[0] == oldChild || sa.Children()[0].State() != "INSTALLED" {
					t.Fatalf("Child SA not re-created: %d children", len(sa.Children()))
				}
			}
		})
	}
}

func TestTrapAcquireInitiatesOnce(t *testing.T) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.Children[0].StartAction = ActionTrap
	p := newPair(t, ca, cb, testPSK, testPSK)
	la := withLifecycle(p.a)
	if err := p.a.m.InstallTrap("site", "net"); err != nil {
		t.Fatal(err)
	}
	if err := p.a.m.InstallTrap("site", "net"); err != nil || len(la.traps) != 1 {
		t.Fatalf("installing twice: %v, %d traps", err, len(la.traps))
	}
	lost := false
	inits := countRequests(p, p.a, wire.IKE_SA_INIT, &lost)
	// A burst of acquires before the IKE SA is up starts one negotiation.
	for range 3 {
		if err := p.a.m.Acquire("site", "net"); err != nil {
			t.Fatal(err)
		}
	}
	p.pump()
	if len(*inits) != 1 {
		t.Fatalf("%d IKE_SA_INIT for 3 acquires", len(*inits))
	}
	sa := onlySA(t, p.a)
	if len(sa.Children()) != 1 {
		t.Fatalf("%d children after acquire", len(sa.Children()))
	}
	// Once up, acquires (e.g. raced packets) change nothing.
	if err := p.a.m.Acquire("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(onlySA(t, p.a).Children()) != 1 || len(*inits) != 1 {
		t.Fatal("acquire with the Child SA up started another")
	}
	// The trap outlives the SA: after the peer deletes it, the next
	// packet brings it back.
	if err := p.b.m.TerminateIKE("site"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.a.m.Traps()) != 1 {
		t.Fatal("trap gone with the SA")
	}
	if err := p.a.m.Acquire("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if sa := onlySA(t, p.a); sa.State() != "ESTABLISHED" || len(sa.Children()) != 1 {
		t.Fatal("trap did not re-initiate")
	}
	if err := p.a.m.UninstallTrap("site", "net"); err != nil || len(la.untraps) != 1 || len(p.a.m.Traps()) != 0 {
		t.Fatalf("uninstall: %v, %d", err, len(la.untraps))
	}
	if err := p.a.m.Acquire("site", "net"); err == nil {
		t.Fatal("acquire without a trap accepted")
	}
}

func TestKeyingTriesBackOff(t *testing.T) {
	for _, tries := range []uint32{1, 3, KeyingTriesForever} {
		t.Run(fmt.Sprint(tries), func(t *testing.T) {
			ca := siteConfig(t, 1, 2)
			ca.KeyingTries = tries
			p := newPair(t, ca, siteConfig(t, 2, 1), testPSK, testPSK)
			o := &p.a.m.opts
			o.RetransmitTimeout, o.RetransmitTries = time.Second, 1 // 2.8 s per try
			lost := true
			var starts []time.Time // first IKE_SA_INIT of each try
			seen := map[uint64]bool{}
			p.drop = func(f *peer, d datagram) bool {
				h, err := wire.ParseHeader(d.b)
				if err == nil && f == p.a && h.Exchange == wire.IKE_SA_INIT {
					spi := binary.BigEndian.Uint64(h.SPIi[:])
					if !seen[spi] {
						seen[spi] = true
						starts = append(starts, p.clock.now)
					}
				}
				return lost
			}
			if err := p.a.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			p.pump()
			want := int(tries)
			if tries == KeyingTriesForever {
				want = 8
			}
			for p.clock.now.Sub(starts[0]) < 30*time.Minute && len(starts) <= want && (tries != KeyingTriesForever || len(starts) < want) {
				p.advance(100 * time.Millisecond)
			}
			if len(starts) != want {
				t.Fatalf("%d tries, want %d", len(starts), want)
			}
			per := retransmitSchedule(*o)
			for i := 1; i < len(starts); i++ {
				gap := starts[i].Sub(starts[i-1]) - per
				base := min(o.RetryInterval<<(i-1), o.RetryMax)
				if gap < base-o.RetryJitter || gap > base+100*time.Millisecond {
					t.Fatalf("try %d started %v after try %d gave up, want %v minus up to %v", i+1, gap, i, base, o.RetryJitter)
				}
				t.Logf("try %d: %v after the previous gave up", i+1, gap.Round(time.Millisecond))
			}
			if tries == KeyingTriesForever {
				if !logHas(p.a, "trying again (8/unlimited)") {
					t.Fatalf("log:\n%s", p.a.logs)
				}
				// The peer answers again: the next try gets through.
				lost = false
				stepUntil(t, p, time.Second, 10*time.Minute, func() bool {
					sas := p.a.m.SAs()
					return len(sas) == 1 && sas[0].State() == "ESTABLISHED" && len(sas[0].Children()) == 1
				})
				return
			}
			if tries > 1 && !logHas(p.a, fmt.Sprintf("peer not responding, trying again (2/%d)", tries)) {
				t.Fatalf("log:\n%s", p.a.logs)
			}
			if !logHas(p.a, fmt.Sprintf("establishing IKE SA failed, peer not responding (%d of %d keyingtries)", tries, tries)) {
				t.Fatalf("log:\n%s", p.a.logs)
			}
			if len(p.a.m.SAs()) != 0 || !p.a.m.NextDeadline().IsZero() {
				t.Fatal("still trying after the last keyingtry")
			}
		})
	}
}

// router is three or more peers wired by address, for tests that need a
// peer at another address.
type router struct {
	t     *testing.T
	clock *fakeClock
	peers []*peer
}

func (r *router) add(name, addr string, cfg *PeerConfig, seed byte) *peer {
	p := &peer{name: name, addr: netip.MustParseAddr(addr), logs: &bytes.Buffer{}, keys: map[uint32][4][]byte{}}
	var s [32]byte
	s[0] = seed
	p.m = NewManager(Config{
		Conns: []*PeerConfig{cfg}, Creds: testPSK, Transport: p, Installer: p, Clock: r.clock,
		Rand: rand.NewChaCha8(s), Log: slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	r.peers = append(r.peers, p)
	r.t.Cleanup(func() {
		if r.t.Failed() {
			r.t.Logf("peer %s log:\n%s", name, p.logs)
		}
	})
	return p
}

func (r *router) pump() {
	for range 200 {
		busy := false
		for _, from := range r.peers {
			q := from.out
			from.out = nil
			for _, d := range q {
				busy = true
				for _, to := range r.peers {
					if to.addr == d.remote.Addr() {
						to.m.HandleIKE(d.b, d.remote, d.local)
					}
				}
			}
		}
		if !busy {
			return
		}
	}
	r.t.Fatal("router: peers kept talking")
}

func (r *router) advance(d time.Duration) {
	r.clock.now = r.clock.now.Add(d)
	for _, p := range r.peers {
		p.m.Tick()
	}
	r.pump()
}

// uniqueSetup is a gateway b (10.99.0.2) with the given policy and two
// clients with the same identity a.cygnet.test, at 10.99.0.1 and 10.99.0.3.
func uniqueSetup(t *testing.T, policy UniquePolicy) (r *router, a1, a3, b *peer) {
	r = &router{t: t, clock: &fakeClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}}
	cb := siteConfig(t, 2, 1)
	cb.RemoteAddrs = []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24")}
	cb.Unique = policy
	a1 = r.add("a1", "10.99.0.1", siteConfig(t, 1, 2), 1)
	b = r.add("b", "10.99.0.2", cb, 2)
	c3 := siteConfig(t, 1, 2)
	c3.LocalAddrs = []netip.Prefix{netip.MustParsePrefix("10.99.0.3/32")}
	c3.Unique = UniqueNever // no INITIAL_CONTACT, which would replace whatever the policy

	a3 = r.add("a3", "10.99.0.3", c3, 3)
	return r, a1, a3, b
}

func establishedSAs(p *peer) []*IKESA {
	var out []*IKESA
	for _, sa := range p.m.SAs() {
		if sa.State() == "ESTABLISHED" {
			out = append(out, sa)
		}
	}
	return out
}

func TestUniquePolicies(t *testing.T) {
	for _, tc := range []struct {
		policy UniquePolicy
		// what b holds after a1, then a3 (another address), then a second
		// IKE SA from a1 (same address, without INITIAL_CONTACT)
		afterA3, afterSecond int
		log                  string
	}{
		{UniqueNo, 2, 3, ""},
		{UniqueNever, 2, 3, ""},
		{UniqueReplace, 1, 2, "deleting duplicate IKE SA due to uniqueness policy"},
		{UniqueKeep, 1, 2, "canceling IKE SA setup due to uniqueness policy"},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			r, a1, a3, b := uniqueSetup(t, tc.policy)
			if err := a1.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			r.pump()
			first := establishedSAs(b)
			if len(first) != 1 {
				t.Fatalf("b has %d IKE SAs", len(first))
			}
			if err := a3.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			r.pump()
			if got := len(establishedSAs(b)); got != tc.afterA3 {
				t.Fatalf("after a3: b has %d IKE SAs, want %d", got, tc.afterA3)
			}
			switch tc.policy {
			case UniqueKeep:
				if establishedSAs(b)[0] != first[0] || len(establishedSAs(a3)) != 0 || !logHas(a3, "AUTHENTICATION_FAILED") {
					t.Fatal("keep did not keep the first IKE SA and refuse the second")
				}
			case UniqueReplace:
				if establishedSAs(b)[0] == first[0] || len(establishedSAs(a1)) != 0 {
					t.Fatal("replace did not delete the old IKE SA (with a DELETE to a1)")
				}
			}
			if tc.log != "" && !logHas(b, tc.log) && !logHas(a3, tc.log) {
				t.Fatalf("no %q in the logs", tc.log)
			}
			// A second IKE SA from an address that has one: a
			// reauthentication for replace (old one deleted 10 s later)
			// and keep (allowed).
			before := len(establishedSAs(b))
			src := a1
			if len(establishedSAs(a1)) == 0 {
				src = a3
			}
			if _, err := src.m.initiateTo(src.m.Conn("site"), src.m.Conn("site").Remote, nil); err != nil {
				t.Fatal(err)
			}
			r.pump()
			if got := len(establishedSAs(b)); got != before+1 {
				t.Fatalf("second IKE SA from the same address: b has %d, want %d", got, before+1)
			}
			if tc.policy == UniqueReplace {
				r.advance(reauthDeleteDelay)
				if got := len(establishedSAs(b)); got != before {
					t.Fatalf("suspected reauthentication: %d IKE SAs 10 s later, want %d", got, before)
				}
			}
		})
	}
}

func TestInitialContact(t *testing.T) {
	for _, never := range []bool{false, true} {
		t.Run(fmt.Sprintf("never=%v", never), func(t *testing.T) {
			ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
			if never {
				ca.Unique, cb.Unique = UniqueNever, UniqueNever
			}
			p := newPair(t, ca, cb, testPSK, testPSK)
			old, _ := establish(t, p)
			if got := old.peerInitialContact; got {
				t.Fatal("initiator records INITIAL_CONTACT")
			}
			bsa := onlySA(t, p.b)
			if bsa.peerInitialContact == never {
				t.Fatalf("first IKE_AUTH carried INITIAL_CONTACT: %v, want %v", bsa.peerInitialContact, !never)
			}
			// A second IKE SA from a, which has one: no INITIAL_CONTACT.
			if _, err := p.a.m.initiateTo(ca, ca.Remote, nil); err != nil {
				t.Fatal(err)
			}
			p.pump()
			if len(establishedSAs(p.b)) != 2 {
				t.Fatalf("b has %d IKE SAs", len(establishedSAs(p.b)))
			}
			for _, sa := range establishedSAs(p.b) {
				if sa != bsa && sa.peerInitialContact {
					t.Fatal("INITIAL_CONTACT sent while an IKE SA with the peer exists")
				}
			}
			// a restarts (a new Manager, same identity and address) and
			// contacts b: b's old SAs with it go, unless unique = never.
			a2 := &peer{name: "a2", addr: p.a.addr, logs: &bytes.Buffer{}, keys: map[uint32][4][]byte{}}
			var s [32]byte
			s[0] = 9
			a2.m = NewManager(Config{Conns: []*PeerConfig{ca}, Creds: testPSK, Transport: a2, Installer: a2, Clock: p.clock,
				Rand: rand.NewChaCha8(s), Log: slog.New(slog.NewTextHandler(a2.logs, nil))})
			p.a = a2
			if err := a2.m.Initiate("site", "net"); err != nil {
				t.Fatal(err)
			}
			p.pump()
			want := 1
			if never {
				want = 3
			}
			if got := len(establishedSAs(p.b)); got != want {
				t.Fatalf("after the restarted peer's INITIAL_CONTACT b has %d IKE SAs, want %d", got, want)
			}
			if !never && !regexp.MustCompile(`destroying duplicate IKE SA, peer sent INITIAL_CONTACT`).MatchString(p.b.logs.String()) {
				t.Fatal("no log line")
			}
			if !never && strings.Count(p.b.logs.String(), "destroying duplicate IKE SA") != 2 {
				t.Fatal("not both old IKE SAs destroyed")
			}
		})
	}
}

func TestTerminateCancelsKeyingRetry(t *testing.T) {
	ca := siteConfig(t, 1, 2)
	ca.KeyingTries = KeyingTriesForever
	p := newPair(t, ca, siteConfig(t, 2, 1), testPSK, testPSK)
	p.a.m.opts.RetransmitTries = 1
	p.drop = func(*peer, datagram) bool { return true }
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	stepUntil(t, p, time.Second, time.Minute, func() bool { return len(p.a.m.SAs()) == 0 })
	if p.a.m.NextDeadline().IsZero() {
		t.Fatal("no retry scheduled")
	}
	if err := p.a.m.TerminateIKE("site"); err != nil {
		t.Fatal(err)
	}
	p.advance(10 * time.Minute)
	if len(p.a.m.SAs()) != 0 || !p.a.m.NextDeadline().IsZero() {
		t.Fatal("retried after terminate")
	}
}
