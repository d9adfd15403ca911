package ike

import (
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// maxFragments bounds how many fragments one message may have; a peer
// claiming more is not sending an IKE message we want to buffer.
const maxFragments = 64

// fragments collects the Encrypted Fragment payloads (RFC 7383) of one
// message until all have arrived.
type fragments struct {
	id       uint32
	response bool
	total    uint16
	first    wire.PayloadType
	parts    [][]byte
	have     int
}

// isFragment reports whether a parsed message carries an SKF payload.
func isFragment(msg *wire.Message) (*wire.EncryptedFragment, bool) {
	if n := len(msg.Payloads); n > 0 {
		f, ok := msg.Payloads[n-1].(*wire.EncryptedFragment)
		return f, ok
	}
	return nil, false
}

// collectFragment authenticates and decrypts one fragment (each is protected
// on its own, RFC 7383 2.5) and returns the reassembled inner payloads once
// the last one is in.
func (sa *IKESA) collectFragment(msg *wire.Message, f *wire.EncryptedFragment) ([]wire.Payload, bool, error) {
	if sa.in == nil {
		return nil, false, errors.New("fragment before keys")
	}
	if f.Total == 0 || f.Total > maxFragments || f.Number == 0 || f.Number > f.Total {
		return nil, false, fmt.Errorf("fragment %d of %d out of range", f.Number, f.Total)
	}
	ad, body, err := msg.EncryptedParts()
	if err != nil {
		return nil, false, err
	}
	plain, err := sa.in.Open(nil, ad, body)
	if err != nil {
		return nil, false, err
	}
	b := sa.frags
	if b == nil || b.id != msg.MessageID || b.response != msg.IsResponse() {
		b = &fragments{id: msg.MessageID, response: msg.IsResponse(), total: f.Total, parts: make([][]byte, f.Total)}
		sa.frags = b
	}
	if f.Total != b.total {
		return nil, false, fmt.Errorf("fragment %d says %d fragments, earlier ones said %d", f.Number, f.Total, b.total)
	}
	if f.Number == 1 {
		b.first = f.FirstPayload
	}
	if b.parts[f.Number-1] == nil {
		b.parts[f.Number-1] = plain
		b.have++
	}
	if b.have < int(b.total) {
		return nil, false, nil
	}
	sa.frags = nil
	var whole []byte
	for _, p := range b.parts {
		whole = append(whole, p...)
	}
	payloads, err := wire.ParsePayloads(b.first, whole)
	if err != nil {
		return nil, false, fmt.Errorf("parse reassembled message: %w", err)
	}
	return payloads, true, nil
}

// sealFragments builds a message as RFC 7383 fragments whose inner payload
// chunks are at most size octets each.
func (sa *IKESA) sealFragments(h wire.Header, payloads []wire.Payload, size int) ([][]byte, error) {
	first, plain, err := wire.MarshalPayloads(payloads)
	if err != nil {
		return nil, fmt.Errorf("marshal inner payloads: %w", err)
	}
	if size <= 0 {
		return nil, errors.New("fragment size must be positive")
	}
	total := (len(plain) + size - 1) / size
	if total > maxFragments {
		return nil, fmt.Errorf("%d fragments needed, at most %d allowed", total, maxFragments)
	}
	var out [][]byte
	for i := range total {
		chunk := plain[i*size : min(len(plain), (i+1)*size)]
		f := &wire.EncryptedFragment{Number: uint16(i + 1), Total: uint16(total)}
		if i == 0 {
			f.FirstPayload = first
		}
		msg := &wire.Message{Header: h, Payloads: []wire.Payload{f}}
		bodyLen := sa.out.SealedLen(len(chunk))
		ad, err := msg.AssociatedData(bodyLen)
		if err != nil {
			return nil, err
		}
		pkt := make([]byte, len(ad), len(ad)+bodyLen)
		copy(pkt, ad)
		if pkt, err = sa.out.Seal(pkt, ad, chunk); err != nil {
			return nil, fmt.Errorf("seal fragment %d: %w", i+1, err)
		}
		out = append(out, pkt)
	}
	return out, nil
}
