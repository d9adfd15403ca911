package wire

import (
	"fmt"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// Payload is one IKEv2 payload. The set of implementations is closed: the types of this package.
//
// Byte slices in a parsed payload alias the buffer given to the parser.
type Payload interface {
	// Type is the payload type written into the preceding Next Payload field.
	Type() PayloadType
	// marshalBody appends the payload body (everything after the 4-byte generic header).
	marshalBody(b *cryptobyte.Builder)
}

// SA is the Security Association payload (RFC 7296 3.3): proposals in the sender's order of preference.
type SA struct {
	Proposals []Proposal
}

// Proposal is a Proposal substructure of an SA payload (RFC 7296 3.3.1).
type Proposal struct {
	Number     uint8 // 1 for the first proposal, then consecutive; a responder echoes the chosen one's number
	Protocol   ProtocolID
	SPI        []byte // empty for IKE_SA_INIT, 8 bytes for IKE rekeys, 4 bytes for ESP and AH
	Transforms []Transform
}

// Transform is a Transform substructure (RFC 7296 3.3.2). ID is interpreted according to Type (EncrID, PRFID,
// IntegID, KEMethod, ESNID).
type Transform struct {
	Type       TransformType
	ID         uint16
	Attributes []TransformAttribute
}

// TransformAttribute is a transform attribute (RFC 7296 3.3.5). TV attributes carry a 16-bit Value and no Data;
// TLV attributes carry Data.
type TransformAttribute struct {
	Type  uint16 // without the AF bit
	TV    bool
	Value uint16
	Data  []byte
}

// KeyLengthAttribute returns the Key Length attribute (type 14, TV) for bits.
func KeyLengthAttribute(bits uint16) TransformAttribute {
	return TransformAttribute{Type: AttributeKeyLength, TV: true, Value: bits}
}

// KeyLength returns the transform's Key Length attribute, if present.
func (t Transform) KeyLength() (bits uint16, ok bool) {
	for _, a := range t.Attributes {
		if a.Type == AttributeKeyLength && a.TV {
			return a.Value, true
		}
	}
	return 0, false
}

// KE is the Key Exchange payload (RFC 7296 3.4).
type KE struct {
	Method KEMethod
	Data   []byte
}

// ID is an Identification payload, IDi or IDr (RFC 7296 3.5).
type ID struct {
	Responder bool // IDr rather than IDi
	IDType    IDType
	Data      []byte
}

// Body returns the payload body, the "RestOfIDPayload" that AUTH covers (RFC 7296 2.15): ID type, three
// reserved zero octets, identification data.
func (p *ID) Body() []byte {
	b := make([]byte, 0, 4+len(p.Data))
	b = append(b, byte(p.IDType), 0, 0, 0)
	return append(b, p.Data...)
}

// Certificate is the CERT payload (RFC 7296 3.6).
type Certificate struct {
	Encoding CertEncoding
	Data     []byte
}

// CertificateRequest is the CERTREQ payload (RFC 7296 3.7); for X.509 Data is a concatenation of SHA-1 hashes of
// trusted CAs' public keys.
type CertificateRequest struct {
	Encoding CertEncoding
	Data     []byte
}

// Auth is the Authentication payload (RFC 7296 3.8).
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// Nonce is the Nonce payload, Ni or Nr (RFC 7296 3.9); Data is 16 to 256 octets.
type Nonce struct {
	Data []byte
}

// Notify is the Notify payload (RFC 7296 3.10).
type Notify struct {
	Protocol   ProtocolID // ProtocolNone unless the notification concerns a specific SA
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

// Delete is the Delete payload (RFC 7296 3.11). For IKE, SPISize is 0 and SPIs is empty.
type Delete struct {
	Protocol ProtocolID
	SPISize  uint8
	SPIs     [][]byte
}

// VendorID is the Vendor ID payload (RFC 7296 3.12).
type VendorID struct {
	Data []byte
}

// TrafficSelectors is a Traffic Selector payload, TSi or TSr (RFC 7296 3.13).
type TrafficSelectors struct {
	Responder bool // TSr rather than TSi
	Selectors []TrafficSelector
}

// TrafficSelector is one traffic selector (RFC 7296 3.13.1). For TS_IPV4_ADDR_RANGE and TS_IPV6_ADDR_RANGE the
// ports and addresses are set; other types keep their bytes after the length field in Raw, and their second octet
// in IPProtocol.
type TrafficSelector struct {
	Type               TSType
	IPProtocol         uint8 // 0 = any
	StartPort, EndPort uint16
	StartAddr, EndAddr netip.Addr
	Raw                []byte
}

// Encrypted is the Encrypted and Authenticated payload, SK (RFC 7296 3.14). Body is IV, ciphertext, padding and
// ICV as on the wire; FirstPayload is the type of the first payload inside. Decryption lives elsewhere: the
// plaintext chain is parsed with ParsePayloads(FirstPayload, plaintext).
type Encrypted struct {
	FirstPayload PayloadType
	Body         []byte
}

// EncryptedFragment is the Encrypted and Authenticated Fragment payload, SKF (RFC 7383 2.5). FirstPayload is set in
// fragment 1 only.
type EncryptedFragment struct {
	FirstPayload PayloadType
	Number       uint16 // from 1
	Total        uint16
	Body         []byte
}

// Configuration is the Configuration payload, CP (RFC 7296 3.15).
type Configuration struct {
	CFGType    CFGType
	Attributes []ConfigAttribute
}

// ConfigAttribute is one configuration attribute (RFC 7296 3.15.1); an empty Value asks for a value in a
// CFG_REQUEST.
type ConfigAttribute struct {
	Type  CFGAttrType // 15 bits
	Value []byte
}

// EAP is the EAP payload (RFC 7296 3.16) carrying one EAP message (RFC 3748). Success and Failure messages have
// no EAPType; for them Data holds whatever follows the EAP length field (normally nothing).
type EAP struct {
	Code       uint8
	Identifier uint8
	EAPType    uint8
	Data       []byte
}

// HasType reports whether an EAP message with this code carries a Type octet.
func (p *EAP) HasType() bool { return p.Code != EAPSuccess && p.Code != EAPFailure }

// Unknown is a payload of a type this codec does not know, kept with its critical bit: a receiver rejects the
// message with UNSUPPORTED_CRITICAL_PAYLOAD if Critical is set and skips the payload otherwise (RFC 7296 2.5).
type Unknown struct {
	Kind     PayloadType
	Critical bool
	Body     []byte
}

// Type implementations.

func (*SA) Type() PayloadType                 { return PayloadSA }
func (*KE) Type() PayloadType                 { return PayloadKE }
func (*Certificate) Type() PayloadType        { return PayloadCERT }
func (*CertificateRequest) Type() PayloadType { return PayloadCERTREQ }
func (*Auth) Type() PayloadType               { return PayloadAUTH }
func (*Nonce) Type() PayloadType              { return PayloadNonce }
func (*Notify) Type() PayloadType             { return PayloadN }
func (*Delete) Type() PayloadType             { return PayloadD }
func (*VendorID) Type() PayloadType           { return PayloadV }
func (*Encrypted) Type() PayloadType          { return PayloadSK }
func (*EncryptedFragment) Type() PayloadType  { return PayloadSKF }
func (*Configuration) Type() PayloadType      { return PayloadCP }
func (*EAP) Type() PayloadType                { return PayloadEAP }
func (p *Unknown) Type() PayloadType          { return p.Kind }

// Type is IDi or IDr.
func (p *ID) Type() PayloadType {
	if p.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

// Type is TSi or TSr.
func (p *TrafficSelectors) Type() PayloadType {
	if p.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

// knownPayload reports whether the codec parses payloads of type t itself.
func knownPayload(t PayloadType) bool {
	return (t >= PayloadSA && t <= PayloadEAP) || t == PayloadSKF
}

// Length limits.
const (
	minNonce = 16
	maxNonce = 256
	maxLen16 = 0xffff
)

// addIKELength writes a 16-bit length that counts hdr octets already written plus the body that f produces, then
// the body: the IKE convention, where lengths include their own header.
// what names the structure in the error for an oversized one; a
// payloadName rather than a string made per payload, as marshalling every
// message built that name for each payload whether it failed or not.
func addIKELength(b *cryptobyte.Builder, hdr int, what fmt.Stringer, f func(*cryptobyte.Builder)) {
	// room for most payloads' bodies (nonce, KE, SA, TS, AUTH): grown
	// from nil, a body was reallocated at each doubling from 8 octets
	child := cryptobyte.NewBuilder(make([]byte, 0, 64))
	f(child)
	body, err := child.Bytes()
	if err != nil {
		b.SetError(err)
		return
	}
	if hdr+len(body) > maxLen16 {
		b.SetError(errf(ErrInvalidLength, "%s of %d bytes exceeds 65535", what, hdr+len(body)))
		return
	}
	b.AddUint16(uint16(hdr + len(body)))
	b.AddBytes(body)
}

// structName is a fixed structure name for addIKELength.
type structName string

func (n structName) String() string { return string(n) }

// payloadName is a payload's name for addIKELength, made only for an error.
type payloadName PayloadType

func (t payloadName) String() string { return PayloadType(t).String() + " payload" }

// Marshalling.

func (p *SA) marshalBody(b *cryptobyte.Builder) {
	if len(p.Proposals) == 0 {
		b.SetError(errf(ErrInvalidSyntax, "SA payload has no proposals"))
		return
	}
	for i := range p.Proposals {
		pr := &p.Proposals[i]
		more := uint8(0)
		if i < len(p.Proposals)-1 {
			more = 2
		}
		if len(pr.SPI) > 255 || len(pr.Transforms) > 255 || len(pr.Transforms) == 0 {
			b.SetError(errf(ErrInvalidSyntax, "proposal %d: %d-byte SPI, %d transforms", pr.Number, len(pr.SPI), len(pr.Transforms)))
			return
		}
		b.AddUint8(more)
		b.AddUint8(0)
		addIKELength(b, 4, structName("proposal"), func(b *cryptobyte.Builder) {
			b.AddUint8(pr.Number)
			b.AddUint8(uint8(pr.Protocol))
			b.AddUint8(uint8(len(pr.SPI)))
			b.AddUint8(uint8(len(pr.Transforms)))
			b.AddBytes(pr.SPI)
			for j := range pr.Transforms {
				t := &pr.Transforms[j]
				more := uint8(0)
				if j < len(pr.Transforms)-1 {
					more = 3
				}
				b.AddUint8(more)
				b.AddUint8(0)
				addIKELength(b, 4, structName("transform"), func(b *cryptobyte.Builder) {
					b.AddUint8(uint8(t.Type))
					b.AddUint8(0)
					b.AddUint16(t.ID)
					for _, a := range t.Attributes {
						if a.Type > 0x7fff {
							b.SetError(errf(ErrInvalidSyntax, "transform attribute type %d exceeds 15 bits", a.Type))
							return
						}
						if a.TV {
							b.AddUint16(0x8000 | a.Type)
							b.AddUint16(a.Value)
							continue
						}
						b.AddUint16(a.Type)
						b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(a.Data) })
					}
				})
			}
		})
	}
}

func (p *KE) marshalBody(b *cryptobyte.Builder) {
	b.AddUint16(uint16(p.Method))
	b.AddUint16(0)
	b.AddBytes(p.Data)
}

func (p *ID) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.IDType))
	b.AddBytes([]byte{0, 0, 0})
	b.AddBytes(p.Data)
}

