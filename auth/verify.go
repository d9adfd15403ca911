package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Reasons Verify fails for, to tell apart with errors.Is.
var (
	// ErrSignature: the signature is well-formed but does not verify.
	ErrSignature = errors.New("signature does not verify")
	// ErrKeyMismatch: the AUTH method or AlgorithmIdentifier does not fit
	// the peer's public key.
	ErrKeyMismatch = errors.New("does not match the public key")
	// ErrMalformed: the AUTH data cannot be parsed.
	ErrMalformed = errors.New("malformed AUTH data")
	// ErrUnsupportedMethod: the AUTH method or algorithm is not a signature
	// cygnet accepts.
	ErrUnsupportedMethod = errors.New("unsupported AUTH method")
	// ErrKeyUsage: the certificate may not be used for signatures.
	ErrKeyUsage = errors.New("certificate key usage forbids signatures")
	// ErrSchemeNotAllowed: the signature scheme is not among the
	// configured constraints.
	ErrSchemeNotAllowed = errors.New("not allowed by the auth constraints")
)

// Verifier checks AUTH payloads made with public keys. The zero value is
// the strict default.
type Verifier struct {
	// AllowLegacySHA1 accepts RSA signatures with SHA-1 (AUTH method 1, or
	// sha1WithRSAEncryption under RFC 7427), which strongSwan sends to
	// peers that do not announce hash algorithms. ECDSA with SHA-1 and
	// SHA-1 RSASSA-PSS are never accepted.
	AllowLegacySHA1 bool
	// Schemes, when set, are the only signature schemes accepted
	// (ParseConstraints of the remote auth round); classic methods count
	// as their scheme (method 9 is ecdsa-with-SHA256, 1 sha1WithRSA...).
	Schemes []SignatureScheme
}

// Verify checks a peer's AUTH payload with the strict default policy; see
// Verifier.Verify.
func Verify(pub crypto.PublicKey, method wire.AuthMethod, authData, signedOctets []byte) error {
	return Verifier{}.Verify(pub, method, authData, signedOctets)
}

// Verify checks the AUTH payload (method and data) that the peer made over
// signedOctets with the key pub (*rsa.PublicKey, *ecdsa.PublicKey or
// ed25519.PublicKey). For method 14 the AlgorithmIdentifier must fit the
// key type; for methods 9-11 the curve must be the method's. It never
// panics on malformed data.
func (v Verifier) Verify(pub crypto.PublicKey, method wire.AuthMethod, authData, signedOctets []byte) error {
	return v.verify(pub, method, authData, signedOctets, "")
}

// VerifyCert checks an AUTH payload with the key of the peer's end-entity
// certificate, which must allow signatures: like strongSwan it refuses a
// certificate whose keyUsage extension has neither digitalSignature nor
// nonRepudiation. Errors name the certificate's subject.
func (v Verifier) VerifyCert(cert *x509.Certificate, method wire.AuthMethod, authData, signedOctets []byte) error {
	if cert == nil {
		return errors.New("AUTH: no certificate")
	}
	who := " for " + identity.DNString(cert.RawSubject)
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return fmt.Errorf("AUTH: %w (no digitalSignature or nonRepudiation)%s", ErrKeyUsage, who)
	}
	return v.verify(cert.PublicKey, method, authData, signedOctets, who)
}

func keyName(pub crypto.PublicKey) (KeyType, string) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return 0, "invalid RSA"
		}
		return KeyRSA, fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return 0, "invalid ECDSA"
		}
		return KeyECDSA, "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return 0, "invalid Ed25519"
		}
		return KeyEd25519, "Ed25519"
	}
	return 0, fmt.Sprintf("%T", pub)
}

