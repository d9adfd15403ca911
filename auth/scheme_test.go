package auth

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 7427 appendix A and RFC 8420 section 2 AlgorithmIdentifier encodings,
// with the RSASSA-PSS ones as corrected by erratum 4838 (no trailerField),
// which is what strongSwan sends.
var rfc7427Blobs = []struct {
	name   string
	scheme SignatureScheme
	der    string
}{
	{"A.1.2 sha256WithRSAEncryption", RSASHA256, "300d06092a864886f70d01010b0500"},
	{"A.1.3 sha384WithRSAEncryption", RSASHA384, "300d06092a864886f70d01010c0500"},
	{"A.1.4 sha512WithRSAEncryption", RSASHA512, "300d06092a864886f70d01010d0500"},
	{"A.3.2 ecdsa-with-sha256", ECDSASHA256, "300a06082a8648ce3d040302"},
	{"A.3.3 ecdsa-with-sha384", ECDSASHA384, "300a06082a8648ce3d040303"},
	{"A.3.4 ecdsa-with-sha512", ECDSASHA512, "300a06082a8648ce3d040304"},
	{"RFC 8420 Ed25519", Ed25519Scheme, "300506032b6570"},
	{"A.4.3 RSASSA-PSS SHA-256 (erratum 4838)", RSAPSSSHA256,
		`3041 06092a864886f70d01010a 3034
		 a00f 300d 0609608648016503040201 0500
		 a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500
		 a203 020120`},
	{"RSASSA-PSS SHA-384", RSAPSSSHA384,
		`3041 06092a864886f70d01010a 3034
		 a00f 300d 0609608648016503040202 0500
		 a11c 301a 06092a864886f70d010108 300d 0609608648016503040202 0500
		 a203 020130`},
	{"RSASSA-PSS SHA-512", RSAPSSSHA512,
		`3041 06092a864886f70d01010a 3034
		 a00f 300d 0609608648016503040203 0500
		 a11c 301a 06092a864886f70d010108 300d 0609608648016503040203 0500
		 a203 020140`},
}

func TestAlgorithmIdentifierRFC7427(t *testing.T) {
	for _, tc := range rfc7427Blobs {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.der)
			got, err := tc.scheme.AlgorithmIdentifier()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AlgorithmIdentifier(%v)\n got %x\nwant %x", tc.scheme, got, want)
			}
			parsed, err := ParseAlgorithmIdentifier(want)
			if err != nil {
				t.Fatal(err)
			}
			if parsed != tc.scheme {
				t.Errorf("ParseAlgorithmIdentifier = %+v, want %+v", parsed, tc.scheme)
			}
		})
	}
}

