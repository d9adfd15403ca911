package ike

import (
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// childOffer is what the responder negotiated for a Child SA in a
// CREATE_CHILD_SA request: the configuration, the proposal, the narrowed
// selectors and the mode, and for a rekey the Child SA it replaces.
type childOffer struct {
	cc                *ChildConfig
	chosen            proposal.Proposal
	localTS, remoteTS []spd.Endpoint
	mode              ipsec.Mode
	rekeys            *ChildSA
}

// respondChildFollowup answers a CREATE_CHILD_SA that creates or rekeys a
// Child SA whose chosen proposal has additional key exchanges (RFC 9370
// 2.2.4): the response carries our SPI, nonce, KE and selectors with an
// ADDITIONAL_KEY_EXCHANGE notify, and the Child SA is installed only after
// the peer's last IKE_FOLLOWUP_KE, with keys from all the shared secrets.
// ke is our half of the first key exchange and secrets its shared secret
// (the caller keeps and wipes its copy).
func (sa *IKESA) respondChildFollowup(id uint32, o childOffer, ni, nr []byte, ke *wire.KE, secrets [][]byte) {
	refuse := func(t wire.NotifyType) {
		sa.respond(wire.CREATE_CHILD_SA, id, []wire.Payload{&wire.Notify{NotifyType: t}})
	}
	if ke == nil || len(secrets) != 1 {
		// a proposal with ADDKE transforms but no KE method: RFC 9370 runs
		// the additional exchanges only after the first
		sa.log.Warn("NO_PROPOSAL_CHOSEN: Child SA proposal "+o.chosen.String()+" has additional key exchanges without a key exchange method", "child", o.cc.Name)
		refuse(wire.NO_PROPOSAL_CHOSEN)
		return
	}
	n, err := sa.newChild(o.cc)
	if err != nil {
		refuse(wire.NO_ADDITIONAL_SAS)
		return
	}
	n.Mode, n.Rekeys = o.mode, o.rekeys
	ni = clone(ni)
	f := &followupResponder{
		what: "Child SA " + o.cc.Name, methods: nonNone(o.chosen.AdditionalKEs()), secrets: [][]byte{clone(secrets[0])},
		abort: func() { sa.releaseChild(n) },
	}
	f.finish = func(all [][]byte, _ []uint16) (func(), wire.NotifyType) {
		old := o.rekeys
		if old != nil {
			if old.state != childInstalled || old.supersededBy != nil || old.redundant || sa.m.waitingSuccessor(old) != nil {
				sa.log.Info("TEMPORARY_FAILURE: the Child SA the peer rekeys was deleted or replaced during its IKE_FOLLOWUP_KE exchanges", "child", old.Name)
				return nil, wire.TEMPORARY_FAILURE
			}
			old.successor = n
		}
		if err := sa.completeChild(n, o.chosen, o.localTS, o.remoteTS, false, ni, nr, all...); err != nil {
			if old != nil {
				old.successor = nil
			}
			sa.log.Error("installing the Child SA failed", "child", o.cc.Name, "err", err)
			return nil, wire.NO_PROPOSAL_CHOSEN
		}
		if old != nil && old.rekey != nil {
			sa.log.Info("simultaneous rekey of Child SA: answering the peer's while ours is in flight", "child", old.Name)
			old.rekey.peerNew, old.rekey.peerNi, old.rekey.peerNr = n, ni, nr
		}
		return nil, 0
	}
	link, err := sa.startFollowup(f)
	if err != nil {
		refuse(wire.TEMPORARY_FAILURE)
		return
	}
	var out []wire.Payload
	if o.mode == ipsec.ModeTransport {
		out = append(out, &wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE})
	}
	out = append(out, &wire.SA{Proposals: []wire.Proposal{o.chosen.Wire(spiBytes(n.SPIIn))}}, &wire.Nonce{Data: nr}, ke,
		toWire(o.remoteTS, false), toWire(o.localTS, true), link)
	sa.respond(wire.CREATE_CHILD_SA, id, out)
}
