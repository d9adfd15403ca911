package ike

import (
	"encoding/binary"
	"fmt"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// intermediate is the state of the IKE_INTERMEDIATE exchanges (RFC 9242)
// between IKE_SA_INIT and IKE_AUTH that run the additional key exchanges of
// RFC 9370: one exchange per ADDKE transform of the selected proposal, in
// order, the IKE SA keys updated after each. The IKE SA holds one pointer
// to it, nil when the proposal has no additional key exchange.
type intermediate struct {
	// methods are the additional key exchange methods still to run, in
	// ADDKE order (rounds negotiated as NONE are left out).
	methods []uint16
	// done are the methods completed, in order.
	done []uint16
	// intAuthI and intAuthR are IntAuth_iN and IntAuth_rN (RFC 9242
	// 3.3.2), nil before the first exchange.
	intAuthI, intAuthR []byte
	// kex is the initiator's private value of the running exchange.
	kex ikecrypto.KeyExchange
}

// newIntermediate returns the IKE_INTERMEDIATE state for a selected
// proposal, nil when it negotiates no additional key exchange.
func newIntermediate(chosen proposal.Proposal) *intermediate {
	var methods []uint16
	for _, m := range chosen.AdditionalKEs() {
		if m != wire.KE_NONE {
			methods = append(methods, uint16(m))
		}
	}
	if len(methods) == 0 {
		return nil
	}
	return &intermediate{methods: methods}
}

// offersAdditionalKE reports whether any proposal has an ADDKE transform:
// then IKE_SA_INIT announces INTERMEDIATE_EXCHANGE_SUPPORTED.
func offersAdditionalKE(props []proposal.Proposal) bool {
	for _, p := range props {
		if len(p.AdditionalKEs()) > 0 {
			return true
		}
	}
	return false
}

func (in *intermediate) finished() bool { return in == nil || len(in.methods) == 0 }

// addIntAuth chains one IKE_INTERMEDIATE message into IntAuth (RFC 9242
// 3.3.2):
//
//	IntAuth_iN = prf(SK_pi, IntAuth_i(N-1) | IntAuth_iNA | IntAuth_iNP)
//
// (SK_pr and the _r chain for the responder's messages) with the keys that
// protect this exchange, before its key update. IntAuth_A is the IKE header
// and the SK payload header, IntAuth_P the inner payloads, with the lengths
// of the message as if it were neither encrypted nor fragmented.
func (in *intermediate) addIntAuth(keys *ikecrypto.IKESAKeys, fromInitiator bool, h wire.Header, payloads []wire.Payload) error {
	first, plain, err := wire.MarshalPayloads(payloads)
	if err != nil {
		return fmt.Errorf("IntAuth: %w", err)
	}
	h.NextPayload = 0
	data, err := (&wire.Message{Header: h, Payloads: []wire.Payload{&wire.Encrypted{FirstPayload: first, Body: plain}}}).Marshal()
	if err != nil {
		return fmt.Errorf("IntAuth: %w", err)
	}
	prev := &in.intAuthR
	if fromInitiator {
		prev = &in.intAuthI
	}
	skp, err := keys.SKp(fromInitiator)
	if err != nil {
		return fmt.Errorf("IntAuth: %w", err)
	}
	defer clear(skp)
	*prev = keys.PRF().Sum(nil, skp, *prev, data)
	return nil
}

// authOctets is what RFC 9242 3.3.2 appends to both sides' signed octets:
// IntAuth_iN | IntAuth_rN | IKE_AUTH_MID, the message ID of the first
// IKE_AUTH request, which directly follows the last IKE_INTERMEDIATE.
func (in *intermediate) authOctets() []byte {
	if in == nil {
		return nil
	}
	out := append(append([]byte(nil), in.intAuthI...), in.intAuthR...)
	return binary.BigEndian.AppendUint32(out, uint32(len(in.done)+1))
}

// signedOctets are the octets one side's AUTH covers (RFC 7296 2.15), with
// the IntAuth of the IKE_INTERMEDIATE exchanges appended.
// keys are the IKE SA's, or those derived with a PPK (RFC 8784).
func (sa *IKESA) signedOctets(keys *ikecrypto.IKESAKeys, signerIsInitiator bool, realMessage, peerNonce, idBody []byte) ([]byte, error) {
	octets, err := keys.SignedOctets(nil, signerIsInitiator, realMessage, peerNonce, idBody)
	if err != nil {
		return nil, err
	}
	if sa.inter != nil {
		octets = append(octets, sa.inter.authOctets()...)
	}
	return octets, nil
}

// updateKeys replaces the IKE SA keys after an additional key exchange
// (RFC 9370 2.2.2).
func (sa *IKESA) updateKeys(secret []byte) error {
	defer clear(secret)
	keys, err := sa.keys.AdditionalKeyExchange(secret, sa.ni, sa.nr, sa.SPIi, sa.SPIr)
	if err != nil {
		return err
	}
	out, in, err := keys.Protectors(sa.Initiator, sa.m.rand)
	if err != nil {
		keys.Wipe()
		return err
	}
	sa.keys.Wipe()
	sa.keys, sa.out, sa.in = keys, out, in
	return nil
}

// KeyExchanges returns the key exchange methods of the IKE SA: the
// IKE_SA_INIT group, then the additional ones (RFC 9370) in order.
func (sa *IKESA) KeyExchanges() []uint16 {
	out := []uint16{sa.Group}
	if sa.inter != nil {
		out = append(out, sa.inter.done...)
	}
	return out
}

// sendIntermediate starts the next additional key exchange (initiator).
func (sa *IKESA) sendIntermediate() error {
	in := sa.inter
	method := in.methods[0]
	kex, err := ikecrypto.NewKeyExchange(method, sa.m.rand)
	if err != nil {
		return sa.fail("additional key exchange %v: %v", wire.KEMethod(method), err)
	}
	in.kex = kex
	payloads := []wire.Payload{&wire.KE{Method: wire.KEMethod(method), Data: kex.PublicValue()}}
	if err := in.addIntAuth(sa.keys, true, sa.header(wire.IKE_INTERMEDIATE, sa.nextRequestID, false), payloads); err != nil {
		return sa.fail("%v", err)
	}
	sa.log.Debug("IKE_INTERMEDIATE: additional key exchange", "round", len(in.done)+1, "method", wire.KEMethod(method))
	return sa.sendRequest(wire.IKE_INTERMEDIATE, payloads, sa.handleIntermediateResponse, func(string) {})
}

func (sa *IKESA) handleIntermediateResponse(msg *wire.Message, payloads []wire.Payload) error {
	in := sa.inter
	method := in.methods[0]
	if n := firstError(payloads); n != nil {
		return sa.fail("%v: peer %s refused additional key exchange %v in IKE_INTERMEDIATE", n.NotifyType, sa.Remote, wire.KEMethod(method))
	}
	ke := payloadOf[*wire.KE](payloads)
	if ke == nil || uint16(ke.Method) != method {
		return sa.fail("IKE_INTERMEDIATE response from %s lacks a KE payload of %v", sa.Remote, wire.KEMethod(method))
	}
	if err := in.addIntAuth(sa.keys, false, msg.Header, payloads); err != nil {
		return sa.fail("%v", err)
	}
	secret, err := in.kex.SharedSecret(ke.Data)
	in.kex = nil
	if err != nil {
		return sa.fail("additional key exchange %v with %s: %v", wire.KEMethod(method), sa.Remote, err)
	}
	if err := sa.updateKeys(secret); err != nil {
		return sa.fail("updating IKE SA keys: %v", err)
	}
	in.done, in.methods = append(in.done, method), in.methods[1:]
	if !in.finished() {
		return sa.sendIntermediate()
	}
	return sa.sendAuth()
}

// handleIntermediateRequest is the responder's side of one additional key
// exchange.
func (sa *IKESA) handleIntermediateRequest(msg *wire.Message, payloads []wire.Payload) {
	id := msg.MessageID
	in := sa.inter
	if sa.state != stateInitDone || in.finished() {
		// after IKE_AUTH, or without additional key exchanges: refused,
		// but an established IKE SA stays
		sa.log.Info("INVALID_SYNTAX: unexpected IKE_INTERMEDIATE request", "state", sa.state)
		sa.respond(wire.IKE_INTERMEDIATE, id, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_SYNTAX}})
		return
	}
	method := in.methods[0]
	ke := payloadOf[*wire.KE](payloads)
	if ke == nil || uint16(ke.Method) != method {
		sa.rejectIntermediate(id, fmt.Sprintf("IKE_INTERMEDIATE request without a KE payload of %v", wire.KEMethod(method)))
		return
	}
	if err := in.addIntAuth(sa.keys, true, msg.Header, payloads); err != nil {
		sa.rejectIntermediate(id, err.Error())
		return
	}
	pub, secret, err := ikecrypto.Encapsulate(method, ke.Data, sa.m.rand)
	if err != nil {
		sa.rejectIntermediate(id, fmt.Sprintf("additional key exchange %v: %v", wire.KEMethod(method), err))
		return
	}
	out := []wire.Payload{&wire.KE{Method: ke.Method, Data: pub}}
	if err := in.addIntAuth(sa.keys, false, sa.header(wire.IKE_INTERMEDIATE, id, true), out); err != nil {
		clear(secret)
		sa.rejectIntermediate(id, err.Error())
		return
	}
	sa.respond(wire.IKE_INTERMEDIATE, id, out)
	// The response went out under the old keys; the next request comes
	// under the new ones.
	if err := sa.updateKeys(secret); err != nil {
		sa.log.Error("updating IKE SA keys failed", "err", err)
		sa.destroy(err.Error())
		return
	}
	in.done, in.methods = append(in.done, method), in.methods[1:]
	sa.log.Debug("IKE_INTERMEDIATE: additional key exchange done", "round", len(in.done), "method", wire.KEMethod(method))
}

func (sa *IKESA) rejectIntermediate(id uint32, reason string) {
	sa.log.Warn("INVALID_SYNTAX: "+reason, "remote", sa.Remote)
	sa.respond(wire.IKE_INTERMEDIATE, id, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_SYNTAX}})
	sa.destroy("INVALID_SYNTAX: " + reason)
}
