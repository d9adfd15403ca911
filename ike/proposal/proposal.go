// Package proposal reads and writes strongSwan's proposal syntax (swanctl.conf `proposals`, `esp_proposals`,
// `ah_proposals`), converts proposals to and from the SA payload's wire form, and selects a proposal as an IKEv2
// responder (RFC 7296 2.7, 3.3.6).
//
// The syntax is strongSwan's: algorithm keywords joined by '-', e.g. "aes128gcm16-prfsha256-x25519", several
// proposals separated by ',', and the keyword "default". The rules follow strongSwan's: an IKE proposal without a
// PRF takes the PRFs matching its integrity algorithms; integrity algorithms are dropped from proposals whose
// ciphers are all AEADs; AEAD and classic ciphers cannot share a proposal; ESP and AH proposals without an ESN
// keyword get "noesn"; PRFs in ESP and AH proposals are ignored; "keN_" prefixes name additional key exchanges
// (RFC 9370). Where cygnet is stricter: only the algorithms it implements are accepted, weak ones only with
// Options.AllowWeak, and an ESP proposal with a classic cipher needs an integrity algorithm.
package proposal

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Errors, wrapped with the offending proposal and keyword.
var (
	// ErrSyntax: the string is not a valid proposal (unknown keyword, missing mandatory algorithm, bad mix).
	ErrSyntax = errors.New("invalid proposal")
	// ErrWeak: the proposal names an algorithm refused unless Options.AllowWeak is set.
	ErrWeak = errors.New("weak algorithm")
	// ErrUnsupported: the keyword is valid strongSwan syntax but cygnet does not implement the algorithm.
	ErrUnsupported = errors.New("algorithm not supported by cygnet")
	// ErrNoProposalChosen: selection found no acceptable proposal; its text is the notification's name.
	ErrNoProposalChosen = errors.New("NO_PROPOSAL_CHOSEN")
)

// Options changes what the parser accepts.
type Options struct {
	// AllowWeak accepts legacy algorithms: 3DES, DES, MD5, SHA-1 (PRF and integrity), MODP-768/1024/1536.
	AllowWeak bool
}

// Transform is one algorithm of a proposal. ID is interpreted according to Type, as in wire.Transform.
type Transform struct {
	Type      wire.TransformType
	ID        uint16
	KeyLength uint16 // bits; 0 when the algorithm has no Key Length attribute

	unusable bool // received with attributes this package does not understand (RFC 7296 3.3.6)
}

// Proposal is one proposal: transforms grouped by type (ENCR, INTEG, PRF, KE, ADDKE1..7, ESN), each type's
// algorithms in order of preference.
type Proposal struct {
	Protocol   wire.ProtocolID
	Number     uint8  // proposal number on the wire; for a selected proposal, the peer's
	SPI        []byte // on the wire; for a selected proposal, the peer's
	Transforms []Transform
}

// typeOrder is the order of transform types in proposals this package writes and formats.
var typeOrder = []wire.TransformType{
	wire.TransformENCR, wire.TransformINTEG, wire.TransformPRF, wire.TransformKE,
	wire.TransformADDKE1, wire.TransformADDKE2, wire.TransformADDKE3, wire.TransformADDKE4,
	wire.TransformADDKE5, wire.TransformADDKE6, wire.TransformADDKE7, wire.TransformESN,
}

func typeRank(t wire.TransformType) int {
	if i := slices.Index(typeOrder, t); i >= 0 {
		return i
	}
	return len(typeOrder) + int(t)
}

// Of returns the proposal's algorithms of type t, in order.
func (p *Proposal) Of(t wire.TransformType) []Transform {
	var out []Transform
	for _, tr := range p.Transforms {
		if tr.Type == t {
			out = append(out, tr)
		}
	}
	return out
}

func (p *Proposal) has(t Transform) bool {
	for _, x := range p.Transforms {
		if x.Type == t.Type && x.ID == t.ID && x.KeyLength == t.KeyLength {
			return true
		}
	}
	return false
}

// KEMethod returns the key exchange method of a selected proposal (its first KE transform other than NONE): the
// group the peer's KE payload must use. If the KE payload carries another group, the responder answers
// INVALID_KE_PAYLOAD with this one (RFC 7296 1.2, 3.10.1).
func (p *Proposal) KEMethod() (wire.KEMethod, bool) {
	for _, t := range p.Transforms {
		if t.Type == wire.TransformKE && t.ID != uint16(wire.KE_NONE) {
			return wire.KEMethod(t.ID), true
		}
	}
	return wire.KE_NONE, false
}

