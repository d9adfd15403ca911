package ike

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// IKEv2 fragmentation (RFC 7383). Both sides announce support in
// IKE_SA_INIT; afterwards an encrypted message that would not fit in
// Options.FragmentSize (the whole IP datagram) goes as SKF payloads, each
// protected on its own, and a retransmission sends all of them again.

// Fragmentation is the fragmentation policy of a connection, as swanctl.conf
// names it (connections.<conn>.fragmentation).
type Fragmentation uint8

// Fragmentation policies. The zero value is strongSwan's default, yes.
const (
	// FragmentationYes announces support and fragments oversized messages
	// when the peer supports it too.
	FragmentationYes Fragmentation = iota
	// FragmentationAccept announces support (we reassemble what the peer
	// fragments) but never fragments our own messages.
	FragmentationAccept
	// FragmentationNo neither announces nor uses fragmentation.
	FragmentationNo
	// FragmentationForce is yes for IKEv2: strongSwan's force only changes
	// IKEv1, and IKE_SA_INIT cannot be fragmented (RFC 7383 2.5).
	FragmentationForce
)

func (f Fragmentation) String() string {
	switch f {
	case FragmentationYes:
		return "yes"
	case FragmentationAccept:
		return "accept"
	case FragmentationNo:
		return "no"
	case FragmentationForce:
		return "force"
	}
	return fmt.Sprintf("Fragmentation(%d)", uint8(f))
}

const (
	// defaultFragmentSize is strongSwan's charon.fragment_size.
	defaultFragmentSize = 1280
	// minFragmentSize keeps a fragment able to carry some payload even
	// over IPv6 with the non-ESP marker and a large ICV.
	minFragmentSize = 576
	// maxFragments bounds how many fragments one message may have; a peer
	// claiming more is not sending an IKE message we want to buffer.
	maxFragments = 64
	// maxReassembled bounds the inner payloads of one reassembled message;
	// strongSwan's default charon.max_packet is 10000 octets.
	maxReassembled = 64 << 10
)

// fragments collects the Encrypted Fragment payloads (RFC 7383) of one
// message until all have arrived.
type fragments struct {
	id       uint32
	response bool
	total    uint16
	first    wire.PayloadType
	parts    [][]byte
	have     int
	size     int // octets of inner payloads buffered
}

// announceFragmentation tells whether our IKE_SA_INIT carries
// IKEV2_FRAGMENTATION_SUPPORTED.
func announceFragmentation(cfg *PeerConfig) bool { return cfg.Fragmentation != FragmentationNo }

