package ike

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// listerTransport adds AddressLister to a harness peer.
type listerTransport struct {
	*peer
	addrs []netip.Addr
}

func (l *listerTransport) LocalAddresses() []netip.Addr { return l.addrs }

// newMOBIKEPair sets up a site-to-site pair with MOBIKE as configured, b
// moving Child SAs in place; a lists 10.99.7.1 besides its own address.
func newMOBIKEPair(t *testing.T, mobikeA, mobikeB bool) (*pair, *moverInstaller) {
	t.Helper()
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.MOBIKE, cb.MOBIKE = mobikeA, mobikeB
	ca.LocalAddrs, cb.RemoteAddrs = nil, nil // a may move anywhere
	p := newPair(t, ca, cb, testPSK, testPSK)
	mover := &moverInstaller{peer: p.b}
	p.b.m.installer = mover
	p.a.m.installer = &moverInstaller{peer: p.a}
	p.a.m.transport = &listerTransport{peer: p.a, addrs: []netip.Addr{p.a.addr, netip.MustParseAddr("10.99.7.1"), netip.MustParseAddr("fe80::1")}}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(p.a.childUp) != 1 || len(p.b.childUp) != 1 {
		t.Fatalf("Child SAs installed: a %d, b %d; want 1 each", len(p.a.childUp), len(p.b.childUp))
	}
	return p, mover
}

// TestMOBIKEInitiatorMoves: the initiator's source address changes; it
// sends UPDATE_SA_ADDRESSES from the new one, both ends move the IKE SA
// and the Child SAs, which keep their SPIs (no rekey).
func TestMOBIKEInitiatorMoves(t *testing.T) {
	p, mover := newMOBIKEPair(t, true, true)
	sa, sb := onlySA(t, p.a), onlySA(t, p.b)
	if !sa.MOBIKE() || !sb.MOBIKE() {
		t.Fatalf("MOBIKE negotiated: a %v, b %v; want both", sa.MOBIKE(), sb.MOBIKE())
	}
	if got, want := sb.PeerAddresses(), []netip.Addr{netip.MustParseAddr("10.99.7.1")}; !slices.Equal(got, want) {
		t.Errorf("b's list of a's additional addresses after IKE_AUTH: %v, want %v (own and link-local addresses left out)", got, want)
	}
	spiIn, spiOut := p.a.childUp[0].SPIIn, p.a.childUp[0].SPIOut

	// Nothing moved: an address event changes nothing and sends nothing.
	p.a.m.AddressesChanged()
	if len(p.a.out) != 0 {
		t.Fatalf("a sent %d datagrams though its source address did not change", len(p.a.out))
	}

	p.a.addr = netip.MustParseAddr("10.99.9.1")
	p.a.m.AddressesChanged()
	if len(p.a.out) != 1 {
		t.Fatalf("a sent %d datagrams after its address changed, want 1 UPDATE_SA_ADDRESSES", len(p.a.out))
	}
	if got := p.a.out[0].local.Addr(); got != p.a.addr {
		t.Errorf("the update left from %v, want the new address %v", got, p.a.addr)
	}
	p.pump()
	newA := netip.AddrPortFrom(p.a.addr, 500)
	if sa.Local != newA || sb.Remote != newA {
		t.Errorf("after the update: a's local %v, b's remote %v; want both %v", sa.Local, sb.Remote, newA)
	}
	if len(mover.moves) != 1 || mover.moves[0] != newA {
		t.Errorf("b moved its Child SAs to %v, want once to %v", mover.moves, newA)
	}
	if len(p.a.childUp) != 1 || len(p.b.childUp) != 1 || len(p.a.deleted)+len(p.b.deleted) != 0 {
		t.Errorf("the move rekeyed or deleted Child SAs: installed a %d b %d, deleted a %v b %v", len(p.a.childUp), len(p.b.childUp), p.a.deleted, p.b.deleted)
	}
	if c := sa.children[0]; c.SPIIn != spiIn || c.SPIOut != spiOut || c.Local != newA {
		t.Errorf("a's Child SA after the move: SPIs %08x/%08x local %v, want %08x/%08x local %v", c.SPIIn, c.SPIOut, c.Local, spiIn, spiOut, newA)
	}
	if !logHas(p.a, "MOBIKE: peer confirmed the address update") || !logHas(p.b, "MOBIKE: peer moved") {
		t.Errorf("logs do not show the confirmed update")
	}
	if sa.NATLocal || sb.NATRemote {
		t.Errorf("NAT seen without one: a nat_local %v, b nat_remote %v", sa.NATLocal, sb.NATRemote)
	}
}

