package wire

import (
	"bytes"
	"testing"

	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
)

// FuzzParseMessage parses whole messages; whatever parses must marshal, and parse→marshal→parse must be stable.
// Seeded with the strongSwan captures and a message holding every payload type.
func FuzzParseMessage(f *testing.F) {
	for _, b := range readCaptures(f) {
		f.Add(b)
	}
	all, err := (&Message{Header: Header{Exchange: IKE_AUTH}, Payloads: allPayloads()}).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(all)
	skf, err := (&Message{Header: Header{Exchange: IKE_AUTH}, Payloads: []Payload{
		&EncryptedFragment{FirstPayload: PayloadIDi, Number: 1, Total: 3, Body: []byte{1, 2, 3}}}}).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(skf)
	// Messages whose parsed form could outgrow them, the Delete bomb first.
	for _, b := range alloctest.Amplifiers(1500) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Parsing N bytes of untrusted input allocates O(N): the class of the Delete bomb. Measured cheaply on
		// every input and, when that exceeds the budget, precisely (parsing is pure, so it can run again).
		var m *Message
		var err error
		if n := alloctest.Approx(func() { m, err = ParseMessage(b) }); n > alloctest.Budget(len(b)) {
			if n := alloctest.Bytes(func() { _, _ = ParseMessage(b) }); n > alloctest.Budget(len(b)) {
				t.Fatalf("parsing %d bytes allocated %d, budget %d", len(b), n, alloctest.Budget(len(b)))
			}
		}
		checkStable(t, b)
		checkChain(t, b, m, err)
		if err == nil {
			_ = m.String()
			m.UnsupportedCritical()
			if aad, body, err := m.EncryptedParts(); err == nil {
				built, err := m.AssociatedData(len(body))
				if err != nil {
					t.Fatalf("AssociatedData: %v", err)
				}
				// Identical unless the input had bits the codec does not keep (reserved bits, known-payload
				// critical bits); lengths always match.
				if len(built) != len(aad) {
					t.Fatalf("associated data of %d bytes, received %d", len(built), len(aad))
				}
			}
		}
	})
}

// FuzzParsePayloads parses an inner payload chain (the plaintext of an SK payload) whose first payload type is the
// input's first byte, with the same stability check.
func FuzzParsePayloads(f *testing.F) {
	first, chain, err := MarshalPayloads(allPayloads())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{byte(first)}, chain...))
	for _, p := range allPayloads() {
		first, chain, _ := MarshalPayloads([]Payload{p})
		f.Add(append([]byte{byte(first)}, chain...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		payloads, err := ParsePayloads(PayloadType(in[0]), in[1:])
		if err != nil {
			return
		}
		first, out, err := MarshalPayloads(payloads)
		if err != nil {
			t.Fatalf("parsed chain does not marshal: %v", err)
		}
		if len(payloads) > 0 && first != PayloadType(in[0]) {
			t.Fatalf("first payload %v, parsed from %v", first, PayloadType(in[0]))
		}
		again, err := ParsePayloads(first, out)
		if err != nil {
			t.Fatalf("re-marshalled chain does not parse: %v", err)
		}
		_, out2, err := MarshalPayloads(again)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("not stable: %v", err)
		}
		if len(out) != len(in)-1 {
			t.Fatalf("re-marshalled chain has %d bytes, input %d", len(out), len(in)-1)
		}
	})
}

// checkChain: the allocation-free walker sees the payloads ParseMessage returned, and a chain it refuses does not
// parse.
func checkChain(t *testing.T, b []byte, m *Message, parseErr error) {
	t.Helper()
	c := MessageChain(b)
	var types []PayloadType
	for c.Next() {
		types = append(types, c.Payload().Type)
	}
	if c.Err() != nil {
		if parseErr == nil {
			t.Fatalf("the walker refuses a message that parses: %v", c.Err())
		}
		return
	}
	if parseErr != nil {
		return
	}
	if len(types) != len(m.Payloads) {
		t.Fatalf("the walker found %d payloads, the parser %d", len(types), len(m.Payloads))
	}
	for i, p := range m.Payloads {
		if p.Type() != types[i] {
			t.Fatalf("payload %d: walker %v, parser %v", i+1, types[i], p.Type())
		}
	}
}
