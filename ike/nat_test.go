package ike

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// natBox is a NAT in front of peer a, as nftables "masquerade random"
// does it: each inside address and port gets a public port on first use,
// a flush forgets every mapping, and packets to a public port without a
// mapping are dropped.
type natBox struct {
	public  netip.Addr
	next    uint16
	out     map[netip.AddrPort]netip.AddrPort // inside -> public
	in      map[netip.AddrPort]netip.AddrPort // public -> inside
	dropped int
}

func newNATBox() *natBox {
	return &natBox{public: netip.MustParseAddr("192.0.2.100"), next: 31000,
		out: map[netip.AddrPort]netip.AddrPort{}, in: map[netip.AddrPort]netip.AddrPort{}}
}

// translate returns the public address of an inside one, mapping it if new.
func (n *natBox) translate(inside netip.AddrPort) netip.AddrPort {
	if p, ok := n.out[inside]; ok {
		return p
	}
	n.next += 17
	p := netip.AddrPortFrom(n.public, n.next)
	n.out[inside], n.in[p] = p, inside
	return p
}

func (n *natBox) flush() {
	n.out = map[netip.AddrPort]netip.AddrPort{}
	n.in = map[netip.AddrPort]netip.AddrPort{}
}

// natPair is a pair whose initiator a sits behind a natBox; b is outside.
type natPair struct {
	*pair
	nat *natBox
	// aCounters are a's Child SA packet counters, which the test moves as
	// the data plane would.
	aCounters *counterInstaller
	bMover    *moverInstaller
	// requests counts the IKE requests b received, by exchange.
	requests map[wire.ExchangeType]int
}

// counterInstaller adds ChildCounters to a harness peer.
type counterInstaller struct {
	*peer
	in, out uint64
}

func (c *counterInstaller) Counters(*ChildSA) (bytesIn, packetsIn, bytesOut, packetsOut uint64) {
	return c.in * 100, c.in, c.out * 100, c.out
}

// moverInstaller adds ChildSAMover to a harness peer.
type moverInstaller struct {
	*peer
	moves []netip.AddrPort
}

func (m *moverInstaller) MoveChildSA(c *ChildSA) error {
	m.moves = append(m.moves, c.Remote)
	return nil
}

func newNATPair(t *testing.T) *natPair {
	cb := siteConfig(t, 2, 1)
	cb.RemoteAddrs = nil // a comes from the NAT's address
	p := &natPair{pair: newPair(t, siteConfig(t, 1, 2), cb, testPSK, testPSK), nat: newNATBox(), requests: map[wire.ExchangeType]int{}}
	p.aCounters = &counterInstaller{peer: p.a}
	p.bMover = &moverInstaller{peer: p.b}
	p.a.m.installer = p.aCounters
	p.b.m.installer = p.bMover
	return p
}

// pump delivers queued datagrams through the NAT until none are left.
func (p *natPair) pump() {
	for range 200 {
		if len(p.a.out) == 0 && len(p.b.out) == 0 {
			return
		}
		qa, qb := p.a.out, p.b.out
		p.a.out, p.b.out = nil, nil
		for _, d := range qa {
			if hdr, err := wire.ParseHeader(d.b); err == nil && !hdr.IsResponse() {
				p.requests[hdr.Exchange]++
			}
			p.b.m.HandleIKE(d.b, d.remote, p.nat.translate(d.local))
		}
		for _, d := range qb {
			inside, ok := p.nat.in[d.remote]
			if !ok {
				p.nat.dropped++
				continue
			}
			p.a.m.HandleIKE(d.b, inside, d.local)
		}
	}
	p.t.Fatal("pump: peers kept talking for 200 rounds")
}

func (p *natPair) advance(d time.Duration) {
	p.clock.now = p.clock.now.Add(d)
	p.a.m.Tick()
	p.b.m.Tick()
	p.pump()
}

func (p *natPair) establish(t *testing.T) (a, b *IKESA) {
	t.Helper()
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	a, b = onlySA(t, p.a), onlySA(t, p.b)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(a.Children()) != 1 || len(b.Children()) != 1 {
		t.Fatalf("through the NAT: states %s / %s, children %d / %d", a.State(), b.State(), len(a.Children()), len(b.Children()))
	}
	return a, b
}

// aNATT is a's IKE/ESP-in-UDP socket as the NAT sees it.
var aNATT = netip.MustParseAddrPort("10.99.0.1:4500")

