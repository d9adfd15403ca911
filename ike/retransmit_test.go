package ike

import (
	"bytes"
	"testing"
)

// Only the same request again is a retransmission (RFC 7296 2.1): a
// datagram that reuses the message ID of the last request answered but
// differs from it is dropped and counted, and gets no response, while the
// true retransmission gets the cached response byte for byte.
func TestRetransmissionIsTheSameRequest(t *testing.T) {
	p := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
	establish(t, p)
	if err := p.a.m.RekeyChild("net"); err != nil {
		t.Fatal(err)
	}
	if len(p.a.out) != 1 {
		t.Fatalf("a queued %d datagrams, want the CREATE_CHILD_SA request", len(p.a.out))
	}
	req := p.a.out[0]
	p.a.out = nil
	deliver := func(b []byte) [][]byte {
		p.b.out = nil
		p.b.m.HandleIKE(b, req.remote, req.local)
		var got [][]byte
		for _, d := range p.b.out {
			got = append(got, d.b)
		}
		p.b.out = nil
		return got
	}
	first := deliver(req.b)
	if len(first) != 1 {
		t.Fatalf("b answered the request with %d datagrams", len(first))
	}
	again := deliver(req.b)
	if len(again) != 1 || !bytes.Equal(again[0], first[0]) {
		t.Fatalf("retransmission answered with %d datagrams, same bytes %v", len(again), len(again) == 1 && bytes.Equal(again[0], first[0]))
	}
	bad := p.b.m.Stats.BadMessageID
	for _, off := range []int{len(req.b) - 1, 40} {
		forged := bytes.Clone(req.b)
		forged[off] ^= 0x80
		if got := deliver(forged); len(got) != 0 {
			t.Fatalf("a datagram with the same message ID but byte %d changed was answered (%d datagrams)", off, len(got))
		}
	}
	if p.b.m.Stats.BadMessageID != bad+2 {
		t.Fatalf("BadMessageID %d, want %d", p.b.m.Stats.BadMessageID, bad+2)
	}
	// The exchange still completes with the real response.
	p.b.m.HandleIKE(req.b, req.remote, req.local)
	p.pump()
	if len(installed(p.a)) != 1 || len(installed(p.b)) != 1 || !logHas(p.a, "Child SA rekeyed") {
		t.Fatalf("rekey did not complete: installed a %d b %d", len(installed(p.a)), len(installed(p.b)))
	}
}