func (p *Certificate) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Encoding))
	b.AddBytes(p.Data)
}

func (p *CertificateRequest) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Encoding))
	b.AddBytes(p.Data)
}

func (p *Auth) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Method))
	b.AddBytes([]byte{0, 0, 0})
	b.AddBytes(p.Data)
}

func (p *Nonce) marshalBody(b *cryptobyte.Builder) {
	if len(p.Data) < minNonce || len(p.Data) > maxNonce {
		b.SetError(errf(ErrInvalidLength, "nonce of %d bytes, must be %d to %d", len(p.Data), minNonce, maxNonce))
		return
	}
	b.AddBytes(p.Data)
}

func (p *Notify) marshalBody(b *cryptobyte.Builder) {
	if len(p.SPI) > 255 {
		b.SetError(errf(ErrInvalidLength, "notify SPI of %d bytes", len(p.SPI)))
		return
	}
	b.AddUint8(uint8(p.Protocol))
	b.AddUint8(uint8(len(p.SPI)))
	b.AddUint16(uint16(p.NotifyType))
	b.AddBytes(p.SPI)
	b.AddBytes(p.Data)
}

func (p *Delete) marshalBody(b *cryptobyte.Builder) {
	if len(p.SPIs) > maxLen16 {
		b.SetError(errf(ErrInvalidLength, "delete payload with %d SPIs", len(p.SPIs)))
		return
	}
	b.AddUint8(uint8(p.Protocol))
	b.AddUint8(p.SPISize)
	b.AddUint16(uint16(len(p.SPIs)))
	for _, spi := range p.SPIs {
		if len(spi) != int(p.SPISize) {
			b.SetError(errf(ErrInvalidLength, "delete payload: %d-byte SPI, SPI size is %d", len(spi), p.SPISize))
			return
		}
		b.AddBytes(spi)
	}
}

