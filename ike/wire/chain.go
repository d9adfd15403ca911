package wire

import "golang.org/x/crypto/cryptobyte"

// RawPayload is one payload of a chain as it is on the wire: its type, the generic header's flags octet, and its
// body, which aliases the input. For SK and SKF, Next is the type of the first payload inside (the chain itself
// ends with them); otherwise Next is the type of the following payload, PayloadNone for the last one.
type RawPayload struct {
	Type  PayloadType
	Next  PayloadType
	Flags uint8
	Body  []byte
}

// Chain walks a payload chain in place without allocating: the one reading of the generic payload headers that
// ParseMessage, ParsePayloads and allocation-free scanners (such as the responder's cookie check) share, so that
// they cannot disagree on which payloads a message carries. Use it as
//
//	c := wire.MessageChain(b)
//	for c.Next() {
//		p := c.Payload()
//		...
//	}
//	if err := c.Err(); err != nil { ... }
//
// The walk ends at the first structural error (a truncated header, a length below 4 or beyond the input, SK or
// SKF anywhere but last, bytes after the last payload); Err reports it, and the payloads returned until then are
// only trustworthy when Err is nil. Bodies are not checked: that is the payload parsers' job.
type Chain struct {
	s     cryptobyte.String
	next  PayloadType
	outer bool
	n     int
	cur   RawPayload
	err   error
	done  bool
}

// MessageChain walks the payload chain of a whole IKE message (header included in b). It does not check the
// header: call ParseHeader first when that matters. A b shorter than the header yields an error.
func MessageChain(b []byte) Chain {
	if len(b) < HeaderLen {
		return Chain{err: errf(ErrTruncated, "%d bytes, header needs %d", len(b), HeaderLen), done: true}
	}
	return Chain{s: b[HeaderLen:], next: PayloadType(b[16]), outer: true}
}

// PayloadChain walks an inner payload chain starting with a payload of type first, such as the plaintext of an
// SK payload; SK and SKF are not allowed in it.
func PayloadChain(first PayloadType, b []byte) Chain {
	return Chain{s: b, next: first}
}

func newChain(first PayloadType, b []byte, outer bool) Chain {
	return Chain{s: b, next: first, outer: outer}
}

// Next advances to the next payload and reports whether there is one. It returns false at the end of the chain
// and at the first error.
func (c *Chain) Next() bool {
	if c.done {
		return false
	}
	if c.next == PayloadNone {
		c.done = true
		if len(c.s) != 0 {
			c.err = errf(ErrInvalidLength, "%d bytes after the last payload", len(c.s))
		}
		return false
	}
	t := c.next
	n := c.n + 1
	fail := func(err error) bool {
		c.err, c.done = err, true
		return false
	}
	if len(c.s) == 0 {
		return fail(errf(ErrTruncated, "payload %d (%v) announced but message ends", n, t))
	}
	var nextRaw, flags uint8
	var length uint16
	if !c.s.ReadUint8(&nextRaw) || !c.s.ReadUint8(&flags) || !c.s.ReadUint16(&length) {
		return fail(errf(ErrTruncated, "payload %d (%v): %d bytes left for the 4-byte generic header", n, t, len(c.s)))
	}
	if length < 4 {
		return fail(errf(ErrInvalidLength, "payload %d (%v): length %d, need at least 4", n, t, length))
	}
	var body []byte
	if !c.s.ReadBytes(&body, int(length)-4) {
		return fail(errf(ErrTruncated, "payload %d (%v): length %d, %d bytes left", n, t, length, len(c.s)+4))
	}
	c.next = PayloadType(nextRaw)
	if t == PayloadSK || t == PayloadSKF {
		if !c.outer {
			return fail(errf(ErrInvalidSyntax, "payload %d: %v inside an encrypted payload", n, t))
		}
		if len(c.s) != 0 {
			return fail(errf(ErrInvalidSyntax, "payload %d: %v is not the last payload (%d bytes follow)", n, t, len(c.s)))
		}
		// The Next Payload field names the first payload inside; the outer chain ends here.
		c.next = PayloadNone
	}
	c.n = n
	c.cur = RawPayload{Type: t, Next: PayloadType(nextRaw), Flags: flags, Body: body}
	return true
}

// Payload returns the payload Next moved to.
func (c *Chain) Payload() RawPayload { return c.cur }

// Index returns the 1-based position of the current payload in the chain.
func (c *Chain) Index() int { return c.n }

// Err returns the structural error that ended the walk, or nil.
func (c *Chain) Err() error { return c.err }

// countPayloads walks a chain to its end and returns the number of payloads, or the structural error.
func countPayloads(c Chain) (int, error) {
	for c.Next() {
	}
	return c.n, c.err
}

// checkNonce is the rule for a Nonce payload's body (RFC 7296 3.9: 16 to 256 octets).
func checkNonce(body []byte) error {
	if len(body) < minNonce || len(body) > maxNonce {
		return errf(ErrInvalidLength, "nonce of %d bytes, must be %d to %d", len(body), minNonce, maxNonce)
	}
	return nil
}

// NotifyFields are the fields of a Notify payload's body, aliasing the input.
type NotifyFields struct {
	Protocol   ProtocolID
	NotifyType NotifyType
	SPI        []byte
	Data       []byte
}

// splitNotify is the rule for a Notify payload's body (RFC 7296 3.10).
func splitNotify(b []byte) (NotifyFields, error) {
	body := cryptobyte.String(b)
	var proto, spiSize uint8
	var nt uint16
	var f NotifyFields
	if !body.ReadUint8(&proto) || !body.ReadUint8(&spiSize) || !body.ReadUint16(&nt) {
		return f, errf(ErrTruncated, "notify body of %d bytes, need at least 4", len(b))
	}
	if !body.ReadBytes(&f.SPI, int(spiSize)) {
		return f, errf(ErrTruncated, "notify %v: SPI size %d, %d bytes left", NotifyType(nt), spiSize, len(body))
	}
	f.Protocol, f.NotifyType, f.Data = ProtocolID(proto), NotifyType(nt), body
	return f, nil
}

// Nonce returns the data of a Nonce payload, checked as ParseMessage checks it, without allocating.
func (p RawPayload) Nonce() ([]byte, error) {
	if p.Type != PayloadNonce {
		return nil, errf(ErrInvalidSyntax, "%v payload is not a nonce", p.Type)
	}
	if err := checkNonce(p.Body); err != nil {
		return nil, err
	}
	return p.Body, nil
}

// Notify returns the fields of a Notify payload, checked as ParseMessage checks them, without allocating.
func (p RawPayload) Notify() (NotifyFields, error) {
	if p.Type != PayloadN {
		return NotifyFields{}, errf(ErrInvalidSyntax, "%v payload is not a notification", p.Type)
	}
	return splitNotify(p.Body)
}

// checkEncryptedBody is the rule for the encrypted body of SK and SKF (IV, ciphertext, ICV after the SKF's
// fragment numbers): it cannot be empty. ParseMessage and AssociatedData share it, so a message that parses always
// has associated data.
func checkEncryptedBody(t PayloadType, n int) error {
	if n <= 0 {
		return errf(ErrInvalidLength, "%v payload with an encrypted body of %d bytes", t, n)
	}
	return nil
}
