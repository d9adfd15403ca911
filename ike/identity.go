package ike

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Identity is an IKE identity (RFC 7296 section 3.5) as it is carried in the
// IDi and IDr payloads.
type Identity struct {
	Type wire.IDType
	Data []byte
}

// AnyIdentity matches every peer identity (swanctl's %any).
var AnyIdentity = Identity{}

// IsAny reports whether the identity is the %any wildcard.
func (id Identity) IsAny() bool { return id.Type == 0 }

// ParseIdentity reads an identity the way strongSwan reads `id` in
// swanctl.conf: an IP address is ID_IPV4_ADDR/ID_IPV6_ADDR, a leading '@' forces
// ID_FQDN, "user@host" is ID_RFC822_ADDR, a string with '=' is a
// distinguished name, anything else ID_FQDN; "%any" (or "") matches all.
func ParseIdentity(s string) (Identity, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "%any":
		return AnyIdentity, nil
	case strings.HasPrefix(s, "@#"):
		return Identity{}, fmt.Errorf("identity %q: key identifiers are not supported", s)
	case strings.HasPrefix(s, "@"):
		return Identity{Type: wire.ID_FQDN, Data: []byte(s[1:])}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Is4() {
			b := a.As4()
			return Identity{Type: wire.ID_IPV4_ADDR, Data: b[:]}, nil
		}
		b := a.As16()
		return Identity{Type: wire.ID_IPV6_ADDR, Data: b[:]}, nil
	}
	if strings.Contains(s, "=") {
		der, err := parseDN(s)
		if err != nil {
			return Identity{}, fmt.Errorf("identity %q: %w", s, err)
		}
		return Identity{Type: wire.ID_DER_ASN1_DN, Data: der}, nil
	}
	if strings.Contains(s, "@") {
		return Identity{Type: wire.ID_RFC822_ADDR, Data: []byte(s)}, nil
	}
	return Identity{Type: wire.ID_FQDN, Data: []byte(s)}, nil
}

// IdentityFromAddr is the identity strongSwan uses when none is configured:
// the IKE address.
func IdentityFromAddr(a netip.Addr) Identity {
	id, _ := ParseIdentity(a.Unmap().String())
	return id
}

// Matches reports whether a peer's identity satisfies this configured one.
func (id Identity) Matches(peer Identity) bool {
	if id.IsAny() {
		return true
	}
	if id.Type != peer.Type {
		return false
	}
	if id.Type == wire.ID_FQDN || id.Type == wire.ID_RFC822_ADDR {
		return strings.EqualFold(string(id.Data), string(peer.Data))
	}
	return bytes.Equal(id.Data, peer.Data)
}

// String prints the identity as strongSwan does.
func (id Identity) String() string { return auth.ID(id).String() }

// payload returns the identity as an IDi or IDr payload.
func (id Identity) payload(responder bool) *wire.ID {
	return &wire.ID{Responder: responder, IDType: id.Type, Data: id.Data}
}

var dnKeys = map[string]asn1.ObjectIdentifier{
	"C":            {2, 5, 4, 6},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"CN":           {2, 5, 4, 3},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"SN":           {2, 5, 4, 5},
	"E":            {1, 2, 840, 113549, 1, 9, 1},
	"EMAIL":        {1, 2, 840, 113549, 1, 9, 1},
	"EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
	"DC":           {0, 9, 2342, 19200300, 100, 1, 25},
}

// parseDN encodes a strongSwan-style distinguished name ("C=CH, O=org,
// CN=host") as DER, keeping the order as written, as strongSwan does.
func parseDN(s string) ([]byte, error) {
	var rdn pkix.RDNSequence
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("bad distinguished name element %q", part)
		}
		oid, ok := dnKeys[strings.ToUpper(strings.TrimSpace(k))]
		if !ok {
			return nil, fmt.Errorf("unknown distinguished name attribute %q", k)
		}
		var val any = strings.TrimSpace(v)
		if oid.Equal(dnKeys["E"]) || oid.Equal(dnKeys["DC"]) {
			val = asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(strings.TrimSpace(v))}
		}
		rdn = append(rdn, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: val}})
	}
	if len(rdn) == 0 {
		return nil, fmt.Errorf("empty distinguished name")
	}
	return asn1.Marshal(rdn)
}
