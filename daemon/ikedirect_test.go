package daemon

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// newStoppedMemDaemon builds a daemon on p without running its event loop:
// the test takes the loop's steps itself.
func newStoppedMemDaemon(t *testing.T, conf string, p *memPath) *Daemon {
	t.Helper()
	d, _ := newMemDaemon(t, conf, p, &syncBuffer{})
	return d
}

func takeDatagram(t *testing.T, p *memPath, what string) IKEDatagram {
	t.Helper()
	select {
	case dg := <-p.in:
		return dg
	default:
		t.Fatalf("no %s was sent", what)
		return IKEDatagram{}
	}
}

// TestStepIKEOnReceiver checks the event loop's steps taken by the IKE
// port's receiver (stepIKE): a message is handled, and its answer sent,
// before the call returns, on the caller's goroutine; a busy loop declines
// without waiting; what queued meanwhile is handled first next time; and
// a step that brings a deadline forward re-arms the loop's timer.
func TestStepIKEOnReceiver(t *testing.T) {
	pa, pb := newMemPath("192.0.2.1:500"), newMemPath("192.0.2.2:500")
	pa.peer, pb.peer = pb, pa
	b := newStoppedMemDaemon(t, fmt.Sprintf(memConf, "192.0.2.2", "192.0.2.1", "b", "a", "10.2.0.0/16", "10.1.0.0/16"), pb)
	a := newStoppedMemDaemon(t, fmt.Sprintf(memConf, "192.0.2.1", "192.0.2.2", "a", "b", "10.1.0.0/16", "10.2.0.0/16"), pa)
	far := time.Now().Add(time.Hour)
	// The log is written on its own delay, not after each message: a
	// write per message was 4 % of a responder's CPU.
	flushes := 0
	b.opts.LogFlush = func() { flushes++ }

	a.loop.Lock()
	if err := a.mgr.Initiate("tun", "net"); err != nil {
		t.Fatal(err)
	}
	a.loop.Unlock()

	// B answers A's IKE_SA_INIT within the call.
	b.armed = far
	if !b.stepIKE(takeDatagram(t, pb, "IKE_SA_INIT request")) {
		t.Fatal("B's loop is idle, but stepIKE declined")
	}
	resp := takeDatagram(t, pa, "IKE_SA_INIT response (within stepIKE)")

	// A, its timer armed an hour ahead, sends IKE_AUTH and must have
	// its loop re-armed for the retransmission.
	a.armed = far
	if !a.stepIKE(resp) {
		t.Fatal("A's loop is idle, but stepIKE declined")
	}
	select {
	case <-a.rearm:
	default:
		t.Errorf("A's step set a retransmission at %v, before its timer (%v), and did not re-arm the loop", a.mgr.NextDeadline(), far)
	}
	authReq := takeDatagram(t, pb, "IKE_AUTH request")

	// B's loop is busy: stepIKE declines at once, and the message queues
	// for the loop (as packetPath.receiveIKE does).
	b.loop.Lock()
	declined := make(chan bool, 1)
	go func() { declined <- !b.stepIKE(authReq) }()
	select {
	case ok := <-declined:
		if !ok {
			t.Fatal("stepIKE took a message while the loop held its lock")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stepIKE waited for a busy loop")
	}
	b.loop.Unlock()
	pb.in <- authReq

	// The next message on the receiver (a retransmission of the same
	// request) comes after the queued one: B handles the queued one
	// first, answers it, and the second as the retransmission it is.
	b.armed = far
	if !b.stepIKE(authReq) {
		t.Fatal("stepIKE declined on an idle loop")
	}
	if len(pb.in) != 0 {
		t.Errorf("%d queued messages left after the step", len(pb.in))
	}
	if n := len(pa.in); n != 2 {
		t.Errorf("B sent %d IKE_AUTH answers, want 2 (the queued request and its retransmission)", n)
	}
	sas := b.mgr.SAs()
	if len(sas) != 1 || len(sas[0].Children()) != 1 {
		t.Fatalf("B has %d IKE SAs after IKE_AUTH, want 1 with 1 Child SA", len(sas))
	}
	a.stepIKE(takeDatagram(t, pa, "IKE_AUTH response"))
	if sas := a.mgr.SAs(); len(sas) != 1 || len(sas[0].Children()) != 1 {
		t.Errorf("A has no Child SA after B's answer")
	}
	if flushes != 0 {
		t.Errorf("B flushed its log %d times in 3 steps, want 0 (the log's own delay writes it)", flushes)
	}
}

// TestReceiveIKEDirectOnIKEPortOnly checks where packetPath sends received
// IKE messages: the IKE port's to the direct handler while it takes them,
// the NAT-T port's (whose receivers also carry ESP) always to the loop.
func TestReceiveIKEDirectOnIKEPortOnly(t *testing.T) {
	p := &packetPath{ike: make(chan IKEDatagram, 8)}
	remote := netip.MustParseAddrPort("192.0.2.9:500")
	on500 := netip.MustParseAddrPort("192.0.2.1:500")
	on4500 := netip.MustParseAddrPort("192.0.2.1:4500")

	p.receiveIKE([]byte{1}, on500, remote)
	var took []IKEDatagram
	accept := true
	p.SetIKEHandler(func(dg IKEDatagram) bool {
		if accept {
			took = append(took, dg)
		}
		return accept
	})
	msg := []byte{2}
	p.receiveIKE(msg, on500, remote)
	msg[0] = 0xff // the data plane reuses its buffer
	p.receiveIKE([]byte{3}, on4500, netip.MustParseAddrPort("192.0.2.9:4500"))
	accept = false
	p.receiveIKE([]byte{4}, on500, remote)
	p.SetIKEHandler(nil)
	p.receiveIKE([]byte{5}, on500, remote)

	if len(took) != 1 || took[0].Data[0] != 2 || took[0].Local != on500 || took[0].Remote != remote {
		t.Errorf("the handler took %+v, want only message 2 from %v to %v", took, remote, on500)
	}
	var queued []byte
	for len(p.ike) > 0 {
		queued = append(queued, (<-p.ike).Data[0])
	}
	if string(queued) != string([]byte{1, 3, 4, 5}) {
		t.Errorf("queued for the loop: %v, want [1 3 4 5]", queued)
	}
}
