package auth

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Hash algorithms of the SIGNATURE_HASH_ALGORITHMS notification (IANA "IKEv2
// Hash Algorithms", RFC 7427 section 7 and RFC 8420).
const (
	HashSHA1     uint16 = 1 // never chosen by cygnet; listed for completeness
	HashSHA2256  uint16 = 2
	HashSHA2384  uint16 = 3
	HashSHA2512  uint16 = 4
	HashIdentity uint16 = 5 // RFC 8420: the signature algorithm hashes itself (Ed25519)
)

// SupportedHashes is the data cygnet sends in its SIGNATURE_HASH_ALGORITHMS
// notification: SHA2-256, SHA2-384, SHA2-512 and Identity. SHA-1 is left out
// on purpose (RFC 8247 section 3.2).
func SupportedHashes() []uint16 {
	return []uint16{HashSHA2256, HashSHA2384, HashSHA2512, HashIdentity}
}

// KeyType is the kind of public key a signature scheme works with.
type KeyType uint8

// Key types cygnet signs and verifies with.
const (
	KeyRSA KeyType = iota + 1
	KeyECDSA
	KeyEd25519
)

// String names the key type as strongSwan's logs do.
func (k KeyType) String() string {
	switch k {
	case KeyRSA:
		return "RSA"
	case KeyECDSA:
		return "ECDSA"
	case KeyEd25519:
		return "Ed25519"
	}
	return "KeyType(" + strconv.Itoa(int(k)) + ")"
}

// SignatureScheme is a signature algorithm as named by the AlgorithmIdentifier
// of an RFC 7427 Digital Signature AUTH payload.
type SignatureScheme struct {
	Key KeyType
	// Hash is the message digest; 0 for Ed25519, which hashes itself.
	Hash crypto.Hash
	// PSS selects RSASSA-PSS instead of PKCS#1 v1.5 (RSA only). MGF1 always
	// uses Hash; SaltLength is the salt in bytes.
	PSS        bool
	SaltLength int
}

// Schemes cygnet signs with and accepts (besides the SHA-1 ones, which need
// AllowLegacySHA1).
var (
	RSASHA256     = SignatureScheme{Key: KeyRSA, Hash: crypto.SHA256}
	RSASHA384     = SignatureScheme{Key: KeyRSA, Hash: crypto.SHA384}
	RSASHA512     = SignatureScheme{Key: KeyRSA, Hash: crypto.SHA512}
	RSAPSSSHA256  = SignatureScheme{Key: KeyRSA, Hash: crypto.SHA256, PSS: true, SaltLength: 32}
	RSAPSSSHA384  = SignatureScheme{Key: KeyRSA, Hash: crypto.SHA384, PSS: true, SaltLength: 48}
	RSAPSSSHA512  = SignatureScheme{Key: KeyRSA, Hash: crypto.SHA512, PSS: true, SaltLength: 64}
	ECDSASHA256   = SignatureScheme{Key: KeyECDSA, Hash: crypto.SHA256}
	ECDSASHA384   = SignatureScheme{Key: KeyECDSA, Hash: crypto.SHA384}
	ECDSASHA512   = SignatureScheme{Key: KeyECDSA, Hash: crypto.SHA512}
	Ed25519Scheme = SignatureScheme{Key: KeyEd25519}
)

// String names the scheme by its PKIX algorithm name
// ("sha256WithRSAEncryption", "ecdsa-with-SHA384", "RSASSA-PSS-SHA256 salt 32",
// "Ed25519").
func (s SignatureScheme) String() string {
	switch {
	case s.Key == KeyEd25519:
		return "Ed25519"
	case s.Key == KeyRSA && s.PSS:
		return fmt.Sprintf("RSASSA-PSS-%s salt %d", hashName(s.Hash), s.SaltLength)
	case s.Key == KeyRSA:
		return hashOIDName(s.Hash) + "WithRSAEncryption"
	case s.Key == KeyECDSA:
		return "ecdsa-with-" + hashName(s.Hash)
	}
	return "unknown signature scheme"
}

// HashID is the IANA hash algorithm number of the scheme's digest, which the
// peer must have announced in SIGNATURE_HASH_ALGORITHMS; 0 if it has none.
func (s SignatureScheme) HashID() uint16 {
	if s.Key == KeyEd25519 {
		return HashIdentity
	}
	switch s.Hash {
	case crypto.SHA1:
		return HashSHA1
	case crypto.SHA256:
		return HashSHA2256
	case crypto.SHA384:
		return HashSHA2384
	case crypto.SHA512:
		return HashSHA2512
	}
	return 0
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "SHA1"
	case crypto.SHA256:
		return "SHA256"
	case crypto.SHA384:
		return "SHA384"
	case crypto.SHA512:
		return "SHA512"
	}
	return "hash(" + strconv.Itoa(int(h)) + ")"
}

func hashOIDName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "sha1"
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	}
	return "hash" + strconv.Itoa(int(h))
}