// AdditionalKEs returns the additional key exchanges of a selected proposal (RFC 9370), in order ADDKE1..7;
// entries are KE_NONE where that round is skipped.
func (p *Proposal) AdditionalKEs() []wire.KEMethod {
	var out []wire.KEMethod
	for t := wire.TransformADDKE1; t <= wire.TransformADDKE7; t++ {
		if a := p.Of(t); len(a) > 0 {
			for len(out) < int(t-wire.TransformADDKE1) {
				out = append(out, wire.KE_NONE)
			}
			out = append(out, wire.KEMethod(a[0].ID))
		}
	}
	return out
}

// combined reports whether an encryption algorithm needs no INTEG transform: AEADs and AES-GMAC.
func combined(id uint16) bool {
	e := wire.EncrID(id)
	return e.IsAEAD() || e == wire.ENCR_NULL_AUTH_AES_GMAC
}

// ParseList parses a comma-separated list of proposals for protocol proto (IKE, ESP or AH), as written in
// swanctl.conf. The keyword "default" expands to Default(proto).
func ParseList(proto wire.ProtocolID, s string, opts Options) ([]Proposal, error) {
	var out []Proposal
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if strings.EqualFold(part, "default") {
			out = append(out, Default(proto)...)
			continue
		}
		p, err := Parse(proto, part, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	for i := range out {
		out[i].Number = uint8(min(i+1, 255))
	}
	return out, nil
}

// Parse parses one proposal, e.g. "aes256gcm16-prfsha384-ecp384" (IKE) or "aes128gcm16-x25519-esn" (ESP).
func Parse(proto wire.ProtocolID, s string, opts Options) (Proposal, error) {
	p, err := parse(proto, s, opts)
	if err != nil {
		return Proposal{}, fmt.Errorf("%v proposal %q: %w", proto, s, err)
	}
	return p, nil
}

func parse(proto wire.ProtocolID, s string, opts Options) (Proposal, error) {
	if proto != wire.ProtocolIKE && proto != wire.ProtocolESP && proto != wire.ProtocolAH {
		return Proposal{}, fmt.Errorf("protocol %v has no proposals: %w", proto, ErrSyntax)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return Proposal{}, fmt.Errorf("empty proposal: %w", ErrSyntax)
	}
	if strings.EqualFold(s, "default") {
		return Proposal{}, fmt.Errorf(`"default" stands for several proposals; use ParseList: %w`, ErrSyntax)
	}
	p := Proposal{Protocol: proto}
	add := func(t Transform) {
		if !p.has(t) {
			p.Transforms = append(p.Transforms, t)
		}
	}
	for tok := range strings.SplitSeq(s, "-") {
		tok = strings.ToLower(strings.TrimSpace(tok))
		if tok == "" {
			return Proposal{}, fmt.Errorf("empty algorithm between '-': %w", ErrSyntax)
		}
		typ := wire.TransformType(0)
		name := tok
		if len(tok) > 4 && strings.HasPrefix(tok, "ke") && tok[3] == '_' && tok[2] >= '1' && tok[2] <= '7' {
			typ = wire.TransformADDKE1 + wire.TransformType(tok[2]-'1')
			name = tok[4:]
		}
		k, ok := byName[name]
		if !ok {
			return Proposal{}, fmt.Errorf("unknown algorithm %q: %w", tok, ErrSyntax)
		}
		if typ != 0 && k.typ != wire.TransformKE {
			return Proposal{}, fmt.Errorf("%q: only key exchange methods take a ke%c_ prefix: %w", tok, tok[2], ErrSyntax)
		}
		switch k.level {
		case unsupported:
			return Proposal{}, fmt.Errorf("%s (%s): %w", tok, describe(k.typ, k.id, k.keyLen), ErrUnsupported)
		case weak:
			if !opts.AllowWeak {
				return Proposal{}, fmt.Errorf("%s (%s) is refused unless the AllowWeak (legacy algorithms) option is set: %w",
					tok, describe(k.typ, k.id, k.keyLen), ErrWeak)
			}
		}
		if typ == 0 {
			typ = k.typ
		}
		add(Transform{Type: typ, ID: k.id, KeyLength: k.keyLen})
	}
	if err := p.check(); err != nil {
		return Proposal{}, err
	}
	slices.SortStableFunc(p.Transforms, func(a, b Transform) int { return typeRank(a.Type) - typeRank(b.Type) })
	return p, nil
}

// check applies strongSwan's completion rules and cygnet's restrictions to a freshly parsed proposal.
func (p *Proposal) check() error {
	encr := p.Of(wire.TransformENCR)
	anyCombined, allCombined := false, len(encr) > 0
	for _, e := range encr {
		if combined(e.ID) {
			anyCombined = true
		} else {
			allCombined = false
		}
	}
	remove := func(t wire.TransformType) {
		p.Transforms = slices.DeleteFunc(p.Transforms, func(x Transform) bool { return x.Type == t })
	}
	switch p.Protocol {
	case wire.ProtocolIKE:
		for _, e := range encr {
			if e.ID == uint16(wire.ENCR_NULL) || e.ID == uint16(wire.ENCR_NULL_AUTH_AES_GMAC) {
				return fmt.Errorf("%s provides no confidentiality and is not allowed for IKE: %w", format1(wire.ProtocolIKE, e), ErrSyntax)
			}
		}
		if len(p.Of(wire.TransformESN)) > 0 {
			return fmt.Errorf("ESN keywords belong to ESP and AH proposals: %w", ErrSyntax)
		}
		if len(p.Of(wire.TransformPRF)) == 0 {
			for _, i := range p.Of(wire.TransformINTEG) {
				if prf, ok := integPRF[i.ID]; ok {
					t := Transform{Type: wire.TransformPRF, ID: uint16(prf)}
					if !p.has(t) {
						p.Transforms = append(p.Transforms, t)
					}
				}
			}
		}
		if len(p.Of(wire.TransformPRF)) == 0 {
			return fmt.Errorf("a PRF is mandatory in IKE proposals (e.g. prfsha256): %w", ErrSyntax)
		}
		p.Transforms = slices.DeleteFunc(p.Transforms, func(x Transform) bool {
			return x.Type == wire.TransformKE && x.ID == uint16(wire.KE_NONE)
		})
		if len(p.Of(wire.TransformKE)) == 0 {
			return fmt.Errorf("a key exchange method is mandatory in IKE proposals (e.g. x25519): %w", ErrSyntax)
		}
	case wire.ProtocolESP:
		remove(wire.TransformPRF)
	case wire.ProtocolAH:
		remove(wire.TransformPRF)
		for i, t := range p.Transforms {
			if t.Type != wire.TransformENCR {
				continue
			}
			if t.ID != uint16(wire.ENCR_NULL_AUTH_AES_GMAC) {
				return fmt.Errorf("%s: AH proposals carry no encryption algorithm: %w", format1(wire.ProtocolESP, t), ErrSyntax)
			}
			p.Transforms[i] = Transform{Type: wire.TransformINTEG, ID: uint16(gmacInteg[t.KeyLength])}
		}
		if len(p.Of(wire.TransformINTEG)) == 0 {
			return fmt.Errorf("an integrity algorithm is mandatory in AH proposals: %w", ErrSyntax)
		}
	}
	if p.Protocol == wire.ProtocolIKE || p.Protocol == wire.ProtocolESP {
		switch {
		case len(encr) == 0:
			return fmt.Errorf("an encryption algorithm is mandatory in %v proposals: %w", p.Protocol, ErrSyntax)
		case anyCombined && !allCombined:
			return fmt.Errorf("AEAD and classic encryption algorithms cannot share a proposal; write two: %w", ErrSyntax)
		case allCombined:
			remove(wire.TransformINTEG)
		case len(p.Of(wire.TransformINTEG)) == 0:
			return fmt.Errorf("an integrity algorithm is mandatory with classic (non-AEAD) encryption: %w", ErrSyntax)
		}
	}
	if p.Protocol != wire.ProtocolIKE && len(p.Of(wire.TransformESN)) == 0 {
		p.Transforms = append(p.Transforms, Transform{Type: wire.TransformESN, ID: uint16(wire.NO_ESN)})
	}
	return nil
}

// Default returns cygnet's "default" proposals for proto: an AEAD proposal first, then a classic one, with only
// algorithms that are not weak, in cygnet's order of preference. ESP and AH defaults offer PFS groups but accept a
// peer without PFS (KE method NONE).
func Default(proto wire.ProtocolID) []Proposal {
	const kes = "x25519-ecp256-ecp384-ecp521-modp3072-modp4096-modp2048"
	var s []string
	switch proto {
	case wire.ProtocolIKE:
		s = []string{
			"aes128gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-" + kes,
			// No AES-CTR here although strongSwan's default has it: the
			// IKE SK payload protector implements CBC and the AEADs only.
			"aes128-aes192-aes256-sha256-sha384-sha512-prfsha256-prfsha384-prfsha512-" + kes,
		}
	case wire.ProtocolESP:
		s = []string{
			"aes128gcm16-aes256gcm16-chacha20poly1305-" + kes + "-none-noesn",
			"aes128-aes192-aes256-aes128ctr-aes192ctr-aes256ctr-sha256-sha384-sha512-" + kes + "-none-noesn",
		}
	case wire.ProtocolAH:
		s = []string{"sha256-sha384-sha512-" + kes + "-none-noesn"}
	}
	out := make([]Proposal, len(s))
	for i, str := range s {
		p, err := parse(proto, str, Options{})
		if err != nil {
			panic("proposal: bad default " + str + ": " + err.Error()) // a bug in this table, caught by tests
		}
		p.Number = uint8(i + 1)
		out[i] = p
	}
	return out
}

// Runnable reports why cygnet's engines cannot run a proposal that Parse
// accepted, nil when they can. Parse follows strongSwan's syntax and keeps
// what selection needs to read a peer's proposals (ICV lengths of AES-GCM,
// additional key exchanges); a configured proposal must also be one that the
// IKE SK payload protector (ike/crypto) or the ESP engine (transform) can
// install, or the tunnel would fail only when it comes up.
func (p Proposal) Runnable() error {
	if err := p.weakRunnable(); err != nil {
		return err
	}
	for _, t := range p.Transforms {
		switch {
		case p.Protocol != wire.ProtocolIKE:
		case t.Type == wire.TransformINTEG && (t.ID == uint16(wire.AUTH_AES_XCBC_96) || t.ID == uint16(wire.AUTH_AES_CMAC_96)):
			return fmt.Errorf("%s: the IKE SA protector implements HMAC-SHA2 integrity only; AES-XCBC and AES-CMAC work in esp_proposals and ah_proposals: %w",
				format1(p.Protocol, t), ErrUnsupported)
		case t.Type != wire.TransformENCR:
		case t.ID == uint16(wire.ENCR_AES_CTR):
			return fmt.Errorf("%s: the IKE SA protector does not implement AES-CTR (RFC 5930); use aes*gcm16 or aes* (CBC) in proposals, AES-CTR works in esp_proposals: %w",
				format1(p.Protocol, t), ErrUnsupported)
		case t.ID == uint16(wire.ENCR_AES_GCM_8) || t.ID == uint16(wire.ENCR_AES_GCM_12) ||
			t.ID == uint16(wire.ENCR_AES_CCM_8) || t.ID == uint16(wire.ENCR_AES_CCM_12) || t.ID == uint16(wire.ENCR_AES_CCM_16) ||
			t.ID == uint16(wire.ENCR_AES_GCM_16) && t.KeyLength == 192:
			return fmt.Errorf("%s: the IKE SA protector implements AES-GCM with a 16-octet ICV and a 128- or 256-bit key only (use aes128gcm16 or aes256gcm16); this one works in esp_proposals: %w",
				format1(p.Protocol, t), ErrUnsupported)
		}
	}
	return nil
}

// String formats the proposal in canonical strongSwan syntax: canonical keywords, types in the order ENCR, INTEG,
// PRF, KE, ADDKE1..7, ESN, PRFs omitted when they are the ones implied by the integrity algorithms, "noesn" omitted
// when it is the only ESN choice. Parse of the result gives the same transforms.
func (p Proposal) String() string {
	ts := slices.Clone(p.Transforms)
	slices.SortStableFunc(ts, func(a, b Transform) int { return typeRank(a.Type) - typeRank(b.Type) })
	var integ, prfs []uint16
	var esn []Transform
	for _, t := range ts {
		switch t.Type {
		case wire.TransformINTEG:
			integ = append(integ, t.ID)
		case wire.TransformPRF:
			prfs = append(prfs, t.ID)
		case wire.TransformESN:
			esn = append(esn, t)
		}
	}
	impliedPRF := false
	if p.Protocol == wire.ProtocolIKE && len(integ) > 0 {
		var implied []uint16
		for _, i := range integ {
			if prf, ok := integPRF[i]; ok && !slices.Contains(implied, uint16(prf)) {
				implied = append(implied, uint16(prf))
			}
		}
		impliedPRF = slices.Equal(implied, prfs)
	}
	var parts []string
	for _, t := range ts {
		switch {
		case t.Type == wire.TransformPRF && impliedPRF:
			continue
		case t.Type == wire.TransformESN && p.Protocol != wire.ProtocolIKE && len(esn) == 1 && t.ID == uint16(wire.NO_ESN):
			continue
		}
		parts = append(parts, format1(p.Protocol, t))
	}
	return strings.Join(parts, "-")
}

// format1 is the keyword for one transform, or a descriptive name for algorithms without one.
func format1(proto wire.ProtocolID, t Transform) string {
	prefix := ""
	typ := t.Type
	if typ >= wire.TransformADDKE1 && typ <= wire.TransformADDKE7 {
		prefix = "ke" + strconv.Itoa(int(typ-wire.TransformADDKE1)+1) + "_"
		typ = wire.TransformKE
	}
	if typ == wire.TransformINTEG {
		for ks, id := range gmacInteg {
			if uint16(id) == t.ID {
				return "aes" + strconv.Itoa(int(ks)) + "gmac"
			}
		}
	}
	s := prefix
	if k, ok := byAlgorithm[algKey{typ, t.ID, t.KeyLength}]; ok {
		s += k.name
	} else {
		s += describe(typ, t.ID, t.KeyLength)
	}
	if t.unusable {
		s += "(unknown attributes)"
	}
	return s
}

// describe names an algorithm with its IANA name, e.g. "ENCR_AES_CBC_128".
func describe(typ wire.TransformType, id, keyLen uint16) string {
	var s string
	switch typ {
	case wire.TransformENCR:
		s = wire.EncrID(id).String()
	case wire.TransformINTEG:
		s = wire.IntegID(id).String()
	case wire.TransformPRF:
		s = wire.PRFID(id).String()
	case wire.TransformKE:
		s = wire.KEMethod(id).String()
	case wire.TransformESN:
		s = wire.ESNID(id).String()
	default:
		s = typ.String() + ":" + strconv.Itoa(int(id))
	}
	if keyLen != 0 {
		s += "_" + strconv.Itoa(int(keyLen))
	}
	return s
}

// Format formats proposals in canonical syntax, separated by ", " as in swanctl.conf.
func Format(ps []Proposal) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// Wire returns the SA payload proposal for p, with p.Number and the given SPI (empty in IKE_SA_INIT, the sender's
// own inbound SPI otherwise, also when answering with a selected proposal).
func (p Proposal) Wire(spi []byte) wire.Proposal {
	wp := wire.Proposal{Number: p.Number, Protocol: p.Protocol, SPI: spi, Transforms: make([]wire.Transform, len(p.Transforms))}
	for i, t := range p.Transforms {
		wp.Transforms[i] = wire.Transform{Type: t.Type, ID: t.ID}
		if t.KeyLength != 0 {
			wp.Transforms[i].Attributes = []wire.TransformAttribute{wire.KeyLengthAttribute(t.KeyLength)}
		}
	}
	return wp
}

// ToWire returns an SA payload offering ps, numbered from 1, each with the given SPI.
func ToWire(ps []Proposal, spi []byte) *wire.SA {
	sa := &wire.SA{Proposals: make([]wire.Proposal, len(ps))}
	for i, p := range ps {
		p.Number = uint8(i + 1)
		sa.Proposals[i] = p.Wire(spi)
	}
	return sa
}

// FromWire converts a received proposal. Every algorithm is kept, known or not; transforms with attributes other
// than one Key Length are kept for logs but never selected (RFC 7296 3.3.6).
func FromWire(wp wire.Proposal) Proposal {
	p := Proposal{Protocol: wp.Protocol, Number: wp.Number, SPI: wp.SPI, Transforms: make([]Transform, 0, len(wp.Transforms))}
	for _, wt := range wp.Transforms {
		t := Transform{Type: wt.Type, ID: wt.ID}
		for i, a := range wt.Attributes {
			if i == 0 && a.Type == wire.AttributeKeyLength && a.TV {
				t.KeyLength = a.Value
			} else {
				t.unusable = true
			}
		}
		p.Transforms = append(p.Transforms, t)
	}
	slices.SortStableFunc(p.Transforms, func(a, b Transform) int { return typeRank(a.Type) - typeRank(b.Type) })
	return p
}

// FromSA converts every proposal of a received SA payload.
func FromSA(sa *wire.SA) []Proposal {
	out := make([]Proposal, len(sa.Proposals))
	for i, wp := range sa.Proposals {
		out[i] = FromWire(wp)
	}
	return out
}
