// Package identity is cygnet's one home for IKE identities (RFC 7296
// section 3.5): the ID carried in IDi and IDr payloads, reading identities
// the way swanctl.conf writes them (strongSwan's wildcards included),
// printing them as strongSwan does, distinguished names with their one
// attribute table, and strongSwan's match quality of a concrete identity
// against a configured one.
//
// It sits below ike because an identity is a wire-level value (an ID type
// and its data) that both the IKE state machine (IDi/IDr, choosing a
// connection in IKE_AUTH) and auth (secrets lookup, certificate subjects)
// need. It imports only ike/wire, so ike and auth both use it without
// either importing the other. The package is pure: no I/O, no state.
package identity

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Address pattern types: the IKEv1 identity types (RFC 2407 section
// 4.6.2.1) strongSwan uses for "10.1.0.0/16" in swanctl.conf. They only
// ever live in configuration and are never sent; Data is the prefix
// address followed by one byte of prefix length.
const (
	IPv4Subnet wire.IDType = 4
	IPv6Subnet wire.IDType = 6
)

// ID is an IKE identity. Type 0 is %any (matches every identity). A
// configured ID may hold strongSwan's wildcards: a leading '*' in an FQDN or
// RFC822 address, "*" as the value of a DN attribute, or an address prefix
// (IPv4Subnet, IPv6Subnet).
type ID struct {
	Type wire.IDType
	Data []byte
}

// Any matches every peer identity (swanctl's %any).
var Any = ID{}

// IsAny reports whether the identity is the %any wildcard.
func (id ID) IsAny() bool { return id.Type == 0 }

// Match qualities, as strongSwan's id_match_t: higher is a better match.
const (
	MatchNone         = 0
	MatchAny          = 1
	MatchMaxWildcards = 2
	MatchOneWildcard  = 19
	MatchPerfect      = 20
)

// Parse reads an identity the way strongSwan's
// identification_create_from_string does: "%any" (also "", "*", "%any6",
// "0.0.0.0", "::") is Any; a string with '=' is a distinguished name
// ("C=CH, O=org, CN=host", or "/C=CH/O=org"), whose "*" values are
// wildcards; "@#hex" a key id; "@@x" the RFC822 address x; "@x" the FQDN x;
// with '@' elsewhere an RFC822 address; an IPv4 or IPv6 address is an
// address, an address prefix a subnet pattern; anything else an FQDN.
// Typed prefixes ("fqdn:") and regular expressions are not supported.
func Parse(s string) (ID, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "%any", "%any6", "*", "0.0.0.0", "::", "0::0":
		return Any, nil
	}
	switch {
	case strings.Contains(s, "="):
		der, err := ParseDN(s)
		if err != nil {
			return ID{}, fmt.Errorf("identity %q: %w", s, err)
		}
		return ID{Type: wire.ID_DER_ASN1_DN, Data: der}, nil
	case strings.HasPrefix(s, "@#"):
		b, err := hexBytes(s[2:])
		if err != nil {
			return ID{}, fmt.Errorf("identity %q: key id: %w", s, err)
		}
		return ID{Type: wire.ID_KEY_ID, Data: b}, nil
	case strings.HasPrefix(s, "@@"):
		return ID{Type: wire.ID_RFC822_ADDR, Data: []byte(s[2:])}, nil
	case strings.HasPrefix(s, "@"):
		return ID{Type: wire.ID_FQDN, Data: []byte(s[1:])}, nil
	case strings.Contains(s, "@"):
		return ID{Type: wire.ID_RFC822_ADDR, Data: []byte(s)}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return FromAddr(a), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		t := IPv4Subnet
		if p.Addr().Is6() {
			t = IPv6Subnet
		}
		return ID{Type: t, Data: append(p.Addr().AsSlice(), byte(p.Bits()))}, nil
	}
	return ID{Type: wire.ID_FQDN, Data: []byte(s)}, nil
}

// FromAddr is the identity strongSwan uses when none is configured: the IKE
// address (an IPv4-mapped IPv6 address counts as IPv4).
func FromAddr(a netip.Addr) ID {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return ID{Type: wire.ID_IPV4_ADDR, Data: b[:]}
	}
	b := a.As16()
	return ID{Type: wire.ID_IPV6_ADDR, Data: b[:]}
}

func hexBytes(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	s = strings.ReplaceAll(s, ":", "")
	if len(s) == 0 || len(s)%2 != 0 {
		return nil, errors.New("odd or empty hex string")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		var v byte
		for j := range 2 {
			c := s[2*i+j]
			switch {
			case '0' <= c && c <= '9':
				v = v<<4 | (c - '0')
			case 'a' <= c && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			case 'A' <= c && c <= 'F':
				v = v<<4 | (c - 'A' + 10)
			default:
				return nil, fmt.Errorf("invalid hex digit %q", c)
			}
		}
		out[i] = v
	}
	return out, nil
}