func (p *VendorID) marshalBody(b *cryptobyte.Builder) { b.AddBytes(p.Data) }

func (p *TrafficSelectors) marshalBody(b *cryptobyte.Builder) {
	if len(p.Selectors) == 0 || len(p.Selectors) > 255 {
		b.SetError(errf(ErrInvalidSyntax, "%v payload with %d traffic selectors", p.Type(), len(p.Selectors)))
		return
	}
	b.AddUint8(uint8(len(p.Selectors)))
	b.AddBytes([]byte{0, 0, 0})
	for i := range p.Selectors {
		ts := &p.Selectors[i]
		b.AddUint8(uint8(ts.Type))
		b.AddUint8(ts.IPProtocol)
		addIKELength(b, 4, structName("traffic selector"), func(b *cryptobyte.Builder) {
			switch ts.Type {
			case TS_IPV4_ADDR_RANGE:
				if !ts.StartAddr.Is4() || !ts.EndAddr.Is4() {
					b.SetError(errf(ErrInvalidSyntax, "%v with addresses %v-%v", ts.Type, ts.StartAddr, ts.EndAddr))
					return
				}
				b.AddUint16(ts.StartPort)
				b.AddUint16(ts.EndPort)
				s, e := ts.StartAddr.As4(), ts.EndAddr.As4()
				b.AddBytes(s[:])
				b.AddBytes(e[:])
			case TS_IPV6_ADDR_RANGE:
				if !ts.StartAddr.Is6() || !ts.EndAddr.Is6() {
					b.SetError(errf(ErrInvalidSyntax, "%v with addresses %v-%v", ts.Type, ts.StartAddr, ts.EndAddr))
					return
				}
				b.AddUint16(ts.StartPort)
				b.AddUint16(ts.EndPort)
				s, e := ts.StartAddr.As16(), ts.EndAddr.As16()
				b.AddBytes(s[:])
				b.AddBytes(e[:])
			default:
				b.AddBytes(ts.Raw)
			}
		})
	}
}

