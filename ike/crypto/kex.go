package crypto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"filippo.io/bigmod"
	"github.com/cloudflare/circl/kem/mlkem/mlkem512"

	"github.com/cygnet-ipsec/cygnet/iana"
)

// Key exchange methods implemented here, as uint16 IDs for the key
// schedule; the numbers are package iana's (IANA Transform Type 4).
const (
	KEMODP1024   uint16 = uint16(iana.MODP_1024)   // 1024-bit MODP group 2 (RFC 2409 section 6.2), legacy: only when a proposal names it
	KEMODP2048   uint16 = uint16(iana.MODP_2048)   // 2048-bit MODP group (RFC 3526 section 3)
	KEMODP3072   uint16 = uint16(iana.MODP_3072)   // 3072-bit MODP group (RFC 3526 section 4)
	KEMODP4096   uint16 = uint16(iana.MODP_4096)   // 4096-bit MODP group (RFC 3526 section 5)
	KEECP256     uint16 = uint16(iana.ECP_256)     // 256-bit random ECP group (RFC 5903)
	KEECP384     uint16 = uint16(iana.ECP_384)     // 384-bit random ECP group (RFC 5903)
	KEECP521     uint16 = uint16(iana.ECP_521)     // 521-bit random ECP group (RFC 5903)
	KECurve25519 uint16 = uint16(iana.CURVE25519)  // Curve25519 (RFC 8031)
	KEMLKEM512   uint16 = uint16(iana.ML_KEM_512)  // ML-KEM-512 (FIPS 203, draft-ietf-ipsecme-ikev2-mlkem), from circl
	KEMLKEM768   uint16 = uint16(iana.ML_KEM_768)  // ML-KEM-768 (FIPS 203, draft-ietf-ipsecme-ikev2-mlkem)
	KEMLKEM1024  uint16 = uint16(iana.ML_KEM_1024) // ML-KEM-1024 (FIPS 203, draft-ietf-ipsecme-ikev2-mlkem)
)

// ErrInvalidPublicValue is returned (wrapped, with the reason) when the
// peer's Key Exchange Data is malformed or unsafe: wrong length, out of range
// MODP value, point not on the curve, low-order X25519 point, or a malformed
// ML-KEM key or ciphertext.
var ErrInvalidPublicValue = errors.New("invalid key exchange data")

// ErrKeyExchangeDone is returned by SharedSecret once the shared secret was
// computed and the private value dropped.
var ErrKeyExchangeDone = errors.New("key exchange already completed, private value dropped")

// KeyExchange is one side's state of a key exchange method: a Diffie-Hellman
// group or a KEM (RFC 9370). The initiator of an exchange creates one with
// NewKeyExchange, sends PublicValue in its KE payload and feeds the peer's KE
// data to SharedSecret. For a DH group that is also what the responder does;
// for a KEM the responder calls Encapsulate instead, so responder code can
// always use Encapsulate.
//
// Shared secrets are returned as the octet strings that IKEv2 feeds into the
// key schedule: MODP g^ir left-padded to the length of the prime (RFC 7296
// section 2.14), the x coordinate for ECP (RFC 5903 section 7), the X25519
// output (RFC 8031), the ML-KEM shared key.
type KeyExchange interface {
	// Method returns the IANA Transform Type 4 ID.
	Method() uint16
	// PublicValue returns the Key Exchange Data this side sends: g^x, the
	// ECP point x | y, the X25519 public key, or the ML-KEM encapsulation key.
	PublicValue() []byte
	// SharedSecret validates the peer's Key Exchange Data (for a KEM: the
	// ciphertext) and returns the shared secret. It succeeds once: the
	// private value is dropped as soon as the secret is computed, so it
	// cannot outlive its use (later calls return ErrKeyExchangeDone).
	SharedSecret(peer []byte) ([]byte, error)
}

// IsKEM reports whether method is a key encapsulation mechanism, whose
// responder must use Encapsulate.
func IsKEM(method uint16) bool {
	return method == KEMLKEM512 || method == KEMLKEM768 || method == KEMLKEM1024
}