// prefix returns the address prefix of a subnet pattern.
func (id ID) prefix() (netip.Prefix, bool) {
	if len(id.Data) < 2 {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(id.Data[:len(id.Data)-1])
	if !ok || (id.Type == IPv4Subnet) != a.Is4() {
		return netip.Prefix{}, false
	}
	p, err := a.Prefix(int(id.Data[len(id.Data)-1]))
	return p, err == nil
}

// String prints the identity as strongSwan does.
func (id ID) String() string {
	switch id.Type {
	case 0:
		return "%any"
	case wire.ID_IPV4_ADDR, wire.ID_IPV6_ADDR:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case IPv4Subnet, IPv6Subnet:
		if p, ok := id.prefix(); ok {
			return p.String()
		}
	case wire.ID_FQDN, wire.ID_RFC822_ADDR:
		return printable(id.Data)
	case wire.ID_DER_ASN1_DN:
		return DNString(id.Data)
	case wire.ID_KEY_ID:
		return fmt.Sprintf("@#%x", id.Data)
	}
	return fmt.Sprintf("%v:%x", id.Type, id.Data)
}

func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, string(b))
}

// HasWildcards reports whether the identity is a pattern rather than one
// identity: %any, a '*' in an FQDN or RFC822 address, a "*" DN value, or an
// address prefix. strongSwan sends no IDr for such a remote identity.
func (id ID) HasWildcards() bool {
	switch id.Type {
	case 0, IPv4Subnet, IPv6Subnet:
		return true
	case wire.ID_FQDN, wire.ID_RFC822_ADDR:
		return bytes.IndexByte(id.Data, '*') >= 0
	case wire.ID_DER_ASN1_DN:
		attrs, err := parseDNAttrs(id.Data)
		if err != nil {
			return false
		}
		for _, a := range attrs {
			if isWildcard(a.value) {
				return true
			}
		}
	}
	return false
}

// Match returns strongSwan's match quality (id_match_t) of the concrete
// identity peer against id, a configured identity that may hold wildcards:
// MatchNone, MatchAny for %any, MatchMaxWildcards..MatchOneWildcard for
// wildcard matches (higher is more specific: a DN loses one per "*"), and
// MatchPerfect. FQDNs and RFC822 addresses compare without case; a leading
// '*' matches any prefix. DNs compare attribute by attribute in order (see
// DNEqual), a "*" value matching any value of that attribute.
func (id ID) Match(peer ID) int {
	if id.IsAny() {
		return MatchAny
	}
	switch id.Type {
	case IPv4Subnet, IPv6Subnet:
		p, ok := id.prefix()
		a, aok := netip.AddrFromSlice(peer.Data)
		if !ok || !aok || (peer.Type != wire.ID_IPV4_ADDR && peer.Type != wire.ID_IPV6_ADDR) || !p.Contains(a) {
			return MatchNone
		}
		switch p.Bits() {
		case 0:
			return MatchMaxWildcards
		case a.BitLen():
			return MatchPerfect
		}
		return MatchOneWildcard
	}
	if id.Type != peer.Type {
		return MatchNone
	}
	switch id.Type {
	case wire.ID_DER_ASN1_DN:
		return matchDN(peer.Data, id.Data)
	case wire.ID_FQDN, wire.ID_RFC822_ADDR:
		if strings.EqualFold(string(id.Data), string(peer.Data)) {
			return MatchPerfect
		}
		if len(id.Data) == 0 || id.Data[0] != '*' || len(peer.Data) < len(id.Data) {
			return MatchNone
		}
		if len(id.Data) == 1 {
			return MatchAny // a lone '*' is no better than %any
		}
		suffix := id.Data[1:]
		if strings.EqualFold(string(peer.Data[len(peer.Data)-len(suffix):]), string(suffix)) {
			return MatchOneWildcard
		}
		return MatchNone
	}
	if bytes.Equal(id.Data, peer.Data) {
		return MatchPerfect
	}
	return MatchNone
}

// Matches reports whether peer satisfies the configured identity id.
func (id ID) Matches(peer ID) bool { return id.Match(peer) > MatchNone }

// Equal reports whether two identities are the same identity, without
// wildcards: same type, FQDNs and RFC822 addresses without case, DNs by
// DNEqual, everything else byte for byte.
func (id ID) Equal(o ID) bool {
	if id.Type != o.Type {
		return false
	}
	switch id.Type {
	case wire.ID_DER_ASN1_DN:
		return DNEqual(id.Data, o.Data)
	case wire.ID_FQDN, wire.ID_RFC822_ADDR:
		return strings.EqualFold(string(id.Data), string(o.Data))
	}
	return bytes.Equal(id.Data, o.Data)
}

// Payload returns the identity as an IDi (responder false) or IDr payload.
func (id ID) Payload(responder bool) *wire.ID {
	return &wire.ID{Responder: responder, IDType: id.Type, Data: id.Data}
}

// FromPayload is the identity an IDi or IDr payload carries, with its data
// copied so that it outlives the message buffer.
func FromPayload(p *wire.ID) ID {
	return ID{Type: p.IDType, Data: bytes.Clone(p.Data)}
}