func (p *Encrypted) marshalBody(b *cryptobyte.Builder) {
	if err := checkEncryptedBody(PayloadSK, len(p.Body)); err != nil {
		b.SetError(err)
		return
	}
	b.AddBytes(p.Body)
}

func (p *EncryptedFragment) marshalBody(b *cryptobyte.Builder) {
	if err := checkFragment(p.Number, p.Total); err != nil {
		b.SetError(err)
		return
	}
	if err := checkEncryptedBody(PayloadSKF, len(p.Body)); err != nil {
		b.SetError(err)
		return
	}
	b.AddUint16(p.Number)
	b.AddUint16(p.Total)
	b.AddBytes(p.Body)
}

func checkFragment(n, total uint16) error {
	if n == 0 || n > total {
		return errf(ErrInvalidSyntax, "fragment number %d of %d", n, total)
	}
	return nil
}

func (p *Configuration) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.CFGType))
	b.AddBytes([]byte{0, 0, 0})
	for _, a := range p.Attributes {
		if a.Type > 0x7fff {
			b.SetError(errf(ErrInvalidSyntax, "configuration attribute type %d exceeds 15 bits", a.Type))
			return
		}
		b.AddUint16(uint16(a.Type))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(a.Value) })
	}
}

func (p *EAP) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(p.Code)
	b.AddUint8(p.Identifier)
	addIKELength(b, 4, structName("EAP message"), func(b *cryptobyte.Builder) {
		if p.HasType() {
			b.AddUint8(p.EAPType)
		}
		b.AddBytes(p.Data)
	})
}

func (p *Unknown) marshalBody(b *cryptobyte.Builder) {
	if knownPayload(p.Kind) || p.Kind == PayloadNone {
		b.SetError(fmt.Errorf("payload type %v cannot be marshalled as Unknown", p.Kind))
		return
	}
	b.AddBytes(p.Body)
}