func TestNATDetectedAndPortFloats(t *testing.T) {
	p := newNATPair(t)
	a, b := p.establish(t)
	if !a.NATLocal || a.NATRemote || b.NATLocal || !b.NATRemote {
		t.Fatalf("nat_local/nat_remote: a %v/%v, b %v/%v; want a true/false, b false/true", a.NATLocal, a.NATRemote, b.NATLocal, b.NATRemote)
	}
	public := p.nat.out[aNATT]
	if a.Local != aNATT || a.Remote.Port() != 4500 || b.Local.Port() != 4500 || b.Remote != public {
		t.Fatalf("endpoints a %v -> %v, b %v -> %v (a's 4500 is %v outside)", a.Local, a.Remote, b.Local, b.Remote, public)
	}
	ca, cb := a.Children()[0], b.Children()[0]
	if !ca.Encap || !cb.Encap || cb.Remote != public || ca.Remote != a.Remote {
		t.Fatalf("children: a encap %v remote %v, b encap %v remote %v", ca.Encap, ca.Remote, cb.Encap, cb.Remote)
	}
}

// TestNATMappingChangeInitiatorChecks: the NAT forgets a's mapping while a
// sends ESP; nothing comes back, so a sends a liveness check, which leaves
// from a new public port; b follows on it (an authenticated request) and
// re-points its Child SA in place.
func TestNATMappingChangeInitiatorChecks(t *testing.T) {
	p := newNATPair(t)
	a, b := p.establish(t)
	old := b.Remote
	p.nat.flush()
	// ESP keeps leaving a (the data plane's counters), nothing arrives.
	infoBefore := p.requests[wire.INFORMATIONAL]
	var probedAfter time.Duration
	for i := 1; i <= 10 && p.requests[wire.INFORMATIONAL] == infoBefore; i++ {
		p.aCounters.out += 5
		p.advance(500 * time.Millisecond)
		probedAfter = time.Duration(i) * 500 * time.Millisecond
	}
	if p.requests[wire.INFORMATIONAL] != infoBefore+1 {
		t.Fatalf("a sent %d liveness checks, want 1", p.requests[wire.INFORMATIONAL]-infoBefore)
	}
	if probedAfter > natStallAfter+time.Second {
		t.Errorf("liveness check after %v of one-way traffic, want about %v", probedAfter, natStallAfter)
	}
	now := p.nat.out[aNATT]
	if now == old || b.Remote != now || b.Children()[0].Remote != now {
		t.Fatalf("b did not follow: remote %v, child %v; a's mapping was %v, is %v", b.Remote, b.Children()[0].Remote, old, now)
	}
	if len(p.bMover.moves) != 1 || p.bMover.moves[0] != now {
		t.Fatalf("b moved its Child SA to %v, want once to %v", p.bMover.moves, now)
	}
	if !logHas(p.b, "peer moved behind its NAT") || !logHas(p.a, "nothing comes back") {
		t.Fatalf("logs lack the reasons:\na:\n%s\nb:\n%s", p.a.logs, p.b.logs)
	}
	if a.Remote.Port() != 4500 || a.State() != "ESTABLISHED" {
		t.Fatalf("a: remote %v state %s", a.Remote, a.State())
	}

	// One-way traffic from now on: at most one check per natReprobe.
	before := p.requests[wire.INFORMATIONAL]
	for range 40 {
		p.aCounters.out += 5
		p.advance(500 * time.Millisecond)
		if d := p.a.m.NextDeadline(); d.IsZero() || !d.After(p.clock.now) || d.After(p.clock.now.Add(natLookEvery)) {
			t.Fatalf("next deadline %v, now %v: want one within %v, never in the past (the daemon would spin)", d, p.clock.now, natLookEvery)
		}
	}
	if n := p.requests[wire.INFORMATIONAL] - before; n < 1 || n > 2 {
		t.Errorf("%d liveness checks in 20 s of one-way traffic, want 1 or 2 (one per %v)", n, natReprobe)
	}
	// Traffic both ways: no checks.
	before = p.requests[wire.INFORMATIONAL]
	for range 40 {
		p.aCounters.out += 5
		p.aCounters.in += 5
		p.advance(500 * time.Millisecond)
	}
	if n := p.requests[wire.INFORMATIONAL] - before; n != 0 {
		t.Errorf("%d liveness checks while traffic flows both ways", n)
	}
	// A sender that backs off (TCP): one burst, then silence. The check
	// still goes out natStallAfter after the burst.
	p.nat.flush()
	before = p.requests[wire.INFORMATIONAL]
	p.aCounters.out += 20
	p.advance(500 * time.Millisecond)
	for range 3 {
		p.advance(500 * time.Millisecond)
	}
	if n := p.requests[wire.INFORMATIONAL] - before; n != 1 || b.Remote != p.nat.out[aNATT] {
		t.Errorf("after one burst: %d checks in 2 s, b at %v, a's mapping %v", n, b.Remote, p.nat.out[aNATT])
	}
	for range 4 {
		p.aCounters.out += 5
		p.aCounters.in += 5
		p.advance(500 * time.Millisecond)
	}

	// A second flush soon after: the new stall is checked at once, not
	// natReprobe after the last check.
	p.nat.flush()
	before = p.requests[wire.INFORMATIONAL]
	for range 5 {
		p.aCounters.out += 5
		p.advance(500 * time.Millisecond)
	}
	if n := p.requests[wire.INFORMATIONAL] - before; n != 1 || b.Remote != p.nat.out[aNATT] {
		t.Errorf("second flush: %d checks in 2.5 s, b at %v, a's mapping %v", n, b.Remote, p.nat.out[aNATT])
	}
}

