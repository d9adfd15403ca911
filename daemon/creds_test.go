package daemon

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// trustPKIs are the throwaway CAs of the trust tests: A and B with ECDSA
// hosts, R with RSA hosts (slow to make, so made once).
type trustPKIs struct{ a, b, r *testnet.PKI }

var testPKIs *trustPKIs

func pkis(t *testing.T) *trustPKIs {
	t.Helper()
	if testPKIs != nil {
		return testPKIs
	}
	var p trustPKIs
	var err error
	if p.a, err = testnet.GeneratePKINamed(testnet.KeyECDSAP256, "CA A", "a", "b"); err != nil {
		t.Fatal(err)
	}
	if p.b, err = testnet.GeneratePKINamed(testnet.KeyECDSAP256, "CA B", "a", "c"); err != nil {
		t.Fatal(err)
	}
	if p.r, err = testnet.GeneratePKINamed(testnet.KeyRSA3072, "CA R", "a", "b"); err != nil {
		t.Fatal(err)
	}
	testPKIs = &p
	return testPKIs
}

const trustConf = `connections {
	for-ca-a {
		local { auth = pubkey
			certs = b.crt }
		remote { auth = pubkey
			id = a.cygnet.test
			cacerts = caA.crt }
	}
	for-ca-b {
		local { auth = pubkey
			certs = b.crt }
		remote { auth = pubkey
			id = a.cygnet.test
			cacerts = caB.crt }
	}
	any-ca {
		local { auth = pubkey
			certs = b.crt }
		remote { auth = pubkey }
	}
	pinned {
		local { auth = pubkey
			certs = b.crt }
		remote { auth = pubkey
			certs = c.crt }
	}
	ca-id-b {
		local { auth = pubkey
			certs = b.crt }
		remote { auth = pubkey
			ca_id = "C=XX, O=cygnet test, CN=CA B" }
	}
	ca-id-wild {
		local { auth = pubkey
			certs = b.crt }
		remote { auth = pubkey
			ca_id = "C=XX, O=*, CN=CA A" }
	}
	pss {
		local { auth = rsa/pss
			certs = rb.crt }
		remote { auth = ike:rsa/pss
			cacerts = caR.crt }
	}
	pss-chain {
		local { auth = rsa/pss
			certs = rb.crt }
		remote { auth = rsa/pss
			cacerts = caR.crt }
	}
	pkcs1 {
		local { auth = rsa-sha384
			certs = rb.crt }
		remote { auth = pubkey-sha256 }
	}
}
`

