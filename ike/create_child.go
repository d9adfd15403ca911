package ike

import (
	"encoding/binary"
	"errors"
	"fmt"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// queueChild remembers a Child SA to create once the IKE SA is up.
func (sa *IKESA) queueChild(cc *ChildConfig) {
	sa.pendingChildren = append(sa.pendingChildren, cc)
}

// createChild starts a CREATE_CHILD_SA exchange for a new Child SA (RFC 7296
// 1.3.1), with a key exchange when the child's proposals name one (PFS).
func (sa *IKESA) createChild(cc *ChildConfig) error {
	c, err := sa.newChild(cc)
	if err != nil {
		return err
	}
	nonce, err := sa.m.nonce()
	if err != nil {
		sa.releaseChild(c)
		return err
	}
	payloads := []wire.Payload{}
	if cc.Mode == ipsec.ModeTransport {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.USE_TRANSPORT_MODE})
	}
	payloads = append(payloads, childProposals(cc, c.SPIIn, true), &wire.Nonce{Data: nonce})
	var kex ikecrypto.KeyExchange
	if g := firstGroup(cc.Proposals); g != 0 {
		if kex, err = ikecrypto.NewKeyExchange(g, sa.m.rand); err != nil {
			sa.releaseChild(c)
			return fmt.Errorf("child %s: key exchange: %w", cc.Name, err)
		}
		payloads = append(payloads, &wire.KE{Method: wire.KEMethod(g), Data: kex.PublicValue()})
	}
	payloads = append(payloads,
		toWire(sa.localTS(cc.LocalTS), false),
		toWire(sa.remoteTS(cc.RemoteTS), true))
	return sa.sendRequest(wire.CREATE_CHILD_SA, payloads, func(_ *wire.Message, resp []wire.Payload) error {
		if n := firstError(resp); n != nil {
			sa.releaseChild(c)
			return fmt.Errorf("%v: peer refused Child SA %s", n.NotifyType, cc.Name)
		}
		nr := payloadOf[*wire.Nonce](resp)
		if nr == nil {
			sa.releaseChild(c)
			return fmt.Errorf("child %s: CREATE_CHILD_SA response without nonce", cc.Name)
		}
		if err := checkNonce(nr.Data, sa.keys.PRF().ID()); err != nil {
			sa.releaseChild(c)
			return fmt.Errorf("child %s: CREATE_CHILD_SA response: %w", cc.Name, err)
		}
		secrets, err := pfsSecrets(kex, resp)
		if err != nil {
			sa.releaseChild(c)
			return fmt.Errorf("child %s: %w", cc.Name, err)
		}
		methods, link, err := additionalRounds(resp)
		if err == nil && len(methods) > 0 && len(secrets) == 0 {
			err = errAddKEWithoutKE
		}
		if err != nil {
			clearAll(secrets)
			sa.releaseChild(c)
			return fmt.Errorf("child %s: %w", cc.Name, err)
		}
		if len(methods) > 0 {
			nr := clone(nr.Data)
			return sa.runFollowup(&followupInitiator{
				what: "Child SA " + cc.Name, methods: methods, secrets: secrets,
				finish: func(all [][]byte, _ []uint16) error {
					return sa.acceptChildResponse(c, resp, nonce, nr, all...)
				},
				abort: func() { sa.releaseChild(c) },
			}, link)
		}
		defer clearAll(secrets)
		return sa.acceptChildResponse(c, resp, nonce, nr.Data, secrets...)
	}, func(string) { sa.releaseChild(c) })
}

// errAddKEWithoutKE refuses a chosen proposal with additional key exchanges
// but no PFS one: RFC 9370 runs them only after a KE method.
var errAddKEWithoutKE = errors.New("peer chose additional key exchanges without a key exchange method (RFC 9370 2.2.4)")

