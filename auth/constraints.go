package auth

import (
	"crypto"
	"slices"
	"strings"
)

// ParseConstraints turns the signature constraint tokens of an auth round
// (config.Auth.Constraints, from "auth = pubkey-sha384",
// "ike:rsa/pss-sha256-sha512", "ecdsa-384-sha384", ...) into the IKE
// signature schemes they allow, in the order written, the way strongSwan's
// auth_cfg add_pubkey_constraints does:
//
//   - a key token (rsa, rsa/pss, ecdsa, ed25519, pubkey, optionally with
//     "ike:") is followed by hash tokens (sha256, sha384, sha512, identity)
//     and, for rsa and ecdsa, a key strength, which cygnet does not enforce;
//   - rsa/pss yields RSASSA-PSS schemes; rsa and pubkey yield PKCS#1 v1.5
//     ones, plus RSASSA-PSS first when rsaPSS (charon.rsa_pss) is set;
//   - if any key token has "ike:", only those constrain IKE signatures;
//     otherwise all do (charon.signature_authentication_constraints);
//   - a key token without hashes allows nothing by itself.
//
// nil means no constraint. sha1 tokens yield SHA-1 schemes, which Signer and
// Verifier still refuse without AllowLegacySHA1; md5 and sha224 yield
// nothing, since cygnet implements neither.
func ParseConstraints(tokens []string, rsaPSS bool) []SignatureScheme {
	var all, ike []SignatureScheme
	keyToken, keyType := "", KeyType(0) // keyType 0 with a key token: any
	for _, tok := range tokens {
		switch strings.TrimPrefix(tok, "ike:") {
		case "rsa", "rsa/pss":
			keyToken, keyType = tok, KeyRSA
			continue
		case "ecdsa":
			keyToken, keyType = tok, KeyECDSA
			continue
		case "ed25519":
			keyToken, keyType = tok, KeyEd25519
			continue
		case "pubkey":
			keyToken, keyType = tok, 0
			continue
		}
		if keyToken == "" {
			continue
		}
		var add []SignatureScheme
		h, isHash := map[string]crypto.Hash{"sha1": crypto.SHA1, "sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}[tok]
		switch {
		case strings.HasSuffix(keyToken, "pss"):
			if isHash {
				add = append(add, SignatureScheme{Key: KeyRSA, Hash: h, PSS: true, SaltLength: h.Size()})
			}
		case tok == "identity":
			if keyType == 0 || keyType == KeyEd25519 {
				add = append(add, Ed25519Scheme)
			}
		case isHash:
			if keyType == 0 || keyType == KeyRSA {
				if rsaPSS {
					add = append(add, SignatureScheme{Key: KeyRSA, Hash: h, PSS: true, SaltLength: h.Size()})
				}
				add = append(add, SignatureScheme{Key: KeyRSA, Hash: h})
			}
			if keyType == 0 || keyType == KeyECDSA {
				add = append(add, SignatureScheme{Key: KeyECDSA, Hash: h})
			}
		}
		for _, sc := range add {
			if strings.HasPrefix(keyToken, "ike:") {
				ike = appendUnique(ike, sc)
			} else {
				all = appendUnique(all, sc)
			}
		}
	}
	if ike != nil {
		return ike
	}
	return all
}

func appendUnique(list []SignatureScheme, sc SignatureScheme) []SignatureScheme {
	if slices.Contains(list, sc) {
		return list
	}
	return append(list, sc)
}

// allowed reports whether sc is one of the constraint schemes (any when
// there are none). RSASSA-PSS salt lengths may differ, as in strongSwan.
func allowed(constraints []SignatureScheme, sc SignatureScheme) bool {
	if len(constraints) == 0 {
		return true
	}
	for _, c := range constraints {
		if c.Key == sc.Key && c.Hash == sc.Hash && c.PSS == sc.PSS {
			return true
		}
	}
	return false
}
