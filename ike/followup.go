package ike

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"time"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Additional key exchanges in CREATE_CHILD_SA (RFC 9370 2.2.4): the
// CREATE_CHILD_SA request and response carry the first key exchange as
// usual, and the responder's answer an ADDITIONAL_KEY_EXCHANGE notify whose
// data links the next exchange; the initiator then runs one IKE_FOLLOWUP_KE
// exchange per ADDKE transform of the chosen proposal, each carrying the
// link the previous response handed out. The new SA (an IKE SA of a rekey,
// or a Child SA) takes its keys from all the shared secrets once the last
// exchange is done:
//
//	SKEYSEED = prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | ... | SK(n))
//	KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(1) | ... | SK(n))
//
// with the nonces of the CREATE_CHILD_SA exchange. The same two small types
// serve IKE SA rekeys, Child SA creation and Child SA rekeys; what differs
// is what finish makes of the secrets.

// followupResponder is the responder's state of a run of IKE_FOLLOWUP_KE
// exchanges after its CREATE_CHILD_SA response. The IKE SA holds at most
// one: a peer starts the next run only after the last ended.
type followupResponder struct {
	what    string   // for logs: "IKE SA rekey", "Child SA net"
	methods []uint16 // rounds still to run
	done    []uint16
	secrets [][]byte // SK(0), SK(1), ...
	link    []byte   // the ADDITIONAL_KEY_EXCHANGE data the next request must carry
	// expires is when the run is given up if the peer's next
	// IKE_FOLLOWUP_KE has not come: what it reserved is released then.
	expires time.Time
	// finish makes the new SA from all the secrets (SK(0) first) after the
	// last exchange. It returns the notification to answer with when that
	// fails, and otherwise what to run once the response went out.
	finish func(secrets [][]byte, done []uint16) (after func(), fail wire.NotifyType)
	// abort gives back what the CREATE_CHILD_SA reserved (a Child SA's
	// SPI); nil when nothing was.
	abort func()
}

func (f *followupResponder) wipe() { clearAll(f.secrets) }

// nonNone returns the additional key exchange methods of a selected
// proposal that are run (rounds negotiated as NONE are left out).
func nonNone(ms []wire.KEMethod) []uint16 {
	var out []uint16
	for _, m := range ms {
		if m != wire.KE_NONE {
			out = append(out, uint16(m))
		}
	}
	return out
}

// dropFollowup ends the responder's run of IKE_FOLLOWUP_KE exchanges
// without a new SA.
func (sa *IKESA) dropFollowup() {
	f := sa.followup
	if f == nil {
		return
	}
	sa.followup = nil
	f.wipe()
	if f.abort != nil {
		f.abort()
	}
}

// tickFollowup gives up the peer's run of IKE_FOLLOWUP_KE exchanges when
// its next request is overdue, releasing what it reserved.
func (sa *IKESA) tickFollowup(now time.Time) {
	if f := sa.followup; f != nil && !now.Before(f.expires) {
		sa.log.Info("the peer's IKE_FOLLOWUP_KE did not come; giving up its additional key exchanges", "for", f.what)
		sa.dropFollowup()
	}
}

func (sa *IKESA) followupDeadline() time.Time {
	if sa.followup == nil {
		return time.Time{}
	}
	return sa.followup.expires
}

// startFollowup takes over f (its SK(0) included) as the responder's
// running followup and returns the ADDITIONAL_KEY_EXCHANGE notify for the
// CREATE_CHILD_SA response.
func (sa *IKESA) startFollowup(f *followupResponder) (*wire.Notify, error) {
	sa.dropFollowup()
	f.link = make([]byte, 8)
	if _, err := io.ReadFull(sa.m.rand, f.link); err != nil {
		f.wipe()
		if f.abort != nil {
			f.abort()
		}
		return nil, fmt.Errorf("link data: %w", err)
	}
	f.expires = sa.m.clock.Now().Add(sa.m.opts.HalfOpenTimeout)
	sa.followup = f
	sa.log.Info("peer runs additional key exchanges with IKE_FOLLOWUP_KE", "for", f.what, "methods", kemNames(f.methods))
	return &wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: clone(f.link)}, nil
}

func kemNames(ms []uint16) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = wire.KEMethod(m).String()
	}
	return out
}