// TestMOBIKEUpdateCarriesCookie2 checks the wire: the update has
// UPDATE_SA_ADDRESSES, both NAT-D hashes and a COOKIE2 that the answer
// echoes; an answer without it does not confirm the path.
func TestMOBIKEUpdateCarriesCookie2(t *testing.T) {
	p, _ := newMOBIKEPair(t, true, true)
	sa, sb := onlySA(t, p.a), onlySA(t, p.b)
	p.a.addr = netip.MustParseAddr("10.99.9.1")
	p.a.m.AddressesChanged()
	req := decryptWith(t, sb, p.a.out[0].b)
	for _, n := range []wire.NotifyType{wire.UPDATE_SA_ADDRESSES, wire.NAT_DETECTION_SOURCE_IP, wire.NAT_DETECTION_DESTINATION_IP, wire.COOKIE2, wire.ADDITIONAL_IP4_ADDRESS} {
		if findNotify(req, n) == nil {
			t.Errorf("UPDATE_SA_ADDRESSES request lacks %v", n)
		}
	}
	cookie := findNotify(req, wire.COOKIE2).Data
	p.pump()
	// b's answer went to a; look at what b cached as its last response.
	resp := decryptWith(t, sa, sb.lastResponse)
	if c := findNotify(resp, wire.COOKIE2); c == nil || string(c.Data) != string(cookie) {
		t.Errorf("the answer's COOKIE2 %v does not echo the request's %x", c, cookie)
	}
	if findNotify(resp, wire.NAT_DETECTION_SOURCE_IP) == nil || findNotify(resp, wire.NAT_DETECTION_DESTINATION_IP) == nil {
		t.Errorf("the answer lacks NAT-D hashes")
	}

	// An answer whose COOKIE2 differs leaves the update unconfirmed.
	p.a.addr = netip.MustParseAddr("10.99.9.2")
	p.a.m.AddressesChanged()
	sa.mobike.cookie2 = []byte("not-what-was-sent")
	p.pump()
	if !logHas(p.a, "lacks our COOKIE2") {
		t.Errorf("a accepted an answer with the wrong COOKIE2")
	}
}

// decryptWith opens an encrypted IKE message with the keys of the SA that
// receives it.
func decryptWith(t *testing.T, sa *IKESA, b []byte) []wire.Payload {
	t.Helper()
	msg, err := wire.ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	payloads, err := sa.open(msg)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	return payloads
}

// TestMOBIKENATAppears moves a behind a NAT: NAT detection is redone on
// the update, IKE floats to 4500 on both ends.
func TestMOBIKENATAppears(t *testing.T) {
	p, _ := newMOBIKEPair(t, true, true)
	sa, sb := onlySA(t, p.a), onlySA(t, p.b)
	p.a.addr = netip.MustParseAddr("10.99.9.1")
	p.a.m.AddressesChanged()
	public := netip.MustParseAddrPort("192.0.2.100:31000")
	// The NAT rewrites every source address and port of a.
	natPump := func() {
		for range 50 {
			for i := range p.a.out {
				p.a.out[i].local = netip.AddrPortFrom(public.Addr(), public.Port()+p.a.out[i].local.Port()/4500)
			}
			if len(p.a.out) == 0 && len(p.b.out) == 0 {
				return
			}
			a, b := p.a.out, p.b.out
			p.a.out, p.b.out = nil, nil
			for _, d := range a {
				p.b.m.HandleIKE(d.b, d.remote, d.local)
			}
			for _, d := range b {
				p.a.m.HandleIKE(d.b, d.remote, d.local)
			}
		}
		t.Fatal("natPump: peers kept talking")
	}
	natPump()
	public = netip.AddrPortFrom(public.Addr(), public.Port()+1) // a's port 4500 behind the NAT
	if !sa.NATLocal || !sb.NATRemote {
		t.Fatalf("NAT after the move: a nat_local %v, b nat_remote %v; want both", sa.NATLocal, sb.NATRemote)
	}
	if sa.Local.Port() != 4500 || sa.Remote.Port() != 4500 || sb.Local.Port() != 4500 {
		t.Errorf("IKE ports after a NAT appeared: a %v -> %v, b local %v; want 4500", sa.Local, sa.Remote, sb.Local)
	}
	if sb.Remote != public {
		t.Errorf("b sends to %v, want the NAT's %v", sb.Remote, public)
	}
	// The raw-ESP Child SA cannot change its encapsulation in place: a
	// rekeys it, and the successor is ESP-in-UDP on both ends.
	if len(p.a.childUp) != 2 || len(p.b.childUp) != 2 {
		t.Fatalf("Child SAs installed: a %d, b %d; want the first and its UDP-encapsulated successor", len(p.a.childUp), len(p.b.childUp))
	}
	for _, c := range []*ChildSA{p.a.childUp[1], p.b.childUp[1]} {
		if !c.Encap || c.Rekeys == nil {
			t.Errorf("successor Child SA %08x: encap %v, rekeys %v; want a UDP-encapsulated rekey", c.SPIIn, c.Encap, c.Rekeys != nil)
		}
	}
	p.clock.now = p.clock.now.Add(6 * time.Second) // the replaced Child SA's grace
	p.a.m.Tick()
	p.b.m.Tick()
	natPump()
	if len(sa.children) != 1 || !sa.children[0].Encap {
		t.Errorf("a's Child SAs after the rekey: %d, want 1 with encap", len(sa.children))
	}
}

