package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// ikeFollowup is the responder's state of a peer's IKE SA rekey with
// additional key exchanges (RFC 9370 2.2.4): after the CREATE_CHILD_SA the
// peer runs one IKE_FOLLOWUP_KE exchange per ADDKE round, each linked to
// the previous by the ADDITIONAL_KEY_EXCHANGE notify's data; the new IKE
// SA's keys come from all the shared secrets once the last is done.
type ikeFollowup struct {
	chosen     proposal.Proposal
	neg        negotiated
	spiI, spiR uint64
	ni, nr     []byte
	secrets    [][]byte // SK(0), SK(1), ...
	methods    []uint16 // rounds still to run
	done       []uint16
	link       []byte // the ADDITIONAL_KEY_EXCHANGE data the next request must carry
}

func (f *ikeFollowup) wipe() {
	for _, s := range f.secrets {
		clear(s)
	}
}

// newLink draws the data of the next ADDITIONAL_KEY_EXCHANGE notify.
func (sa *IKESA) newLink(f *ikeFollowup) error {
	f.link = make([]byte, 8)
	if _, err := io.ReadFull(sa.m.rand, f.link); err != nil {
		return fmt.Errorf("link data: %w", err)
	}
	return nil
}

// respondIKERekeyFollowup answers the CREATE_CHILD_SA that starts a peer's
// IKE SA rekey with additional key exchanges.
func (sa *IKESA) respondIKERekeyFollowup(id uint32, chosen proposal.Proposal, neg negotiated, ni []byte, ke *wire.KE, refuse func(wire.NotifyType, []byte)) {
	if sa.followup != nil {
		sa.followup.wipe()
		sa.followup = nil
	}
	spi, nr, pub, secret, fail := sa.rekeyResponderKeys(neg, ke)
	if fail != 0 {
		refuse(fail, nil)
		return
	}
	f := &ikeFollowup{chosen: chosen, neg: neg, spiI: binary.BigEndian.Uint64(chosen.SPI), spiR: spi, ni: clone(ni), nr: nr, secrets: [][]byte{secret}}
	for _, m := range chosen.AdditionalKEs() {
		if m != wire.KE_NONE {
			f.methods = append(f.methods, uint16(m))
		}
	}
	if err := sa.newLink(f); err != nil {
		f.wipe()
		refuse(wire.TEMPORARY_FAILURE, nil)
		return
	}
	sa.followup = f
	sa.log.Info("peer rekeys the IKE SA with additional key exchanges", "suite", chosen.String())
	sa.respond(wire.CREATE_CHILD_SA, id, []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{chosen.Wire(ikeSPIBytes(spi))}},
		&wire.Nonce{Data: nr},
		&wire.KE{Method: ke.Method, Data: pub},
		&wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: f.link},
	})
}

// handleFollowupRequest runs one IKE_FOLLOWUP_KE exchange of a peer's IKE
// SA rekey; after the last the new IKE SA takes over.
func (sa *IKESA) handleFollowupRequest(msg *wire.Message, payloads []wire.Payload) {
	id := msg.MessageID
	f := sa.followup
	n := findNotify(payloads, wire.ADDITIONAL_KEY_EXCHANGE)
	if f == nil || n == nil || !bytes.Equal(n.Data, f.link) {
		sa.log.Info("STATE_NOT_FOUND: IKE_FOLLOWUP_KE that continues no exchange of ours")
		sa.respond(wire.IKE_FOLLOWUP_KE, id, []wire.Payload{&wire.Notify{NotifyType: wire.STATE_NOT_FOUND}})
		return
	}
	method := f.methods[0]
	ke := payloadOf[*wire.KE](payloads)
	if ke == nil || uint16(ke.Method) != method {
		sa.log.Info(fmt.Sprintf("INVALID_SYNTAX: IKE_FOLLOWUP_KE without a KE payload of %v", wire.KEMethod(method)))
		f.wipe()
		sa.followup = nil
		sa.respond(wire.IKE_FOLLOWUP_KE, id, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_SYNTAX}})
		return
	}
	pub, secret, err := ikecrypto.Encapsulate(method, ke.Data, sa.m.rand)
	if err != nil {
		f.wipe()
		sa.followup = nil
		sa.respond(wire.IKE_FOLLOWUP_KE, id, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_SYNTAX}})
		return
	}
	f.secrets = append(f.secrets, secret)
	f.done, f.methods = append(f.done, method), f.methods[1:]
	out := []wire.Payload{&wire.KE{Method: ke.Method, Data: pub}}
	if len(f.methods) > 0 {
		if err := sa.newLink(f); err != nil {
			f.wipe()
			sa.followup = nil
			sa.respond(wire.IKE_FOLLOWUP_KE, id, []wire.Payload{&wire.Notify{NotifyType: wire.TEMPORARY_FAILURE}})
			return
		}
		sa.respond(wire.IKE_FOLLOWUP_KE, id, append(out, &wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: f.link}))
		return
	}
	sa.followup = nil
	nsa, err := sa.newRekeyedSA(false, f.spiI, f.spiR, f.ni, f.nr, f.neg, f.secrets[0], f.secrets[1:]...)
	if err != nil {
		sa.log.Error("rekeying the IKE SA failed", "err", err)
		sa.respond(wire.IKE_FOLLOWUP_KE, id, []wire.Payload{&wire.Notify{NotifyType: wire.NO_PROPOSAL_CHOSEN}})
		return
	}
	nsa.inter = &intermediate{done: f.done}
	sa.respond(wire.IKE_FOLLOWUP_KE, id, out)
	sa.handOver(nsa)
	sa.state = stateDeleting
}