// respondIKERekeyFollowup answers the CREATE_CHILD_SA that starts a peer's
// IKE SA rekey with additional key exchanges.
func (sa *IKESA) respondIKERekeyFollowup(id uint32, chosen proposal.Proposal, neg negotiated, ni []byte, ke *wire.KE, refuse func(wire.NotifyType, []byte)) {
	spi, nr, pub, secret, fail := sa.rekeyResponderKeys(neg, ke)
	if fail != 0 {
		refuse(fail, nil)
		return
	}
	spiI := chosen.SPI
	ni = clone(ni)
	f := &followupResponder{what: "IKE SA rekey", methods: nonNone(chosen.AdditionalKEs()), secrets: [][]byte{secret}}
	f.finish = func(secrets [][]byte, done []uint16) (func(), wire.NotifyType) {
		nsa, err := sa.newRekeyedSA(false, be64(spiI), spi, ni, nr, neg, clone(secrets[0]), cloneAll(secrets[1:])...)
		if err != nil {
			sa.log.Error("rekeying the IKE SA failed", "err", err)
			return nil, wire.NO_PROPOSAL_CHOSEN
		}
		nsa.inter = &intermediate{done: slices.Clone(done)}
		if r := sa.ikeRekey; r != nil {
			// Our own rekey is in flight (simultaneous rekey, RFC 7296
			// 2.8.2): the nonces decide once both are done.
			sa.log.Info("simultaneous IKE SA rekey: answering the peer's while ours is in flight", "new", nsa.UniqueID)
			r.peerNew, r.peerNi, r.peerNr = nsa, ni, nr
			nsa.quietExpireAt = sa.m.clock.Now().Add(rekeyCollisionWait)
			return nil, 0
		}
		return func() {
			sa.handOver(nsa)
			sa.state = stateDeleting
		}, 0
	}
	link, err := sa.startFollowup(f)
	if err != nil {
		refuse(wire.TEMPORARY_FAILURE, nil)
		return
	}
	sa.log.Info("peer rekeys the IKE SA with additional key exchanges", "suite", chosen.String())
	sa.respond(wire.CREATE_CHILD_SA, id, []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{chosen.Wire(ikeSPIBytes(spi))}},
		&wire.Nonce{Data: nr},
		&wire.KE{Method: ke.Method, Data: pub},
		link,
	})
}

// handleFollowupRequest runs one IKE_FOLLOWUP_KE exchange of the peer's;
// after the last the new SA takes over.
func (sa *IKESA) handleFollowupRequest(msg *wire.Message, payloads []wire.Payload) {
	id := msg.MessageID
	f := sa.followup
	n := findNotify(payloads, wire.ADDITIONAL_KEY_EXCHANGE)
	if f == nil || n == nil || !bytes.Equal(n.Data, f.link) {
		sa.log.Info("STATE_NOT_FOUND: IKE_FOLLOWUP_KE that continues no exchange of ours")
		sa.respond(wire.IKE_FOLLOWUP_KE, id, []wire.Payload{&wire.Notify{NotifyType: wire.STATE_NOT_FOUND}})
		return
	}
	fail := func(t wire.NotifyType, why string) {
		sa.log.Info(fmt.Sprintf("%v: %s", t, why), "for", f.what)
		sa.dropFollowup()
		sa.respond(wire.IKE_FOLLOWUP_KE, id, []wire.Payload{&wire.Notify{NotifyType: t}})
	}
	method := f.methods[0]
	ke := payloadOf[*wire.KE](payloads)
	if ke == nil || uint16(ke.Method) != method {
		fail(wire.INVALID_SYNTAX, fmt.Sprintf("IKE_FOLLOWUP_KE without a KE payload of %v", wire.KEMethod(method)))
		return
	}
	pub, secret, err := ikecrypto.Encapsulate(method, ke.Data, sa.m.rand)
	if err != nil {
		fail(wire.INVALID_SYNTAX, fmt.Sprintf("additional key exchange %v: %v", wire.KEMethod(method), err))
		return
	}
	f.secrets = append(f.secrets, secret)
	f.done, f.methods = append(f.done, method), f.methods[1:]
	out := []wire.Payload{&wire.KE{Method: ke.Method, Data: pub}}
	if len(f.methods) > 0 {
		f.expires = sa.m.clock.Now().Add(sa.m.opts.HalfOpenTimeout)
		if _, err := io.ReadFull(sa.m.rand, f.link); err != nil {
			fail(wire.TEMPORARY_FAILURE, "link data: "+err.Error())
			return
		}
		sa.respond(wire.IKE_FOLLOWUP_KE, id, append(out, &wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: clone(f.link)}))
		return
	}
	sa.followup = nil
	after, bad := f.finish(f.secrets, f.done)
	f.wipe()
	if bad != 0 {
		if f.abort != nil {
			f.abort()
		}
		sa.respond(wire.IKE_FOLLOWUP_KE, id, []wire.Payload{&wire.Notify{NotifyType: bad}})
		return
	}
	sa.respond(wire.IKE_FOLLOWUP_KE, id, out)
	if after != nil {
		after()
	}
}

