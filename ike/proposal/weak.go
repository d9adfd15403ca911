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
// p. Of the legacy algorithms cygnet implements what native clients default
// to: 3DES-CBC and HMAC-SHA1-96 in ESP (HMAC-SHA1-96 in AH), and for the IKE
// SA 3DES-CBC, HMAC-SHA1-96, PRF_HMAC_SHA1 and MODP-1024 (also as a Child
// SA's key exchange); DES, MD5, MODP-768 and MODP-1536 stay refused.
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
		ike := p.Protocol == wire.ProtocolIKE
		switch {
		case typ == wire.TransformINTEG && t.ID == uint16(wire.AUTH_HMAC_SHA1_96):
		case (ike || p.Protocol == wire.ProtocolESP) && typ == wire.TransformENCR && t.ID == uint16(wire.ENCR_3DES):
		case p.Protocol == wire.ProtocolESP && typ == wire.TransformENCR && t.ID == uint16(wire.ENCR_NULL):
		case ike && typ == wire.TransformPRF && t.ID == uint16(wire.PRF_HMAC_SHA1):
		case t.Type == wire.TransformKE && t.ID == uint16(wire.MODP_1024):
		default:
			return fmt.Errorf("%s: the legacy algorithm %s is not implemented by cygnet (of the legacy algorithms only 3des, sha1 and modp1024): %w",
				k.name, describe(typ, t.ID, t.KeyLength), ErrUnsupported)
		}
	}
	return nil
}
