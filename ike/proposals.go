package ike

import (
	"fmt"
	"slices"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// negotiated is what a chosen proposal says, transform by transform.
type negotiated struct {
	encr        uint16
	encrKeyBits int
	prf         uint16
	integ       uint16
	group       uint16
	esn         bool
}

// transformsOf reads the first transform of each type of a chosen proposal;
// a chosen proposal has exactly one of each (RFC 7296 3.3.6).
func transformsOf(p proposal.Proposal) negotiated {
	var n negotiated
	for _, t := range p.Transforms {
		switch t.Type {
		case wire.TransformENCR:
			n.encr, n.encrKeyBits = t.ID, int(t.KeyLength)
		case wire.TransformPRF:
			n.prf = t.ID
		case wire.TransformINTEG:
			n.integ = t.ID
		case wire.TransformKE:
			n.group = t.ID
		case wire.TransformESN:
			n.esn = t.ID == 1
		}
	}
	return n
}

// ikeSuite is the key schedule's view of the chosen IKE proposal. The
// proposal was chosen from, or checked against, our own configured ones,
// which name PRF_HMAC_SHA1 only as the opt-in native clients need (package
// proposal refuses weak algorithms in a proposal that does not name them),
// so a negotiated SHA-1 PRF is one the configuration asked for.
func (n negotiated) ikeSuite() ikecrypto.Suite {
	return ikecrypto.Suite{Encr: n.encr, EncrKeyBits: n.encrKeyBits, Integ: n.integ, PRF: n.prf,
		AllowLegacySHA1: n.prf == ikecrypto.PRFHMACSHA1}
}

// firstGroup is the KE method of the first proposal that has one: what an
// initiator guesses the responder will pick.
func firstGroup(ps []proposal.Proposal) uint16 {
	for _, p := range ps {
		if g, ok := p.KEMethod(); ok {
			return uint16(g)
		}
	}
	return 0
}

// offersGroup reports whether any of our proposals lists the KE method.
func offersGroup(ps []proposal.Proposal, g uint16) bool {
	for _, p := range ps {
		for _, t := range p.Of(wire.TransformKE) {
			if t.ID == g {
				return true
			}
		}
	}
	return false
}

// withoutKE strips KE and ADDKE transforms: the Child SA set up inside
// IKE_AUTH takes its keys from the IKE SA, so its proposals carry no key
// exchange method (RFC 7296 1.2), nor additional ones (RFC 9370 2.2.3).
func withoutKE(ps []proposal.Proposal) []proposal.Proposal {
	out := make([]proposal.Proposal, 0, len(ps))
	for _, p := range ps {
		q := p
		q.Transforms = nil
		for _, t := range p.Transforms {
			if !t.Type.IsKE() {
				q.Transforms = append(q.Transforms, t)
			}
		}
		out = append(out, q)
	}
	return out
}

// checkNonce refuses a peer's nonce shorter than RFC 7296 2.10 allows for
// the negotiated PRF.
func checkNonce(n []byte, prf uint16) error {
	if min := ikecrypto.MinNonceLen(prf); len(n) < min {
		return fmt.Errorf("nonce of %d octets is shorter than %d, half the key size of the PRF (RFC 7296 2.10)", len(n), min)
	}
	return nil
}

// requireKE reports whether every proposal names a key exchange method and
// none of them allows NONE: a Child SA negotiated from them needs PFS.
func requireKE(ps []proposal.Proposal) bool {
	for _, p := range ps {
		if _, ok := p.KEMethod(); !ok || slices.ContainsFunc(p.Transforms, func(t proposal.Transform) bool {
			return t.Type == wire.TransformKE && t.ID == uint16(wire.KE_NONE)
		}) {
			return false
		}
	}
	return len(ps) > 0
}

// acceptable reports whether a proposal the peer chose is one we offered:
// an initiator checks the responder's pick this way.
func acceptable(ours []proposal.Proposal, chosen proposal.Proposal) bool {
	for _, t := range chosen.Transforms {
		if len(chosen.Of(t.Type)) != 1 {
			return false
		}
	}
	_, err := proposal.Select(ours, []proposal.Proposal{chosen})
	return err == nil
}

// findNotify returns the first notification of a type.
func findNotify(payloads []wire.Payload, t wire.NotifyType) *wire.Notify {
	for _, p := range payloads {
		if n, ok := p.(*wire.Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// firstError returns the first error notification (types below 16384).
func firstError(payloads []wire.Payload) *wire.Notify {
	for _, p := range payloads {
		if n, ok := p.(*wire.Notify); ok && n.NotifyType < 16384 {
			return n
		}
	}
	return nil
}

// payloadOf returns the first payload of type T.
func payloadOf[T wire.Payload](payloads []wire.Payload) T {
	for _, p := range payloads {
		if t, ok := p.(T); ok {
			return t
		}
	}
	var zero T
	return zero
}

// idPayload returns IDi or IDr.
func idPayload(payloads []wire.Payload, responder bool) *wire.ID {
	for _, p := range payloads {
		if id, ok := p.(*wire.ID); ok && id.Responder == responder {
			return id
		}
	}
	return nil
}

// tsPayload returns TSi or TSr.
func tsPayload(payloads []wire.Payload, responder bool) *wire.TrafficSelectors {
	for _, p := range payloads {
		if ts, ok := p.(*wire.TrafficSelectors); ok && ts.Responder == responder {
			return ts
		}
	}
	return nil
}
