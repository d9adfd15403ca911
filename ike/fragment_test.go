package ike

import (
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// A peer may split any encrypted message into RFC 7383 fragments; the
// responder's IKE_AUTH answer arriving in three fragments, out of order and
// with one duplicated, must still establish the SAs.
func TestFragmentedResponseReassembled(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	var fragmented int
	p.drop = func(from *peer, d datagram) bool {
		if from != p.b {
			return false
		}
		h, err := wire.ParseHeader(d.b)
		if err != nil || h.Exchange != wire.IKE_AUTH || !h.IsResponse() {
			return false
		}
		b := onlySA(t, p.b)
		msg, err := wire.ParseMessage(d.b)
		if err != nil {
			t.Fatal(err)
		}
		// Re-create the response's inner payloads from B's own cache by
		// decrypting it with the initiator's keys.
		a := onlySA(t, p.a)
		inner, err := a.open(msg)
		if err != nil {
			t.Fatal(err)
		}
		frags, err := b.sealFragments(msg.Header, inner, 60)
		if err != nil {
			t.Fatal(err)
		}
		if len(frags) < 3 {
			t.Fatalf("want at least 3 fragments, got %d", len(frags))
		}
		fragmented = len(frags)
		order := append([][]byte{frags[len(frags)-1], frags[0]}, frags[1:]...)
		order = append(order, frags[0])
		for _, f := range order {
			p.a.m.HandleIKE(f, d.remote, d.local)
		}
		return true
	}
	a, b := establish(t, p)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(a.Children()) != 1 {
		t.Fatalf("states %s/%s, children %d", a.State(), b.State(), len(a.Children()))
	}
	if fragmented == 0 {
		t.Fatal("the response was never fragmented")
	}
}

func TestFragmentLimits(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	a, _ := establish(t, p)
	msg := &wire.Message{Payloads: []wire.Payload{&wire.EncryptedFragment{Number: 2, Total: 1, Body: make([]byte, 40)}}}
	if _, _, err := a.collectFragment(msg, msg.Payloads[0].(*wire.EncryptedFragment)); err == nil {
		t.Fatal("fragment 2 of 1 accepted")
	}
	f := &wire.EncryptedFragment{Number: 1, Total: maxFragments + 1}
	if _, _, err := a.collectFragment(msg, f); err == nil {
		t.Fatal("too many fragments accepted")
	}
}
