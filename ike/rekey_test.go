package ike

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// dpModel is a data plane as the Installer and OutboundSwitcher contract
// describes it: which inbound SAs decrypt, and which outbound SA each
// Child SA's route seals with. The make-before-break invariant is that
// whatever one side seals with, the other side can open, at every moment.
type dpModel struct {
	*peer
	in, out  map[uint32]bool
	seal     map[string]uint32 // Child SA name -> outbound SPI of its route
	switches int
	err      error
	// clock and left, for inFlight: when the route last sealed with each
	// outbound SPI it has since switched away from.
	clock *fakeClock
	left  map[uint32]time.Time
}

// leave notes that the route of Child SA name no longer seals with spi.
func (d *dpModel) leave(name string, spi uint32) {
	if old := d.seal[name]; old != 0 && old != spi {
		d.left[old] = d.clock.now
	}
}

func (d *dpModel) InstallChildSA(c *ChildSA) error {
	if err := d.peer.InstallChildSA(c); err != nil {
		return err
	}
	d.in[c.SPIIn], d.out[c.SPIOut] = true, true
	if c.Rekeys == nil {
		d.seal[c.Name] = c.SPIOut
	} else if d.seal[c.Name] == 0 && d.err == nil {
		d.err = fmt.Errorf("%s: successor %08x installed on a route without an outbound SA", d.name, c.SPIIn)
	}
	return nil
}

func (d *dpModel) SwitchOutbound(c *ChildSA) error {
	if !d.out[c.SPIOut] {
		d.err = fmt.Errorf("%s: switch to outbound SA %08x that is not installed", d.name, c.SPIOut)
	}
	d.leave(c.Name, c.SPIOut)
	d.seal[c.Name] = c.SPIOut
	d.switches++
	return nil
}

func (d *dpModel) DeleteChildSA(c *ChildSA) {
	d.peer.DeleteChildSA(c)
	delete(d.in, c.SPIIn)
	delete(d.out, c.SPIOut)
	if d.seal[c.Name] == c.SPIOut {
		d.leave(c.Name, 0)
		d.seal[c.Name] = 0
	}
}

// models puts a dpModel behind both peers of a pair.
func models(p *pair) (a, b *dpModel) {
	mk := func(x *peer) *dpModel {
		d := &dpModel{peer: x, in: map[uint32]bool{}, out: map[uint32]bool{}, seal: map[string]uint32{}, clock: p.clock, left: map[uint32]time.Time{}}
		x.m.installer = d
		return d
	}
	return mk(p.a), mk(p.b)
}

// flows checks the make-before-break invariant: each side's sealing SA
// opens on the other side.
func flows(a, b *dpModel) error {
	for _, d := range []*dpModel{a, b} {
		if d.err != nil {
			return d.err
		}
	}
	for _, x := range [][2]*dpModel{{a, b}, {b, a}} {
		for name, spi := range x[0].seal {
			if spi == 0 {
				return fmt.Errorf("%s: Child SA %s has no outbound SA", x[0].name, name)
			}
			if !x[1].in[spi] {
				return fmt.Errorf("%s seals %s with %08x, which %s cannot open (its inbound SAs: %v)", x[0].name, name, spi, x[1].name, keysOf(x[1].in))
			}
		}
	}
	return nil
}

// inFlight checks the make-before-break invariant for packets sealed just
// before a switch: for rekeyGrace after a side's route stopped sealing with
// an outbound SA, that SA stays installed (a packet may be being sealed
// with it as the route switches) and the other side still opens it (its
// packets may be in flight, or read after the IKE message that made the
// other side switch: ESP and IKE arrive on different sockets).
func inFlight(a, b *dpModel) error {
	for _, x := range [][2]*dpModel{{a, b}, {b, a}} {
		for spi, at := range x[0].left {
			if x[0].clock.now.Sub(at) >= rekeyGrace {
				continue
			}
			if !x[0].out[spi] {
				return fmt.Errorf("%s removed outbound SA %08x %v after it stopped sealing with it", x[0].name, spi, x[0].clock.now.Sub(at))
			}
			if !x[1].in[spi] {
				return fmt.Errorf("%s stopped sealing with %08x %v ago, and %s no longer opens it (its inbound SAs: %v)",
					x[0].name, spi, x[0].clock.now.Sub(at), x[1].name, keysOf(x[1].in))
			}
		}
	}
	return nil
}

