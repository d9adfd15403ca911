package proposal

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Select chooses, as responder, the first of our proposals (in our order of preference) that is compatible with one
// of the peer's, and within it, for each transform type, our most preferred algorithm that the peer also offers
// (RFC 7296 2.7, 3.3.6). Key lengths must match; a proposal with a transform type we do not know is skipped. For
// ESP and AH, and for every additional key exchange, a KE method is optional: a side without one matches a side
// that offers NONE. A missing ESN transform counts as NO_ESN.
//
// The chosen proposal has one algorithm per type and carries the peer's proposal number and SPI. On failure the
// error wraps ErrNoProposalChosen and lists both sides' offers in proposal syntax.
func Select(ours, theirs []Proposal) (Proposal, error) {
	return selectProposal(ours, theirs, wire.KE_NONE)
}

// SelectPreferKE is Select, except that where the matching proposals both allow the key exchange method the
// peer already sent in its KE payload, that method is chosen over our more preferred ones, sparing the peer an
// INVALID_KE_PAYLOAD round trip.
func SelectPreferKE(ours, theirs []Proposal, sent wire.KEMethod) (Proposal, error) {
	return selectProposal(ours, theirs, sent)
}

func selectProposal(ours, theirs []Proposal, prefer wire.KEMethod) (Proposal, error) {
	for i := range ours {
		for j := range theirs {
			if p, ok := match(&ours[i], &theirs[j], prefer); ok {
				return p, nil
			}
		}
	}
	return Proposal{}, fmt.Errorf("%w: peer offered %s, we accept %s", ErrNoProposalChosen, Format(theirs), Format(ours))
}

// match selects algorithms from our proposal o and the peer's t.
func match(o, t *Proposal, prefer wire.KEMethod) (Proposal, bool) {
	if o.Protocol != t.Protocol {
		return Proposal{}, false
	}
	for _, tr := range t.Transforms {
		if typeRank(tr.Type) >= len(typeOrder) {
			return Proposal{}, false // unknown transform type: the proposal is unacceptable
		}
	}
	// The SPI is copied: t.SPI points into the peer's datagram, which the
	// chosen proposal, kept for the SA's lifetime, must not hold on to.
	sel := Proposal{Protocol: t.Protocol, Number: t.Number, SPI: bytes.Clone(t.SPI)}
	var kes []uint16 // KE methods chosen so far: each may be used once (RFC 9370)
	skipInteg := false
	for _, typ := range typeOrder {
		if typ == wire.TransformINTEG && skipInteg {
			continue
		}
		mine, peer := o.Of(typ), t.Of(typ)
		if len(mine) == 0 && len(peer) == 0 {
			continue
		}
		if typ == wire.TransformESN && o.Protocol != wire.ProtocolIKE {
			if len(mine) == 0 {
				mine = []Transform{{Type: typ, ID: uint16(wire.NO_ESN)}}
			}
			if len(peer) == 0 {
				peer = []Transform{{Type: typ, ID: uint16(wire.NO_ESN)}}
			}
		}
		optional := typ.IsKE() && (typ != wire.TransformKE || o.Protocol != wire.ProtocolIKE)
		if optional && (len(mine) == 0 || len(peer) == 0) {
			other := mine
			if len(mine) == 0 {
				other = peer
			}
			if slices.ContainsFunc(other, func(x Transform) bool { return x.ID == uint16(wire.KE_NONE) }) {
				continue // NONE accepted: no key exchange of this type
			}
			return Proposal{}, false
		}
		chosen, ok := pick(mine, peer, kes, typ == wire.TransformKE, prefer)
		if !ok {
			return Proposal{}, false
		}
		if typ.IsKE() {
			if chosen.ID == uint16(wire.KE_NONE) {
				continue
			}
			kes = append(kes, chosen.ID)
		}
		if typ == wire.TransformENCR && combined(chosen.ID) {
			skipInteg = true
		}
		sel.Transforms = append(sel.Transforms, Transform{Type: typ, ID: chosen.ID, KeyLength: chosen.KeyLength})
	}
	if len(sel.Transforms) == 0 {
		return Proposal{}, false
	}
	return sel, true
}

// pick returns our first algorithm that the peer offers too, skipping KE methods already used. With preferKE set,
// the method named by prefer wins if both offer it.
func pick(mine, peer []Transform, used []uint16, preferKE bool, prefer wire.KEMethod) (Transform, bool) {
	offered := func(m Transform) bool {
		return slices.ContainsFunc(peer, func(x Transform) bool {
			return !x.unusable && x.ID == m.ID && x.KeyLength == m.KeyLength
		})
	}
	if preferKE && prefer != wire.KE_NONE {
		for _, m := range mine {
			if m.ID == uint16(prefer) && offered(m) {
				return m, true
			}
		}
	}
	for _, m := range mine {
		if m.ID != uint16(wire.KE_NONE) && slices.Contains(used, m.ID) && m.Type.IsKE() {
			continue
		}
		if offered(m) {
			return m, true
		}
	}
	return Transform{}, false
}