// mayFragment tells whether we send oversized messages of this SA as
// fragments: both announced support and our policy allows sending them.
func (sa *IKESA) mayFragment() bool {
	return sa.fragmentationSupport && (sa.cfg.Fragmentation == FragmentationYes || sa.cfg.Fragmentation == FragmentationForce)
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
// the last one is in. A duplicate, or a fragment of an older fragmentation
// of the message, is dropped without an error.
func (sa *IKESA) collectFragment(msg *wire.Message, f *wire.EncryptedFragment) ([]wire.Payload, bool, error) {
	if sa.in == nil {
		return nil, false, errors.New("fragment before keys")
	}
	if !sa.fragmentationSupport {
		sa.m.Stats.FragmentsDropped++
		return nil, false, errors.New("fragment, but fragmentation was not negotiated")
	}
	if f.Total == 0 || f.Total > maxFragments || f.Number == 0 || f.Number > f.Total {
		sa.m.Stats.FragmentsDropped++
		return nil, false, fmt.Errorf("fragment %d of %d out of range (at most %d fragments)", f.Number, f.Total, maxFragments)
	}
	b := sa.frags
	if b != nil && b.id == msg.MessageID && b.response == msg.IsResponse() {
		if f.Total < b.total || (f.Total == b.total && b.parts[f.Number-1] != nil) {
			// A duplicate, or left over from an earlier, finer
			// fragmentation: RFC 7383 2.6 says to ignore it. Checked
			// before decrypting, so repeats cost no crypto.
			sa.m.Stats.FragmentsDropped++
			return nil, false, nil
		}
	}
	ad, body, err := msg.EncryptedParts()
	if err != nil {
		return nil, false, err
	}
	plain, err := sa.in.Open(nil, ad, body)
	if err != nil {
		return nil, false, err
	}
	sa.m.Stats.FragmentsReceived++
	if f.Number == 1 && !msg.IsResponse() {
		sa.requestDigest = sha256.Sum256(msg.Raw()) // what a retransmission must repeat
	}
	if b == nil || b.id != msg.MessageID || b.response != msg.IsResponse() || f.Total > b.total {
		// A new message, or the sender fragmented this one again in more
		// pieces (smaller MTU): start over (RFC 7383 2.6).
		b = &fragments{id: msg.MessageID, response: msg.IsResponse(), total: f.Total, parts: make([][]byte, f.Total)}
		sa.frags = b
	}
	if b.size+len(plain) > maxReassembled {
		sa.frags = nil
		sa.m.Stats.FragmentsDropped++
		return nil, false, fmt.Errorf("fragmented message larger than %d octets", maxReassembled)
	}
	if f.Number == 1 {
		b.first = f.FirstPayload
	}
	b.parts[f.Number-1] = plain
	b.have++
	b.size += len(plain)
	if b.have < int(b.total) {
		return nil, false, nil
	}
	sa.frags = nil
	whole := make([]byte, 0, b.size)
	for _, p := range b.parts {
		whole = append(whole, p...)
	}
	payloads, err := wire.ParsePayloads(b.first, whole)
	if err != nil {
		return nil, false, fmt.Errorf("parse reassembled message: %w", err)
	}
	sa.m.Stats.FragmentsReassembled++
	return payloads, true, nil
}

// resendTrigger tells whether a retransmitted request should make us send
// our cached response again: always for an unfragmented request, and only
// for fragment 1 of a fragmented one, so that a request in n fragments does
// not cost n copies of the response (RFC 7383 2.6.1).
func resendTrigger(b []byte) bool {
	if len(b) < wire.HeaderLen || wire.PayloadType(b[16]) != wire.PayloadSKF {
		return true
	}
	p := b[wire.HeaderLen:]
	return len(p) >= 8 && binary.BigEndian.Uint16(p[4:6]) == 1
}

// ipOverhead is what the IP and UDP headers and the non-ESP marker add to
// an IKE message of this SA on the wire.
func (sa *IKESA) ipOverhead() int {
	n := 20 + 8
	if sa.Remote.Addr().Unmap().Is6() {
		n = 40 + 8
	}
	if sa.Local.Port() == natPort || sa.Remote.Port() == natPort {
		n += 4
	}
	return n
}

// sealMessage builds an encrypted message: one packet when it fits in the
// fragment size or may not be fragmented, RFC 7383 fragments otherwise.
func (sa *IKESA) sealMessage(h wire.Header, payloads []wire.Payload) (pkt []byte, frags [][]byte, err error) {
	pkt, err = sa.seal(h, payloads)
	if err != nil || !sa.mayFragment() || len(pkt)+sa.ipOverhead() <= sa.m.opts.FragmentSize {
		return pkt, nil, err
	}
	size := sa.fragmentCapacity()
	if size <= 0 {
		return pkt, nil, nil
	}
	frags, err = sa.sealFragments(h, payloads, size)
	if err != nil {
		return nil, nil, err
	}
	return nil, frags, nil
}

// fragmentCapacity is how many octets of inner payloads one fragment
// carries within the fragment size.
func (sa *IKESA) fragmentCapacity() int {
	size := max(sa.m.opts.FragmentSize, minFragmentSize)
	return sa.out.PlaintextCapacity(size - sa.ipOverhead() - wire.HeaderLen - 8)
}

// sendMessage sends one packet or all fragments of a message.
func (sa *IKESA) sendMessage(pkt []byte, frags [][]byte) {
	if frags == nil {
		sa.send(pkt)
		return
	}
	for _, f := range frags {
		sa.send(f)
	}
	sa.m.Stats.FragmentsSent += uint64(len(frags))
}

// resendResponse answers a retransmitted request from the response cache:
// the same datagram again (or fragment 1 of the same fragmented request).
// Anything else that reuses the message ID is dropped unprocessed, so a
// forged or replayed datagram cannot make us send the response again.
func (sa *IKESA) resendResponse(b []byte, hdr wire.Header) {
	if !resendTrigger(b) {
		return
	}
	if sha256.Sum256(b) != sa.lastRequestDigest {
		sa.m.Stats.BadMessageID++
		sa.log.Debug("dropping a request that reuses the ID of the last one answered but is not its retransmission", "exchange", hdr.Exchange, "id", hdr.MessageID)
		return
	}
	sa.log.Debug("retransmitting cached response", "exchange", hdr.Exchange, "id", hdr.MessageID)
	sa.sendMessage(sa.lastResponse, sa.lastResponseFragments)
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
