package proposal

import (
	"fmt"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Weak legacy algorithms (3DES, SHA-1, MD5, MODP-1024, ...) are what native
// clients still offer by default (Windows: SHA-1 and MODP-1024). They load
// only when a configured proposal names them: parsing with AllowWeak lets
// the name through, Default never contains one, and the daemon and
// check-config warn at the proposal's file:line (see Weak).

// Weak returns the IANA names of the weak legacy transforms in p, nil when
// it has none.
func (p Proposal) Weak() []string {
	var out []string
	for _, t := range p.Transforms {
		typ := t.Type
		if typ >= wire.TransformADDKE1 && typ <= wire.TransformADDKE7 {
			typ = wire.TransformKE
		}
		if k := byAlgorithm[algKey{typ, t.ID, t.KeyLength}]; k != nil && k.level == weak {
			out = append(out, describe(typ, t.ID, t.KeyLength))
		}
	}
	return out
}

// weakRunnable reports why cygnet's engines cannot run a weak transform of
// p: of the legacy algorithms only 3DES-CBC and HMAC-SHA1-96 in ESP (and
// HMAC-SHA1-96 in AH) are implemented; the IKE SA protector and key
// exchanges implement none.
func (p Proposal) weakRunnable() error {
	for _, t := range p.Transforms {
		typ := t.Type
		if typ >= wire.TransformADDKE1 && typ <= wire.TransformADDKE7 {
			typ = wire.TransformKE
		}
		k := byAlgorithm[algKey{typ, t.ID, t.KeyLength}]
		if k == nil || k.level != weak {
			continue
		}
		child := p.Protocol == wire.ProtocolESP || p.Protocol == wire.ProtocolAH
		switch {
		case child && typ == wire.TransformINTEG && t.ID == uint16(wire.AUTH_HMAC_SHA1_96):
		case p.Protocol == wire.ProtocolESP && typ == wire.TransformENCR && (t.ID == uint16(wire.ENCR_3DES) || t.ID == uint16(wire.ENCR_NULL)):
		case p.Protocol == wire.ProtocolIKE:
			return fmt.Errorf("%s: the legacy algorithm %s is not implemented for IKE SAs by cygnet (of the legacy algorithms only 3des and sha1 in esp_proposals, sha1 in ah_proposals): %w",
				k.name, describe(typ, t.ID, t.KeyLength), ErrUnsupported)
		default:
			return fmt.Errorf("%s: the legacy algorithm %s is not implemented by cygnet (of the legacy algorithms only 3des and sha1 in esp_proposals, sha1 in ah_proposals): %w",
				k.name, describe(typ, t.ID, t.KeyLength), ErrUnsupported)
		}
	}
	return nil
}
