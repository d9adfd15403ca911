package auth

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
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
//   - a key token other than pubkey without hash tokens allows every scheme
//     of its kind that cygnet implements: "rsa/pss" is RSASSA-PSS with
//     SHA-256, SHA-384 or SHA-512. strongSwan ignores such a token; cygnet
//     refuses to accept a constraint and then ignore it, so "auth = rsa/pss"
//     means what it says.
//
// nil means no constraint. sha1 tokens yield SHA-1 schemes, which Signer and
// Verifier still refuse without AllowLegacySHA1; md5 and sha224 yield
// nothing, since cygnet implements neither.
func ParseConstraints(tokens []string, rsaPSS bool) []SignatureScheme {
	all, ike := parseConstraints(tokens, rsaPSS)
	if ike != nil {
		return ike
	}
	return all
}

// ParseCertConstraints returns the schemes the same tokens allow for the
// signatures of the peer's certificate chain: those of key tokens without
// "ike:", as strongSwan checks them (its "X.509 signature scheme ... not
// acceptable"). "auth = rsa/pss" therefore asks for a chain signed with
// RSASSA-PSS too; "ike:rsa/pss" only for the AUTH payload. nil means no
// constraint.
func ParseCertConstraints(tokens []string, rsaPSS bool) []SignatureScheme {
	all, _ := parseConstraints(tokens, rsaPSS)
	return all
}

// CheckChainSchemes checks the signatures of a verified chain (end entity
// first, trust anchor last) against certificate constraints: every
// certificate but the anchor must be signed with an allowed scheme. The
// anchor is trusted as configured, its self-signature is not a link.
func CheckChainSchemes(chain []*x509.Certificate, constraints []SignatureScheme) error {
	if len(constraints) == 0 {
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		c := chain[i]
		sc, ok := certScheme(c.SignatureAlgorithm)
		if !ok || !allowed(constraints, sc) {
			return fmt.Errorf("certificate %s is signed with %v, which the auth constraints do not allow (%v): %w",
				identity.DNString(c.RawSubject), c.SignatureAlgorithm, schemeList(constraints), ErrSchemeNotAllowed)
		}
	}
	return nil
}

func schemeList(list []SignatureScheme) string {
	names := make([]string, len(list))
	for i, sc := range list {
		names[i] = sc.String()
	}
	return strings.Join(names, ", ")
}

// certScheme is the scheme of an X.509 signature algorithm.
func certScheme(a x509.SignatureAlgorithm) (SignatureScheme, bool) {
	switch a {
	case x509.SHA1WithRSA:
		return SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1}, true
	case x509.SHA256WithRSA:
		return RSASHA256, true
	case x509.SHA384WithRSA:
		return RSASHA384, true
	case x509.SHA512WithRSA:
		return RSASHA512, true
	case x509.SHA256WithRSAPSS:
		return RSAPSSSHA256, true
	case x509.SHA384WithRSAPSS:
		return RSAPSSSHA384, true
	case x509.SHA512WithRSAPSS:
		return RSAPSSSHA512, true
	case x509.ECDSAWithSHA1:
		return SignatureScheme{Key: KeyECDSA, Hash: crypto.SHA1}, true
	case x509.ECDSAWithSHA256:
		return ECDSASHA256, true
	case x509.ECDSAWithSHA384:
		return ECDSASHA384, true
	case x509.ECDSAWithSHA512:
		return ECDSASHA512, true
	case x509.PureEd25519:
		return Ed25519Scheme, true
	}
	return SignatureScheme{}, false
}

func parseConstraints(tokens []string, rsaPSS bool) (all, ike []SignatureScheme) {
	keyToken, keyType := "", KeyType(0) // keyType 0 with a key token: any
	hashed := false                     // the key token had hash tokens
	add := func(sc SignatureScheme) {
		if strings.HasPrefix(keyToken, "ike:") {
			ike = appendUnique(ike, sc)
		} else {
			all = appendUnique(all, sc)
		}
	}
	endKey := func() {
		if keyToken == "" || hashed {
			return
		}
		switch strings.TrimPrefix(keyToken, "ike:") {
		case "rsa/pss":
			for _, sc := range []SignatureScheme{RSAPSSSHA256, RSAPSSSHA384, RSAPSSSHA512} {
				add(sc)
			}
		case "rsa":
			if rsaPSS {
				for _, sc := range []SignatureScheme{RSAPSSSHA256, RSAPSSSHA384, RSAPSSSHA512} {
					add(sc)
				}
			}
			for _, sc := range []SignatureScheme{RSASHA256, RSASHA384, RSASHA512} {
				add(sc)
			}
		case "ecdsa":
			for _, sc := range []SignatureScheme{ECDSASHA256, ECDSASHA384, ECDSASHA512} {
				add(sc)
			}
		case "ed25519":
			add(Ed25519Scheme)
		}
	}
	for _, tok := range tokens {
		kt, isKey := map[string]KeyType{"rsa": KeyRSA, "rsa/pss": KeyRSA, "ecdsa": KeyECDSA, "ed25519": KeyEd25519, "pubkey": 0}[strings.TrimPrefix(tok, "ike:")]
		if isKey {
			endKey()
			keyToken, keyType, hashed = tok, kt, false
			continue
		}
		if keyToken == "" || (tok != "" && strings.Trim(tok, "0123456789") == "") {
			continue // no key token yet, or a key strength
		}
		hashed = true
		var schemes []SignatureScheme
		h, isHash := map[string]crypto.Hash{"sha1": crypto.SHA1, "sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}[tok]
		switch {
		case strings.HasSuffix(keyToken, "pss"):
			if isHash {
				schemes = append(schemes, SignatureScheme{Key: KeyRSA, Hash: h, PSS: true, SaltLength: h.Size()})
			}
		case tok == "identity":
			if keyType == 0 || keyType == KeyEd25519 {
				schemes = append(schemes, Ed25519Scheme)
			}
		case isHash:
			if keyType == 0 || keyType == KeyRSA {
				if rsaPSS {
					schemes = append(schemes, SignatureScheme{Key: KeyRSA, Hash: h, PSS: true, SaltLength: h.Size()})
				}
				schemes = append(schemes, SignatureScheme{Key: KeyRSA, Hash: h})
			}
			if keyType == 0 || keyType == KeyECDSA {
				schemes = append(schemes, SignatureScheme{Key: KeyECDSA, Hash: h})
			}
		}
		for _, sc := range schemes {
			add(sc)
		}
	}
	endKey()
	return all, ike
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
