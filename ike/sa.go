package ike

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	ikecrypto "github.com/cygnet-ipsec/cygnet/ike/crypto"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// State is where an IKE SA is in its life.
type State uint8

const (
	stateInitSent    State = iota + 1 // initiator: IKE_SA_INIT request sent
	stateInitDone                     // responder: IKE_SA_INIT answered, waiting for IKE_AUTH
	stateAuthSent                     // initiator: IKE_AUTH request sent
	stateEstablished                  // both: authenticated
	stateDeleting                     // DELETE sent, waiting for the answer
	stateDead                         // gone; kept only until unregistered
)

func (s State) String() string {
	switch s {
	case stateInitSent, stateInitDone, stateAuthSent:
		return "CONNECTING"
	case stateEstablished:
		return "ESTABLISHED"
	case stateDeleting:
		return "DELETING"
	}
	return "DESTROYING"
}

// IKESA is one IKE SA and the Child SAs it negotiated.
type IKESA struct {
	m     *Manager
	cfg   *PeerConfig
	log   saLog
	sched schedEntry // the Manager's timer heap and peer index (schedule.go)

	UniqueID  uint32
	Initiator bool
	SPIi      uint64
	SPIr      uint64
	state     State

	Local, Remote       netip.AddrPort
	NATLocal, NATRemote bool // a NAT in front of us / of the peer (as NAT-D says, or faked)
	LocalID, RemoteID   identity.ID
	// RemoteEAPID is the identity the peer proved with EAP when it did
	// (strongSwan's remote-eap-id); leases are kept under it.
	RemoteEAPID          string
	Established          time.Time
	RekeyAt              time.Time
	suite                ikecrypto.Suite
	ikeProposal          proposal.Proposal // the IKE_SA_INIT choice, checked again if IKE_AUTH switches connection
	Group                uint16
	keys                 *ikecrypto.IKESAKeys
	out, in              *ikecrypto.Protector
	ni, nr               []byte
	fragmentationSupport bool
	signatureHashes      []uint16
	peerInitialContact   bool
	peerCertReq          bool
	frags                *fragments
	children             []*ChildSA
	pendingChildren      []*ChildConfig
	firstChild           *ChildConfig
	created              time.Time
	lastInbound          time.Time
	nat                  *natState // natd.go, made on first use
	initKEGroupsTried    int
	hs                   *handshake         // IKE_SA_INIT and IKE_AUTH only: see hsState
	keyingTry            int                // this SA is the keyingTry'th attempt (0 and 1: the first)
	eap                  *eapExchange       // IKE_AUTH with EAP, while it runs (eap.go)
	inter                *intermediate      // RFC 9370 additional key exchanges in IKE_INTERMEDIATE (intermediate.go)
	followup             *followupResponder // the peer's run of IKE_FOLLOWUP_KE exchanges, while it lasts (followup.go)
	peerMultipleAuth     bool               // the responder announced RFC 4739 MULTIPLE_AUTH_SUPPORTED
	peerPPK              bool               // USE_PPK in both IKE_SA_INIT messages (RFC 8784)
	ppk                  *ppkExchange       // the PPK of the first IKE_AUTH, while it runs (ppk.go)
	// PPK is true when the IKE SA's keys were derived with a postquantum
	// preshared key (RFC 8784).
	PPK            bool
	mobike         *mobike    // RFC 4555, when both ends support it (mobike.go)
	peerRedirect   bool       // the client announced REDIRECT_SUPPORTED (RFC 5685, redirect.go)
	redirectedFrom netip.Addr // the gateway that redirected us here (REDIRECTED_FROM)
	redirectedTo   netip.Addr // gateway: where we redirected the client in IKE_AUTH; its IKE SA waits for its DELETE
	// origInitiator: this end sent the IKE SA's IKE_SA_INIT; unlike
	// Initiator it survives IKE SA rekeys, and MOBIKE (the initiator
	// chooses addresses) and redirects (the gateway redirects) go by it.
	origInitiator bool

	// Rekeying and reauthentication (rekey_ike.go, lifetime.go).
	ReauthAt, ExpireAt time.Time
	ikeRekey           *ikeRekey // our rekey of this IKE SA, while in flight
	ikeRetryAt         time.Time // next rekey or reauthentication attempt
	ikeRetryReauth     bool      // the retry is a reauthentication
	superseded         *IKESA    // the IKE SA that replaced this one
	redundant          bool      // lost a simultaneous rekey; being deleted
	quietExpireAt      time.Time // made answering a colliding rekey: removed unless claimed
	reauthOf           *IKESA    // the IKE SA this one reauthenticates
	reauthing          *IKESA    // the IKE SA reauthenticating this one

	// Our requests: one outstanding at a time (window size 1).
	nextRequestID uint32
	pending       *request
	queue         []func() error

	// Their requests: the next ID we expect and the last response, kept to
	// answer a retransmitted request without processing it twice.
	expectRequestID uint32
	lastResponse    []byte
	lastResponseID  uint32
	haveResponse    bool
	// requestDigest identifies the request being answered and
	// lastRequestDigest the one lastResponse answers: SHA-256 of the
	// datagram, or of fragment 1 of a fragmented request. Only the same
	// request again is a retransmission (RFC 7296 2.1), not any message
	// that reuses its ID.
	requestDigest, lastRequestDigest [sha256.Size]byte
	// lastResponseFragments replaces lastResponse when it was fragmented.
	lastResponseFragments [][]byte

	// cp is what the configuration payload assigned (cp.go).
	cp *cpState
}