func keysOf(m map[uint32]bool) []string {
	var out []string
	for k := range m {
		out = append(out, fmt.Sprintf("%08x", k))
	}
	return out
}

// pumpChecked delivers datagrams one at a time and checks the invariant
// after each.
func (p *pair) pumpChecked(check func() error) {
	p.t.Helper()
	for range 400 {
		from := p.a
		if len(from.out) == 0 {
			from = p.b
		}
		if len(from.out) == 0 {
			return
		}
		p.deliver(from, 0)
		if err := check(); err != nil {
			p.t.Fatal(err)
		}
	}
	p.t.Fatal("pumpChecked: peers kept talking")
}

// deliver hands the i-th queued datagram of from to the other peer.
func (p *pair) deliver(from *peer, i int) {
	to := p.b
	if from == p.b {
		to = p.a
	}
	d := from.out[i]
	from.out = append(from.out[:i:i], from.out[i+1:]...)
	if p.drop != nil && p.drop(from, d) {
		return
	}
	to.m.HandleIKE(d.b, d.remote, d.local)
}

// installed returns the Child SAs of a peer that seal (INSTALLED, not
// replaced), over all its IKE SAs.
func installed(p *peer) []*ChildSA {
	var out []*ChildSA
	for _, sa := range p.m.SAs() {
		for _, c := range sa.Children() {
			if c.State() == "INSTALLED" || c.State() == "REKEYING" {
				out = append(out, c)
			}
		}
	}
	return out
}

func eventsOf(p *peer) map[EventKind]int {
	n := map[EventKind]int{}
	for _, e := range p.m.TakeEvents() {
		n[e.Kind]++
	}
	return n
}

func pfsConfigs(t *testing.T, espA, espB string) (*PeerConfig, *PeerConfig) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.Children[0].Proposals = mustProposals(t, wire.ProtocolESP, espA)
	cb.Children[0].Proposals = mustProposals(t, wire.ProtocolESP, espB)
	return ca, cb
}