func (v Verifier) verify(pub crypto.PublicKey, method wire.AuthMethod, authData, signedOctets []byte, who string) error {
	kt, kname := keyName(pub)
	if kt == 0 {
		return fmt.Errorf("AUTH: public key %s is not supported%s", kname, who)
	}
	switch method {
	case wire.AuthRSASignature:
		sc := SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1}
		if kt != KeyRSA {
			return fmt.Errorf("AUTH: %v %w (%s)%s", method, ErrKeyMismatch, kname, who)
		}
		if !v.AllowLegacySHA1 {
			return fmt.Errorf("AUTH: %v (PKCS#1 v1.5 with SHA-1) refused: %w%s", method, ErrLegacySHA1, who)
		}
		if !allowed(v.Schemes, sc) {
			return fmt.Errorf("AUTH: %v %w%s", method, ErrSchemeNotAllowed, who)
		}
		return check(sc, pub, authData, signedOctets, who)
	case wire.AuthECDSASHA256P256, wire.AuthECDSASHA384P384, wire.AuthECDSASHA512P521:
		return v.verifyRFC4754(pub, kt, kname, method, authData, signedOctets, who)
	case wire.AuthDigitalSignature:
		if len(authData) < 1 || len(authData) < 1+int(authData[0]) {
			return fmt.Errorf("AUTH: %w: %v data of %d bytes too short for its AlgorithmIdentifier%s", ErrMalformed, method, len(authData), who)
		}
		n := int(authData[0])
		sc, err := ParseAlgorithmIdentifier(authData[1 : 1+n])
		if err != nil {
			return fmt.Errorf("AUTH: %w: %v%s", ErrMalformed, err, who)
		}
		if sc.Key != kt {
			return fmt.Errorf("AUTH: signature scheme %v %w (%s)%s", sc, ErrKeyMismatch, kname, who)
		}
		if sc.Hash == crypto.SHA1 && (!v.AllowLegacySHA1 || sc.Key != KeyRSA || sc.PSS) {
			return fmt.Errorf("AUTH: %v refused: %w%s", sc, ErrLegacySHA1, who)
		}
		if !allowed(v.Schemes, sc) {
			return fmt.Errorf("AUTH: signature scheme %v %w%s", sc, ErrSchemeNotAllowed, who)
		}
		return check(sc, pub, authData[1+n:], signedOctets, who)
	}
	return fmt.Errorf("AUTH: %w %v (not a signature)%s", ErrUnsupportedMethod, method, who)
}

func (v Verifier) verifyRFC4754(pub crypto.PublicKey, kt KeyType, kname string, method wire.AuthMethod, sig, msg []byte, who string) error {
	var sc SignatureScheme
	var bits int
	switch method {
	case wire.AuthECDSASHA256P256:
		sc, bits = ECDSASHA256, 256
	case wire.AuthECDSASHA384P384:
		sc, bits = ECDSASHA384, 384
	default:
		sc, bits = ECDSASHA512, 521
	}
	if kt != KeyECDSA || pub.(*ecdsa.PublicKey).Curve.Params().BitSize != bits {
		return fmt.Errorf("AUTH: %v %w (%s)%s", method, ErrKeyMismatch, kname, who)
	}
	if !allowed(v.Schemes, sc) {
		return fmt.Errorf("AUTH: %v (%v) %w%s", method, sc, ErrSchemeNotAllowed, who)
	}
	n := curveBytes(pub.(*ecdsa.PublicKey).Curve)
	if len(sig) != 2*n {
		return fmt.Errorf("AUTH: %w: %v signature of %d bytes, want %d%s", ErrMalformed, method, len(sig), 2*n, who)
	}
	h := sc.Hash.New()
	h.Write(msg)
	r := new(big.Int).SetBytes(sig[:n])
	s := new(big.Int).SetBytes(sig[n:])
	if !ecdsa.Verify(pub.(*ecdsa.PublicKey), h.Sum(nil), r, s) {
		return fmt.Errorf("AUTH: ECDSA %w (%v)%s", ErrSignature, method, who)
	}
	return nil
}

// check verifies a signature of scheme sc, whose key type matches pub.
func check(sc SignatureScheme, pub crypto.PublicKey, sig, msg []byte, who string) error {
	var ok bool
	switch k := pub.(type) {
	case ed25519.PublicKey:
		ok = ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		h := sc.Hash.New()
		h.Write(msg)
		if sc.PSS {
			ok = rsa.VerifyPSS(k, sc.Hash, h.Sum(nil), sig, &rsa.PSSOptions{SaltLength: sc.SaltLength, Hash: sc.Hash}) == nil
		} else {
			ok = rsa.VerifyPKCS1v15(k, sc.Hash, h.Sum(nil), sig) == nil
		}
	case *ecdsa.PublicKey:
		h := sc.Hash.New()
		h.Write(msg)
		ok = ecdsa.VerifyASN1(k, h.Sum(nil), sig)
	}
	if !ok {
		return fmt.Errorf("AUTH: %v %w (%v)%s", sc.Key, ErrSignature, sc, who)
	}
	return nil
}