// TestMOBIKEOff: with mobike = no on either end nothing is negotiated and
// an address change sends no update.
func TestMOBIKEOff(t *testing.T) {
	for _, c := range []struct{ a, b bool }{{false, true}, {true, false}} {
		p, _ := newMOBIKEPair(t, c.a, c.b)
		sa, sb := onlySA(t, p.a), onlySA(t, p.b)
		if sa.MOBIKE() || sb.MOBIKE() {
			t.Errorf("mobike a=%v b=%v: negotiated a %v b %v", c.a, c.b, sa.MOBIKE(), sb.MOBIKE())
		}
		p.a.addr = netip.MustParseAddr("10.99.9.1")
		p.a.m.AddressesChanged()
		if len(p.a.out) != 0 {
			t.Errorf("mobike a=%v b=%v: a sent %d datagrams on an address change", c.a, c.b, len(p.a.out))
		}
	}
}

// TestMOBIKEUpdateWaitsForPendingRequest: an address change while another
// request is outstanding queues the update; its NAT-D hashes are built
// when it leaves, and a second change meanwhile is checked after it.
func TestMOBIKEUpdateWaitsForPendingRequest(t *testing.T) {
	p, _ := newMOBIKEPair(t, true, true)
	sa, sb := onlySA(t, p.a), onlySA(t, p.b)
	if err := sa.sendRequest(wire.INFORMATIONAL, nil, func(*wire.Message, []wire.Payload) error { return nil }, nil); err != nil {
		t.Fatal(err)
	}
	p.a.addr = netip.MustParseAddr("10.99.9.1")
	p.a.m.AddressesChanged()
	if len(p.a.out) != 1 {
		t.Fatalf("a sent %d datagrams with a request outstanding, want only that request", len(p.a.out))
	}
	p.a.addr = netip.MustParseAddr("10.99.9.2")
	p.a.m.AddressesChanged() // in flight: checked again after the answer
	p.pump()
	want := netip.AddrPortFrom(p.a.addr, 500)
	if sa.Local != want || sb.Remote != want {
		t.Errorf("after two changes: a's local %v, b's remote %v; want %v", sa.Local, sb.Remote, want)
	}
	if sa.NATLocal || sb.NATRemote {
		t.Errorf("stale NAT-D hashes made a NAT appear: a nat_local %v, b nat_remote %v", sa.NATLocal, sb.NATRemote)
	}
}

// TestMOBIKENATMappingChangeSendsUpdate: behind a NAT that forgot its
// mapping, a MOBIKE initiator whose ESP gets no answer sends
// UPDATE_SA_ADDRESSES rather than an empty liveness check: a MOBIKE
// responder such as strongSwan moves only on that.
func TestMOBIKENATMappingChangeSendsUpdate(t *testing.T) {
	p := newNATPair(t)
	p.a.m.conns[0].MOBIKE, p.b.m.conns[0].MOBIKE = true, true
	a, b := p.establish(t)
	if !a.MOBIKE() || !b.MOBIKE() {
		t.Fatalf("MOBIKE: a %v b %v", a.MOBIKE(), b.MOBIKE())
	}
	p.nat.flush()
	for i := 1; i <= 10 && !logHas(p.a, "sending UPDATE_SA_ADDRESSES"); i++ {
		p.aCounters.out += 5
		p.advance(500 * time.Millisecond)
	}
	if !logHas(p.a, "sending UPDATE_SA_ADDRESSES so the peer learns our NAT mapping") {
		t.Fatalf("a did not send UPDATE_SA_ADDRESSES after its ESP went unanswered")
	}
	updates := strings.Count(p.a.logs.String(), "MOBIKE: peer confirmed the address update")
	if now := p.nat.out[aNATT]; b.Remote != now || updates != 1 {
		t.Fatalf("b's remote %v, a's mapping %v, confirmed updates %d (want 1)", b.Remote, now, updates)
	}
}

