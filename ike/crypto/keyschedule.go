package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrWiped is returned when key material is used after Wipe.
var ErrWiped = errors.New("key material has been wiped")

// KeyVisitor receives one named key. It is the opt-in hook through which a
// key-log writer (for Wireshark and the like) sees key material; nothing else
// in this package ever exposes keys in text form. The slice is only valid
// during the call.
type KeyVisitor func(label string, key []byte)

// IKESAKeys owns the keying material of one IKE SA: SK_d, SK_ai, SK_ar, SK_ei,
// SK_er, SK_pi and SK_pr (RFC 7296 section 2.14). The keys live behind a
// pointer so that printing an IKESAKeys, or any struct holding one, never
// shows them; String and Format print only the algorithms. Call Wipe when the
// IKE SA is deleted. An IKESAKeys is not safe for concurrent use with Wipe.
type IKESAKeys struct {
	m *ikeMaterial
}

type ikeMaterial struct {
	suite Suite
	prf   PRF
	buf   []byte // all seven keys, back to back, in RFC order
	// The keys are cut from buf by their lengths rather than held as
	// seven slices: a gateway keeps one ikeMaterial per client.
	integLen, encrLen uint8
}

// key returns the i-th of SK_d, SK_ai, SK_ar, SK_ei, SK_er, SK_pi, SK_pr.
func (m *ikeMaterial) key(i int) []byte {
	p, a, e := m.prf.Size(), int(m.integLen), int(m.encrLen)
	lens := [7]int{p, a, a, e, e, p, p}
	off := 0
	for _, n := range lens[:i] {
		off += n
	}
	return m.buf[off : off+lens[i] : off+lens[i]]
}

func (m *ikeMaterial) d() []byte  { return m.key(0) }
func (m *ikeMaterial) ai() []byte { return m.key(1) }
func (m *ikeMaterial) ar() []byte { return m.key(2) }
func (m *ikeMaterial) ei() []byte { return m.key(3) }
func (m *ikeMaterial) er() []byte { return m.key(4) }
func (m *ikeMaterial) pi() []byte { return m.key(5) }
func (m *ikeMaterial) pr() []byte { return m.key(6) }

func spiBytes(spiI, spiR uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], spiI)
	binary.BigEndian.PutUint64(b[8:], spiR)
	return b[:]
}

// DeriveIKESAKeys runs the IKE SA key schedule of RFC 7296 section 2.14:
//
//	SKEYSEED = prf(Ni | Nr, g^ir)
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// sharedSecret is g^ir as returned by KeyExchange.SharedSecret; ni and nr are
// the Nonce Data of the IKE_SA_INIT exchange. SK_e* include the salt for AEAD
// ciphers. Only the HMAC PRFs are supported, so the full nonces key the PRF.
func DeriveIKESAKeys(s Suite, sharedSecret, ni, nr []byte, spiI, spiR uint64) (*IKESAKeys, error) {
	prf, err := NewPRF(s.PRF, PRFOptions{AllowLegacySHA1: s.AllowLegacySHA1})
	if err != nil {
		return nil, fmt.Errorf("derive IKE SA keys: %w", err)
	}
	if len(sharedSecret) == 0 {
		return nil, errors.New("derive IKE SA keys: empty shared secret")
	}
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(append(key, ni...), nr...)
	skeyseed := prf.Sum(nil, key, sharedSecret)
	clear(key)
	defer clear(skeyseed)
	return expandIKESAKeys(s, prf, skeyseed, ni, nr, spiI, spiR)
}

// Rekey derives the keys of the IKE SA that replaces k in a CREATE_CHILD_SA
// exchange (RFC 7296 section 2.18):
//
//	SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
//
// using the PRF of the old SA, then prf+ of the new SA's PRF with the new
// SPIs. ni and nr are the nonces of the rekeying exchange. For RFC 9370
// additional key exchanges in the rekeying exchange, pass their shared
// secrets as additional, in order: SKEYSEED then covers
// SK(0) | Ni | Nr | SK(1) | ... | SK(n) with SK(0) = g^ir (new)
// (RFC 9370 section 2.2.4).
func (k *IKESAKeys) Rekey(s Suite, ni, nr []byte, spiI, spiR uint64, sharedSecret []byte, additional ...[]byte) (*IKESAKeys, error) {
	if k == nil || k.m == nil {
		return nil, fmt.Errorf("rekey IKE SA: %w", ErrWiped)
	}
	prf, err := NewPRF(s.PRF, PRFOptions{AllowLegacySHA1: s.AllowLegacySHA1})
	if err != nil {
		return nil, fmt.Errorf("rekey IKE SA: %w", err)
	}
	if len(sharedSecret) == 0 {
		return nil, errors.New("rekey IKE SA: empty shared secret")
	}
	parts := make([][]byte, 0, 3+len(additional))
	parts = append(parts, sharedSecret, ni, nr)
	parts = append(parts, additional...)
	skeyseed := k.m.prf.Sum(nil, k.m.d(), parts...)
	defer clear(skeyseed)
	return expandIKESAKeys(s, prf, skeyseed, ni, nr, spiI, spiR)
}