// handshake is what an IKE SA needs only until IKE_AUTH is done; an
// established SA drops it (forgetHandshake), which on a gateway with
// thousands of clients keeps the IKE SA itself in a smaller size class.
type handshake struct {
	kex               ikecrypto.KeyExchange
	initReq, initResp []byte // the IKE_SA_INIT messages, signed by AUTH
	cookie            []byte
	// halfOpenKey is where a responder SA sits in Manager.halfOpen while
	// isHalfOpen (halfopen.go).
	halfOpenKey initKey
	isHalfOpen  bool
}

// hsState returns the handshake state, made on first use.
func (sa *IKESA) hsState() *handshake {
	if sa.hs == nil {
		sa.hs = &handshake{}
	}
	return sa.hs
}

// halfOpen reports whether the SA sits in Manager.halfOpen.
func (sa *IKESA) halfOpen() bool { return sa.hs != nil && sa.hs.isHalfOpen }

type request struct {
	id       uint32
	exchange wire.ExchangeType
	packet   []byte
	frags    [][]byte // RFC 7383 fragments, sent instead of packet
	sentAt   time.Time
	tries    int
	next     time.Time
	onReply  func(msg *wire.Message, payloads []wire.Payload) error
	onFail   func(reason string)
}

// State returns the IKE SA's state as strongSwan names it (ESTABLISHED,
// REKEYING, REKEYED, ...).
func (sa *IKESA) State() string {
	switch {
	case sa.state == stateDead:
	case sa.superseded != nil:
		return "REKEYED"
	case sa.ikeRekey != nil && sa.state == stateEstablished:
		return "REKEYING"
	}
	return sa.state.String()
}

// Config returns the connection configuration the SA was made with.
func (sa *IKESA) Config() *PeerConfig { return sa.cfg }

// Created is when the IKE SA was made (its first IKE_SA_INIT sent or
// received), for the handshake latency.
func (sa *IKESA) Created() time.Time { return sa.created }

// Children returns the SA's Child SAs.
func (sa *IKESA) Children() []*ChildSA { return sa.children }

// Suite returns the negotiated IKE transforms.
func (sa *IKESA) Suite() ikecrypto.Suite { return sa.suite }

// Keys returns the IKE SA's key schedule, for the opt-in key log only.
func (sa *IKESA) Keys() *ikecrypto.IKESAKeys { return sa.keys }

func (sa *IKESA) ourSPI() uint64 {
	if sa.Initiator {
		return sa.SPIi
	}
	return sa.SPIr
}

func (sa *IKESA) header(exchange wire.ExchangeType, id uint32, response bool) wire.Header {
	var h wire.Header
	binary.BigEndian.PutUint64(h.SPIi[:], sa.SPIi)
	binary.BigEndian.PutUint64(h.SPIr[:], sa.SPIr)
	h.Exchange = exchange
	h.MessageID = id
	if sa.Initiator {
		h.Flags |= wire.FlagInitiator
	}
	if response {
		h.Flags |= wire.FlagResponse
	}
	return h
}

// seal builds an encrypted message with the given inner payloads.
func (sa *IKESA) seal(h wire.Header, payloads []wire.Payload) ([]byte, error) {
	first, plain, err := wire.MarshalPayloads(payloads)
	if err != nil {
		return nil, fmt.Errorf("marshal inner payloads: %w", err)
	}
	sk := &wire.Encrypted{FirstPayload: first}
	msg := &wire.Message{Header: h, Payloads: []wire.Payload{sk}}
	bodyLen := sa.out.SealedLen(len(plain))
	ad, err := msg.AssociatedData(bodyLen)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(ad), len(ad)+bodyLen)
	copy(out, ad)
	out, err = sa.out.Seal(out, ad, plain)
	if err != nil {
		return nil, fmt.Errorf("seal %v: %w", h.Exchange, err)
	}
	return out, nil
}