// KeyExchangeDataLen returns the length of the Key Exchange Data for method:
// sent by the initiator (initiator) or by the responder. Receivers use it to
// reject a KE payload before doing any arithmetic.
func KeyExchangeDataLen(method uint16, initiator bool) (int, error) {
	switch method {
	case KEMODP1024:
		return 128, nil
	case KEMODP2048:
		return 256, nil
	case KEMODP3072:
		return 384, nil
	case KEMODP4096:
		return 512, nil
	case KEECP256:
		return 64, nil
	case KEECP384:
		return 96, nil
	case KEECP521:
		return 132, nil
	case KECurve25519:
		return 32, nil
	case KEMLKEM512:
		if initiator {
			return mlkem512.PublicKeySize, nil
		}
		return mlkem512.CiphertextSize, nil
	case KEMLKEM768:
		if initiator {
			return mlkem.EncapsulationKeySize768, nil
		}
		return mlkem.CiphertextSize768, nil
	case KEMLKEM1024:
		if initiator {
			return mlkem.EncapsulationKeySize1024, nil
		}
		return mlkem.CiphertextSize1024, nil
	}
	return 0, fmt.Errorf("key exchange method %d: %w", method, ErrUnsupported)
}

// NewKeyExchange generates a fresh private key for method, reading all
// randomness from rand (so that tests can be deterministic; use
// crypto/rand.Reader in production).
func NewKeyExchange(method uint16, rand io.Reader) (KeyExchange, error) {
	if rand == nil {
		return nil, errors.New("new key exchange: nil random source")
	}
	switch method {
	case KEMODP1024, KEMODP2048, KEMODP3072, KEMODP4096:
		return newMODP(method, rand)
	case KEECP256, KEECP384, KEECP521:
		return newECDH(method, rand)
	case KECurve25519:
		return newX25519(rand)
	case KEMLKEM512, KEMLKEM768, KEMLKEM1024:
		return newMLKEM(method, rand)
	}
	return nil, fmt.Errorf("new key exchange: method %d: %w", method, ErrUnsupported)
}

// Encapsulate is the responder side of any key exchange method: given the
// initiator's Key Exchange Data it returns the responder's Key Exchange Data
// and the shared secret. For a DH group it generates a key pair from rand;
// for ML-KEM it encapsulates to the initiator's encapsulation key. The
// randomness of ML-KEM-768 and -1024 comes from crypto/rand because the
// standard library does not accept a caller's source for encapsulation;
// ML-KEM-512 (circl) takes its 32 octets from rand.
func Encapsulate(method uint16, peerPublic []byte, rand io.Reader) (publicValue, secret []byte, err error) {
	switch method {
	case KEMLKEM512:
		return encapsulate512(peerPublic, rand)
	case KEMLKEM768:
		if len(peerPublic) != mlkem.EncapsulationKeySize768 {
			return nil, nil, fmt.Errorf("ML-KEM-768 encapsulation key of %d octets: %w", len(peerPublic), ErrInvalidPublicValue)
		}
		ek, err := mlkem.NewEncapsulationKey768(peerPublic)
		if err != nil {
			return nil, nil, fmt.Errorf("ML-KEM-768 encapsulation key: %w", ErrInvalidPublicValue)
		}
		secret, ct := ek.Encapsulate()
		return ct, secret, nil
	case KEMLKEM1024:
		if len(peerPublic) != mlkem.EncapsulationKeySize1024 {
			return nil, nil, fmt.Errorf("ML-KEM-1024 encapsulation key of %d octets: %w", len(peerPublic), ErrInvalidPublicValue)
		}
		ek, err := mlkem.NewEncapsulationKey1024(peerPublic)
		if err != nil {
			return nil, nil, fmt.Errorf("ML-KEM-1024 encapsulation key: %w", ErrInvalidPublicValue)
		}
		secret, ct := ek.Encapsulate()
		return ct, secret, nil
	}
	// Validate the peer's value before spending time on key generation.
	if n, err := KeyExchangeDataLen(method, true); err != nil {
		return nil, nil, err
	} else if len(peerPublic) != n {
		return nil, nil, fmt.Errorf("key exchange method %d: %d octets, want %d: %w", method, len(peerPublic), n, ErrInvalidPublicValue)
	}
	ke, err := NewKeyExchange(method, rand)
	if err != nil {
		return nil, nil, err
	}
	secret, err = ke.SharedSecret(peerPublic)
	if err != nil {
		return nil, nil, err
	}
	return ke.PublicValue(), secret, nil
}

