package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// ErrNoCommonHash is returned by Sign when the peer announced RFC 7427 hash
// algorithms but none that our key can sign with.
var ErrNoCommonHash = errors.New("no common hash algorithm")

// ErrLegacySHA1 is returned when an RSA signature with SHA-1 would be made or
// accepted without AllowLegacySHA1.
var ErrLegacySHA1 = errors.New("RSA with SHA-1 is disabled (AllowLegacySHA1)")

// SignerOptions are the policy choices of a Signer.
type SignerOptions struct {
	// RSAPSS makes an RSA key sign with RSASSA-PSS instead of PKCS#1 v1.5
	// (strongSwan's "rsa/pss" auth constraint or charon.rsa_pss = yes). It
	// needs RFC 7427.
	RSAPSS bool
	// AllowLegacySHA1 lets an RSA key fall back to AUTH method 1 (PKCS#1
	// v1.5 with SHA-1) when the peer did not send
	// SIGNATURE_HASH_ALGORITHMS. strongSwan does this silently; cygnet
	// refuses unless asked, since SHA-1 has chosen-prefix collisions.
	AllowLegacySHA1 bool
	// Schemes, when set, are the only RFC 7427 schemes to sign with, in
	// order of preference (ParseConstraints of the local auth round).
	// Schemes for other key types are ignored. Classic signatures (peer
	// without RFC 7427) do not consult them, as in strongSwan.
	Schemes []SignatureScheme
	// Rand is the randomness for ECDSA and RSASSA-PSS; nil is crypto/rand.
	Rand io.Reader
}

// Signer creates AUTH payload data with one private key. It never prints
// its key: String and every fmt verb show only the key type and size.
type Signer struct {
	key  crypto.Signer
	opts SignerOptions
	kind KeyType
	bits int // RSA modulus or ECDSA curve size
}