func TestChildRekey(t *testing.T) {
	for _, tc := range []struct {
		name       string
		espA, espB string
		rekeyer    string
		group      uint16
	}{
		{"pfs by initiator", "aes128gcm16-x25519", "aes128gcm16-x25519", "a", 31},
		{"pfs by responder", "aes128gcm16-x25519", "aes128gcm16-x25519", "b", 31},
		{"no pfs by initiator", "aes128gcm16", "aes128gcm16", "a", 0},
		{"no pfs by responder", "aes128gcm16", "aes128gcm16", "b", 0},
		{"pfs after INVALID_KE_PAYLOAD", "aes128gcm16-x25519-ecp256", "aes128gcm16-ecp256", "a", 19},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := pfsConfigs(t, tc.espA, tc.espB)
			p := newPair(t, ca, cb, testPSK, testPSK)
			ma, mb := models(p)
			a, b := establish(t, p)
			eventsOf(p.a)
			eventsOf(p.b)
			oldA, oldB := a.Children()[0], b.Children()[0]
			rk := p.a
			if tc.rekeyer == "b" {
				rk = p.b
			}
			if err := rk.m.RekeyChild("net"); err != nil {
				t.Fatal(err)
			}
			if got := installed(rk)[0].State(); got != "REKEYING" {
				t.Fatalf("state while rekeying %s", got)
			}
			p.pumpChecked(func() error { return flows(ma, mb) })
			na, nb := installed(p.a), installed(p.b)
			if len(na) != 1 || len(nb) != 1 {
				t.Fatalf("installed Child SAs a %d b %d", len(na), len(nb))
			}
			ca2, cb2 := na[0], nb[0]
			if ca2 == oldA || cb2 == oldB || ca2.SPIIn != cb2.SPIOut || ca2.SPIOut != cb2.SPIIn || ca2.SPIIn == oldA.SPIIn {
				t.Fatalf("new SPIs a %08x/%08x b %08x/%08x (old a %08x)", ca2.SPIIn, ca2.SPIOut, cb2.SPIIn, cb2.SPIOut, oldA.SPIIn)
			}
			if ca2.Group != tc.group || cb2.Group != tc.group {
				t.Fatalf("PFS groups %d/%d, want %d", ca2.Group, cb2.Group, tc.group)
			}
			ka, kb := p.a.keys[ca2.SPIIn], p.b.keys[cb2.SPIIn]
			if !bytes.Equal(ka[0], kb[2]) || !bytes.Equal(ka[2], kb[0]) || bytes.Equal(ka[0], p.a.keys[oldA.SPIIn][0]) {
				t.Fatal("rekeyed Child SA keys do not pair up or equal the old ones")
			}
			// The old pair lingers as REKEYED for packets in flight ...
			if oldA.State() != "REKEYED" || oldB.State() != "REKEYED" || !ma.in[oldA.SPIIn] || !mb.in[oldB.SPIIn] {
				t.Fatalf("old states %s/%s, inbound still there a %v b %v", oldA.State(), oldB.State(), ma.in[oldA.SPIIn], mb.in[oldB.SPIIn])
			}
			ea, eb := eventsOf(p.a), eventsOf(p.b)
			if ea[EventChildRekeyed] != 1 || eb[EventChildRekeyed] != 1 || ea[EventChildUp]+eb[EventChildUp]+ea[EventChildDown]+eb[EventChildDown] != 0 {
				t.Fatalf("events a %v b %v: want one ChildRekeyed each, no up/down", ea, eb)
			}
			// ... and leaves after the grace time.
			p.advance(rekeyGrace)
			if len(a.Children()) != 1 || len(b.Children()) != 1 || ma.in[oldA.SPIIn] || mb.in[oldB.SPIIn] {
				t.Fatalf("after the grace: children a %d b %d", len(a.Children()), len(b.Children()))
			}
			if err := flows(ma, mb); err != nil {
				t.Fatal(err)
			}
			ea, eb = eventsOf(p.a), eventsOf(p.b)
			if len(ea)+len(eb) != 0 {
				t.Fatalf("removing the old pair raised events a %v b %v", ea, eb)
			}
			if len(p.a.m.childSPI) != 1 || len(p.b.m.childSPI) != 1 {
				t.Fatalf("reserved SPIs a %d b %d", len(p.a.m.childSPI), len(p.b.m.childSPI))
			}
			if tc.group == 19 && !logHas(p.a, "peer asks for another key exchange method to rekey the Child SA") {
				t.Fatal("no INVALID_KE_PAYLOAD round")
			}
		})
	}
}

// The responder keeps sealing with the old SA until the rekey initiator's
// DELETE arrives: until then the initiator might not know the new SPI.
func TestChildRekeyResponderSwitchesOnDelete(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	ma, mb := models(p)
	a, b := establish(t, p)
	old := b.Children()[0]
	if err := p.a.m.RekeyChild("net"); err != nil {
		t.Fatal(err)
	}
	p.deliver(p.a, 0) // request -> b answers
	if len(b.Children()) != 2 || mb.seal["net"] != old.SPIOut {
		t.Fatalf("b after answering: %d children, seals with %08x (old %08x)", len(b.Children()), mb.seal["net"], old.SPIOut)
	}
	p.deliver(p.b, 0) // response -> a switches and sends DELETE
	if ma.seal["net"] == a.Children()[0].SPIOut && ma.seal["net"] != installed(p.a)[0].SPIOut {
		t.Fatal("a did not switch to the new SA")
	}
	if mb.seal["net"] != old.SPIOut {
		t.Fatal("b switched before the DELETE")
	}
	p.deliver(p.a, 0) // DELETE -> b switches
	if mb.seal["net"] == old.SPIOut || mb.switches != 1 {
		t.Fatalf("b still seals with the old SA after the DELETE")
	}
	if err := flows(ma, mb); err != nil {
		t.Fatal(err)
	}
}