// --- MODP groups (RFC 2409 group 2, RFC 3526) ---

// The MODP groups use filippo.io/bigmod, the standard library's constant-time
// modular arithmetic (crypto/internal/fips140/bigmod) published as a module:
// math/big's Exp is not constant time and would leak the private exponent
// through timing.

type modpGroup struct {
	p       *bigmod.Modulus
	g       *bigmod.Nat
	size    int // octets of p
	expSize int // octets of the private exponent
}

var (
	modpOnce   sync.Once
	modpGroups map[uint16]*modpGroup
	modpErr    error
)

func modpTables() (map[uint16]*modpGroup, error) {
	modpOnce.Do(func() {
		modpGroups = make(map[uint16]*modpGroup, 4)
		for _, d := range []struct {
			id      uint16
			hex     string
			expBits int
		}{
			// Exponents of at least twice the group's security strength
			// (RFC 3526 section 8, NIST SP 800-56A 5.6.1.1.1).
			// MODP-1024 offers about 80 bits; its exponent is as long
			// as group 14's anyway, which costs little.
			{KEMODP1024, modp1024Hex, 256},
			{KEMODP2048, modp2048Hex, 256},
			{KEMODP3072, modp3072Hex, 384},
			{KEMODP4096, modp4096Hex, 512},
		} {
			pb, err := hex.DecodeString(strings.TrimSpace(d.hex))
			if err != nil {
				modpErr = err
				return
			}
			m, err := bigmod.NewModulus(pb)
			if err != nil {
				modpErr = err
				return
			}
			g, err := bigmod.NewNat().SetBytes([]byte{2}, m)
			if err != nil {
				modpErr = err
				return
			}
			modpGroups[d.id] = &modpGroup{p: m, g: g, size: len(pb), expSize: d.expBits / 8}
		}
	})
	return modpGroups, modpErr
}

type modpKE struct {
	method uint16
	grp    *modpGroup
	x      []byte
	pub    []byte
}

func newMODP(method uint16, rand io.Reader) (*modpKE, error) {
	tables, err := modpTables()
	if err != nil {
		return nil, fmt.Errorf("MODP group tables: %w", err)
	}
	grp := tables[method]
	x := make([]byte, grp.expSize)
	for range 100 {
		if _, err := io.ReadFull(rand, x); err != nil {
			return nil, fmt.Errorf("MODP group %d: read private exponent: %w", method, err)
		}
		if !bytes.Equal(x, make([]byte, len(x))) {
			pub := bigmod.NewNat().Exp(grp.g, x, grp.p).Bytes(grp.p)
			return &modpKE{method: method, grp: grp, x: x, pub: pub}, nil
		}
	}
	return nil, fmt.Errorf("MODP group %d: random source returns only zeros", method)
}

func (k *modpKE) Method() uint16      { return k.method }
func (k *modpKE) PublicValue() []byte { return bytes.Clone(k.pub) }