// TestNATMappingChangeResponderChecks: the NAT forgets a's mapping and a's
// next ESP arrives at b from a new port (the data plane reports it); b
// checks liveness there and follows on the authenticated answer.
func TestNATMappingChangeResponderChecks(t *testing.T) {
	p := newNATPair(t)
	_, b := p.establish(t)
	old := b.Remote
	cb := b.Children()[0]
	p.nat.flush()
	moved := p.nat.translate(aNATT) // a's next ESP got this port
	p.b.m.PeerMoved(cb.SPIIn, moved)
	p.b.m.PeerMoved(cb.SPIIn, moved) // more ESP in the same second
	if n := len(p.b.out); n != 2 {
		t.Fatalf("b sent %d datagrams, want the check to the old and to the new source", n)
	}
	if b.Remote != old {
		t.Fatal("b moved on ESP alone, before an authenticated IKE message")
	}
	p.pump()
	if b.Remote != moved || cb.Remote != moved || len(p.bMover.moves) != 1 {
		t.Fatalf("b: remote %v, child %v, moves %v; want %v", b.Remote, cb.Remote, p.bMover.moves, moved)
	}
	if p.nat.dropped != 1 {
		t.Errorf("the NAT dropped %d datagrams, want 1 (the check to the old port)", p.nat.dropped)
	}
	// From the new port again: nothing to do.
	p.b.m.PeerMoved(cb.SPIIn, moved)
	if len(p.b.out) != 0 {
		t.Fatal("b checked liveness at the address it already uses")
	}
	// The initiator never follows, and unknown SPIs are ignored.
	a := onlySA(t, p.a)
	p.a.m.PeerMoved(a.Children()[0].SPIIn, netip.MustParseAddrPort("198.51.100.9:4500"))
	p.b.m.PeerMoved(0xdeadbeef, moved)
	if len(p.a.out)+len(p.b.out) != 0 {
		t.Fatal("a check was sent for an initiator or an unknown SPI")
	}
}

// TestNATCheckWhileRequestPending: a request already in flight when ESP
// comes from a new source goes there too, and its answer moves the SA.
func TestNATCheckWhileRequestPending(t *testing.T) {
	p := newNATPair(t)
	_, b := p.establish(t)
	cb := b.Children()[0]
	p.nat.flush()
	if err := b.sendRequest(wire.INFORMATIONAL, nil, func(*wire.Message, []wire.Payload) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	moved := p.nat.translate(aNATT)
	p.b.m.PeerMoved(cb.SPIIn, moved)
	if b.pending == nil || len(p.b.out) != 2 || p.b.out[1].remote != moved || string(p.b.out[1].b) != string(b.pending.packet) {
		t.Fatalf("pending request not resent to the new source: %d datagrams", len(p.b.out))
	}
	p.pump()
	if b.Remote != moved || b.pending != nil {
		t.Fatalf("b: remote %v pending %v; want %v", b.Remote, b.pending != nil, moved)
	}
}

// TestNATNoMoveWithoutAuthenticatedAnswer: ESP reported from a source where
// nobody answers (a spoofed or stale one) sends a check but moves nothing;
// an unauthenticated IKE message from a new port moves nothing either.
func TestNATNoMoveWithoutAuthenticatedAnswer(t *testing.T) {
	p := newNATPair(t)
	a, b := p.establish(t)
	old := b.Remote
	elsewhere := netip.MustParseAddrPort("203.0.113.9:4500")
	p.b.m.PeerMoved(b.Children()[0].SPIIn, elsewhere)
	p.pump() // the check to elsewhere is dropped; a answers the copy at the old port
	if b.Remote != old || len(p.bMover.moves) != 0 {
		t.Fatalf("b moved to %v (moves %v) without an answer from there", b.Remote, p.bMover.moves)
	}
	// A request with a's SPIs and the next message ID but a broken SK
	// payload, from a new port.
	h := a.header(wire.INFORMATIONAL, a.nextRequestID, false)
	msg := &wire.Message{Header: h, Payloads: []wire.Payload{&wire.Encrypted{FirstPayload: 0, Body: make([]byte, 64)}}}
	raw, err := msg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p.b.m.HandleIKE(raw, b.Local, netip.AddrPortFrom(p.nat.public, 40404))
	if b.Remote != old || len(p.bMover.moves) != 0 {
		t.Fatalf("b moved to %v on an unauthenticated message", b.Remote)
	}
	if !strings.Contains(p.b.logs.String(), "does not decrypt") {
		t.Fatalf("b did not drop the forged request:\n%s", p.b.logs)
	}
}