// A lost response: the rekey request is retransmitted and answered from
// the cache, so only one new Child SA exists.
func TestChildRekeyDelayedResponse(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	ma, mb := models(p)
	establish(t, p)
	lost := 0
	p.drop = func(from *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil && from == p.b && h.Exchange == wire.CREATE_CHILD_SA && lost == 0 {
			lost++
			return true
		}
		return false
	}
	if err := p.a.m.RekeyChild("net"); err != nil {
		t.Fatal(err)
	}
	p.pumpChecked(func() error { return flows(ma, mb) })
	p.advance(4 * time.Second)
	if err := flows(ma, mb); err != nil {
		t.Fatal(err)
	}
	if len(installed(p.a)) != 1 || len(installed(p.b)) != 1 || len(p.b.childUp) != 2 {
		t.Fatalf("installed a %d b %d, b installed %d in total", len(installed(p.a)), len(installed(p.b)), len(p.b.childUp))
	}
	if !logHas(p.b, "retransmitting cached response") {
		t.Fatal("b did not answer from its cache")
	}
}

// The peer lost the Child SA: CHILD_SA_NOT_FOUND, and a fresh one is made.
func TestChildRekeyNotFound(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	ma, mb := models(p)
	_, b := establish(t, p)
	c := b.Children()[0]
	b.uninstallChild(c, "test: forgotten")
	b.removeChild(c)
	delete(mb.seal, "net")
	if err := p.a.m.RekeyChild("net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if !logHas(p.b, "CHILD_SA_NOT_FOUND") || !logHas(p.a, "CHILD_SA_NOT_FOUND: peer no longer has Child SA") {
		t.Fatal("no CHILD_SA_NOT_FOUND")
	}
	if len(installed(p.a)) != 1 || len(installed(p.b)) != 1 {
		t.Fatalf("installed a %d b %d", len(installed(p.a)), len(installed(p.b)))
	}
	if err := flows(ma, mb); err != nil {
		t.Fatal(err)
	}
}

func TestIKERekeyMovesChildren(t *testing.T) {
	for _, rekeyer := range []string{"a", "b"} {
		t.Run("by "+rekeyer, func(t *testing.T) {
			ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
			p := newPair(t, ca, cb, testPSK, testPSK)
			ma, mb := models(p)
			a, b := establish(t, p)
			eventsOf(p.a)
			eventsOf(p.b)
			childA, childB := a.Children()[0], b.Children()[0]
			rk := p.a
			if rekeyer == "b" {
				rk = p.b
			}
			if err := rk.m.RekeyIKE("site", false); err != nil {
				t.Fatal(err)
			}
			p.pumpChecked(func() error { return flows(ma, mb) })
			na, nb := onlySA(t, p.a), onlySA(t, p.b)
			if na == a || nb == b || na.SPIi != nb.SPIi || na.SPIr != nb.SPIr || na.SPIi == a.SPIi {
				t.Fatalf("new IKE SA SPIs a %016x/%016x b %016x/%016x", na.SPIi, na.SPIr, nb.SPIi, nb.SPIr)
			}
			if na.Initiator != (rekeyer == "a") || nb.Initiator != (rekeyer == "b") {
				t.Fatal("the rekey initiator must be the new IKE SA's original initiator")
			}
			if len(na.Children()) != 1 || na.Children()[0] != childA || childA.IKE != na || nb.Children()[0] != childB {
				t.Fatal("Child SAs did not move to the new IKE SA")
			}
			if na.nextRequestID != 0 && na.nextRequestID != 1 {
				t.Fatalf("new IKE SA message ID %d", na.nextRequestID)
			}
			ea, eb := eventsOf(p.a), eventsOf(p.b)
			if ea[EventIKERekeyed] != 1 || eb[EventIKERekeyed] != 1 || ea[EventIKEDown]+eb[EventIKEDown]+ea[EventChildDown]+eb[EventChildDown] != 0 {
				t.Fatalf("events a %v b %v", ea, eb)
			}
			// The new IKE SA works: rekey the Child SA through it (message ID 0).
			if err := p.b.m.RekeyChild("net"); err != nil {
				t.Fatal(err)
			}
			p.pumpChecked(func() error { return flows(ma, mb) })
			if len(installed(p.a)) != 1 || installed(p.a)[0] == childA {
				t.Fatal("Child SA rekey over the new IKE SA failed")
			}
		})
	}
}