func (k *modpKE) SharedSecret(peer []byte) ([]byte, error) {
	if k.x == nil {
		return nil, ErrKeyExchangeDone
	}
	if len(peer) != k.grp.size {
		return nil, fmt.Errorf("MODP group %d: %d octets, want %d: %w", k.method, len(peer), k.grp.size, ErrInvalidPublicValue)
	}
	y, err := bigmod.NewNat().SetBytes(peer, k.grp.p)
	if err != nil {
		return nil, fmt.Errorf("MODP group %d: value not below p: %w", k.method, ErrInvalidPublicValue)
	}
	// RFC 7296 section 5 / SP 800-56A: 1 < y < p-1, which excludes the
	// elements of order 1 and 2.
	if y.IsZero()|y.IsOne()|y.IsMinusOne(k.grp.p) == 1 {
		return nil, fmt.Errorf("MODP group %d: value not in (1, p-1): %w", k.method, ErrInvalidPublicValue)
	}
	s := bigmod.NewNat().Exp(y, k.x, k.grp.p).Bytes(k.grp.p)
	clear(k.x)
	k.x = nil
	return s, nil
}

// --- ECP groups (RFC 5903); Curve25519 is in x25519.go ---

type ecdhKE struct {
	method uint16
	curve  ecdh.Curve
	priv   *ecdh.PrivateKey
	pub    []byte // Key Exchange Data, kept after priv is dropped
	coord  int    // octets of one coordinate
}

func newECDH(method uint16, rand io.Reader) (*ecdhKE, error) {
	k := &ecdhKE{method: method}
	var mask byte = 0xff
	switch method {
	case KEECP256:
		k.curve, k.coord = ecdh.P256(), 32
	case KEECP384:
		k.curve, k.coord = ecdh.P384(), 48
	case KEECP521:
		k.curve, k.coord, mask = ecdh.P521(), 66, 0x01
	}
	// ecdh's GenerateKey ignores its reader since Go 1.26, so draw the
	// scalar from rand ourselves and let NewPrivateKey reject values
	// outside [1, n-1] (rejection sampling, as FIPS 186-5 A.4.2).
	b := make([]byte, k.coord)
	defer clear(b)
	for range 100 {
		if _, err := io.ReadFull(rand, b); err != nil {
			return nil, fmt.Errorf("key exchange method %d: read private key: %w", method, err)
		}
		b[0] &= mask
		priv, err := k.curve.NewPrivateKey(b)
		if err == nil {
			// Uncompressed SEC1 point without the 0x04 prefix (RFC 5903 section 7).
			k.priv, k.pub = priv, priv.PublicKey().Bytes()[1:]
			return k, nil
		}
	}
	return nil, fmt.Errorf("key exchange method %d: random source yields no valid scalar", method)
}

func (k *ecdhKE) Method() uint16 { return k.method }

func (k *ecdhKE) PublicValue() []byte { return k.pub }

func (k *ecdhKE) SharedSecret(peer []byte) ([]byte, error) {
	if k.priv == nil {
		return nil, ErrKeyExchangeDone
	}
	want := 2 * k.coord
	if len(peer) != want {
		return nil, fmt.Errorf("key exchange method %d: %d octets, want %d: %w", k.method, len(peer), want, ErrInvalidPublicValue)
	}
	enc := make([]byte, 0, 1+len(peer))
	enc = append(append(enc, 4), peer...)
	pub, err := k.curve.NewPublicKey(enc)
	if err != nil {
		return nil, fmt.Errorf("key exchange method %d: point not on curve: %w", k.method, ErrInvalidPublicValue)
	}
	s, err := k.priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("key exchange method %d: %v: %w", k.method, err, ErrInvalidPublicValue)
	}
	k.priv = nil
	return s, nil
}

// --- ML-KEM (FIPS 203) ---

type mlkemKE struct {
	method uint16
	dk512  *mlkem512.PrivateKey
	dk768  *mlkem.DecapsulationKey768
	dk1024 *mlkem.DecapsulationKey1024
	ek     []byte // encapsulation key, kept after the decapsulation key is dropped
}

