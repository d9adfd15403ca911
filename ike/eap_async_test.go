package ike

import (
	crand "crypto/rand"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/eap"
)

// asyncBackend is an EAPBackend whose servers answer later, as a RADIUS
// backend does: each step's answer waits in queue until the test delivers
// it, as the daemon's event loop would.
type asyncBackend struct {
	eapCreds
	queue []func()
}

type asyncServer struct {
	eap.Server
	b *asyncBackend
}

func (s asyncServer) StepAsync(resp *eap.Packet, done func(*eap.Packet, eap.Outcome, error)) {
	next, out, err := s.Server.Step(resp)
	s.b.queue = append(s.b.queue, func() { done(next, out, err) })
}

func (b *asyncBackend) NewEAPServer(conn string, method uint8, id string) (eap.Server, error) {
	if method == 0 {
		method = eap.TypeMSCHAPv2
	}
	s, err := eap.NewAuthenticator(eap.AuthenticatorConfig{Method: method, Identity: id, Secrets: b.EAPSecret, Rand: crand.Reader})
	return asyncServer{s, b}, err
}

// deliver runs the answers the backend has ready, then lets the peers talk.
func (b *asyncBackend) deliver(p *pair) int {
	q := b.queue
	b.queue = nil
	for _, f := range q {
		f()
	}
	p.pump()
	return len(q)
}

func asyncEAPPair(t *testing.T) (*pair, *asyncBackend) {
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.LocalAuth, ca.RemoteAuth = AuthEAP, AuthPubkey
	ca.LocalEAP = EAPConfig{Identity: "alice"}
	cb.LocalAuth, cb.RemoteAuth, cb.SendCert = AuthPubkey, AuthEAP, SendCertAlways
	cb.RemoteEAP = EAPConfig{AskIdentity: true, Backend: true}
	backend := &asyncBackend{eapCreds: eapCreds{secrets: map[string]string{"alice": "pw"}}}
	return newPair(t, ca, cb, eapCreds{secrets: map[string]string{"alice": "pw"}}, backend), backend
}

// With a backend that answers asynchronously the gateway sends nothing
// until the answer is in, drops the client's retransmissions meanwhile,
// and completes the exchange once each answer arrives.
func TestEAPAsyncBackend(t *testing.T) {
	p, backend := asyncEAPPair(t)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	steps := 0
	for range 10 {
		if len(backend.queue) == 0 {
			break
		}
		// The client retransmits while the backend works: the gateway
		// must not step the conversation twice or answer early.
		p.advance(5 * time.Second) // past the first retransmission (4 s)
		if len(backend.queue) != 1 {
			t.Fatalf("backend has %d answers pending after a retransmission, want 1", len(backend.queue))
		}
		steps += backend.deliver(p)
	}
	a, b := onlySA(t, p.a), onlySA(t, p.b)
	if a.State() != "ESTABLISHED" || b.State() != "ESTABLISHED" || len(b.Children()) != 1 {
		t.Fatalf("states %s / %s, gateway children %d", a.State(), b.State(), len(b.Children()))
	}
	if steps < 2 || b.RemoteEAPID != "alice" {
		t.Fatalf("%d asynchronous steps, EAP identity %q", steps, b.RemoteEAPID)
	}
	if !logHas(p.b, "dropping the retransmission") {
		t.Error("no retransmission was dropped while the backend worked")
	}
}

// An IKE SA that goes away while the backend works ignores the answer.
func TestEAPAsyncBackendAnswerAfterSAGone(t *testing.T) {
	p, backend := asyncEAPPair(t)
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if len(backend.queue) != 1 {
		t.Fatalf("%d pending answers", len(backend.queue))
	}
	onlySA(t, p.b).destroy("test: gone")
	p.b.out = nil
	for _, f := range backend.queue {
		f()
	}
	if len(p.b.out) != 0 || len(p.b.m.SAs()) != 0 {
		t.Fatalf("gateway sent %d datagrams and holds %d SAs after a late answer", len(p.b.out), len(p.b.m.SAs()))
	}
}