func TestLifetimesDriveRekeyAndExpiry(t *testing.T) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	for _, c := range []*PeerConfig{ca, cb} {
		c.RekeyTime, c.OverTime, c.RandTime = time.Hour, 6*time.Minute, 6*time.Minute
		c.Children[0].RekeyTime, c.Children[0].LifeTime, c.Children[0].RandTime = 10*time.Minute, 11*time.Minute, time.Minute
	}
	cb.RekeyTime = 0 // only a rekeys the IKE SA
	cb.Children[0].RekeyTime = 0
	p := newPair(t, ca, cb, testPSK, testPSK)
	ma, mb := models(p)
	a, _ := establish(t, p)
	c := a.Children()[0]
	if d := c.RekeyAt.Sub(c.Installed); d > 10*time.Minute || d <= 9*time.Minute {
		t.Fatalf("child rekey in %v, want 9..10 min", d)
	}
	if d := a.RekeyAt.Sub(a.Established); d > time.Hour || d <= 54*time.Minute {
		t.Fatalf("IKE rekey in %v, want 54..60 min", d)
	}
	if got := p.a.m.NextDeadline(); !got.Equal(c.RekeyAt) {
		t.Fatalf("next deadline %v, want the child's soft lifetime %v", got, c.RekeyAt)
	}
	// Soft: rekey; the new SA gets its own lifetimes.
	p.clock.now = c.RekeyAt.Add(-time.Second)
	p.advance(time.Second)
	if c.State() != "REKEYED" || len(installed(p.a)) != 1 {
		t.Fatalf("after the soft lifetime: old %s, installed %d", c.State(), len(installed(p.a)))
	}
	if err := flows(ma, mb); err != nil {
		t.Fatal(err)
	}
	// Every 10 minutes for an hour and a half: child rekeys, and the IKE SA
	// rekeys once, children moving along.
	for range 9 * 10 {
		p.advance(time.Minute)
		if err := flows(ma, mb); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(p.a.logs.String(), "msg=\"Child SA rekeyed\""); n < 9 {
		t.Fatalf("%d child rekeys in 100 min", n)
	}
	if n := strings.Count(p.a.logs.String(), "msg=\"IKE SA rekeyed\""); n != 1 {
		t.Fatalf("%d IKE rekeys in 100 min", n)
	}
	if len(p.a.m.SAs()) != 1 || len(p.b.m.SAs()) != 1 || len(installed(p.a)) != 1 || len(onlySA(t, p.a).Children()) > 2 {
		for _, x := range append(p.a.m.SAs(), p.b.m.SAs()...) {
			t.Logf("SA %d %s children %d", x.UniqueID, x.State(), len(x.Children()))
		}
		t.Fatal("SAs pile up")
	}
	// Hard: a peer that stops answering rekeys loses the Child SA at
	// life_time and the IKE SA at rekey_time + over_time.
	p.drop = func(from *peer, d datagram) bool { return from == p.b }
	na := onlySA(t, p.a)
	cur := installed(p.a)[0]
	p.clock.now = cur.ExpiresAt
	p.a.m.Tick()
	if cur.State() != "DELETING" {
		t.Fatalf("no hard expiry of Child SA (state %s, expires %v)", cur.State(), cur.ExpiresAt)
	}
	p.a.out = nil
	p.clock.now = na.ExpireAt
	p.a.m.Tick()
	if na.State() != "DELETING" {
		t.Fatal("IKE SA not deleted at its hard lifetime")
	}
}

func TestSADSoftExpiryRekeys(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	ma, mb := models(p)
	a, _ := establish(t, p)
	old := a.Children()[0]
	p.a.m.ChildExpired(old.UniqueID, false, "bytes")
	p.a.m.ChildExpired(old.UniqueID, false, "packets") // twice: one rekey
	p.pumpChecked(func() error { return flows(ma, mb) })
	if old.State() != "REKEYED" || strings.Count(p.a.logs.String(), "msg=\"rekeying Child SA\"") != 1 {
		t.Fatalf("old %s; log:\n%s", old.State(), p.a.logs)
	}
	// A late soft event for the replaced SA does nothing.
	p.a.m.ChildExpired(old.UniqueID, false, "time")
	if len(p.a.out) != 0 {
		t.Fatal("a replaced SA was rekeyed again")
	}
}

