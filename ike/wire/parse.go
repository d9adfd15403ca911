package wire

import (
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// parseBody parses the body of a payload of type t. flags is the generic header's second octet.
func parseBody(t PayloadType, flags uint8, body cryptobyte.String) (Payload, error) {
	n := len(body)
	switch t {
	case PayloadSA:
		return parseSA(body)
	case PayloadKE:
		var method uint16
		if !body.ReadUint16(&method) || !body.Skip(2) {
			return nil, errf(ErrTruncated, "KE payload body of %d bytes, need at least 4", n)
		}
		return &KE{Method: KEMethod(method), Data: body}, nil
	case PayloadIDi, PayloadIDr:
		var idType uint8
		if !body.ReadUint8(&idType) || !body.Skip(3) {
			return nil, errf(ErrTruncated, "ID payload body of %d bytes, need at least 4", n)
		}
		return &ID{Responder: t == PayloadIDr, IDType: IDType(idType), Data: body}, nil
	case PayloadCERT, PayloadCERTREQ:
		var enc uint8
		if !body.ReadUint8(&enc) {
			return nil, errf(ErrTruncated, "empty %v payload", t)
		}
		if t == PayloadCERT {
			return &Certificate{Encoding: CertEncoding(enc), Data: body}, nil
		}
		return &CertificateRequest{Encoding: CertEncoding(enc), Data: body}, nil
	case PayloadAUTH:
		var method uint8
		if !body.ReadUint8(&method) || !body.Skip(3) {
			return nil, errf(ErrTruncated, "AUTH payload body of %d bytes, need at least 4", n)
		}
		return &Auth{Method: AuthMethod(method), Data: body}, nil
	case PayloadNonce:
		if err := checkNonce(body); err != nil {
			return nil, err
		}
		return &Nonce{Data: body}, nil
	case PayloadN:
		nf, err := splitNotify(body)
		if err != nil {
			return nil, err
		}
		return &Notify{Protocol: nf.Protocol, SPI: nf.SPI, NotifyType: nf.NotifyType, Data: nf.Data}, nil
	case PayloadD:
		var proto, spiSize uint8
		var count uint16
		if !body.ReadUint8(&proto) || !body.ReadUint8(&spiSize) || !body.ReadUint16(&count) {
			return nil, errf(ErrTruncated, "delete body of %d bytes, need at least 4", n)
		}
		// RFC 7296 3.11: an SPI size of zero means the IKE SA, which has no SPIs to list. Refusing a count
		// with it keeps every SPI backed by octets of the message, so that the slice below is bounded by the
		// input (count 65535 of zero-octet SPIs was 1.5 MB from an 8-byte payload).
		if spiSize == 0 && count != 0 {
			return nil, errf(ErrInvalidSyntax, "delete payload: %d SPIs of size 0", count)
		}
		// The SPI size MUST be zero for IKE and four for AH and ESP; other sizes would only let a short SPI
		// cost a whole slice header each.
		if want := deleteSPISize(ProtocolID(proto)); int(spiSize) != want {
			return nil, errf(ErrInvalidSyntax, "delete payload: %v SPI size %d, must be %d", ProtocolID(proto), spiSize, want)
		}
		if len(body) != int(count)*int(spiSize) {
			return nil, errf(ErrInvalidLength, "delete payload: %d SPIs of %d bytes in %d bytes", count, spiSize, len(body))
		}
		d := &Delete{Protocol: ProtocolID(proto), SPISize: spiSize}
		if count > 0 {
			d.SPIs = make([][]byte, count)
			for i := range d.SPIs {
				body.ReadBytes(&d.SPIs[i], int(spiSize))
			}
		}
		return d, nil
	case PayloadV:
		return &VendorID{Data: body}, nil
	case PayloadTSi, PayloadTSr:
		return parseTS(t == PayloadTSr, body)
	case PayloadSK:
		if err := checkEncryptedBody(t, len(body)); err != nil {
			return nil, err
		}
		return &Encrypted{Body: body}, nil
	case PayloadSKF:
		var num, total uint16
		if !body.ReadUint16(&num) || !body.ReadUint16(&total) {
			return nil, errf(ErrTruncated, "SKF body of %d bytes, need at least 4", n)
		}
		if err := checkFragment(num, total); err != nil {
			return nil, err
		}
		if err := checkEncryptedBody(t, len(body)); err != nil {
			return nil, err
		}
		return &EncryptedFragment{Number: num, Total: total, Body: body}, nil
	case PayloadCP:
		return parseCP(body)
	case PayloadEAP:
		var code, id uint8
		var l uint16
		if !body.ReadUint8(&code) || !body.ReadUint8(&id) || !body.ReadUint16(&l) {
			return nil, errf(ErrTruncated, "EAP payload body of %d bytes, need at least 4", n)
		}
		if int(l) != len(body)+4 {
			return nil, errf(ErrInvalidLength, "EAP length field %d, payload carries %d bytes", l, len(body)+4)
		}
		e := &EAP{Code: code, Identifier: id}
		if e.HasType() && !body.ReadUint8(&e.EAPType) {
			return nil, errf(ErrTruncated, "EAP code %d without a type", code)
		}
		e.Data = body
		return e, nil
	}
	return &Unknown{Kind: t, Critical: flags&0x80 != 0, Body: body}, nil
}

func parseSA(body cryptobyte.String) (*SA, error) {
	sa := &SA{}
	for more := true; more; {
		n := len(sa.Proposals) + 1
		if len(body) == 0 {
			return nil, errf(ErrTruncated, "proposal %d announced but SA payload ends", n)
		}
		var last uint8
		var length uint16
		if !body.ReadUint8(&last) || !body.Skip(1) || !body.ReadUint16(&length) {
			return nil, errf(ErrTruncated, "proposal %d header", n)
		}
		if last != 0 && last != 2 {
			return nil, errf(ErrInvalidSyntax, "proposal %d: last-substructure field %d, want 0 or 2", n, last)
		}
		more = last == 2
		if length < 8 {
			return nil, errf(ErrInvalidLength, "proposal %d: length %d, need at least 8", n, length)
		}
		var ps cryptobyte.String
		if !body.ReadBytes((*[]byte)(&ps), int(length)-4) {
			return nil, errf(ErrTruncated, "proposal %d: length %d, %d bytes left", n, length, len(body)+4)
		}
		var pr Proposal
		var proto, spiSize, numT uint8
		ps.ReadUint8(&pr.Number)
		ps.ReadUint8(&proto)
		ps.ReadUint8(&spiSize)
		ps.ReadUint8(&numT)
		pr.Protocol = ProtocolID(proto)
		if !ps.ReadBytes(&pr.SPI, int(spiSize)) {
			return nil, errf(ErrTruncated, "proposal %d: SPI size %d, %d bytes left", n, spiSize, len(ps))
		}
		if numT > 0 {
			// Each transform takes at least 8 octets: the slice is bounded by the input.
			pr.Transforms = make([]Transform, 0, min(int(numT), len(ps)/8))
		}
		for tmore := len(ps) > 0 || numT > 0; tmore; {
			m := len(pr.Transforms) + 1
			var tlast uint8
			var tlen uint16
			if !ps.ReadUint8(&tlast) || !ps.Skip(1) || !ps.ReadUint16(&tlen) {
				return nil, errf(ErrTruncated, "proposal %d: transform %d header", n, m)
			}
			if tlast != 0 && tlast != 3 {
				return nil, errf(ErrInvalidSyntax, "proposal %d: transform %d: last-substructure field %d, want 0 or 3", n, m, tlast)
			}
			tmore = tlast == 3
			if tlen < 8 {
				return nil, errf(ErrInvalidLength, "proposal %d: transform %d: length %d, need at least 8", n, m, tlen)
			}
			var ts cryptobyte.String
			if !ps.ReadBytes((*[]byte)(&ts), int(tlen)-4) {
				return nil, errf(ErrTruncated, "proposal %d: transform %d: length %d, %d bytes left", n, m, tlen, len(ps)+4)
			}
			var t Transform
			var tt uint8
			ts.ReadUint8(&tt)
			ts.Skip(1)
			ts.ReadUint16(&t.ID)
			t.Type = TransformType(tt)
			if len(ts) > 0 {
				// At most one attribute per 4 octets: allocated once, bounded by the input.
				t.Attributes = make([]TransformAttribute, 0, len(ts)/4)
			}
			for len(ts) > 0 {
				var at uint16
				if !ts.ReadUint16(&at) {
					return nil, errf(ErrTruncated, "proposal %d: transform %d: attribute header", n, m)
				}
				a := TransformAttribute{Type: at & 0x7fff, TV: at&0x8000 != 0}
				if a.TV {
					if !ts.ReadUint16(&a.Value) {
						return nil, errf(ErrTruncated, "proposal %d: transform %d: attribute %d value", n, m, a.Type)
					}
				} else {
					var v cryptobyte.String
					if !ts.ReadUint16LengthPrefixed(&v) {
						return nil, errf(ErrTruncated, "proposal %d: transform %d: attribute %d value", n, m, a.Type)
					}
					a.Data = v
				}
				t.Attributes = append(t.Attributes, a)
			}
			pr.Transforms = append(pr.Transforms, t)
		}
		if len(ps) != 0 {
			return nil, errf(ErrInvalidLength, "proposal %d: %d bytes after the last transform", n, len(ps))
		}
		if len(pr.Transforms) != int(numT) {
			return nil, errf(ErrInvalidSyntax, "proposal %d announces %d transforms, carries %d", n, numT, len(pr.Transforms))
		}
		if len(pr.Transforms) == 0 {
			return nil, errf(ErrInvalidSyntax, "proposal %d has no transforms", n)
		}
		sa.Proposals = append(sa.Proposals, pr)
	}
	if len(body) != 0 {
		return nil, errf(ErrInvalidLength, "%d bytes after the last proposal", len(body))
	}
	return sa, nil
}

func parseTS(responder bool, body cryptobyte.String) (*TrafficSelectors, error) {
	var n uint8
	if !body.ReadUint8(&n) || !body.Skip(3) {
		return nil, errf(ErrTruncated, "TS payload body of %d bytes, need at least 4", len(body))
	}
	if n == 0 {
		return nil, errf(ErrInvalidSyntax, "TS payload with no traffic selectors")
	}
	p := &TrafficSelectors{Responder: responder, Selectors: make([]TrafficSelector, 0, min(int(n), len(body)/4))}
	for i := 1; i <= int(n); i++ {
		var typ, proto uint8
		var l uint16
		if !body.ReadUint8(&typ) || !body.ReadUint8(&proto) || !body.ReadUint16(&l) {
			return nil, errf(ErrTruncated, "traffic selector %d of %d header", i, n)
		}
		if l < 4 {
			return nil, errf(ErrInvalidLength, "traffic selector %d: length %d, need at least 4", i, l)
		}
		var s cryptobyte.String
		if !body.ReadBytes((*[]byte)(&s), int(l)-4) {
			return nil, errf(ErrTruncated, "traffic selector %d: length %d, %d bytes left", i, l, len(body)+4)
		}
		ts := TrafficSelector{Type: TSType(typ), IPProtocol: proto}
		switch ts.Type {
		case TS_IPV4_ADDR_RANGE, TS_IPV6_ADDR_RANGE:
			alen := 4
			if ts.Type == TS_IPV6_ADDR_RANGE {
				alen = 16
			}
			if int(l) != 8+2*alen {
				return nil, errf(ErrInvalidLength, "traffic selector %d: %v of length %d, want %d", i, ts.Type, l, 8+2*alen)
			}
			s.ReadUint16(&ts.StartPort)
			s.ReadUint16(&ts.EndPort)
			ts.StartAddr, _ = netip.AddrFromSlice(s[:alen])
			ts.EndAddr, _ = netip.AddrFromSlice(s[alen:])
		default:
			ts.Raw = s
		}
		p.Selectors = append(p.Selectors, ts)
	}
	if len(body) != 0 {
		return nil, errf(ErrInvalidLength, "%d bytes after the last traffic selector", len(body))
	}
	return p, nil
}

func parseCP(body cryptobyte.String) (*Configuration, error) {
	var typ uint8
	if !body.ReadUint8(&typ) || !body.Skip(3) {
		return nil, errf(ErrTruncated, "CP payload body of %d bytes, need at least 4", len(body))
	}
	p := &Configuration{CFGType: CFGType(typ)}
	if len(body) > 0 {
		// At most one attribute per 4 octets: allocated once, bounded by the input.
		p.Attributes = make([]ConfigAttribute, 0, len(body)/4)
	}
	for len(body) > 0 {
		var at uint16
		var v cryptobyte.String
		if !body.ReadUint16(&at) || !body.ReadUint16LengthPrefixed(&v) {
			return nil, errf(ErrTruncated, "configuration attribute %d", len(p.Attributes)+1)
		}
		p.Attributes = append(p.Attributes, ConfigAttribute{Type: CFGAttrType(at & 0x7fff), Value: v})
	}
	return p, nil
}

// parseChain parses a chain of payloads starting with type first. With outer set it accepts a final SK or SKF
// payload, whose Next Payload field names the first payload inside it. The chain is walked twice with Chain: once
// to check its structure and count the payloads, so that the slice is allocated once at its exact size, and once
// to parse the bodies.
func parseChain(first PayloadType, s []byte, outer bool) ([]Payload, error) {
	n, err := countPayloads(newChain(first, s, outer))
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]Payload, 0, n)
	c := newChain(first, s, outer)
	for c.Next() {
		raw := c.Payload()
		p, err := parseBody(raw.Type, raw.Flags, raw.Body)
		if err != nil {
			return nil, fmt.Errorf("parse %v payload: %w", raw.Type, err)
		}
		switch q := p.(type) {
		case *Encrypted:
			q.FirstPayload = raw.Next
		case *EncryptedFragment:
			q.FirstPayload = raw.Next
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePayloads parses a payload chain that starts with a payload of type first, such as the plaintext of an SK
// payload after decryption (with first = Encrypted.FirstPayload). Padding and the pad length octet must already
// be removed. The chain must end exactly at the end of b; SK and SKF are not allowed in it.
//
// The payloads alias b.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	return parseChain(first, b, false)
}

// MarshalPayloads marshals a payload chain, setting every Next Payload and length field, and returns it with the
// type of its first payload: the plaintext of an SK payload (before padding) and its FirstPayload.
func MarshalPayloads(payloads []Payload) (first PayloadType, b []byte, err error) {
	for _, p := range payloads {
		if t := p.Type(); t == PayloadSK || t == PayloadSKF {
			return 0, nil, errf(ErrInvalidSyntax, "%v inside an encrypted payload", t)
		}
	}
	bld := cryptobyte.NewBuilder(nil)
	first = marshalChain(bld, payloads)
	b, err = bld.Bytes()
	if err != nil {
		return 0, nil, fmt.Errorf("marshal payloads: %w", err)
	}
	return first, b, nil
}

// marshalChain appends payloads and returns the type of the first one (PayloadNone if there are none).
func marshalChain(b *cryptobyte.Builder, payloads []Payload) PayloadType {
	for i, p := range payloads {
		next := PayloadNone
		switch q := p.(type) {
		case *Encrypted:
			next = q.FirstPayload
		case *EncryptedFragment:
			next = q.FirstPayload
		}
		if i+1 < len(payloads) {
			if t := p.Type(); t == PayloadSK || t == PayloadSKF {
				b.SetError(errf(ErrInvalidSyntax, "%v must be the last payload", p.Type()))
				return PayloadNone
			}
			next = payloads[i+1].Type()
		}
		b.AddUint8(uint8(next))
		flags := uint8(0)
		if u, ok := p.(*Unknown); ok && u.Critical {
			flags = 0x80
		}
		b.AddUint8(flags)
		addIKELength(b, 4, payloadName(p.Type()), p.marshalBody)
	}
	if len(payloads) == 0 {
		return PayloadNone
	}
	return payloads[0].Type()
}

// deleteSPISize is the SPI size a Delete payload must have for a protocol: zero for IKE, four for AH and ESP
// (RFC 7296 3.11) and for the Fibre Channel protocols of RFC 4595, the only others registered.
func deleteSPISize(p ProtocolID) int {
	if p == ProtocolIKE {
		return 0
	}
	return 4
}