// FuzzMOBIKEAddresses feeds notify data to the peer address list parser:
// it must never panic, keep at most maxPeerAddresses and only addresses of
// the notify's family.
func FuzzMOBIKEAddresses(f *testing.F) {
	f.Add(uint16(wire.ADDITIONAL_IP4_ADDRESS), []byte{10, 0, 0, 1})
	f.Add(uint16(wire.ADDITIONAL_IP6_ADDRESS), make([]byte, 16))
	f.Add(uint16(wire.NO_ADDITIONAL_ADDRESSES), []byte{})
	f.Add(uint16(wire.ADDITIONAL_IP4_ADDRESS), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, typ uint16, data []byte) {
		var payloads []wire.Payload
		for range 20 {
			payloads = append(payloads, &wire.Notify{NotifyType: wire.NotifyType(typ), Data: data})
		}
		mb := &mobike{}
		mb.takeAddresses(payloads)
		if len(mb.peerAddrs) > maxPeerAddresses {
			t.Fatalf("%d addresses kept", len(mb.peerAddrs))
		}
		for _, a := range mb.peerAddrs {
			if a.Is4() != (wire.NotifyType(typ) == wire.ADDITIONAL_IP4_ADDRESS) {
				t.Fatalf("address %v from a notify of type %d", a, typ)
			}
		}
	})
}

// TestMOBIKEAfterResponderRekeysIKESA: the responder rekeys the IKE SA, so
// on the new one it is the "initiator" of the rekey; MOBIKE stays with the
// original initiator, which still moves and updates (RFC 4555 3.1).
func TestMOBIKEAfterResponderRekeysIKESA(t *testing.T) {
	p, _ := newMOBIKEPair(t, true, true)
	if err := p.b.m.RekeyIKE("site", false); err != nil {
		t.Fatal(err)
	}
	p.pump()
	p.clock.now = p.clock.now.Add(time.Second)
	p.pump()
	sa, sb := onlySA(t, p.a), onlySA(t, p.b)
	if sa.Initiator || !sb.Initiator || !sa.MOBIKE() || !sb.MOBIKE() {
		t.Fatalf("after b's rekey: a initiator %v, b initiator %v, MOBIKE a %v b %v", sa.Initiator, sb.Initiator, sa.MOBIKE(), sb.MOBIKE())
	}
	p.a.addr = netip.MustParseAddr("10.99.9.1")
	p.a.m.AddressesChanged()
	p.b.m.AddressesChanged() // b's source did not change, and it is not the one to move
	p.pump()
	want := netip.AddrPortFrom(p.a.addr, 500)
	if sa.Local != want || sb.Remote != want {
		t.Errorf("after the move: a's local %v, b's remote %v; want %v", sa.Local, sb.Remote, want)
	}
}

// failingMover refuses to move Child SAs in place (as the packet path does
// for another address family or AH).
type failingMover struct{ *peer }

func (f failingMover) MoveChildSA(c *ChildSA) error { return errors.New("cannot move in place") }

// TestMOBIKEChildThatCannotMoveIsRekeyed: a Child SA the installer cannot
// move in place is rekeyed onto the new path.
func TestMOBIKEChildThatCannotMoveIsRekeyed(t *testing.T) {
	p, _ := newMOBIKEPair(t, true, true)
	p.b.m.installer = failingMover{p.b}
	p.a.addr = netip.MustParseAddr("10.99.9.1")
	p.a.m.AddressesChanged()
	p.pump()
	if len(p.b.childUp) != 2 || p.b.childUp[1].Rekeys == nil || p.b.childUp[1].Remote != netip.AddrPortFrom(p.a.addr, 500) {
		t.Fatalf("b's Child SAs: %d installed; want the first and a successor at the new address", len(p.b.childUp))
	}
	if !logHas(p.b, "its endpoints cannot move in place (MOBIKE)") {
		t.Errorf("b's log does not say why it rekeyed")
	}
}