// trustCreds loads trustConf with the credentials of cygnet (b.crt of CA A,
// rb.crt of CA R) and the peer certificate c.crt of CA B that "pinned" names.
func trustCreds(t *testing.T) *pubkeyCredentials {
	t.Helper()
	p := pkis(t)
	dir := t.TempDir()
	files := map[string][]byte{
		"swanctl.conf":   []byte(trustConf),
		"x509ca/caA.crt": p.a.CAPEM,
		"x509ca/caB.crt": p.b.CAPEM,
		"x509ca/caR.crt": p.r.CAPEM,
		"x509/b.crt":     p.a.Hosts["b"].CertPEM,
		"private/b.key":  p.a.Hosts["b"].KeyPEM,
		"x509/rb.crt":    p.r.Hosts["b"].CertPEM,
		"private/rb.key": p.r.Hosts["b"].KeyPEM,
		"x509/c.crt":     p.b.Hosts["c"].CertPEM,
	}
	writeFiles(t, dir, files)
	cfg, err := LoadConfig(filepath.Join(dir, "swanctl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	base, err := newCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := newPubkeyCredentials(cfg, base)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

var octets = []byte("the signed octets of an IKE_AUTH exchange")

// peerAuth is what a peer with host certificate h sends: its certificate
// and AUTH data signed as opts says, for a peer that announced all hashes.
func peerAuth(t *testing.T, h *testnet.HostCert, opts auth.SignerOptions) ([][]byte, wire.AuthMethod, []byte) {
	t.Helper()
	s, err := auth.NewSigner(h.Key, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, data, err := s.Sign(octets, auth.SupportedHashes())
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{h.Cert.Raw}, m, data
}

// TestTrustScopedPerConnection: a connection's remote cacerts are the only
// CAs its peers' chains may end at, and remote certs pin the peer's
// certificate, whatever else cygnet trusts for other connections; a
// connection without either accepts any trusted CA, as in strongSwan.
func TestTrustScopedPerConnection(t *testing.T) {
	pc := trustCreds(t)
	p := pkis(t)
	for _, tc := range []struct {
		conn string
		host *testnet.HostCert
		want string // "" accepted
	}{
		{"for-ca-a", p.a.Hosts["a"], ""},
		{"for-ca-a", p.b.Hosts["a"], "peer certificate chain ends at C=XX, O=cygnet test, CN=CA B, connection for-ca-a requires C=XX, O=cygnet test, CN=CA A"},
		{"for-ca-b", p.b.Hosts["a"], ""},
		{"for-ca-b", p.a.Hosts["a"], "peer certificate chain ends at C=XX, O=cygnet test, CN=CA A, connection for-ca-b requires C=XX, O=cygnet test, CN=CA B"},
		{"any-ca", p.a.Hosts["a"], ""},
		{"any-ca", p.b.Hosts["a"], ""},
		{"pinned", p.b.Hosts["c"], ""},
		{"ca-id-b", p.b.Hosts["a"], ""},
		{"ca-id-b", p.a.Hosts["a"], "peer certificate chain (CAs: C=XX, O=cygnet test, CN=CA A) has no CA C=XX, O=cygnet test, CN=CA B, which connection ca-id-b requires (ca_id)"},
		{"ca-id-wild", p.a.Hosts["a"], ""},
		{"ca-id-wild", p.b.Hosts["a"], "has no CA C=XX, O=*, CN=CA A, which connection ca-id-wild requires (ca_id)"},
		{"pinned", p.b.Hosts["a"], "peer certificate C=XX, O=cygnet test, CN=a.cygnet.test is not the one connection pinned pins in remote certs (C=XX, O=cygnet test, CN=c.cygnet.test)"},
	} {
		certs, m, data := peerAuth(t, tc.host, auth.SignerOptions{})
		id := identity.ID{Type: wire.ID_FQDN, Data: []byte(tc.host.ID)}
		err := pc.VerifyPeer(tc.conn, id, certs, m, data, octets)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s, %s of %s: %v", tc.conn, tc.host.ID, tc.host.Cert.Issuer.CommonName, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s, %s of %s: err = %v\nwant %q", tc.conn, tc.host.ID, tc.host.Cert.Issuer.CommonName, err, tc.want)
		}
	}
	// A certificate of no CA we trust says so, with the CA required.
	other, err := testnet.GeneratePKINamed(testnet.KeyECDSAP256, "CA X", "a")
	if err != nil {
		t.Fatal(err)
	}
	certs, m, data := peerAuth(t, other.Hosts["a"], auth.SignerOptions{})
	err = pc.VerifyPeer("for-ca-a", identity.ID{Type: wire.ID_FQDN, Data: []byte("a.cygnet.test")}, certs, m, data, octets)
	if !errors.Is(err, auth.ErrUntrusted) || !strings.Contains(err.Error(), "connection for-ca-a requires C=XX, O=cygnet test, CN=CA A") {
		t.Errorf("certificate of an unknown CA: %v", err)
	}
	// CERTREQ names the connection's CAs only.
	if got, want := pc.CertReq("for-ca-a"), auth.NewTrustStore(p.a.CA).CertReqData(); string(got) != string(want) {
		t.Errorf("CERTREQ of for-ca-a names %d CAs, want CA A only", len(got)/20)
	}
	if got := pc.CertReq(""); len(got) != 3*20 {
		t.Errorf("CERTREQ without a connection names %d CAs, want all 3", len(got)/20)
	}
}

// TestSignatureConstraints: remote auth constraints restrict the peer's
// signature (RFC 7427 scheme and hash), local ones choose ours.
func TestSignatureConstraints(t *testing.T) {
	pc := trustCreds(t)
	p := pkis(t)
	ra := p.r.Hosts["a"]
	id := identity.ID{Type: wire.ID_FQDN, Data: []byte(ra.ID)}

	certs, m, data := peerAuth(t, ra, auth.SignerOptions{}) // PKCS#1 v1.5, strongSwan's default
	err := pc.VerifyPeer("pss", id, certs, m, data, octets)
	if !errors.Is(err, auth.ErrSchemeNotAllowed) || !strings.Contains(err.Error(), "sha256WithRSAEncryption") {
		t.Errorf("PKCS#1 v1.5 signature where rsa/pss is required: %v", err)
	}
	certs, m, data = peerAuth(t, ra, auth.SignerOptions{RSAPSS: true})
	if err := pc.VerifyPeer("pss", id, certs, m, data, octets); err != nil {
		t.Errorf("RSASSA-PSS signature where rsa/pss is required: %v", err)
	}
	// Without "ike:", rsa/pss constrains the certificate chain too, as in
	// strongSwan: CA R signs with PKCS#1 v1.5.
	err = pc.VerifyPeer("pss-chain", id, certs, m, data, octets)
	if !errors.Is(err, auth.ErrSchemeNotAllowed) || !strings.Contains(err.Error(), "certificate C=XX, O=cygnet test, CN=a.cygnet.test is signed with SHA256-RSA, which the auth constraints do not allow") {
		t.Errorf("chain signed with PKCS#1 v1.5 where rsa/pss is required: %v", err)
	}
	// pubkey-sha256 takes PKCS#1 v1.5 (and ECDSA) with SHA-256 only.
	certs, m, data = peerAuth(t, ra, auth.SignerOptions{Schemes: []auth.SignatureScheme{auth.RSASHA384}})
	if err := pc.VerifyPeer("pkcs1", id, certs, m, data, octets); !errors.Is(err, auth.ErrSchemeNotAllowed) {
		t.Errorf("SHA-384 signature where pubkey-sha256 is required: %v", err)
	}
	certs, m, data = peerAuth(t, ra, auth.SignerOptions{})
	if err := pc.VerifyPeer("pkcs1", id, certs, m, data, octets); err != nil {
		t.Errorf("SHA-256 signature where pubkey-sha256 is required: %v", err)
	}

	// What we send: local auth = rsa/pss signs with RSASSA-PSS,
	// local auth = rsa-sha384 with PKCS#1 v1.5 and SHA-384.
	local := identity.ID{Type: wire.ID_FQDN, Data: []byte("b.cygnet.test")}
	for conn, want := range map[string]auth.SignatureScheme{"pss": auth.RSAPSSSHA256, "pkcs1": auth.RSASHA384} {
		method, data, err := pc.Sign(conn, local, octets, auth.SupportedHashes())
		if err != nil {
			t.Fatalf("%s: sign: %v", conn, err)
		}
		sc, err := auth.ParseAlgorithmIdentifier(data[1 : 1+int(data[0])])
		if err != nil || method != wire.AuthDigitalSignature || sc.Key != want.Key || sc.Hash != want.Hash || sc.PSS != want.PSS {
			t.Errorf("%s: signed with method %v scheme %v (%v), want %v", conn, method, sc, err, want)
		}
		if err := (auth.Verifier{}).VerifyCert(p.r.Hosts["b"].Cert, method, data, octets); err != nil {
			t.Errorf("%s: our signature does not verify: %v", conn, err)
		}
	}
}

// checkConfig is what `cygnet check-config` runs.
func checkConfig(t *testing.T, conf string, files map[string][]byte) error {
	t.Helper()
	dir := t.TempDir()
	files["swanctl.conf"] = []byte(conf)
	writeFiles(t, dir, files)
	cfg, err := LoadConfig(filepath.Join(dir, "swanctl.conf"))
	if err != nil {
		return err
	}
	_, err = PeerConfigs(cfg)
	return err
}

// TestCheckConfigIdentitiesAndAuth: wildcard remote identities are
// accepted (and parsed as patterns), as are signature constraints cygnet
// enforces; options it cannot honour are refused with file:line.
func TestCheckConfigIdentitiesAndAuth(t *testing.T) {
	p := pkis(t)
	spki, err := x509.MarshalPKIXPublicKey(p.a.Hosts["b"].Cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	files := func() map[string][]byte {
		return map[string][]byte{"x509/b.crt": p.a.Hosts["b"].CertPEM, "private/b.key": p.a.Hosts["b"].KeyPEM, "x509ca/caA.crt": p.a.CAPEM,
			"pubkey/k.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})}
	}
	conn := func(local, remote string) string {
		return "connections {\n  c {\n    local {\n" + local + "\n    }\n    remote {\n" + remote + "\n    }\n  }\n}\n" +
			"secrets {\n  ike {\n    secret = 0123456789abcdefghij\n  }\n}\n"
	}
	for _, tc := range []struct {
		name, local, remote string
		want                string // "" accepted; else a substring of the error
	}{
		{"fqdn wildcard", "auth = psk", "auth = psk\nid = *.example.com", ""},
		{"rfc822 wildcard", "auth = psk", "auth = psk\nid = *@example.com", ""},
		{"dn wildcard", "auth = psk", "auth = psk\nid = \"C=CH, O=strongSwan, CN=*\"", ""},
		{"subnet", "auth = psk", "auth = psk\nid = 10.1.0.0/16", ""},
		{"local wildcard", "auth = psk\nid = *.example.com", "auth = psk", "swanctl.conf:5: connections.c.local.id = *.example.com: a local identity is sent to the peer and must be exact"},
		{"local subnet", "auth = psk\nid = 10.0.0.0/8", "auth = psk", "must be exact"},
		{"bad dn", "auth = psk", "auth = psk\nid = \"C=CH, XX=*\"", `unknown distinguished name attribute "XX"`},
		{"rsa/pss remote", "auth = pubkey\ncerts = b.crt", "auth = rsa/pss\ncacerts = caA.crt", ""},
		{"constraints", "auth = ecdsa-sha384\ncerts = b.crt", "auth = pubkey-sha384-sha256", ""},
		{"ed25519 remote", "auth = pubkey\ncerts = b.crt", "auth = ike:ed25519", ""},
		{"nothing implemented", "auth = pubkey\ncerts = b.crt", "auth = rsa-sha224", "swanctl.conf:8: connections.c.remote.auth = rsa-sha224 allows no signature scheme cygnet implements"},
		{"local scheme for another key", "auth = rsa/pss\ncerts = b.crt", "auth = pubkey", "swanctl.conf:4: connections.c.local.auth = rsa/pss allows no signature scheme for the ECDSA key of C=XX, O=cygnet test, CN=b.cygnet.test"},
		{"remote ca_id", "auth = pubkey\ncerts = b.crt", "auth = pubkey\nca_id = \"CN=CA A\"", ""},
		{"bad remote ca_id", "auth = pubkey\ncerts = b.crt", "auth = pubkey\nca_id = \"CN=CA A, XX=1\"", "swanctl.conf:9: connections.c.remote.ca_id: identity"},
		{"local ca_id", "auth = pubkey\ncerts = b.crt\nca_id = \"CN=CA A\"", "auth = pubkey", "swanctl.conf:6: connections.c.local.ca_id: not implemented"},
		{"pubkeys", "auth = pubkey\ncerts = b.crt", "auth = pubkey\npubkeys = k.pem", "swanctl.conf:9: connections.c.remote.pubkeys: not implemented"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkConfig(t, conn(tc.local, tc.remote), files())
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
}

// writeFiles writes files (paths relative to dir) as a swanctl folder.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLocalCertificatesWithoutRoot: IKE_AUTH carries our certificate
// without the self-signed root it chains to, and that is worked out once at
// load, not per IKE_AUTH (a self-signature check is a signature
// verification): a root whose signature no longer checks out after load
// still stays out of IKE_AUTH.
func TestLocalCertificatesWithoutRoot(t *testing.T) {
	pc := trustCreds(t)
	p := pkis(t)
	id, err := identity.Parse("b.cygnet.test")
	if err != nil {
		t.Fatal(err)
	}
	var o identityCert
	for _, c := range pc.own {
		if string(c.cert.Raw) == string(p.a.Hosts["b"].Cert.Raw) {
			o = c
		}
	}
	if len(o.intermediates) == 0 || !isSelfSigned(o.intermediates[len(o.intermediates)-1]) {
		t.Fatalf("b.crt's issuers %d, want its root CA among them", len(o.intermediates))
	}
	for round := range 2 {
		certs, err := pc.LocalCertificates("for-ca-a", id)
		if err != nil {
			t.Fatal(err)
		}
		if len(certs) != 1 || string(certs[0]) != string(p.a.Hosts["b"].Cert.Raw) {
			t.Fatalf("round %d: %d certificates sent, want b.crt alone (no root)", round, len(certs))
		}
		certs[0] = nil // the caller's copy: the next IKE_AUTH still sends b.crt
		// pc's certificates were parsed from its own files: the shared
		// test PKI is untouched
		root := o.intermediates[len(o.intermediates)-1]
		root.Signature = append([]byte(nil), root.Signature...)
		root.Signature[len(root.Signature)-1] ^= 1
	}
}