// open decrypts a parsed message that ends with an SK payload.
func (sa *IKESA) open(msg *wire.Message) ([]wire.Payload, error) {
	if sa.in == nil {
		return nil, errors.New("no keys yet")
	}
	var sk *wire.Encrypted
	if n := len(msg.Payloads); n > 0 {
		sk, _ = msg.Payloads[n-1].(*wire.Encrypted)
	}
	if sk == nil {
		return nil, fmt.Errorf("%v without an SK payload", msg.Exchange)
	}
	ad, body, err := msg.EncryptedParts()
	if err != nil {
		return nil, err
	}
	plain, err := sa.in.Open(nil, ad, body)
	if err != nil {
		return nil, err
	}
	payloads, err := wire.ParsePayloads(sk.FirstPayload, plain)
	if err != nil {
		return nil, fmt.Errorf("parse decrypted payloads: %w", err)
	}
	return payloads, nil
}

// sendRequest sends (or queues, when a request is outstanding) an encrypted request.
func (sa *IKESA) sendRequest(exchange wire.ExchangeType, payloads []wire.Payload, onReply func(*wire.Message, []wire.Payload) error, onFail func(string)) error {
	if sa.pending != nil {
		sa.queue = append(sa.queue, func() error { return sa.sendRequest(exchange, payloads, onReply, onFail) })
		return nil
	}
	id := sa.nextRequestID
	pkt, frags, err := sa.sealMessage(sa.header(exchange, id, false), payloads)
	if err != nil {
		return err
	}
	sa.nextRequestID++
	sa.transmit(&request{id: id, exchange: exchange, packet: pkt, frags: frags, onReply: onReply, onFail: onFail})
	return nil
}

// transmit sends a request for the first time and arms its retransmission.
func (sa *IKESA) transmit(r *request) {
	now := sa.m.clock.Now()
	r.sentAt, r.next = now, now.Add(sa.retransmitDelay(0))
	sa.pending = r
	sa.m.touch(sa)
	sa.sendMessage(r.packet, r.frags)
}

func (sa *IKESA) send(pkt []byte) {
	if err := sa.m.transport.SendIKE(pkt, sa.Local, sa.Remote); err != nil {
		sa.log.Warn("sending IKE message failed", "err", err)
	}
}

// respond sends an encrypted response and caches it for retransmitted requests.
func (sa *IKESA) respond(exchange wire.ExchangeType, id uint32, payloads []wire.Payload) {
	pkt, frags, err := sa.sealMessage(sa.header(exchange, id, true), payloads)
	if err != nil {
		sa.log.Error("building response failed", "exchange", exchange, "err", err)
		return
	}
	sa.cacheResponse(id, pkt)
	sa.lastResponseFragments = frags
	sa.sendMessage(pkt, frags)
}

func (sa *IKESA) cacheResponse(id uint32, pkt []byte) {
	sa.lastResponse, sa.lastResponseID, sa.haveResponse = pkt, id, true
	sa.lastRequestDigest = sa.requestDigest
	sa.lastResponseFragments = nil
	sa.expectRequestID = id + 1
}