// Object identifiers of RFC 7427 appendix A, RFC 4055 and RFC 8410.
var (
	oidSHA1WithRSA      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSASSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSAWithSHA1    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithSHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519          = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidSHA1             = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	errBadAlgorithmID   = errors.New("malformed AlgorithmIdentifier")
	errUnknownAlgorithm = errors.New("unknown signature algorithm")
)

var hashOIDs = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}{
	{oidSHA1, crypto.SHA1}, {oidSHA256, crypto.SHA256}, {oidSHA384, crypto.SHA384}, {oidSHA512, crypto.SHA512},
}

var simpleSchemes = []struct {
	oid    asn1.ObjectIdentifier
	scheme SignatureScheme
}{
	{oidSHA1WithRSA, SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1}},
	{oidSHA256WithRSA, RSASHA256},
	{oidSHA384WithRSA, RSASHA384},
	{oidSHA512WithRSA, RSASHA512},
	{oidECDSAWithSHA1, SignatureScheme{Key: KeyECDSA, Hash: crypto.SHA1}},
	{oidECDSAWithSHA256, ECDSASHA256},
	{oidECDSAWithSHA384, ECDSASHA384},
	{oidECDSAWithSHA512, ECDSASHA512},
	{oidEd25519, Ed25519Scheme},
}

func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	for _, e := range hashOIDs {
		if e.hash == h {
			return e.oid
		}
	}
	return nil
}

// AlgorithmIdentifier returns the DER AlgorithmIdentifier that precedes the
// signature in an RFC 7427 AUTH payload, encoded as strongSwan does: a NULL
// parameter for PKCS#1 v1.5 RSA, none for ECDSA and Ed25519 (RFC 5758, RFC
// 8410), and for RSASSA-PSS explicit hash and MGF1 parameters (each with a
// NULL parameter), the salt length unless it is the default 20 and no
// trailerField (RFC 7427 erratum 4838).
func (s SignatureScheme) AlgorithmIdentifier() ([]byte, error) {
	var b cryptobyte.Builder
	switch {
	case s.Key == KeyRSA && s.PSS:
		h := hashOID(s.Hash)
		if h == nil || s.SaltLength < 0 {
			return nil, fmt.Errorf("encode %v: %w", s, errUnknownAlgorithm)
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidRSASSAPSS)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				if s.Hash != crypto.SHA1 {
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						addAlgID(b, h, true)
					})
					b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidMGF1)
							addAlgID(b, h, true)
						})
					})
				}
				if s.SaltLength != 20 {
					b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1Int64(int64(s.SaltLength))
					})
				}
			})
		})
	default:
		var oid asn1.ObjectIdentifier
		for _, e := range simpleSchemes {
			if e.scheme == s {
				oid = e.oid
			}
		}
		if oid == nil {
			return nil, fmt.Errorf("encode %v: %w", s, errUnknownAlgorithm)
		}
		addAlgID(&b, oid, s.Key == KeyRSA)
	}
	return b.Bytes()
}

func addAlgID(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, null bool) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if null {
			b.AddASN1NULL()
		}
	})
}

// ParseAlgorithmIdentifier reads a DER AlgorithmIdentifier naming a signature
// scheme; it must fill der exactly. Like strongSwan it accepts an absent or
// NULL parameter for every scheme but RSASSA-PSS, whose parameters must be
// present; RSASSA-PSS is only accepted with MGF1 over the same hash as the
// message and trailerField 1. SHA-1 schemes are returned as such; refusing
// them is the caller's policy.
func ParseAlgorithmIdentifier(der []byte) (SignatureScheme, error) {
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return SignatureScheme{}, errBadAlgorithmID
	}
	oid, params, err := readAlgID(seq)
	if err != nil {
		return SignatureScheme{}, err
	}
	if oid.Equal(oidRSASSAPSS) {
		if params == nil {
			return SignatureScheme{}, fmt.Errorf("RSASSA-PSS without parameters: %w", errBadAlgorithmID)
		}
		return parsePSSParams(params)
	}
	if params != nil && !isNULL(params) {
		return SignatureScheme{}, fmt.Errorf("unexpected parameters for %v: %w", oid, errBadAlgorithmID)
	}
	for _, e := range simpleSchemes {
		if e.oid.Equal(oid) {
			return e.scheme, nil
		}
	}
	return SignatureScheme{}, fmt.Errorf("%w %v", errUnknownAlgorithm, oid)
}

// readAlgID splits the contents of an AlgorithmIdentifier SEQUENCE into its
// OID and the full TLV of its parameters (nil when absent).
func readAlgID(seq cryptobyte.String) (asn1.ObjectIdentifier, []byte, error) {
	var oid asn1.ObjectIdentifier
	if !seq.ReadASN1ObjectIdentifier(&oid) {
		return nil, nil, errBadAlgorithmID
	}
	if seq.Empty() {
		return oid, nil, nil
	}
	var params cryptobyte.String
	var tag cbasn1.Tag
	if !seq.ReadAnyASN1Element(&params, &tag) || !seq.Empty() {
		return nil, nil, errBadAlgorithmID
	}
	return oid, params, nil
}