// followupInitiator is the initiator's state of a run of IKE_FOLLOWUP_KE
// exchanges after the peer's CREATE_CHILD_SA response asked for them.
type followupInitiator struct {
	what    string
	methods []uint16
	done    []uint16
	secrets [][]byte // SK(0), SK(1), ...
	// finish makes the new SA from all the secrets (SK(0) first).
	finish func(secrets [][]byte, done []uint16) error
	// abort gives back what the CREATE_CHILD_SA reserved when the run
	// fails or times out.
	abort func()
}

// additionalRounds reads from a CREATE_CHILD_SA response the additional
// key exchanges the peer's chosen proposal asks for and the link of the
// first IKE_FOLLOWUP_KE; none without ADDKE transforms.
func additionalRounds(resp []wire.Payload) (methods []uint16, link []byte, err error) {
	saP := payloadOf[*wire.SA](resp)
	if saP == nil || len(saP.Proposals) != 1 {
		return nil, nil, nil // the caller refuses the response
	}
	chosen := proposal.FromWire(saP.Proposals[0])
	methods = nonNone(chosen.AdditionalKEs())
	if len(methods) == 0 {
		return nil, nil, nil
	}
	n := findNotify(resp, wire.ADDITIONAL_KEY_EXCHANGE)
	if n == nil || len(n.Data) == 0 {
		return nil, nil, fmt.Errorf("peer chose %s without an ADDITIONAL_KEY_EXCHANGE notify (RFC 9370 2.2.4)", chosen.String())
	}
	return methods, clone(n.Data), nil
}

// runFollowup sends the next IKE_FOLLOWUP_KE of f with the link the peer
// handed out.
func (sa *IKESA) runFollowup(f *followupInitiator, link []byte) error {
	method := f.methods[0]
	kex, err := ikecrypto.NewKeyExchange(method, sa.m.rand)
	if err != nil {
		clearAll(f.secrets)
		f.abort()
		return fmt.Errorf("%s: additional key exchange %v: %w", f.what, wire.KEMethod(method), err)
	}
	sa.log.Debug("IKE_FOLLOWUP_KE: additional key exchange", "for", f.what, "round", len(f.done)+1, "method", wire.KEMethod(method))
	payloads := []wire.Payload{
		&wire.KE{Method: wire.KEMethod(method), Data: kex.PublicValue()},
		&wire.Notify{NotifyType: wire.ADDITIONAL_KEY_EXCHANGE, Data: link},
	}
	return sa.sendRequest(wire.IKE_FOLLOWUP_KE, payloads, func(_ *wire.Message, resp []wire.Payload) error {
		fail := func(err error) error {
			clearAll(f.secrets)
			f.abort()
			return err
		}
		if e := firstError(resp); e != nil {
			return fail(fmt.Errorf("%v: peer refused additional key exchange %v of the %s in IKE_FOLLOWUP_KE", e.NotifyType, wire.KEMethod(method), f.what))
		}
		ke := payloadOf[*wire.KE](resp)
		if ke == nil || uint16(ke.Method) != method {
			return fail(fmt.Errorf("%s: IKE_FOLLOWUP_KE response lacks a KE payload of %v", f.what, wire.KEMethod(method)))
		}
		secret, err := kex.SharedSecret(ke.Data)
		if err != nil {
			return fail(fmt.Errorf("%s: additional key exchange %v: %w", f.what, wire.KEMethod(method), err))
		}
		f.secrets = append(f.secrets, secret)
		f.done, f.methods = append(f.done, method), f.methods[1:]
		if len(f.methods) > 0 {
			n := findNotify(resp, wire.ADDITIONAL_KEY_EXCHANGE)
			if n == nil || len(n.Data) == 0 {
				return fail(fmt.Errorf("%s: IKE_FOLLOWUP_KE response lacks the ADDITIONAL_KEY_EXCHANGE notify for the next round", f.what))
			}
			return sa.runFollowup(f, clone(n.Data))
		}
		defer clearAll(f.secrets)
		return f.finish(f.secrets, f.done)
	}, func(string) {
		clearAll(f.secrets)
		f.abort()
	})
}

func be64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

func cloneAll(bs [][]byte) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = clone(b)
	}
	return out
}
