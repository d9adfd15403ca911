package crypto

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
)

func seeded(n uint64) *rand.ChaCha8 {
	var seed [32]byte
	seed[0] = byte(n)
	seed[1] = byte(n >> 8)
	return rand.NewChaCha8(seed)
}

var allMethods = []uint16{KEMODP1024, KEMODP2048, KEMODP3072, KEMODP4096, KEECP256, KEECP384, KEECP521, KECurve25519, KEMLKEM768, KEMLKEM1024}

// RFC 5903 section 8: the initiator's and responder's private keys, public
// values (x and y) and the shared secret (the x coordinate of g^ir).
func TestECPKnownAnswers(t *testing.T) {
	cases := []struct {
		method      uint16
		i, gix, giy string
		r, grx, gry string
		girx        string
	}{
		{KEECP256,
			"C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
			"DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180",
			"5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
			"C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
			"D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63",
			"56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
			"D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE"},
		{KEECP384,
			"099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655E35B538041E649EE3FAEF896783AB194",
			"667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6DE3AC808ACB4BDB4C88732AEE95F41AA",
			"9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C",
			"41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942E0308312916B8ED2960E4BD55A7448FC",
			"E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D0D1AC43A0336DEF96FDA41D0774A3571",
			"DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FFF83FA40142209DFF5EAAD96DB9E6386C",
			"11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4D603135569B9E9D09CF5D4A270F59746"},
		{KEECP521,
			"0037ADE9319A89F4DABDB3EF411AACCCA5123C61ACAB57B5393DCE47608172A095AA85A30FE1C2952C6771D937BA9777F5957B2639BAB072462F68C27A57382D4A52",
			"0015417E84DBF28C0AD3C278713349DC7DF153C897A1891BD98BAB4357C9ECBEE1E3BF42E00B8E380AEAE57C2D107564941885942AF5A7F4601723C4195D176CED3E",
			"017CAE20B6641D2EEB695786D8C946146239D099E18E1D5A514C739D7CB4A10AD8A788015AC405D7799DC75E7B7D5B6CF2261A6A7F1507438BF01BEB6CA3926F9582",
			"0145BA99A847AF43793FDD0E872E7CDFA16BE30FDC780F97BCCC3F078380201E9C677D600B343757A3BDBF2A3163E4C2F869CCA7458AA4A4EFFC311F5CB151685EB9",
			"00D0B3975AC4B799F5BEA16D5E13E9AF971D5E9B984C9F39728B5E5739735A219B97C356436ADC6E95BB0352F6BE64A6C2912D4EF2D0433CED2B6171640012D9460F",
			"015C68226383956E3BD066E797B623C27CE0EAC2F551A10C2C724D9852077B87220B6536C5C408A1D2AEBB8E86D678AE49CB57091F4732296579AB44FCD17F0FC56A",
			"01144C7D79AE6956BC8EDB8E7C787C4521CB086FA64407F97894E5E6B2D79B04D1427E73CA4BAA240A34786859810C06B3C715A3A8CC3151F2BEE417996D19F3DDEA"},
	}
	for _, c := range cases {
		ke, err := NewKeyExchange(c.method, bytes.NewReader(unhex(t, c.i)))
		if err != nil {
			t.Fatal(err)
		}
		gi := unhex(t, c.gix+c.giy)
		gr := unhex(t, c.grx+c.gry)
		// KE data is x | y without the SEC1 0x04 prefix (RFC 5903 section 7).
		if !bytes.Equal(ke.PublicValue(), gi) {
			t.Errorf("group %d: g^i = %X, want %X", c.method, ke.PublicValue(), gi)
		}
		s, err := ke.SharedSecret(gr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s, unhex(t, c.girx)) {
			t.Errorf("group %d: g^ir = %X, want x coordinate %s", c.method, s, c.girx)
		}
		pub, s2, err := Encapsulate(c.method, gi, bytes.NewReader(unhex(t, c.r)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pub, gr) || !bytes.Equal(s2, s) {
			t.Errorf("group %d: responder side differs from RFC 5903", c.method)
		}

		// The private value is gone once the secret is computed.
		if _, err := ke.SharedSecret(gr); !errors.Is(err, ErrKeyExchangeDone) {
			t.Errorf("group %d: second SharedSecret: %v", c.method, err)
		}
		if !bytes.Equal(ke.PublicValue(), gi) {
			t.Errorf("group %d: public value changed after completion", c.method)
		}

		// Peer validation: not on the curve, wrong length, the SEC1 prefix.
		bad := bytes.Clone(gr)
		bad[len(bad)-1] ^= 1
		for _, peer := range [][]byte{bad, gr[:len(gr)-1], append([]byte{4}, gr...), make([]byte, len(gr))} {
			ke, err := NewKeyExchange(c.method, bytes.NewReader(unhex(t, c.i)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ke.SharedSecret(peer); !errors.Is(err, ErrInvalidPublicValue) {
				t.Errorf("group %d: bad peer value accepted (%v)", c.method, err)
			}
		}
	}
}

// RFC 7748 sections 5.2 and 6.1.
func TestX25519KnownAnswers(t *testing.T) {
	ke, err := NewKeyExchange(KECurve25519, bytes.NewReader(unhex(t, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ke.SharedSecret(unhex(t, "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"))
	if err != nil || hex.EncodeToString(s) != "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" {
		t.Errorf("RFC 7748 5.2: %x, %v", s, err)
	}

	alice, _ := NewKeyExchange(KECurve25519, bytes.NewReader(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")))
	if got := hex.EncodeToString(alice.PublicValue()); got != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Errorf("Alice's public key %s", got)
	}
	bobPub, s2, err := Encapsulate(KECurve25519, alice.PublicValue(), bytes.NewReader(unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(bobPub); got != "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f" {
		t.Errorf("Bob's public key %s", got)
	}
	s1, err := alice.SharedSecret(bobPub)
	if err != nil || !bytes.Equal(s1, s2) || hex.EncodeToString(s1) != "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" {
		t.Errorf("shared secret %x / %x, %v", s1, s2, err)
	}

	// Low-order points give the all-zero output, which RFC 8031 section
	// 2.3 requires to be rejected.
	for _, low := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	} {
		alice, _ := NewKeyExchange(KECurve25519, bytes.NewReader(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")))
		if _, err := alice.SharedSecret(unhex(t, low)); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("low-order point %s accepted (%v)", low, err)
		}
	}
	alice, _ = NewKeyExchange(KECurve25519, bytes.NewReader(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")))
	if _, err := alice.SharedSecret(make([]byte, 31)); !errors.Is(err, ErrInvalidPublicValue) {
		t.Errorf("31-octet value accepted")
	}
}

// piFloor returns floor(2^bits * pi) using Machin's formula in fixed point.
func piFloor(bits uint) *big.Int {
	const guard = 64
	one := new(big.Int).Lsh(big.NewInt(1), bits+guard)
	atanInv := func(x int64) *big.Int {
		sum := new(big.Int)
		xx := big.NewInt(x * x)
		term := new(big.Int).Div(one, big.NewInt(x))
		for k := int64(0); term.Sign() != 0; k++ {
			t := new(big.Int).Div(term, big.NewInt(2*k+1))
			if k%2 == 0 {
				sum.Add(sum, t)
			} else {
				sum.Sub(sum, t)
			}
			term.Div(term, xx)
		}
		return sum
	}
	pi := new(big.Int).Mul(big.NewInt(16), atanInv(5))
	pi.Sub(pi, new(big.Int).Mul(big.NewInt(4), atanInv(239)))
	return pi.Rsh(pi, guard)
}

// RFC 3526 (and RFC 2409 6.2 for the 1024-bit group 2): p = 2^N - 2^(N-64) - 1 + 2^64 * ( [2^(N-130) pi] + k ).
func TestMODPPrimes(t *testing.T) {
	tables, err := modpTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method uint16
		n      uint
		k      int64
	}{{KEMODP1024, 1024, 129093}, {KEMODP2048, 2048, 124476}, {KEMODP3072, 3072, 1690314}, {KEMODP4096, 4096, 240904}} {
		p := new(big.Int).Lsh(big.NewInt(1), c.n)
		p.Sub(p, new(big.Int).Lsh(big.NewInt(1), c.n-64))
		p.Sub(p, big.NewInt(1))
		f := piFloor(c.n - 130)
		f.Add(f, big.NewInt(c.k))
		p.Add(p, f.Lsh(f, 64))
		got := tables[c.method].p.Nat().Bytes(tables[c.method].p)
		if !bytes.Equal(got, p.Bytes()) {
			t.Errorf("group %d: prime does not match RFC 3526's formula", c.method)
		}
		if !p.ProbablyPrime(4) {
			t.Errorf("group %d: p not prime", c.method)
		}
	}
}

func TestMODPAgreementAndValidation(t *testing.T) {
	tables, _ := modpTables()
	for _, m := range []uint16{KEMODP1024, KEMODP2048, KEMODP3072, KEMODP4096} {
		a, err := NewKeyExchange(m, seeded(uint64(m)))
		if err != nil {
			t.Fatal(err)
		}
		bPub, bSecret, err := Encapsulate(m, a.PublicValue(), seeded(uint64(m)+100))
		if err != nil {
			t.Fatal(err)
		}
		aSecret, err := a.SharedSecret(bPub)
		if err != nil {
			t.Fatal(err)
		}
		size := tables[m].size
		if !bytes.Equal(aSecret, bSecret) || len(aSecret) != size || len(a.PublicValue()) != size {
			t.Fatalf("group %d: secrets differ or have wrong length (%d, %d)", m, len(aSecret), len(bSecret))
		}
		pb := tables[m].p.Nat().Bytes(tables[m].p)
		p := new(big.Int).SetBytes(pb)
		val := func(x *big.Int) []byte { return x.FillBytes(make([]byte, size)) }
		for name, v := range map[string][]byte{
			"0":     make([]byte, size),
			"1":     val(big.NewInt(1)),
			"p-1":   val(new(big.Int).Sub(p, big.NewInt(1))),
			"p":     pb,
			"short": bPub[1:],
			"long":  append([]byte{0}, bPub...),
		} {
			a, err := NewKeyExchange(m, seeded(uint64(m)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.SharedSecret(v); !errors.Is(err, ErrInvalidPublicValue) {
				t.Errorf("group %d: peer value %s accepted (%v)", m, name, err)
			}
		}
		if _, err := a.SharedSecret(val(big.NewInt(2))); !errors.Is(err, ErrKeyExchangeDone) {
			t.Errorf("group %d: SharedSecret after completion: %v", m, err)
		}
		a, err = NewKeyExchange(m, seeded(uint64(m)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.SharedSecret(val(big.NewInt(2))); err != nil {
			t.Errorf("group %d: generator rejected: %v", m, err)
		}
	}
}

func TestMLKEM(t *testing.T) {
	for _, m := range []uint16{KEMLKEM768, KEMLKEM1024} {
		if !IsKEM(m) {
			t.Fatalf("%d is a KEM", m)
		}
		ke, err := NewKeyExchange(m, seeded(1))
		if err != nil {
			t.Fatal(err)
		}
		ek := ke.PublicValue()
		if n, _ := KeyExchangeDataLen(m, true); len(ek) != n {
			t.Fatalf("encapsulation key %d octets, want %d", len(ek), n)
		}
		ct, secret, err := Encapsulate(m, ek, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := KeyExchangeDataLen(m, false); len(ct) != n {
			t.Fatalf("ciphertext %d octets, want %d", len(ct), n)
		}
		got, err := ke.SharedSecret(ct)
		if err != nil || !bytes.Equal(got, secret) || len(secret) != 32 {
			t.Fatalf("ML-KEM %d: decapsulated %x, encapsulated %x, %v", m, got, secret, err)
		}
		if _, err := ke.SharedSecret(ct); !errors.Is(err, ErrKeyExchangeDone) {
			t.Errorf("second decapsulation: %v", err)
		}
		if ke, err = NewKeyExchange(m, seeded(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := ke.SharedSecret(ct[1:]); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("short ciphertext: %v", err)
		}
		if _, _, err := Encapsulate(m, ek[1:], nil); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("short encapsulation key: %v", err)
		}
		// Coefficients >= q: not a valid encapsulation key (FIPS 203 7.2).
		if _, _, err := Encapsulate(m, bytes.Repeat([]byte{0xff}, len(ek)), nil); !errors.Is(err, ErrInvalidPublicValue) {
			t.Errorf("invalid encapsulation key: %v", err)
		}
		// Implicit rejection: a modified ciphertext decapsulates to another key.
		bad := bytes.Clone(ct)
		bad[0] ^= 1
		if other, err := ke.SharedSecret(bad); err != nil || bytes.Equal(other, secret) {
			t.Errorf("modified ciphertext: %v", err)
		}
	}
}

func TestKeyExchangeDeterministicAndLengths(t *testing.T) {
	for _, m := range allMethods {
		a, err := NewKeyExchange(m, seeded(7))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewKeyExchange(m, seeded(7))
		if !bytes.Equal(a.PublicValue(), b.PublicValue()) {
			t.Errorf("method %d: same randomness, different keys", m)
		}
		if a.Method() != m {
			t.Errorf("Method() = %d, want %d", a.Method(), m)
		}
		if n, _ := KeyExchangeDataLen(m, true); len(a.PublicValue()) != n {
			t.Errorf("method %d: public value %d octets, KeyExchangeDataLen %d", m, len(a.PublicValue()), n)
		}
		if _, err := NewKeyExchange(m, bytes.NewReader(nil)); err == nil {
			t.Errorf("method %d: empty random source accepted", m)
		}
	}
	if _, err := NewKeyExchange(17, seeded(1)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown method: %v", err)
	}
	if _, _, err := Encapsulate(17, nil, seeded(1)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown method: %v", err)
	}
	// A zero-only source never yields an ECP scalar.
	if _, err := NewKeyExchange(KEECP256, bytes.NewReader(make([]byte, 32*200))); err == nil {
		t.Errorf("zero scalar accepted")
	}
}

func BenchmarkKeyExchange(b *testing.B) {
	for _, m := range allMethods {
		b.Run(fmt.Sprint(m), func(b *testing.B) {
			peer, _ := NewKeyExchange(m, crand.Reader)
			peerPub := peer.PublicValue()
			b.ReportAllocs()
			for b.Loop() {
				if IsKEM(m) {
					// Initiator keygen + responder encapsulation + decapsulation.
					ke, _ := NewKeyExchange(m, crand.Reader)
					ct, _, err := Encapsulate(m, ke.PublicValue(), nil)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := ke.SharedSecret(ct); err != nil {
						b.Fatal(err)
					}
					continue
				}
				ke, err := NewKeyExchange(m, crand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ke.SharedSecret(peerPub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
