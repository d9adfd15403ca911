package proposal

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

type tr = Transform

func encr(id wire.EncrID, kl uint16) tr {
	return tr{Type: wire.TransformENCR, ID: uint16(id), KeyLength: kl}
}
func integT(id wire.IntegID) tr { return tr{Type: wire.TransformINTEG, ID: uint16(id)} }
func prfT(id wire.PRFID) tr     { return tr{Type: wire.TransformPRF, ID: uint16(id)} }
func keT(id wire.KEMethod) tr   { return tr{Type: wire.TransformKE, ID: uint16(id)} }
func addke(n int, id wire.KEMethod) tr {
	return tr{Type: wire.TransformADDKE1 + wire.TransformType(n-1), ID: uint16(id)}
}
func esnT(id wire.ESNID) tr { return tr{Type: wire.TransformESN, ID: uint16(id)} }

var (
	noESN  = esnT(wire.NO_ESN)
	gcm128 = encr(wire.ENCR_AES_GCM_16, 128)
	gcm256 = encr(wire.ENCR_AES_GCM_16, 256)
)

func TestParse(t *testing.T) {
	cases := []struct {
		proto     wire.ProtocolID
		in        string
		canonical string
		want      []tr
	}{
		{wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519", "aes128gcm16-prfsha256-x25519",
			[]tr{gcm128, prfT(wire.PRF_HMAC_SHA2_256), keT(wire.CURVE25519)}},
		{wire.ProtocolIKE, "aes256-sha384-ecp384", "aes256-sha384-ecp384",
			[]tr{encr(wire.ENCR_AES_CBC, 256), integT(wire.AUTH_HMAC_SHA2_384_192), prfT(wire.PRF_HMAC_SHA2_384), keT(wire.ECP_384)}},
		{wire.ProtocolIKE, "aes256gcm16-aes128gcm16-prfsha512-ecp521-modp4096", "aes256gcm16-aes128gcm16-prfsha512-ecp521-modp4096",
			[]tr{gcm256, gcm128, prfT(wire.PRF_HMAC_SHA2_512), keT(wire.ECP_521), keT(wire.MODP_4096)}},
		{wire.ProtocolIKE, "chacha20poly1305-prfsha256-curve25519", "chacha20poly1305-prfsha256-x25519",
			[]tr{encr(wire.ENCR_CHACHA20_POLY1305, 0), prfT(wire.PRF_HMAC_SHA2_256), keT(wire.CURVE25519)}},
		{wire.ProtocolIKE, "aes128-sha256-modp3072", "aes128-sha256-modp3072",
			[]tr{encr(wire.ENCR_AES_CBC, 128), integT(wire.AUTH_HMAC_SHA2_256_128), prfT(wire.PRF_HMAC_SHA2_256), keT(wire.MODP_3072)}},
		{wire.ProtocolIKE, "aes-sha2_256-modp2048", "aes128-sha256-modp2048",
			[]tr{encr(wire.ENCR_AES_CBC, 128), integT(wire.AUTH_HMAC_SHA2_256_128), prfT(wire.PRF_HMAC_SHA2_256), keT(wire.MODP_2048)}},
		{wire.ProtocolIKE, "aes128gcm-prfsha256-ecp256", "aes128gcm16-prfsha256-ecp256",
			[]tr{gcm128, prfT(wire.PRF_HMAC_SHA2_256), keT(wire.ECP_256)}},
		// AEAD with an integrity algorithm: the PRF is implied from it, then the integrity algorithm dropped.
		{wire.ProtocolIKE, "aes128gcm16-sha256-x25519", "aes128gcm16-prfsha256-x25519",
			[]tr{gcm128, prfT(wire.PRF_HMAC_SHA2_256), keT(wire.CURVE25519)}},
		{wire.ProtocolIKE, "aes256-sha256-prfsha384-x25519", "aes256-sha256-prfsha384-x25519",
			[]tr{encr(wire.ENCR_AES_CBC, 256), integT(wire.AUTH_HMAC_SHA2_256_128), prfT(wire.PRF_HMAC_SHA2_384), keT(wire.CURVE25519)}},
		{wire.ProtocolIKE, "aes256-aes128-sha512-sha256-ecp256", "aes256-aes128-sha512-sha256-ecp256",
			[]tr{encr(wire.ENCR_AES_CBC, 256), encr(wire.ENCR_AES_CBC, 128), integT(wire.AUTH_HMAC_SHA2_512_256),
				integT(wire.AUTH_HMAC_SHA2_256_128), prfT(wire.PRF_HMAC_SHA2_512), prfT(wire.PRF_HMAC_SHA2_256), keT(wire.ECP_256)}},
		{wire.ProtocolIKE, "x25519-prfsha256-aes128gcm16", "aes128gcm16-prfsha256-x25519",
			[]tr{gcm128, prfT(wire.PRF_HMAC_SHA2_256), keT(wire.CURVE25519)}},
		{wire.ProtocolIKE, "AES128GCM16-PRFSHA256-X25519", "aes128gcm16-prfsha256-x25519",
			[]tr{gcm128, prfT(wire.PRF_HMAC_SHA2_256), keT(wire.CURVE25519)}},
		{wire.ProtocolIKE, "aes128-sha256-none-x25519", "aes128-sha256-x25519",
			[]tr{encr(wire.ENCR_AES_CBC, 128), integT(wire.AUTH_HMAC_SHA2_256_128), prfT(wire.PRF_HMAC_SHA2_256), keT(wire.CURVE25519)}},
		{wire.ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024-ke2_none", "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024-ke2_none",
			[]tr{gcm256, prfT(wire.PRF_HMAC_SHA2_384), keT(wire.CURVE25519), addke(1, wire.ML_KEM_768), addke(2, wire.ML_KEM_1024), addke(2, wire.KE_NONE)}},
		{wire.ProtocolIKE, "aes128gcm16-aes128gcm16-prfsha256-x25519", "aes128gcm16-prfsha256-x25519",
			[]tr{gcm128, prfT(wire.PRF_HMAC_SHA2_256), keT(wire.CURVE25519)}},
		{wire.ProtocolIKE, " aes128ctr - sha512 - mlkem768 ", "aes128ctr-sha512-mlkem768",
			[]tr{encr(wire.ENCR_AES_CTR, 128), integT(wire.AUTH_HMAC_SHA2_512_256), prfT(wire.PRF_HMAC_SHA2_512), keT(wire.ML_KEM_768)}},

		{wire.ProtocolESP, "aes128gcm16-x25519-esn", "aes128gcm16-x25519-esn", []tr{gcm128, keT(wire.CURVE25519), esnT(wire.ESN)}},
		{wire.ProtocolESP, "aes128gcm16-x25519-noesn", "aes128gcm16-x25519", []tr{gcm128, keT(wire.CURVE25519), noESN}},
		{wire.ProtocolESP, "aes128gcm16", "aes128gcm16", []tr{gcm128, noESN}},
		{wire.ProtocolESP, "aes128gcm16-esn-noesn", "aes128gcm16-esn-noesn", []tr{gcm128, esnT(wire.ESN), noESN}},
		{wire.ProtocolESP, "aes256ctr-sha256", "aes256ctr-sha256", []tr{encr(wire.ENCR_AES_CTR, 256), integT(wire.AUTH_HMAC_SHA2_256_128), noESN}},
		{wire.ProtocolESP, "aes128gmac", "aes128gmac", []tr{encr(wire.ENCR_NULL_AUTH_AES_GMAC, 128), noESN}},
		{wire.ProtocolESP, "aes256gmac-x25519", "aes256gmac-x25519", []tr{encr(wire.ENCR_NULL_AUTH_AES_GMAC, 256), keT(wire.CURVE25519), noESN}},
		{wire.ProtocolESP, "null-sha256", "null-sha256", []tr{encr(wire.ENCR_NULL, 0), integT(wire.AUTH_HMAC_SHA2_256_128), noESN}},
		{wire.ProtocolESP, "aes128gcm8-aes256gcm12", "aes128gcm8-aes256gcm12",
			[]tr{encr(wire.ENCR_AES_GCM_8, 128), encr(wire.ENCR_AES_GCM_12, 256), noESN}},
		{wire.ProtocolESP, "aes128gcm64-aes128gcm96-aes128gcm128", "aes128gcm8-aes128gcm12-aes128gcm16",
			[]tr{encr(wire.ENCR_AES_GCM_8, 128), encr(wire.ENCR_AES_GCM_12, 128), gcm128, noESN}},
		{wire.ProtocolESP, "aes128-sha256-prfsha256", "aes128-sha256", []tr{encr(wire.ENCR_AES_CBC, 128), integT(wire.AUTH_HMAC_SHA2_256_128), noESN}},
		{wire.ProtocolESP, "aes256gcm16-sha256", "aes256gcm16", []tr{gcm256, noESN}},
		{wire.ProtocolESP, "chacha20poly1305-none-x25519", "chacha20poly1305-none-x25519",
			[]tr{encr(wire.ENCR_CHACHA20_POLY1305, 0), keT(wire.KE_NONE), keT(wire.CURVE25519), noESN}},
		{wire.ProtocolESP, "aes128gcm16-modpnone", "aes128gcm16-none", []tr{gcm128, keT(wire.KE_NONE), noESN}},
		{wire.ProtocolESP, "aes256gcm16-ecp384-ke1_mlkem768", "aes256gcm16-ecp384-ke1_mlkem768",
			[]tr{gcm256, keT(wire.ECP_384), addke(1, wire.ML_KEM_768), noESN}},

		{wire.ProtocolAH, "sha256", "sha256", []tr{integT(wire.AUTH_HMAC_SHA2_256_128), noESN}},
		{wire.ProtocolAH, "aes128gmac", "aes128gmac", []tr{integT(wire.AUTH_AES_128_GMAC), noESN}},
		{wire.ProtocolAH, "sha384-sha512-esn", "sha384-sha512-esn",
			[]tr{integT(wire.AUTH_HMAC_SHA2_384_192), integT(wire.AUTH_HMAC_SHA2_512_256), esnT(wire.ESN)}},
		{wire.ProtocolAH, "aes256gmac-sha256-ecp256", "aes256gmac-sha256-ecp256",
			[]tr{integT(wire.AUTH_AES_256_GMAC), integT(wire.AUTH_HMAC_SHA2_256_128), keT(wire.ECP_256), noESN}},
	}
	for _, c := range cases {
		t.Run(c.proto.String()+"/"+c.in, func(t *testing.T) {
			// NULL encryption parses only as an opt-in (TestRefusals)
			opts := Options{AllowWeak: strings.HasPrefix(c.in, "null")}
			p, err := Parse(c.proto, c.in, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Transforms, c.want) {
				t.Fatalf("transforms\n got %v\nwant %v", p.Transforms, c.want)
			}
			if s := p.String(); s != c.canonical {
				t.Fatalf("String() = %q, want %q", s, c.canonical)
			}
			again, err := Parse(c.proto, c.canonical, opts)
			if err != nil || !reflect.DeepEqual(again.Transforms, c.want) || again.String() != c.canonical {
				t.Fatalf("canonical form does not round-trip: %v %v", again.Transforms, err)
			}
			// And through the SA payload's wire form.
			got := FromWire(p.Wire(nil))
			if !reflect.DeepEqual(got.Transforms, c.want) || got.String() != c.canonical {
				t.Fatalf("wire round trip: %v", got.Transforms)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		proto    wire.ProtocolID
		in       string
		sentinel error
		text     string
	}{
		{wire.ProtocolIKE, "aes256-sha1-modp1024", ErrWeak, `IKE proposal "aes256-sha1-modp1024": sha1 (AUTH_HMAC_SHA1_96) is refused unless the AllowWeak (legacy algorithms) option is set`},
		{wire.ProtocolIKE, "aes256-sha256-modp1024", ErrWeak, "modp1024 (MODP_1024) is refused unless the AllowWeak"},
		{wire.ProtocolIKE, "aes256-sha256-modp1536", ErrWeak, "modp1536 (MODP_1536)"},
		{wire.ProtocolIKE, "aes256-sha256-modp768", ErrWeak, "modp768 (MODP_768)"},
		{wire.ProtocolIKE, "3des-sha256-ecp256", ErrWeak, "3des (ENCR_3DES)"},
		{wire.ProtocolESP, "des-sha256", ErrWeak, "des (ENCR_DES)"},
		{wire.ProtocolESP, "aes128-md5", ErrWeak, "md5 (AUTH_HMAC_MD5_96)"},
		{wire.ProtocolESP, "aes128-sha", ErrWeak, "sha (AUTH_HMAC_SHA1_96)"},
		{wire.ProtocolIKE, "aes128-sha256-prfsha1-ecp256", ErrWeak, "prfsha1 (PRF_HMAC_SHA1)"},
		{wire.ProtocolIKE, "aes128-sha256-prfmd5-ecp256", ErrWeak, "prfmd5 (PRF_HMAC_MD5)"},
		{wire.ProtocolIKE, "camellia128-sha256-x25519", ErrUnsupported, "camellia128 (ENCR_CAMELLIA_CBC_128): algorithm not supported by cygnet"},
		{wire.ProtocolIKE, "aes128gcm16-prfsha256-x448", ErrUnsupported, "x448 (CURVE_448)"},
		{wire.ProtocolIKE, "aes128-sha256-prfaesxcbc-x25519", ErrUnsupported, "prfaesxcbc (PRF_AES128_XCBC)"},
		{wire.ProtocolIKE, "aes128-sha256-modp8192", ErrUnsupported, "modp8192"},
		{wire.ProtocolIKE, "aes128-sha256-ecp256bp", ErrUnsupported, "ecp256bp"},
		{wire.ProtocolIKE, "aes128-sha256-foo", ErrSyntax, `unknown algorithm "foo"`},
		{wire.ProtocolIKE, "aes128gcm16-x25519", ErrSyntax, "a PRF is mandatory in IKE proposals"},
		{wire.ProtocolIKE, "aes128-sha256", ErrSyntax, "a key exchange method is mandatory in IKE proposals"},
		{wire.ProtocolIKE, "aes128-sha256-none", ErrSyntax, "a key exchange method is mandatory"},
		{wire.ProtocolIKE, "prfsha256-x25519", ErrSyntax, "an encryption algorithm is mandatory in IKE proposals"},
		{wire.ProtocolIKE, "aes128-prfsha256-x25519", ErrSyntax, "an integrity algorithm is mandatory with classic"},
		{wire.ProtocolIKE, "aes128gcm16-aes128-sha256-x25519", ErrSyntax, "AEAD and classic encryption algorithms cannot share a proposal"},
		{wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519-esn", ErrSyntax, "ESN keywords belong to ESP and AH proposals"},
		{wire.ProtocolIKE, "null-sha256-x25519", ErrWeak, "null (ENCR_NULL) is refused unless the AllowWeak"},
		{wire.ProtocolIKE, "aes128gmac-prfsha256-x25519", ErrSyntax, "aes128gmac provides no confidentiality"},
		{wire.ProtocolESP, "aes128", ErrSyntax, "an integrity algorithm is mandatory with classic"},
		{wire.ProtocolESP, "null", ErrWeak, "null (ENCR_NULL) is refused unless the AllowWeak"},
		{wire.ProtocolESP, "x25519", ErrSyntax, "an encryption algorithm is mandatory in ESP proposals"},
		{wire.ProtocolESP, "aes128gcm16-aes128-sha256", ErrSyntax, "cannot share a proposal"},
		{wire.ProtocolAH, "aes128-sha256", ErrSyntax, "aes128: AH proposals carry no encryption algorithm"},
		{wire.ProtocolAH, "x25519", ErrSyntax, "an integrity algorithm is mandatory in AH proposals"},
		{wire.ProtocolESP, "aes128--sha256", ErrSyntax, "empty algorithm between '-'"},
		{wire.ProtocolESP, "aes128-sha256-", ErrSyntax, "empty algorithm"},
		{wire.ProtocolESP, "", ErrSyntax, "empty proposal"},
		{wire.ProtocolESP, "aes128gcm16-ke1_aes128", ErrSyntax, `"ke1_aes128": only key exchange methods take a ke1_ prefix`},
		{wire.ProtocolESP, "aes128gcm16-ke8_mlkem768", ErrSyntax, `unknown algorithm "ke8_mlkem768"`},
		{wire.ProtocolESP, "default", ErrSyntax, "use ParseList"},
		{wire.ProtocolNone, "aes128gcm16", ErrSyntax, "protocol NONE has no proposals"},
	}
	for _, c := range cases {
		_, err := Parse(c.proto, c.in, Options{})
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%v %q: err = %v\nwant %v containing %q", c.proto, c.in, err, c.sentinel, c.text)
		}
	}
}

func TestAllowWeak(t *testing.T) {
	cases := []struct {
		proto     wire.ProtocolID
		in        string
		canonical string
		want      []tr
	}{
		{wire.ProtocolIKE, "aes256-sha1-modp1024", "aes256-sha1-modp1024",
			[]tr{encr(wire.ENCR_AES_CBC, 256), integT(wire.AUTH_HMAC_SHA1_96), prfT(wire.PRF_HMAC_SHA1), keT(wire.MODP_1024)}},
		{wire.ProtocolIKE, "3des-md5-modp768", "3des-md5-modp768",
			[]tr{encr(wire.ENCR_3DES, 0), integT(wire.AUTH_HMAC_MD5_96), prfT(wire.PRF_HMAC_MD5), keT(wire.MODP_768)}},
		{wire.ProtocolESP, "aes128-sha-modp1536", "aes128-sha1-modp1536",
			[]tr{encr(wire.ENCR_AES_CBC, 128), integT(wire.AUTH_HMAC_SHA1_96), keT(wire.MODP_1536), noESN}},
	}
	for _, c := range cases {
		p, err := Parse(c.proto, c.in, Options{AllowWeak: true})
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if !reflect.DeepEqual(p.Transforms, c.want) || p.String() != c.canonical {
			t.Errorf("%q: %v %q", c.in, p.Transforms, p.String())
		}
	}
	// Unsupported algorithms stay refused.
	if _, err := Parse(wire.ProtocolIKE, "camellia128-sha1-modp1024", Options{AllowWeak: true}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("camellia with AllowWeak: %v", err)
	}
}

// TestRunnable: proposals the syntax accepts but cygnet's engines cannot
// install are refused with the reason; the defaults and the algorithms the
// engines implement pass.
func TestRunnable(t *testing.T) {
	for _, c := range []struct {
		proto wire.ProtocolID
		in    string
		want  string // "" for runnable
	}{
		{wire.ProtocolIKE, "aes128ctr-sha256-x25519", "aes128ctr: the IKE SA protector does not implement AES-CTR"},
		{wire.ProtocolESP, "aes128ctr-sha256", ""},
		{wire.ProtocolESP, "aes128gcm8", ""},
		{wire.ProtocolESP, "aes256gcm12-x25519", ""},
		{wire.ProtocolESP, "aes192gcm16-aes128ccm8-aes256ccm12-aes192ccm16", ""},
		{wire.ProtocolESP, "aes128-aesxcbc-aescmac", ""},
		{wire.ProtocolESP, "aes192gmac", ""},
		{wire.ProtocolAH, "aesxcbc-aescmac-aes192gmac", ""},
		{wire.ProtocolIKE, "aes256gcm12-prfsha256-x25519", "aes256gcm12: the IKE SA protector implements AES-GCM with a 16-octet ICV and a 128- or 256-bit key only"},
		{wire.ProtocolIKE, "aes192gcm16-prfsha256-x25519", "aes192gcm16: the IKE SA protector implements AES-GCM with a 16-octet ICV"},
		{wire.ProtocolIKE, "aes128ccm16-prfsha256-x25519", "aes128ccm16: the IKE SA protector"},
		{wire.ProtocolIKE, "aes128-aesxcbc-prfsha256-x25519", "aesxcbc: the IKE SA protector implements HMAC-SHA2 integrity only"},
		{wire.ProtocolIKE, "aes128-aescmac-prfsha256-x25519", "aescmac: the IKE SA protector implements HMAC-SHA2 integrity only"},
		// Child SAs run them in CREATE_CHILD_SA + IKE_FOLLOWUP_KE (RFC 9370 2.2.4)
		{wire.ProtocolESP, "aes256gcm16-ecp384-ke2_mlkem1024", ""},
		{wire.ProtocolIKE, "aes256gcm16-prfsha384-mlkem768", ""},
		{wire.ProtocolESP, "aes128gcm16-aes256gcm16-chacha20poly1305-x25519-esn", ""},
		// IKE SA set-up runs them in IKE_INTERMEDIATE (RFC 9242, 9370)
		{wire.ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024", ""},
	} {
		p, err := Parse(c.proto, c.in, Options{})
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		err = p.Runnable()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v %q: %v", c.proto, c.in, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrUnsupported)):
			t.Errorf("%v %q: got %v, want %q", c.proto, c.in, err, c.want)
		}
	}
	// NULL encryption is an opt-in (AllowWeak: a configured proposal names
	// it), and never for IKE
	if _, err := Parse(wire.ProtocolIKE, "null-sha256-x25519", Options{AllowWeak: true}); !errors.Is(err, ErrSyntax) ||
		!strings.Contains(err.Error(), "null provides no confidentiality") {
		t.Errorf("IKE null with AllowWeak: %v", err)
	}
	if p, err := Parse(wire.ProtocolESP, "null-aesxcbc", Options{AllowWeak: true}); err != nil || p.Runnable() != nil || len(p.Weak()) != 1 {
		t.Errorf("ESP null-aesxcbc with AllowWeak: %v, runnable %v, weak %v", err, p.Runnable(), p.Weak())
	}
	for _, in := range []string{"aes128gcm16-prfsha256-mlkem512", "aes128gcm16-prfsha256-x25519-ke1_mlkem512"} {
		p, err := Parse(wire.ProtocolIKE, in, Options{})
		if err == nil {
			err = p.Runnable()
		}
		if err != nil {
			t.Errorf("%s: %v (ML-KEM-512 comes from circl)", in, err)
		}
	}
	for _, proto := range []wire.ProtocolID{wire.ProtocolIKE, wire.ProtocolESP, wire.ProtocolAH} {
		for _, p := range Default(proto) {
			if err := p.Runnable(); err != nil {
				t.Errorf("%v default %s: %v", proto, p, err)
			}
		}
	}
}

func TestDefault(t *testing.T) {
	want := map[wire.ProtocolID]string{
		wire.ProtocolIKE: "aes128gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384-ecp521-modp3072-modp4096-modp2048, " +
			"aes128-aes192-aes256-sha256-sha384-sha512-x25519-ecp256-ecp384-ecp521-modp3072-modp4096-modp2048",
		wire.ProtocolESP: "aes128gcm16-aes256gcm16-chacha20poly1305-x25519-ecp256-ecp384-ecp521-modp3072-modp4096-modp2048-none, " +
			"aes128-aes192-aes256-aes128ctr-aes192ctr-aes256ctr-sha256-sha384-sha512-x25519-ecp256-ecp384-ecp521-modp3072-modp4096-modp2048-none",
		wire.ProtocolAH: "sha256-sha384-sha512-x25519-ecp256-ecp384-ecp521-modp3072-modp4096-modp2048-none",
	}
	for proto, w := range want {
		ps, err := ParseList(proto, "default", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := Format(ps); got != w {
			t.Errorf("%v default:\n got %s\nwant %s", proto, got, w)
		}
		for i, p := range ps {
			if int(p.Number) != i+1 {
				t.Errorf("%v default proposal %d numbered %d", proto, i+1, p.Number)
			}
			// default never contains weak algorithms: it must parse without AllowWeak (it did) and contain none
			// of the weak keywords.
			for _, tr := range p.Transforms {
				if k, ok := byAlgorithm[algKey{tr.Type, tr.ID, tr.KeyLength}]; ok && k.level != supported {
					t.Errorf("%v default contains %s", proto, k.name)
				}
			}
		}
	}
	ps, err := ParseList(wire.ProtocolESP, "aes128gcm16-x25519, default , aes256-sha512", Options{})
	if err != nil || len(ps) != 4 || ps[0].String() != "aes128gcm16-x25519" || ps[3].String() != "aes256-sha512" || ps[3].Number != 4 {
		t.Fatalf("list with default: %v %v", Format(ps), err)
	}
	if _, err := ParseList(wire.ProtocolESP, "aes128gcm16, aes128", Options{}); err == nil || !strings.Contains(err.Error(), `ESP proposal "aes128"`) {
		t.Fatalf("list error: %v", err)
	}
}

func TestToWire(t *testing.T) {
	ps, err := ParseList(wire.ProtocolESP, "aes128gcm16-x25519-esn, aes256-sha384", Options{})
	if err != nil {
		t.Fatal(err)
	}
	spi := []byte{0xc1, 0xc2, 0xc3, 0xc4}
	sa := ToWire(ps, spi)
	want := &wire.SA{Proposals: []wire.Proposal{
		{Number: 1, Protocol: wire.ProtocolESP, SPI: spi, Transforms: []wire.Transform{
			{Type: wire.TransformENCR, ID: uint16(wire.ENCR_AES_GCM_16), Attributes: []wire.TransformAttribute{wire.KeyLengthAttribute(128)}},
			{Type: wire.TransformKE, ID: uint16(wire.CURVE25519)},
			{Type: wire.TransformESN, ID: uint16(wire.ESN)},
		}},
		{Number: 2, Protocol: wire.ProtocolESP, SPI: spi, Transforms: []wire.Transform{
			{Type: wire.TransformENCR, ID: uint16(wire.ENCR_AES_CBC), Attributes: []wire.TransformAttribute{wire.KeyLengthAttribute(256)}},
			{Type: wire.TransformINTEG, ID: uint16(wire.AUTH_HMAC_SHA2_384_192)},
			{Type: wire.TransformESN, ID: uint16(wire.NO_ESN)},
		}},
	}}
	if !reflect.DeepEqual(sa, want) {
		t.Fatalf("got %+v", sa)
	}
	// Through the codec and back.
	b, err := (&wire.Message{Header: wire.Header{Exchange: wire.CREATE_CHILD_SA}, Payloads: []wire.Payload{sa}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	back := FromSA(m.Payloads[0].(*wire.SA))
	if Format(back) != "aes128gcm16-x25519-esn, aes256-sha384" || string(back[1].SPI) != string(spi) || back[1].Number != 2 {
		t.Fatalf("back: %s", Format(back))
	}
}

func TestFormatUnknown(t *testing.T) {
	p := FromWire(wire.Proposal{Number: 1, Protocol: wire.ProtocolIKE, Transforms: []wire.Transform{
		{Type: wire.TransformKE, ID: 1234},
		{Type: wire.TransformENCR, ID: 99, Attributes: []wire.TransformAttribute{wire.KeyLengthAttribute(128)}},
		{Type: wire.TransformENCR, ID: uint16(wire.ENCR_AES_CBC), Attributes: []wire.TransformAttribute{{Type: 77, TV: true, Value: 1}}},
		{Type: wire.TransformPRF, ID: uint16(wire.PRF_AES128_XCBC)},
		{Type: 42, ID: 7},
	}})
	// Unknown IDs and types get IANA-style names; a transform with unknown attributes is marked (and its missing
	// key length leaves AES-CBC without a keyword).
	if got, want := p.String(), "ENCR(99)_128-ENCR_AES_CBC(unknown attributes)-prfaesxcbc-KE(1234)-TRANSFORM(42):7"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
