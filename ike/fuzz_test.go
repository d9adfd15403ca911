package ike

import (
	"net/netip"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
)

// FuzzHandleIKE feeds arbitrary datagrams to a responder: on their own, and
// inside a live exchange whose real messages are the seeds. Nothing a peer
// sends may panic the Manager or stop it from serving a real peer.
func FuzzHandleIKE(f *testing.F) {
	p := newPair(f, siteConfig(f, 1, 2), siteConfig(f, 2, 1), testPSK, testPSK)
	p.drop = func(from *peer, d datagram) bool {
		f.Add(d.b)
		return false
	}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		f.Fatal(err)
	}
	p.pump()
	if err := p.a.m.TerminateChild("net"); err != nil {
		f.Fatal(err)
	}
	p.pump()
	// Messages whose parsed form could outgrow them, the Delete bomb first.
	for _, b := range alloctest.Amplifiers(1500) {
		f.Add(b)
	}
	src := netip.MustParseAddrPort("10.99.0.1:500")
	dst := netip.MustParseAddrPort("10.99.0.2:500")
	f.Fuzz(func(t *testing.T, b []byte) {
		q := newPair(t, siteConfig(t, 1, 2), siteConfig(t, 2, 1), testPSK, testPSK)
		// Handling N bytes from an unauthenticated peer allocates O(N), key
		// exchange included: the class of the Delete bomb.
		if n := alloctest.Bytes(func() { q.b.m.HandleIKE(b, dst, src) }); n > alloctest.Budget(len(b)) {
			t.Fatalf("handling %d bytes allocated %d, budget %d", len(b), n, alloctest.Budget(len(b)))
		}
		q.b.out = nil
		if err := q.a.m.Initiate("site", "net"); err != nil {
			t.Fatal(err)
		}
		q.pump()
		// The fuzzed datagram again, now that an IKE SA exists.
		if n := alloctest.Bytes(func() { q.b.m.HandleIKE(b, dst, src); q.a.m.HandleIKE(b, src, dst) }); n > 2*alloctest.Budget(len(b)) {
			t.Fatalf("handling %d bytes twice allocated %d, budget %d", len(b), n, 2*alloctest.Budget(len(b)))
		}
		q.pump()
		// A replayed IKE_SA_INIT may start another (half-open) SA, which is
		// fine; the tunnel the real peers built must still be there.
		up := false
		for _, sa := range q.a.m.SAs() {
			if sa.Initiator && sa.State() == "ESTABLISHED" && len(sa.Children()) == 1 {
				up = true
			}
		}
		if !up && len(q.a.m.SAs()) > 0 && !logHas(q.a, "deleted by peer") && !logHas(q.a, "INITIAL_CONTACT") {
			t.Fatal("the real tunnel is gone after a fuzzed datagram")
		}
	})
}