// handleCreateChildRequest answers a peer's CREATE_CHILD_SA for a new Child SA.
func (sa *IKESA) handleCreateChildRequest(msg *wire.Message, payloads []wire.Payload) {
	id := msg.MessageID
	refuse := func(n wire.NotifyType, data []byte) {
		sa.respond(wire.CREATE_CHILD_SA, id, []wire.Payload{&wire.Notify{NotifyType: n, Data: data}})
	}
	if sa.state != stateEstablished {
		refuse(wire.TEMPORARY_FAILURE, nil)
		return
	}
	if n := findNotify(payloads, wire.REKEY_SA); n != nil {
		sa.handleChildRekeyRequest(id, payloads, n)
		return
	}
	if payloadOf[*wire.TrafficSelectors](payloads) == nil {
		sa.handleIKERekeyRequest(id, payloads)
		return
	}
	ni := payloadOf[*wire.Nonce](payloads)
	if ni == nil {
		refuse(wire.INVALID_SYNTAX, nil)
		return
	}
	if err := checkNonce(ni.Data, sa.keys.PRF().ID()); err != nil {
		sa.log.Info("INVALID_SYNTAX: CREATE_CHILD_SA request: "+err.Error(), "remote", sa.Remote)
		refuse(wire.INVALID_SYNTAX, nil)
		return
	}
	nr, err := sa.m.nonce()
	if err != nil {
		refuse(wire.TEMPORARY_FAILURE, nil)
		return
	}
	ke := payloadOf[*wire.KE](payloads)
	cc, chosen, localTS, remoteTS, mode, fail, why := sa.negotiateChildAsResponder(sa.cfg, payloads, true)
	if fail != 0 {
		sa.log.Warn(why, "remote", sa.Remote)
		refuse(fail, nil)
		return
	}
	var secrets [][]byte
	var kePayload *wire.KE
	if g, ok := chosen.KEMethod(); ok {
		if ke == nil || ke.Method != g {
			var d [2]byte
			binary.BigEndian.PutUint16(d[:], uint16(g))
			sa.log.Info("INVALID_KE_PAYLOAD for Child SA", "want", g)
			refuse(wire.INVALID_KE_PAYLOAD, d[:])
			return
		}
		pub, secret, err := ikecrypto.Encapsulate(uint16(g), ke.Data, sa.m.rand)
		if err != nil {
			refuse(wire.INVALID_SYNTAX, nil)
			return
		}
		defer clear(secret)
		secrets = append(secrets, secret)
		kePayload = &wire.KE{Method: g, Data: pub}
	}
	if adds := nonNone(chosen.AdditionalKEs()); len(adds) > 0 {
		sa.respondChildFollowup(id, childOffer{cc: cc, chosen: chosen, localTS: localTS, remoteTS: remoteTS, mode: mode}, ni.Data, nr, kePayload, secrets)
		return
	}
	out := sa.respondChild(sa.cfg, payloads, ni.Data, nr, true, secrets)
	if _, isErr := out[len(out)-1].(*wire.Notify); isErr && len(out) == 1 {
		sa.respond(wire.CREATE_CHILD_SA, id, out)
		return
	}
	resp := []wire.Payload{}
	for _, p := range out {
		resp = append(resp, p)
		if _, ok := p.(*wire.SA); ok {
			resp = append(resp, &wire.Nonce{Data: nr})
			if kePayload != nil {
				resp = append(resp, kePayload)
			}
		}
	}
	sa.respond(wire.CREATE_CHILD_SA, id, resp)
}

// pfsSecrets completes the key exchange a CREATE_CHILD_SA request started
// (PFS): the response must carry a KE payload of the same method. Without
// one started it returns nothing.
func pfsSecrets(kex ikecrypto.KeyExchange, resp []wire.Payload) ([][]byte, error) {
	if kex == nil {
		return nil, nil
	}
	ke := payloadOf[*wire.KE](resp)
	if ke == nil || uint16(ke.Method) != kex.Method() {
		return nil, fmt.Errorf("peer answered PFS with a different key exchange")
	}
	secret, err := kex.SharedSecret(ke.Data)
	if err != nil {
		return nil, fmt.Errorf("key exchange: %w", err)
	}
	return [][]byte{secret}, nil
}

// clearAll zeroes shared secrets once the keys are derived.
func clearAll(secrets [][]byte) {
	for _, s := range secrets {
		clear(s)
	}
}