// AdditionalKeyExchange returns the keys that replace k after an additional
// key exchange in IKE_INTERMEDIATE (RFC 9242, RFC 9370 section 2.2.2):
//
//	SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr)
//	{SK_d(n) | SK_ai(n) | ...} = prf+(SKEYSEED(n), Ni | Nr | SPIi | SPIr)
//
// secret is SK(n), the shared secret of the n-th additional key exchange; ni,
// nr and the SPIs are those of IKE_SA_INIT. The caller keeps k to protect the
// IKE_INTERMEDIATE response that finishes the exchange, then wipes it.
func (k *IKESAKeys) AdditionalKeyExchange(secret, ni, nr []byte, spiI, spiR uint64) (*IKESAKeys, error) {
	if k == nil || k.m == nil {
		return nil, fmt.Errorf("additional key exchange: %w", ErrWiped)
	}
	if len(secret) == 0 {
		return nil, errors.New("additional key exchange: empty shared secret")
	}
	skeyseed := k.m.prf.Sum(nil, k.m.d(), secret, ni, nr)
	defer clear(skeyseed)
	return expandIKESAKeys(k.m.suite, k.m.prf, skeyseed, ni, nr, spiI, spiR)
}

func expandIKESAKeys(s Suite, prf PRF, skeyseed, ni, nr []byte, spiI, spiR uint64) (*IKESAKeys, error) {
	encrLen, _, aead, err := EncrKeyLen(s.Encr, s.EncrKeyBits)
	if err != nil {
		return nil, fmt.Errorf("derive IKE SA keys: %w", err)
	}
	if s.Encr == 0 || s.Encr == EncrNull {
		return nil, fmt.Errorf("derive IKE SA keys: IKE SA needs encryption: %w", ErrUnsupported)
	}
	integLen, err := IntegKeyLen(s.Integ)
	if err != nil {
		return nil, fmt.Errorf("derive IKE SA keys: %w", err)
	}
	if aead != (s.Integ == IntegNone) {
		return nil, fmt.Errorf("derive IKE SA keys: %s with %s: %w", encrName(s.Encr, s.EncrKeyBits), integName(s.Integ), ErrUnsupported)
	}
	p := prf.Size()
	total := 3*p + 2*integLen + 2*encrLen
	buf, err := prf.Plus(skeyseed, total, ni, nr, spiBytes(spiI, spiR))
	if err != nil {
		return nil, fmt.Errorf("derive IKE SA keys: %w", err)
	}
	return &IKESAKeys{m: &ikeMaterial{suite: s, prf: prf, buf: buf, integLen: uint8(integLen), encrLen: uint8(encrLen)}}, nil
}

// Suite returns the transforms the keys were derived for.
func (k *IKESAKeys) Suite() Suite {
	if k == nil || k.m == nil {
		return Suite{}
	}
	return k.m.suite
}

// PRF returns the IKE SA's negotiated PRF.
func (k *IKESAKeys) PRF() PRF {
	if k == nil || k.m == nil {
		return PRF{}
	}
	return k.m.prf
}

// Protectors returns the SK payload protectors of this IKE SA for one side:
// out protects messages this end sends, in checks messages it receives. The
// initiator of the IKE SA (the original initiator, RFC 7296 section 2.14)
// sends with SK_ei/SK_ai and the responder with SK_er/SK_ar. rand supplies
// CBC IVs; it may be nil for AEAD ciphers.
func (k *IKESAKeys) Protectors(initiator bool, rand io.Reader) (out, in *Protector, err error) {
	if k == nil || k.m == nil {
		return nil, nil, fmt.Errorf("SK payload protectors: %w", ErrWiped)
	}
	m := k.m
	pi, err := NewProtector(m.suite.Encr, m.suite.EncrKeyBits, m.suite.Integ, m.ei(), m.ai(), rand)
	if err != nil {
		return nil, nil, err
	}
	pr, err := NewProtector(m.suite.Encr, m.suite.EncrKeyBits, m.suite.Integ, m.er(), m.ar(), rand)
	if err != nil {
		return nil, nil, err
	}
	if initiator {
		return pi, pr, nil
	}
	return pr, pi, nil
}

