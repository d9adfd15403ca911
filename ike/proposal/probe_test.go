package proposal

import (
	"crypto/ecdh"
	"crypto/rand"
	"net"
	"os"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// TestProbeResponder sends an IKE_SA_INIT request built by this package and ike/wire, offering ParseList(IKE_PROPOSALS
// or "default"), to a live IKEv2 responder and checks its answer: a well-formed IKE_SA_INIT response whose SA holds
// one of our proposals with one algorithm per type, or an INVALID_KE_PAYLOAD naming a group we offered. It runs
// only when CYGNET_IKE_PROBE names the responder (host:port), e.g. strongSwan in a network namespace.
func TestProbeResponder(t *testing.T) {
	addr := os.Getenv("CYGNET_IKE_PROBE")
	if addr == "" {
		t.Skip("set CYGNET_IKE_PROBE=host:port to probe a live responder")
	}
	spec := os.Getenv("IKE_PROPOSALS")
	if spec == "" {
		spec = "default"
	}
	ours, err := ParseList(wire.ProtocolIKE, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	req := &wire.Message{Header: wire.Header{Exchange: wire.IKE_SA_INIT, Flags: wire.FlagInitiator}}
	rand.Read(req.SPIi[:])
	req.Payloads = []wire.Payload{
		ToWire(ours, nil),
		&wire.KE{Method: wire.CURVE25519, Data: key.PublicKey().Bytes()},
		&wire.Nonce{Data: nonce},
		&wire.Notify{NotifyType: wire.IKEV2_FRAGMENTATION_SUPPORTED},
		&wire.Notify{NotifyType: wire.SIGNATURE_HASH_ALGORITHMS, Data: []byte{0, 2, 0, 3, 0, 4}},
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := wire.ParseMessage(buf[:n])
	if err != nil {
		t.Fatalf("response does not parse: %v\n%x", err, buf[:n])
	}
	t.Logf("sent %d bytes: %v", len(b), req)
	t.Logf("offered: %s", Format(ours))
	t.Logf("received %d bytes: %v", n, resp)
	if resp.SPIi != req.SPIi || !resp.IsResponse() || resp.Exchange != wire.IKE_SA_INIT || resp.MessageID != 0 {
		t.Fatalf("response header %+v", resp.Header)
	}
	for _, p := range resp.Payloads {
		switch q := p.(type) {
		case *wire.SA:
			if len(q.Proposals) != 1 {
				t.Fatalf("responder chose %d proposals", len(q.Proposals))
			}
			chosen := FromWire(q.Proposals[0])
			t.Logf("responder chose #%d: %s", chosen.Number, chosen)
			if chosen.Number == 0 || int(chosen.Number) > len(ours) {
				t.Fatalf("chosen number %d", chosen.Number)
			}
			// The responder's choice must be acceptable to us as a selection from our own offer.
			if _, err := Select([]Proposal{ours[chosen.Number-1]}, []Proposal{chosen}); err != nil {
				t.Fatalf("responder's choice is not from our proposal: %v", err)
			}
			return
		case *wire.Notify:
			if q.NotifyType == wire.INVALID_KE_PAYLOAD && len(q.Data) == 2 {
				t.Logf("responder wants KE %v", wire.KEMethod(uint16(q.Data[0])<<8|uint16(q.Data[1])))
				return
			}
			if q.NotifyType.IsError() {
				t.Fatalf("responder answered %v", q.NotifyType)
			}
		}
	}
	t.Fatalf("no SA in response %v", resp)
}
