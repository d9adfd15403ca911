package ike

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// initRequestWith is an IKE_SA_INIT request offering props with an X25519
// public value and the given nonce.
func initRequestWith(t *testing.T, props string, spi uint64, nonce []byte) []byte {
	t.Helper()
	var h wire.Header
	binary.BigEndian.PutUint64(h.SPIi[:], spi)
	h.Exchange, h.Flags = wire.IKE_SA_INIT, wire.FlagInitiator
	b, err := (&wire.Message{Header: h, Payloads: []wire.Payload{
		proposal.ToWire(mustProposals(t, wire.ProtocolIKE, props), nil),
		&wire.KE{Method: wire.KEMethod(31), Data: bytes.Repeat([]byte{9}, 32)},
		&wire.Nonce{Data: nonce},
	}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Nonces must be at least half the key size of the negotiated PRF (RFC 7296
// 2.10): with PRF_HMAC_SHA2_512 a 16-octet nonce, enough for the wire
// format, is refused with INVALID_SYNTAX and makes no state; 32 octets pass.
func TestShortNonceRefused(t *testing.T) {
	for _, tc := range []struct {
		prf   string
		nonce int
		ok    bool
	}{
		{"prfsha256", 16, true},
		{"prfsha384", 16, false},
		{"prfsha384", 24, true},
		{"prfsha512", 31, false},
		{"prfsha512", 32, true},
	} {
		p := cookiePair(t)
		props := "aes128gcm16-" + tc.prf + "-x25519"
		p.b.m.conns[0].Proposals = mustProposals(t, wire.ProtocolIKE, props)
		req := initRequestWith(t, props, 77, bytes.Repeat([]byte{0x5a}, tc.nonce))
		p.b.out = nil
		p.b.m.HandleIKE(req, respAddr, spoofed(3))
		if len(p.b.out) != 1 {
			t.Fatalf("%s, %d-octet nonce: %d answers", tc.prf, tc.nonce, len(p.b.out))
		}
		msg, err := wire.ParseMessage(p.b.out[0].b)
		if err != nil {
			t.Fatal(err)
		}
		refused := findNotify(msg.Payloads, wire.INVALID_SYNTAX) != nil
		if refused == tc.ok || (len(p.b.m.SAs()) == 1) != tc.ok {
			t.Fatalf("%s, %d-octet nonce: INVALID_SYNTAX %v, %d SAs; want accepted %v", tc.prf, tc.nonce, refused, len(p.b.m.SAs()), tc.ok)
		}
		if !tc.ok && !logHas(p.b, "shorter than half") && !logHas(p.b, "half the key size of the PRF") {
			t.Fatalf("no reason logged:\n%s", p.b.logs)
		}
	}
}