func isNULL(tlv []byte) bool { return len(tlv) == 2 && tlv[0] == 0x05 && tlv[1] == 0 }

// readHashAlgID reads an AlgorithmIdentifier of a hash function.
func readHashAlgID(s *cryptobyte.String) (crypto.Hash, error) {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return 0, errBadAlgorithmID
	}
	oid, params, err := readAlgID(seq)
	if err != nil {
		return 0, err
	}
	if params != nil && !isNULL(params) {
		return 0, fmt.Errorf("unexpected parameters for hash %v: %w", oid, errBadAlgorithmID)
	}
	for _, e := range hashOIDs {
		if e.oid.Equal(oid) {
			return e.hash, nil
		}
	}
	return 0, fmt.Errorf("unknown hash algorithm %v: %w", oid, errUnknownAlgorithm)
}

// parsePSSParams reads RSASSA-PSS-params (RFC 4055 section 3.1), whose
// absent fields default to SHA-1, MGF1 with SHA-1, 20 bytes of salt and
// trailerField 1.
func parsePSSParams(tlv []byte) (SignatureScheme, error) {
	in := cryptobyte.String(tlv)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return SignatureScheme{}, fmt.Errorf("RSASSA-PSS parameters: %w", errBadAlgorithmID)
	}
	s := SignatureScheme{Key: KeyRSA, PSS: true, Hash: crypto.SHA1, SaltLength: 20}
	mgfHash := crypto.SHA1
	tag0 := cbasn1.Tag(0).Constructed().ContextSpecific()
	tag1 := cbasn1.Tag(1).Constructed().ContextSpecific()
	tag2 := cbasn1.Tag(2).Constructed().ContextSpecific()
	tag3 := cbasn1.Tag(3).Constructed().ContextSpecific()
	var field cryptobyte.String
	var present bool
	var err error
	if !seq.ReadOptionalASN1(&field, &present, tag0) {
		return SignatureScheme{}, fmt.Errorf("RSASSA-PSS hashAlgorithm: %w", errBadAlgorithmID)
	}
	if present {
		if s.Hash, err = readHashAlgID(&field); err != nil || !field.Empty() {
			return SignatureScheme{}, fmt.Errorf("RSASSA-PSS hashAlgorithm: %w", orBad(err))
		}
	}
	if !seq.ReadOptionalASN1(&field, &present, tag1) {
		return SignatureScheme{}, fmt.Errorf("RSASSA-PSS maskGenAlgorithm: %w", errBadAlgorithmID)
	}
	if present {
		var mgf cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !field.ReadASN1(&mgf, cbasn1.SEQUENCE) || !field.Empty() || !mgf.ReadASN1ObjectIdentifier(&oid) {
			return SignatureScheme{}, fmt.Errorf("RSASSA-PSS maskGenAlgorithm: %w", errBadAlgorithmID)
		}
		if !oid.Equal(oidMGF1) {
			return SignatureScheme{}, fmt.Errorf("RSASSA-PSS mask generation function %v: %w", oid, errUnknownAlgorithm)
		}
		if mgfHash, err = readHashAlgID(&mgf); err != nil || !mgf.Empty() {
			return SignatureScheme{}, fmt.Errorf("RSASSA-PSS MGF1 hash: %w", orBad(err))
		}
	}
	if !seq.ReadOptionalASN1(&field, &present, tag2) {
		return SignatureScheme{}, fmt.Errorf("RSASSA-PSS saltLength: %w", errBadAlgorithmID)
	}
	if present {
		var salt int64
		if !field.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || !field.Empty() || salt < 0 || salt > 1<<16 {
			return SignatureScheme{}, fmt.Errorf("RSASSA-PSS saltLength: %w", errBadAlgorithmID)
		}
		s.SaltLength = int(salt)
	}
	if !seq.ReadOptionalASN1(&field, &present, tag3) {
		return SignatureScheme{}, fmt.Errorf("RSASSA-PSS trailerField: %w", errBadAlgorithmID)
	}
	if present {
		var trailer int64
		if !field.ReadASN1Int64WithTag(&trailer, cbasn1.INTEGER) || !field.Empty() || trailer != 1 {
			return SignatureScheme{}, fmt.Errorf("RSASSA-PSS trailerField: %w", errBadAlgorithmID)
		}
	}
	if !seq.Empty() {
		return SignatureScheme{}, fmt.Errorf("RSASSA-PSS parameters: trailing data: %w", errBadAlgorithmID)
	}
	if mgfHash != s.Hash {
		return SignatureScheme{}, fmt.Errorf("RSASSA-PSS with %s and MGF1-%s: %w (MGF1 must use the message hash)",
			hashName(s.Hash), hashName(mgfHash), errUnknownAlgorithm)
	}
	return s, nil
}

func orBad(err error) error {
	if err == nil {
		return errBadAlgorithmID
	}
	return err
}
