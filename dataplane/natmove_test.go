package dataplane

import (
	"net/netip"
	"testing"
)

// TestPeerMoved: authenticated ESP-in-UDP from a new source (the peer's NAT
// changed its mapping) raises one PeerMoved per peerMovedEvery; a forged packet
// from yet another source raises none; SetPeer re-points the outbound SA
// without touching its sequence numbers.
func TestPeerMoved(t *testing.T) {
	s := tunnelSpec(ua4, ub4, true)
	a, b := makeLink(t, s)
	old := netip.AddrPortFrom(ua4, DefaultNATTPort)
	b.in.Peer, b.in.Encap = old, true
	dpA, dpB := memDP(t, a), memDP(t, b)
	events := make(chan Event, 4)
	dpB.cfg.Events = events
	var ra, rb recorder
	out := memOut(dpA, &ra, 8)
	pushOut(out, udpPacket(hA4, hB4, 100, false), udpPacket(hA4, hB4, 100, false), udpPacket(hA4, hB4, 100, false), udpPacket(hA4, hB4, 100, false))
	sent := ra.sent[sockUDP4NATT]
	if len(sent) != 4 {
		t.Fatalf("A sent %d packets", len(sent))
	}
	in := memIn(dpB, sockUDP4NATT, &rb, 8)
	moved := netip.AddrPortFrom(ua4, 31337)

	pushIn(in, []rxMeta{{Src: old, Dst: ub4}}, sent[0])
	if len(events) != 0 {
		t.Fatalf("event for a packet from the known peer: %+v", <-events)
	}
	forged := append([]byte(nil), sent[1]...)
	forged[len(forged)-1] ^= 1
	pushIn(in, []rxMeta{{Src: netip.AddrPortFrom(ua4, 40000), Dst: ub4}}, forged)
	if len(events) != 0 {
		t.Fatalf("event for a forged packet: %+v", <-events)
	}
	pushIn(in, []rxMeta{{Src: moved, Dst: ub4}, {Src: moved, Dst: ub4}}, sent[1], sent[2])
	if len(rb.tun) != 3 {
		t.Fatalf("B's TUN got %d packets, want 3 (stats %+v)", len(rb.tun), dpB.Stats())
	}
	if len(events) != 1 {
		t.Fatalf("%d events after two packets from the new source, want 1", len(events))
	}
	e := <-events
	if e.Kind != PeerMoved || e.From != moved || e.SPI != b.in.SPI() || e.Route != b.route || e.Kind.String() != "peer-moved" {
		t.Fatalf("event %+v", e)
	}

	// IKE followed: no more events, and B's packets go to the new port.
	b.in.SetPeer(moved)
	b.out.SetPeer(moved)
	b.in.lastMoved.Store(0)
	pushIn(in, []rxMeta{{Src: moved, Dst: ub4}}, sent[3])
	if len(events) != 0 {
		t.Fatalf("event after SetPeer: %+v", <-events)
	}
	outB := memOut(dpB, &rb, 8)
	seq := b.out.ESP.SeqUsed()
	pushOut(outB, udpPacket(hB4, hA4, 100, false))
	if got := rb.to[sockUDP4NATT]; len(got) != 1 || got[0] != moved {
		t.Fatalf("B sent to %v, want %v", got, moved)
	}
	if b.out.ESP.SeqUsed() != seq+1 || b.out.CurrentPeer() != moved || b.out.Peer.Port() != DefaultNATTPort {
		t.Fatalf("outbound SA after SetPeer: seq %d (was %d), current peer %v, Peer %v", b.out.ESP.SeqUsed(), seq, b.out.CurrentPeer(), b.out.Peer)
	}
}