// SignedOctets appends to dst the octets that the AUTH payload of one side
// covers (RFC 7296 section 2.15):
//
//	InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, IDi')
//	ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, IDr')
//
// signerIsInitiator selects the side whose AUTH is computed or verified,
// realMessage is that side's IKE_SA_INIT message as sent, peerNonce the other
// side's Nonce Data and idPayloadBody the signer's ID payload without its
// generic header (IDx'). For RFC 9242 IKE_INTERMEDIATE, append the IntAuth
// values to the result as that RFC says.
func (k *IKESAKeys) SignedOctets(dst []byte, signerIsInitiator bool, realMessage, peerNonce, idPayloadBody []byte) ([]byte, error) {
	if k == nil || k.m == nil {
		return dst, fmt.Errorf("AUTH signed octets: %w", ErrWiped)
	}
	skp := k.m.pr()
	if signerIsInitiator {
		skp = k.m.pi()
	}
	dst = append(dst, realMessage...)
	dst = append(dst, peerNonce...)
	return k.m.prf.Sum(dst, skp, idPayloadBody), nil
}

// DeriveChildSAKeys computes the keys of a Child SA from SK_d (RFC 7296
// section 2.17):
//
//	KEYMAT = prf+(SK_d, Ni | Nr)                        without PFS
//	KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)           with PFS
//
// Pass the shared secret(s) of the CREATE_CHILD_SA key exchange as
// sharedSecrets, none for the first Child SA and for rekeys without PFS. With
// RFC 9370 additional key exchanges pass g^ir (new) = SK(0) first, then
// SK(1)...SK(n); the seed is then SK(0) | Ni | Nr | SK(1) | ... | SK(n)
// (RFC 9370 section 2.2.4).
// KEYMAT is cut into initiator-to-responder encryption key, integrity key,
// then responder-to-initiator encryption and integrity key, in that order.
func (k *IKESAKeys) DeriveChildSAKeys(c ChildSuite, ni, nr []byte, sharedSecrets ...[]byte) (*ChildSAKeys, error) {
	if k == nil || k.m == nil {
		return nil, fmt.Errorf("derive Child SA keys: %w", ErrWiped)
	}
	encrLen, err := childEncrKeyLen(c.Encr, c.EncrKeyBits)
	if err != nil {
		return nil, fmt.Errorf("derive Child SA keys: %w", err)
	}
	integLen, err := childIntegKeyLen(c.Integ)
	if err != nil {
		return nil, fmt.Errorf("derive Child SA keys: %w", err)
	}
	for i, s := range sharedSecrets {
		if len(s) == 0 {
			return nil, fmt.Errorf("derive Child SA keys: shared secret %d is empty", i)
		}
	}
	seed := make([][]byte, 0, len(sharedSecrets)+2)
	if len(sharedSecrets) > 0 {
		seed = append(seed, sharedSecrets[0])
	}
	seed = append(seed, ni, nr)
	if len(sharedSecrets) > 1 {
		seed = append(seed, sharedSecrets[1:]...)
	}
	buf, err := k.m.prf.Plus(k.m.d(), 2*(encrLen+integLen), seed...)
	if err != nil {
		return nil, fmt.Errorf("derive Child SA keys: %w", err)
	}
	m := &childMaterial{suite: c, buf: buf}
	rest := buf
	take := func(n int) []byte {
		b := rest[:n:n]
		rest = rest[n:]
		return b
	}
	m.encrI = take(encrLen)
	m.integI = take(integLen)
	m.encrR = take(encrLen)
	m.integR = take(integLen)
	return &ChildSAKeys{m: m}, nil
}