func TestReauthenticationMakeBeforeBreak(t *testing.T) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.ReauthTime = time.Hour
	p := newPair(t, ca, cb, testPSK, testPSK)
	ma, mb := models(p)
	a, b := establish(t, p)
	eventsOf(p.a)
	eventsOf(p.b)
	oldChild := a.Children()[0]
	p.clock.now = a.ReauthAt
	p.a.m.Tick()
	p.pumpChecked(func() error { return flows(ma, mb) })
	na, nb := onlySA(t, p.a), onlySA(t, p.b)
	if na == a || nb == b || na.SPIi != nb.SPIi || !na.Initiator {
		t.Fatal("no new IKE SA after reauthentication")
	}
	ia, ib := installed(p.a), installed(p.b)
	if len(ia) != 1 || len(ib) != 1 || ia[0] == oldChild || ia[0].IKE != na || ia[0].SPIIn != ib[0].SPIOut {
		t.Fatalf("installed a %d b %d", len(ia), len(ib))
	}
	if logHas(p.a, "INITIAL_CONTACT") && strings.Contains(p.b.logs.String(), "peer sent INITIAL_CONTACT") {
		t.Fatal("reauthentication must not send INITIAL_CONTACT")
	}
	ea, eb := eventsOf(p.a), eventsOf(p.b)
	if ea[EventChildRekeyed] != 1 || eb[EventChildRekeyed] != 1 || ea[EventChildDown]+eb[EventChildDown]+ea[EventChildUp]+eb[EventChildUp] != 0 {
		t.Fatalf("events a %v b %v", ea, eb)
	}
	p.advance(rekeyGrace)
	if len(na.Children()) != 1 || len(nb.Children()) != 1 {
		t.Fatalf("children after grace a %d b %d", len(na.Children()), len(nb.Children()))
	}
	if err := flows(ma, mb); err != nil {
		t.Fatal(err)
	}
}

// Reauthentication under traffic, started by either side, twice (as
// TestReauthUnderLoad does): for rekeyGrace after each side switched to the
// new Child SA, it keeps its old outbound SA and the other side keeps
// opening the old one. The responder of the reauthentication used to
// remove its old Child SA together with the old IKE SA at the initiator's
// DELETE, although the initiator sealed with it until just before sending
// that DELETE: an echo read after it was lost.
func TestReauthenticationKeepsOldChildForPacketsInFlight(t *testing.T) {
	for _, initiator := range []string{"a", "b"} {
		t.Run(initiator, func(t *testing.T) {
			p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
			ma, mb := models(p)
			establish(t, p)
			who := p.a
			if initiator == "b" {
				who = p.b
			}
			check := func() error {
				if err := flows(ma, mb); err != nil {
					return err
				}
				return inFlight(ma, mb)
			}
			for round := 1; round <= 2; round++ {
				oldA, oldB := ma.seal["net"], mb.seal["net"]
				if err := who.m.RekeyIKE("site", true); err != nil {
					t.Fatal(err)
				}
				p.pumpChecked(check)
				if ma.seal["net"] == oldA || mb.seal["net"] == oldB || ma.switches != round || mb.switches != round {
					t.Fatalf("round %d: a seals with %08x (was %08x), b with %08x (was %08x); switches a %d b %d",
						round, ma.seal["net"], oldA, mb.seal["net"], oldB, ma.switches, mb.switches)
				}
				for _, x := range []*peer{p.a, p.b} {
					if len(x.m.SAs()) != 1 {
						t.Fatalf("round %d: %s has %d IKE SAs after the reauthentication", round, x.name, len(x.m.SAs()))
					}
				}
				// Old and new pairs both decrypt while packets sealed
				// with the old ones may still arrive.
				if len(ma.in) != 2 || len(mb.in) != 2 {
					t.Fatalf("round %d: inbound SAs a %v b %v right after the switch, want the old and the new", round, keysOf(ma.in), keysOf(mb.in))
				}
				p.advance(rekeyGrace - time.Second)
				if err := check(); err != nil {
					t.Fatalf("round %d, %v after the switch: %v", round, rekeyGrace-time.Second, err)
				}
				p.advance(time.Second)
				if err := check(); err != nil {
					t.Fatal(err)
				}
				ia, ib := installed(p.a), installed(p.b)
				if len(ma.in) != 1 || len(mb.in) != 1 || len(ia) != 1 || len(ib) != 1 || len(onlySA(t, p.a).Children()) != 1 || len(onlySA(t, p.b).Children()) != 1 {
					t.Fatalf("round %d, after the grace: inbound SAs a %v b %v, %d and %d Child SAs", round, keysOf(ma.in), keysOf(mb.in), len(ia), len(ib))
				}
			}
			if ea, eb := eventsOf(p.a), eventsOf(p.b); ea[EventChildDown]+eb[EventChildDown] != 0 || ea[EventChildRekeyed] != 2 || eb[EventChildRekeyed] != 2 {
				t.Fatalf("events a %v b %v", ea, eb)
			}
		})
	}
}