// handle processes one message of this IKE SA.
func (sa *IKESA) handle(b []byte, hdr wire.Header, local, remote netip.AddrPort) {
	if hdr.IsResponse() {
		sa.handleResponse(b, hdr, local, remote)
		return
	}
	if sa.haveResponse && hdr.MessageID == sa.lastResponseID {
		sa.resendResponse(b, hdr)
		return
	}
	if hdr.MessageID != sa.expectRequestID {
		sa.m.Stats.BadMessageID++
		sa.log.Debug("dropping request with unexpected message ID", "id", hdr.MessageID, "want", sa.expectRequestID)
		return
	}
	msg, err := wire.ParseMessage(b)
	if err != nil {
		sa.m.Stats.Malformed++
		sa.log.Info("dropping malformed request", "err", err)
		return
	}
	var payloads []wire.Payload
	if f, ok := isFragment(msg); ok {
		var done bool
		payloads, done, err = sa.collectFragment(msg, f)
		if err == nil && !done {
			return
		}
	} else if payloads, err = sa.open(msg); err == nil {
		sa.requestDigest = sha256.Sum256(b)
	}
	if err != nil {
		sa.m.Stats.Decrypt++
		sa.log.Info("dropping request that does not decrypt", "exchange", hdr.Exchange, "err", err)
		return
	}
	sa.lastInbound = sa.m.clock.Now()
	sa.followPeer(local, remote)
	if t, ok := wire.UnsupportedCritical(payloads); ok {
		n := &wire.Notify{NotifyType: wire.UNSUPPORTED_CRITICAL_PAYLOAD, Data: []byte{byte(t)}}
		sa.respond(hdr.Exchange, hdr.MessageID, []wire.Payload{n})
		return
	}
	if sa.redirectedTo.IsValid() {
		sa.redirectedRequest(hdr)
		return
	}
	switch hdr.Exchange {
	case wire.IKE_AUTH:
		sa.noteMOBIKE(payloads)
		sa.handleAuthRequest(msg, payloads)
	case wire.IKE_INTERMEDIATE:
		sa.handleIntermediateRequest(msg, payloads)
	case wire.IKE_FOLLOWUP_KE:
		sa.handleFollowupRequest(msg, payloads)
	case wire.CREATE_CHILD_SA:
		sa.handleCreateChildRequest(msg, payloads)
	case wire.INFORMATIONAL:
		sa.handleInformational(msg, payloads, sa.mobikeRequest(payloads, local, remote))
		if n := findNotify(payloads, wire.REDIRECT); n != nil && sa.state == stateEstablished {
			sa.followRedirect(n)
		}
	default:
		sa.respond(hdr.Exchange, hdr.MessageID, nil)
	}
}

// releaseCiphers drops the SK payload protectors' expanded cipher state
// once a message has been handled: an established IKE SA is idle between
// exchanges, and on a gateway with thousands of clients the AES-GCM state
// of both directions would be the largest part of each IKE SA. The next
// message rebuilds it from the keys.
func (sa *IKESA) releaseCiphers() {
	sa.out.Release()
	sa.in.Release()
}

// forgetHandshake drops what only IKE_SA_INIT and IKE_AUTH need once
// IKE_AUTH is done: the handshake state (both IKE_SA_INIT messages, which
// the AUTH payloads sign, the cookie, the KE state) and the nonces. Rekeys and
// CREATE_CHILD_SA bring their own nonces, and a retransmitted IKE_AUTH
// request is answered from the cached response.
func (sa *IKESA) forgetHandshake() {
	sa.ni, sa.nr, sa.hs = nil, nil, nil
}

// followPeer moves the SA to the address a peer behind a NAT now uses (RFC
// 7296 2.23: only the responder to a NAT follows, and only on authenticated
// messages).
func (sa *IKESA) followPeer(local, remote netip.AddrPort) {
	if remote == sa.Remote || !sa.NATRemote || sa.Initiator {
		return
	}
	sa.log.Info("peer moved behind its NAT", "from", sa.Remote, "to", remote)
	sa.Remote, sa.Local = remote, local
	sa.moveChildren()
}

func (sa *IKESA) handleResponse(b []byte, hdr wire.Header, local, remote netip.AddrPort) {
	r := sa.pending
	if r == nil || hdr.MessageID != r.id || hdr.Exchange != r.exchange {
		sa.m.Stats.Unsolicited++
		sa.log.Debug("dropping unexpected response", "exchange", hdr.Exchange, "id", hdr.MessageID)
		return
	}
	msg, err := wire.ParseMessage(b)
	if err != nil {
		sa.m.Stats.Malformed++
		sa.log.Info("dropping malformed response", "err", err)
		return
	}
	var payloads []wire.Payload
	if hdr.Exchange == wire.IKE_SA_INIT {
		payloads = msg.Payloads
	} else if f, ok := isFragment(msg); ok {
		var done bool
		if payloads, done, err = sa.collectFragment(msg, f); err == nil && !done {
			return
		}
	} else {
		payloads, err = sa.open(msg)
	}
	if err != nil {
		sa.m.Stats.Decrypt++
		sa.log.Info("dropping response that does not decrypt", "exchange", hdr.Exchange, "err", err)
		return
	}
	sa.lastInbound = sa.m.clock.Now()
	if hdr.Exchange != wire.IKE_SA_INIT {
		sa.followPeer(local, remote) // authenticated, so it may move the SA
	}
	sa.pending = nil
	if hdr.Exchange == wire.IKE_AUTH {
		sa.noteMOBIKE(payloads)
	}
	if err := r.onReply(msg, payloads); err != nil {
		sa.log.Warn("exchange failed", "exchange", hdr.Exchange, "err", err)
	}
	sa.runQueue()
}