func TestParseAlgorithmIdentifierVariants(t *testing.T) {
	sha1RSA := SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1}
	for _, tc := range []struct {
		name string
		der  string
		want SignatureScheme
	}{
		{"A.1.1 sha1WithRSAEncryption", "300d06092a864886f70d0101050500", sha1RSA},
		{"RSA without NULL", "300b06092a864886f70d01010b", RSASHA256},
		{"ECDSA with NULL (strongSwan accepts)", "300c06082a8648ce3d0403020500", ECDSASHA256},
		{"A.3.1 ecdsa-with-sha1", "300906072a8648ce3d0401", SignatureScheme{Key: KeyECDSA, Hash: crypto.SHA1}},
		{"A.4.1 RSASSA-PSS empty parameters (SHA-1 defaults)", "300d06092a864886f70d01010a3000",
			SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1, PSS: true, SaltLength: 20}},
		{"A.4.3 RSASSA-PSS SHA-256 as printed in the RFC (trailerField 1)",
			`3046 06092a864886f70d01010a 3039
			 a00f 300d 0609608648016503040201 0500
			 a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500
			 a203 020120 a303 020101`, RSAPSSSHA256},
		{"A.4.2 RSASSA-PSS explicit default parameters (SHA-1)",
			`303e 06092a864886f70d01010a 3031
			 a00b 3009 06052b0e03021a 0500
			 a118 3016 06092a864886f70d010108 3009 06052b0e03021a 0500
			 a203 020114 a303 020101`, SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1, PSS: true, SaltLength: 20}},
		{"PSS SHA-256 no salt", `3041 06092a864886f70d01010a 3034
			 a00f 300d 0609608648016503040201 0500
			 a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500
			 a203 020100`, SignatureScheme{Key: KeyRSA, Hash: crypto.SHA256, PSS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAlgorithmIdentifier(unhex(t, tc.der))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// RSASSA-PSS with all defaults encodes as an empty parameter SEQUENCE, as
// strongSwan builds it (test_signature_params.c).
func TestPSSDefaultsEncodeEmpty(t *testing.T) {
	got, err := SignatureScheme{Key: KeyRSA, Hash: crypto.SHA1, PSS: true, SaltLength: 20}.AlgorithmIdentifier()
	if err != nil || hex.EncodeToString(got) != "300d06092a864886f70d01010a3000" {
		t.Fatalf("got %x, %v", got, err)
	}
	got, err = SignatureScheme{Key: KeyRSA, Hash: crypto.SHA256, PSS: true, SaltLength: 20}.AlgorithmIdentifier()
	// Salt 20 is the default and left out.
	want := "303c 06092a864886f70d01010a 302f a00f300d06096086480165030402010500 a11c301a06092a864886f70d010108300d06096086480165030402010500"
	if err != nil || !bytes.Equal(got, unhex(t, want)) {
		t.Fatalf("got %x, %v", got, err)
	}
	if _, err := (SignatureScheme{Key: KeyECDSA, Hash: crypto.SHA224}).AlgorithmIdentifier(); !errors.Is(err, errUnknownAlgorithm) {
		t.Fatalf("SHA-224 ECDSA encoded: %v", err)
	}
}

func TestParseAlgorithmIdentifierRejects(t *testing.T) {
	for _, tc := range []struct {
		name, der, want string
	}{
		{"empty", "", "malformed AlgorithmIdentifier"},
		{"trailing byte", "300a06082a8648ce3d04030200", "malformed AlgorithmIdentifier"},
		{"not a sequence", "310a06082a8648ce3d040302", "malformed AlgorithmIdentifier"},
		{"unknown OID (sha224WithRSAEncryption)", "300d06092a864886f70d01010e0500", "unknown signature algorithm 1.2.840.113549.1.1.14"},
		{"ECDSA with parameters", "300e06082a8648ce3d0403020402abcd", "unexpected parameters"},
		{"PSS without parameters", "300b06092a864886f70d01010a", "RSASSA-PSS without parameters"},
		{"PSS MGF1-SHA256 with SHA-1 (only MGF specified)",
			`302b 06092a864886f70d01010a 301e a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500`,
			"MGF1 must use the message hash"},
		{"PSS unknown hash", `301e 06092a864886f70d01010a 3011 a00f 300d 0609608648016503040200 0500`, "unknown hash algorithm"},
		{"PSS unknown MGF", `302b 06092a864886f70d01010a 301e a11c 301a 06092a864886f70d010100 300d 0609608648016503040201 0500`,
			"mask generation function"},
		{"PSS trailer 2", "301206092a864886f70d01010a3005a303020102", "trailerField"},
		{"PSS long trailer", "301306092a864886f70d01010a3006a30402020101", "trailerField"},
		{"PSS negative salt", `301406092a864886f70d01010a 3007 a205 0203ffffff`, "saltLength"},
		{"PSS fields out of order", `3023 06092a864886f70d01010a 3016 a203 020120 a00f 300d 0609608648016503040201 0500`, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAlgorithmIdentifier(unhex(t, tc.der))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(tc.name, "unknown") && !errors.Is(err, errUnknownAlgorithm) {
				t.Errorf("err = %v does not wrap errUnknownAlgorithm", err)
			}
		})
	}
}

func TestSchemeNames(t *testing.T) {
	for s, want := range map[SignatureScheme]string{
		RSASHA256:     "sha256WithRSAEncryption",
		RSAPSSSHA384:  "RSASSA-PSS-SHA384 salt 48",
		ECDSASHA512:   "ecdsa-with-SHA512",
		Ed25519Scheme: "Ed25519",
	} {
		if s.String() != want {
			t.Errorf("%+v.String() = %q, want %q", s, s.String(), want)
		}
	}
	if got := SupportedHashes(); len(got) != 4 || got[0] != 2 || got[1] != 3 || got[2] != 4 || got[3] != 5 {
		t.Errorf("SupportedHashes() = %v, want [2 3 4 5]", got)
	}
}