func newMLKEM(method uint16, rand io.Reader) (*mlkemKE, error) {
	seed := make([]byte, mlkem.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("ML-KEM: read seed: %w", err)
	}
	k := &mlkemKE{method: method}
	if method == KEMLKEM512 {
		// FIPS 203 ML-KEM.KeyGen_internal(d, z) with seed = d | z, the
		// seed layout of crypto/mlkem too.
		pk, sk := mlkem512.NewKeyFromSeed(seed)
		k.dk512 = sk
		k.ek = make([]byte, mlkem512.PublicKeySize)
		pk.Pack(k.ek)
		return k, nil
	}
	var err error
	if method == KEMLKEM768 {
		k.dk768, err = mlkem.NewDecapsulationKey768(seed)
	} else {
		k.dk1024, err = mlkem.NewDecapsulationKey1024(seed)
	}
	if err != nil {
		return nil, fmt.Errorf("ML-KEM: %w", err)
	}
	if k.dk768 != nil {
		k.ek = k.dk768.EncapsulationKey().Bytes()
	} else {
		k.ek = k.dk1024.EncapsulationKey().Bytes()
	}
	return k, nil
}

func (k *mlkemKE) Method() uint16 { return k.method }

func (k *mlkemKE) PublicValue() []byte { return k.ek }

func (k *mlkemKE) SharedSecret(ciphertext []byte) ([]byte, error) {
	var (
		s   []byte
		err error
	)
	if k.dk512 == nil && k.dk768 == nil && k.dk1024 == nil {
		return nil, ErrKeyExchangeDone
	}
	if k.dk512 != nil {
		if len(ciphertext) != mlkem512.CiphertextSize {
			return nil, fmt.Errorf("ML-KEM-512 ciphertext of %d octets: %w", len(ciphertext), ErrInvalidPublicValue)
		}
		s = make([]byte, mlkem512.SharedKeySize)
		// Implicit rejection (FIPS 203): a bad ciphertext yields a
		// pseudorandom key, never an error; AUTH fails later.
		k.dk512.DecapsulateTo(s, ciphertext)
		k.dk512 = nil
		return s, nil
	}
	if k.dk768 != nil {
		if len(ciphertext) != mlkem.CiphertextSize768 {
			return nil, fmt.Errorf("ML-KEM-768 ciphertext of %d octets: %w", len(ciphertext), ErrInvalidPublicValue)
		}
		s, err = k.dk768.Decapsulate(ciphertext)
	} else {
		if len(ciphertext) != mlkem.CiphertextSize1024 {
			return nil, fmt.Errorf("ML-KEM-1024 ciphertext of %d octets: %w", len(ciphertext), ErrInvalidPublicValue)
		}
		s, err = k.dk1024.Decapsulate(ciphertext)
	}
	if err != nil {
		return nil, fmt.Errorf("ML-KEM decapsulate: %w", ErrInvalidPublicValue)
	}
	k.dk768, k.dk1024 = nil, nil
	return s, nil
}

// encapsulate512 is ML-KEM-512's Encaps (FIPS 203 section 7.2): the
// encapsulation key is checked (length and the modulus check of section
// 7.2, in circl's Unpack) before the 32 octets of m are read from rand.
func encapsulate512(peerPublic []byte, rand io.Reader) (ct, secret []byte, err error) {
	if len(peerPublic) != mlkem512.PublicKeySize {
		return nil, nil, fmt.Errorf("ML-KEM-512 encapsulation key of %d octets: %w", len(peerPublic), ErrInvalidPublicValue)
	}
	var pk mlkem512.PublicKey
	if err := pk.Unpack(peerPublic); err != nil {
		return nil, nil, fmt.Errorf("ML-KEM-512 encapsulation key: %w", ErrInvalidPublicValue)
	}
	if rand == nil {
		return nil, nil, errors.New("ML-KEM-512 encapsulate: nil random source")
	}
	m := make([]byte, mlkem512.EncapsulationSeedSize)
	defer clear(m)
	if _, err := io.ReadFull(rand, m); err != nil {
		return nil, nil, fmt.Errorf("ML-KEM-512 encapsulate: read randomness: %w", err)
	}
	ct = make([]byte, mlkem512.CiphertextSize)
	secret = make([]byte, mlkem512.SharedKeySize)
	pk.EncapsulateTo(ct, secret, m)
	return ct, secret, nil
}