// A lost IKE rekey response: the request is retransmitted on the old IKE
// SA, which answers from its cache; one new IKE SA results.
func TestIKERekeyLostResponse(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	ma, mb := models(p)
	establish(t, p)
	lost := 0
	p.drop = func(from *peer, d datagram) bool {
		if h, err := wire.ParseHeader(d.b); err == nil && from == p.b && h.Exchange == wire.CREATE_CHILD_SA && lost == 0 {
			lost++
			return true
		}
		return false
	}
	if err := p.a.m.RekeyIKE("site", false); err != nil {
		t.Fatal(err)
	}
	p.pumpChecked(func() error { return flows(ma, mb) })
	if got := onlySA(t, p.a).State(); got != "REKEYING" {
		t.Fatalf("a's IKE SA %s while the response is lost", got)
	}
	p.advance(4 * time.Second)
	na, nb := onlySA(t, p.a), onlySA(t, p.b)
	if na.SPIi != nb.SPIi || na.SPIr != nb.SPIr || len(na.Children()) != 1 || len(nb.Children()) != 1 {
		t.Fatal("IKE SAs do not match after the retransmitted rekey")
	}
	if err := flows(ma, mb); err != nil {
		t.Fatal(err)
	}
}

// FuzzRekeyRequest feeds decrypted CREATE_CHILD_SA and INFORMATIONAL
// payloads (what an authenticated but hostile or broken peer could send)
// to an established IKE SA, while a rekey of ours is in flight: nothing may
// panic, and the tunnel must stay usable.
func FuzzRekeyRequest(f *testing.F) {
	seed := func(exchange byte, payloads ...wire.Payload) {
		first, b, err := wire.MarshalPayloads(payloads)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(exchange, byte(first), b)
	}
	esp := mustProposals(f, wire.ProtocolESP, "aes128gcm16-x25519")
	ike := mustProposals(f, wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519")
	ts := func(s string, r bool) *wire.TrafficSelectors {
		return toWire(resolve([]TrafficSelector{PrefixSelector(netip.MustParsePrefix(s))}, netip.Addr{}), r)
	}
	nonce := &wire.Nonce{Data: bytes.Repeat([]byte{7}, 32)}
	ke := &wire.KE{Method: 31, Data: bytes.Repeat([]byte{9}, 32)}
	rekey := &wire.Notify{Protocol: wire.ProtocolESP, SPI: []byte{1, 2, 3, 4}, NotifyType: wire.REKEY_SA}
	seed(0, rekey, proposal.ToWire(esp, []byte{5, 6, 7, 8}), nonce, ke, ts("10.99.1.0/24", false), ts("10.99.2.0/24", true))
	seed(0, rekey, proposal.ToWire(esp, []byte{5, 6, 7, 8}), nonce, ts("10.99.1.0/24", false), ts("10.99.2.0/24", true))
	seed(0, proposal.ToWire(ike, bytes.Repeat([]byte{3}, 8)), nonce, ke)
	seed(0, proposal.ToWire(ike, []byte{3}), nonce, &wire.KE{Method: 19, Data: []byte{1}})
	seed(1, &wire.Delete{Protocol: wire.ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}}})
	seed(1, &wire.Delete{Protocol: wire.ProtocolIKE})
	f.Fuzz(func(t *testing.T, exchange, first byte, b []byte) {
		p := collisionPair(t, 0)
		_, mb := models(p)
		if err := p.a.m.Initiate("site", "net"); err != nil {
			t.Fatal(err)
		}
		p.pump()
		sa := onlySA(t, p.b)
		old := sa.Children()[0]
		// Aim the fuzzed REKEY_SA and DELETE at the real Child SA.
		b = bytes.ReplaceAll(b, []byte{1, 2, 3, 4}, spiBytes(old.SPIOut))
		payloads, err := wire.ParsePayloads(wire.PayloadType(first), b)
		if err != nil {
			return
		}
		if err := p.b.m.RekeyChild("net"); err != nil {
			t.Fatal(err)
		}
		p.b.out = nil // our request is "in flight"
		msg := &wire.Message{Header: wire.Header{MessageID: sa.expectRequestID}}
		if exchange%2 == 0 {
			sa.handleCreateChildRequest(msg, payloads)
		} else {
			sa.handleInformational(msg, payloads, nil)
		}
		p.b.out = nil
		// Whatever happened, b's tunnel state stays consistent: every
		// Child SA it seals with can be opened by its own records.
		for name, spi := range mb.seal {
			if spi != 0 && !mb.out[spi] {
				t.Fatalf("b seals %s with %08x, which it does not have", name, spi)
			}
		}
	})
}