// RevealKeys calls visit with each key, labelled "SK_d", "SK_ai", "SK_ar",
// "SK_ei", "SK_er", "SK_pi", "SK_pr" (empty integrity keys with AEAD ciphers
// are skipped). It is the opt-in hook for key-log writers; nothing is revealed
// otherwise.
func (k *IKESAKeys) RevealKeys(visit KeyVisitor) {
	if k == nil || k.m == nil {
		return
	}
	m := k.m
	for _, e := range []struct {
		l string
		b []byte
	}{{"SK_d", m.d()}, {"SK_ai", m.ai()}, {"SK_ar", m.ar()}, {"SK_ei", m.ei()}, {"SK_er", m.er()}, {"SK_pi", m.pi()}, {"SK_pr", m.pr()}} {
		if len(e.b) > 0 {
			visit(e.l, e.b)
		}
	}
}

// Wipe overwrites all key material with zeros and releases it. Protectors
// created earlier keep their own expanded cipher state; wipe those too.
// Wipe is idempotent.
func (k *IKESAKeys) Wipe() {
	if k == nil || k.m == nil {
		return
	}
	clear(k.m.buf)
	k.m = nil
}

// String describes the algorithms, never the keys.
func (k *IKESAKeys) String() string {
	if k == nil || k.m == nil {
		return "IKESAKeys{wiped}"
	}
	s := k.m.suite
	return fmt.Sprintf("IKESAKeys{%s %s %s, keys redacted}", k.m.prf, encrName(s.Encr, s.EncrKeyBits), integName(s.Integ))
}

// Format makes every fmt verb, including %#v and %x, print String.
func (k *IKESAKeys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// ChildSAKeys owns the keys of one Child SA, cut from KEYMAT (RFC 7296
// section 2.17). Like IKESAKeys it never prints its keys.
type ChildSAKeys struct {
	m *childMaterial
}

type childMaterial struct {
	suite  ChildSuite
	buf    []byte
	encrI  []byte
	integI []byte
	encrR  []byte
	integR []byte
}

// InitiatorToResponder returns the encryption key (including any salt) and
// integrity key protecting traffic from the initiator of the exchange that
// created the Child SA to its responder. The slices alias the owned material:
// copy them into the SA and do not keep them past Wipe.
func (c *ChildSAKeys) InitiatorToResponder() (encr, integ []byte) {
	if c == nil || c.m == nil {
		return nil, nil
	}
	return c.m.encrI, c.m.integI
}

// ResponderToInitiator is InitiatorToResponder for the other direction.
func (c *ChildSAKeys) ResponderToInitiator() (encr, integ []byte) {
	if c == nil || c.m == nil {
		return nil, nil
	}
	return c.m.encrR, c.m.integR
}

// Suite returns the transforms the keys were cut for.
func (c *ChildSAKeys) Suite() ChildSuite {
	if c == nil || c.m == nil {
		return ChildSuite{}
	}
	return c.m.suite
}

// RevealKeys calls visit with "encr_i", "integ_i", "encr_r" and "integ_r"
// (empty keys are skipped); the opt-in hook for key-log writers.
func (c *ChildSAKeys) RevealKeys(visit KeyVisitor) {
	if c == nil || c.m == nil {
		return
	}
	m := c.m
	for _, e := range []struct {
		l string
		b []byte
	}{{"encr_i", m.encrI}, {"integ_i", m.integI}, {"encr_r", m.encrR}, {"integ_r", m.integR}} {
		if len(e.b) > 0 {
			visit(e.l, e.b)
		}
	}
}

// Wipe overwrites the keys with zeros and releases them. Idempotent.
func (c *ChildSAKeys) Wipe() {
	if c == nil || c.m == nil {
		return
	}
	clear(c.m.buf)
	c.m = nil
}

// String describes the algorithms, never the keys.
func (c *ChildSAKeys) String() string {
	if c == nil || c.m == nil {
		return "ChildSAKeys{wiped}"
	}
	return fmt.Sprintf("ChildSAKeys{%s %s, keys redacted}", encrName(c.m.suite.Encr, c.m.suite.EncrKeyBits), integName(c.m.suite.Integ))
}

// Format makes every fmt verb print String.
func (c *ChildSAKeys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// SKp returns a copy of SK_pi (initiator) or SK_pr: the shared key of the
// AUTH payloads after an EAP method that yields no MSK (RFC 7296 2.16).
func (k *IKESAKeys) SKp(initiator bool) ([]byte, error) {
	if k == nil || k.m == nil {
		return nil, fmt.Errorf("SK_p: %w", ErrWiped)
	}
	if initiator {
		return append([]byte(nil), k.m.pi()...), nil
	}
	return append([]byte(nil), k.m.pr()...), nil
}