// NewSigner wraps a private key loaded by the config package: an
// *rsa.PrivateKey, *ecdsa.PrivateKey (P-256, P-384 or P-521) or
// ed25519.PrivateKey, or any crypto.Signer whose public key is one of those.
func NewSigner(key crypto.Signer, opts SignerOptions) (*Signer, error) {
	if key == nil {
		return nil, errors.New("signer: no private key")
	}
	s := &Signer{key: key, opts: opts}
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		s.kind, s.bits = KeyRSA, pub.N.BitLen()
	case *ecdsa.PublicKey:
		s.kind, s.bits = KeyECDSA, pub.Curve.Params().BitSize
		if curveBytes(pub.Curve) == 0 {
			return nil, fmt.Errorf("signer: ECDSA curve %s is not supported", pub.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		s.kind, s.bits = KeyEd25519, 256
	default:
		return nil, fmt.Errorf("signer: key type %T is not supported", pub)
	}
	if s.opts.Rand == nil {
		s.opts.Rand = rand.Reader
	}
	return s, nil
}

// Public returns the public half of the key, to match it with a certificate.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// KeyType reports the kind of key.
func (s *Signer) KeyType() KeyType { return s.kind }

// String describes the key without its material ("RSA-3072 private key").
func (s *Signer) String() string {
	if s.kind == KeyEd25519 {
		return "Ed25519 private key"
	}
	return fmt.Sprintf("%v-%d private key", s.kind, s.bits)
}

// Format writes the same as String for every verb.
func (s *Signer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// curveBytes is the length of one coordinate of an RFC 4754 signature on the
// curve, 0 for curves cygnet does not use.
func curveBytes(c elliptic.Curve) int {
	switch c {
	case elliptic.P256():
		return 32
	case elliptic.P384():
		return 48
	case elliptic.P521():
		return 66
	}
	return 0
}

// Schemes lists the RFC 7427 schemes the signer would use, best first: the
// configured SignerOptions.Schemes for the key type, or by default in
// strongSwan's order: the hash that matches the key strength first (RSA up
// to 3072 bits SHA-256, up to 7680 bits SHA-384, then SHA-512; ECDSA by curve
// size), then the stronger ones, and for RSA finally the weaker ones.
func (s *Signer) Schemes() []SignatureScheme {
	if len(s.opts.Schemes) > 0 {
		var out []SignatureScheme
		for _, sc := range s.opts.Schemes {
			if sc.Key == s.kind && (sc.Hash != crypto.SHA1 || s.opts.AllowLegacySHA1) {
				out = append(out, sc)
			}
		}
		return out
	}
	switch s.kind {
	case KeyEd25519:
		return []SignatureScheme{Ed25519Scheme}
	case KeyECDSA:
		all := []SignatureScheme{ECDSASHA256, ECDSASHA384, ECDSASHA512}
		switch {
		case s.bits > 384:
			return all[2:]
		case s.bits > 256:
			return all[1:]
		}
		return all
	}
	pkcs := []SignatureScheme{RSASHA256, RSASHA384, RSASHA512}
	pss := []SignatureScheme{RSAPSSSHA256, RSAPSSSHA384, RSAPSSSHA512}
	list := pkcs
	if s.opts.RSAPSS {
		list = pss
	}
	first := 0
	switch {
	case s.bits > 7680:
		first = 2
	case s.bits > 3072:
		first = 1
	}
	out := slices.Clone(list[first:])
	for i := first - 1; i >= 0; i-- {
		out = append(out, list[i])
	}
	return out
}

// Choose picks the scheme for a peer that announced peerHashes in its
// SIGNATURE_HASH_ALGORITHMS notification.
func (s *Signer) Choose(peerHashes []uint16) (SignatureScheme, error) {
	schemes := s.Schemes()
	if len(schemes) == 0 {
		return SignatureScheme{}, fmt.Errorf("sign with %v: %w: no configured signature scheme is for this key", s, ErrNoCommonHash)
	}
	for _, sc := range schemes {
		if slices.Contains(peerHashes, sc.HashID()) {
			return sc, nil
		}
	}
	return SignatureScheme{}, fmt.Errorf("sign with %v: %w (peer announced %v)", s, ErrNoCommonHash, hashList(peerHashes))
}

func hashList(h []uint16) string {
	names := map[uint16]string{HashSHA1: "SHA1", HashSHA2256: "SHA2_256", HashSHA2384: "SHA2_384",
		HashSHA2512: "SHA2_512", HashIdentity: "IDENTITY"}
	out := "["
	for i, v := range h {
		if i > 0 {
			out += " "
		}
		if n, ok := names[v]; ok {
			out += n
		} else {
			out += fmt.Sprintf("HASH(%d)", v)
		}
	}
	return out + "]"
}

// Sign creates the AUTH payload method and data over signedOctets (RFC 7296
// section 2.15). peerHashes is the content of the peer's
// SIGNATURE_HASH_ALGORITHMS notification, nil if it sent none.
//
// With hashes, the result is method 14 (RFC 7427): one length byte, the
// AlgorithmIdentifier and the signature (DER for ECDSA). Without, it is the
// classic method for the key: 9, 10 or 11 with a fixed-length r||s for
// ECDSA (RFC 4754), 1 for RSA only with AllowLegacySHA1, and an error for
// Ed25519 and RSASSA-PSS, which exist only with RFC 7427.
func (s *Signer) Sign(signedOctets []byte, peerHashes []uint16) (wire.AuthMethod, []byte, error) {
	if len(peerHashes) == 0 {
		return s.signClassic(signedOctets)
	}
	sc, err := s.Choose(peerHashes)
	if err != nil {
		return 0, nil, err
	}
	data, err := s.SignScheme(sc, signedOctets)
	if err != nil {
		return 0, nil, err
	}
	return wire.AuthDigitalSignature, data, nil
}

// SignScheme creates RFC 7427 AUTH data (length byte, AlgorithmIdentifier,
// signature) with a given scheme, which must fit the key.
func (s *Signer) SignScheme(sc SignatureScheme, signedOctets []byte) ([]byte, error) {
	if sc.Key != s.kind {
		return nil, fmt.Errorf("sign with %v: scheme %v needs a %v key", s, sc, sc.Key)
	}
	if sc.Hash == crypto.SHA1 && !s.opts.AllowLegacySHA1 {
		return nil, fmt.Errorf("sign with %v: %v: %w", s, sc, ErrLegacySHA1)
	}
	algID, err := sc.AlgorithmIdentifier()
	if err != nil {
		return nil, err
	}
	if len(algID) > 255 {
		return nil, fmt.Errorf("sign with %v: AlgorithmIdentifier of %d bytes does not fit", s, len(algID))
	}
	sig, err := s.sign(sc, signedOctets)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 1+len(algID)+len(sig))
	out = append(out, byte(len(algID)))
	out = append(out, algID...)
	return append(out, sig...), nil
}

func (s *Signer) signClassic(signedOctets []byte) (wire.AuthMethod, []byte, error) {
	switch s.kind {
	case KeyRSA:
		if !s.opts.AllowLegacySHA1 {
			return 0, nil, fmt.Errorf("sign with %v: peer did not send SIGNATURE_HASH_ALGORITHMS and AUTH method 1 needs SHA-1: %w", s, ErrLegacySHA1)
		}
		if s.opts.RSAPSS {
			return 0, nil, fmt.Errorf("sign with %v: RSASSA-PSS needs RFC 7427, but the peer did not send SIGNATURE_HASH_ALGORITHMS", s)
		}
		sig, err := s.sign(SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1}, signedOctets)
		return wire.AuthRSASignature, sig, err
	case KeyECDSA:
		var sc SignatureScheme
		var method wire.AuthMethod
		switch s.bits {
		case 256:
			sc, method = ECDSASHA256, wire.AuthECDSASHA256P256
		case 384:
			sc, method = ECDSASHA384, wire.AuthECDSASHA384P384
		default:
			sc, method = ECDSASHA512, wire.AuthECDSASHA512P521
		}
		der, err := s.sign(sc, signedOctets)
		if err != nil {
			return 0, nil, err
		}
		raw, err := ecdsaDERToRaw(der, curveBytes(s.key.Public().(*ecdsa.PublicKey).Curve))
		if err != nil {
			return 0, nil, fmt.Errorf("sign with %v: %w", s, err)
		}
		return method, raw, nil
	}
	return 0, nil, fmt.Errorf("sign with %v: Ed25519 needs RFC 7427, but the peer did not send SIGNATURE_HASH_ALGORITHMS", s)
}

func (s *Signer) sign(sc SignatureScheme, msg []byte) ([]byte, error) {
	var digest []byte
	var opts crypto.SignerOpts = sc.Hash
	if sc.Key == KeyEd25519 {
		digest, opts = msg, crypto.Hash(0)
	} else {
		h := sc.Hash.New()
		h.Write(msg)
		digest = h.Sum(nil)
		if sc.PSS {
			opts = &rsa.PSSOptions{SaltLength: sc.SaltLength, Hash: sc.Hash}
		}
	}
	sig, err := s.key.Sign(s.opts.Rand, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("sign with %v (%v): %w", s, sc, err)
	}
	return sig, nil
}

// ecdsaDERToRaw turns an ASN.1 ECDSA-Sig-Value into RFC 4754's r||s with
// each integer left-padded to n bytes.
func ecdsaDERToRaw(der []byte, n int) ([]byte, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var r, s []byte
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("malformed ECDSA signature")
	}
	r, s = trimZeros(r), trimZeros(s)
	if len(r) > n || len(s) > n {
		return nil, errors.New("ECDSA signature too long for the curve")
	}
	out := make([]byte, 2*n)
	copy(out[n-len(r):n], r)
	copy(out[2*n-len(s):], s)
	return out, nil
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