// BenchmarkChildRekey measures one complete Child SA rekey between two
// in-process peers: CREATE_CHILD_SA with PFS (X25519) both ways, key
// derivation, install, DELETE of the old pair and its removal after the
// grace time.
func BenchmarkChildRekey(b *testing.B) {
	for _, esp := range []string{"aes128gcm16-x25519", "aes128gcm16"} {
		b.Run(esp, func(b *testing.B) {
			ca, cb := siteConfig(b, 1, 2), siteConfig(b, 2, 1)
			ca.Children[0].Proposals = mustProposals(b, wire.ProtocolESP, esp)
			cb.Children[0].Proposals = ca.Children[0].Proposals
			p := collisionPair(b, 0)
			p.a.m.SetConns([]*PeerConfig{ca})
			p.b.m.SetConns([]*PeerConfig{cb})
			if err := p.a.m.Initiate("site", "net"); err != nil {
				b.Fatal(err)
			}
			p.pump()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := p.a.m.RekeyChild("net"); err != nil {
					b.Fatal(err)
				}
				p.pump()
				p.clock.now = p.clock.now.Add(rekeyGrace)
				p.a.m.Tick()
				p.b.m.Tick()
				p.a.logs.Reset()
				p.b.logs.Reset()
				p.a.childUp, p.b.childUp, p.a.deleted, p.b.deleted = nil, nil, nil, nil
				clear(p.a.keys)
				clear(p.b.keys)
			}
			b.StopTimer()
			if n := len(installed(p.a)); n != 1 {
				b.Fatalf("%d Child SAs after %d rekeys", n, b.N)
			}
		})
	}
}

// A peer's reauthentication deletes the old IKE SA once the new one
// carries the Child SAs: close_action is for a tunnel the peer closed, so
// with close_action = trap the responder installs no trap (its Child SA
// lives on under the new IKE SA), and a peer's plain delete still traps.
func TestReauthenticationByPeerAppliesNoCloseAction(t *testing.T) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	cb.Children[0].CloseAction = ActionTrap
	p := newPair(t, ca, cb, testPSK, testPSK)
	lb := withLifecycle(p.b)
	establish(t, p)
	if err := p.a.m.RekeyIKE("site", true); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if sa := onlySA(t, p.b); sa.State() != "ESTABLISHED" || len(sa.Children()) == 0 {
		t.Fatalf("b after the reauthentication: %s with %d Child SAs", sa.State(), len(sa.Children()))
	}
	if traps := p.b.m.Traps(); len(traps) != 0 || len(lb.traps) != 0 {
		t.Fatalf("b installed traps %v during a's reauthentication", traps)
	}
	if err := p.a.m.TerminateIKE("site"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if traps := p.b.m.Traps(); len(traps) != 1 {
		t.Fatalf("b's traps after a's delete: %v, want one (close_action = trap)", traps)
	}
}