func (sa *IKESA) runQueue() {
	for sa.pending == nil && len(sa.queue) > 0 && sa.state != stateDead {
		f := sa.queue[0]
		sa.queue = sa.queue[1:]
		if err := f(); err != nil {
			sa.log.Warn("queued request failed", "err", err)
		}
	}
}

// maxRetransmitJitter is strongSwan's cap of retransmit_jitter (percent).
const maxRetransmitJitter = 20

// retransmitDelay is timeout * base^tries, capped at RetransmitLimit, less a
// random part of RetransmitJitter percent, as strongSwan computes it.
func (sa *IKESA) retransmitDelay(tries int) time.Duration {
	o := sa.m.opts
	d := float64(o.RetransmitTimeout) * math.Pow(o.RetransmitBase, float64(tries))
	if o.RetransmitLimit > 0 && d > float64(o.RetransmitLimit) {
		d = float64(o.RetransmitLimit)
	}
	if d > float64(math.MaxInt64) {
		d = float64(math.MaxInt64)
	}
	if o.RetransmitJitter > 0 {
		var b [4]byte
		if _, err := io.ReadFull(sa.m.rand, b[:]); err == nil {
			frac := float64(binary.BigEndian.Uint32(b[:])) / (1 << 32)
			d -= d * float64(o.RetransmitJitter) / 100 * frac
		}
	}
	return time.Duration(d)
}

func (sa *IKESA) tick(now time.Time) {
	if r := sa.pending; r != nil && !now.Before(r.next) {
		if r.tries >= sa.m.opts.RetransmitTries {
			sa.pending = nil
			reason := fmt.Sprintf("giving up after %d retransmits of %v request %d: peer %s not answering", r.tries, r.exchange, r.id, sa.Remote)
			sa.log.Warn(reason)
			if r.onFail != nil {
				r.onFail(reason)
			}
			sa.giveUp(reason)
			return
		}
		r.tries++
		r.next = now.Add(sa.retransmitDelay(r.tries))
		sa.log.Info("retransmitting request", "exchange", r.exchange, "id", r.id, "try", r.tries)
		sa.sendMessage(r.packet, r.frags)
	}
	if sa.state != stateEstablished && sa.state != stateDead && now.Sub(sa.created) > sa.m.opts.HalfOpenTimeout && sa.pending == nil {
		if sa.halfOpen() {
			sa.m.Stats.HalfOpenTimeouts++
		}
		sa.destroy("half-open IKE SA timed out")
		return
	}
	if sa.state == stateEstablished {
		sa.tickDPD(now)
		sa.tickNAT(now)
	}
	sa.tickFollowup(now)
	sa.tickLifetimes(now)
}

func (sa *IKESA) nextDeadline() time.Time {
	var next time.Time
	if sa.pending != nil {
		next = sa.pending.next
	}
	if sa.state != stateEstablished && sa.state != stateDead {
		if d := sa.created.Add(sa.m.opts.HalfOpenTimeout); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	if d := sa.dpdDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
		next = d
	}
	if d := sa.natDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
		next = d
	}
	if d := sa.followupDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
		next = d
	}
	return earliest(next, sa.lifetimeDeadline())
}

// destroy removes the SA and its Child SAs locally, without telling the peer.
func (sa *IKESA) destroy(reason string) {
	if sa.state == stateDead {
		return
	}
	wasUp := sa.state == stateEstablished || sa.state == stateDeleting
	sa.dropFollowup()
	for _, c := range sa.children {
		if !sa.passToSuccessor(c) {
			sa.uninstallChild(c, reason)
		}
	}
	sa.children = nil
	sa.state = stateDead
	sa.eap.close()
	sa.releaseVIPs()
	sa.dropPPK()
	if sa.keys != nil {
		sa.keys.Wipe()
	}
	if sa.out != nil {
		sa.out.Wipe()
		sa.in.Wipe()
	}
	sa.m.unregister(sa)
	if sa.retired(reason) {
		return
	}
	if wasUp {
		sa.log.Info("IKE SA deleted", "reason", reason)
		sa.m.emit(Event{Kind: EventIKEDown, IKE: sa, Reason: reason})
	} else {
		sa.m.emit(Event{Kind: EventIKEFailed, IKE: sa, Reason: reason})
	}
}
