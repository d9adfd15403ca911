package auth

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A swanctl tree like the interop cert-tunnel one: both sides load it, moon
// signs its AUTH payload, sun checks chain, identity and signature.
func TestConfigEndToEnd(t *testing.T) {
	caKey, moonKey, sunKey := key(t, "p384"), key(t, "rsa2048"), key(t, "p256")
	ca := makeCert(t, certSpec{subject: name("isw CA"), ca: true, key: caKey}, nil, nil)
	moon := makeCert(t, certSpec{subject: name("a.isw.test"), dns: []string{"a.isw.test"}, key: moonKey}, ca, caKey)
	sun := makeCert(t, certSpec{subject: name("b.isw.test"), dns: []string{"b.isw.test"}, key: sunKey}, ca, caKey)

	dir := t.TempDir()
	writePEM(t, filepath.Join(dir, "x509ca", "isw-ca.crt"), "CERTIFICATE", ca.Raw)
	writePEM(t, filepath.Join(dir, "x509", "a.crt"), "CERTIFICATE", moon.Raw)
	pk, err := x509.MarshalPKCS8PrivateKey(moonKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "private", "a.key"), "PRIVATE KEY", pk)
	conf := `connections {
  cert {
    remote_addrs = 10.99.0.2
    local {
      auth = pubkey-sha384
      certs = a.crt
      id = a.isw.test
    }
    remote {
      auth = pubkey
      id = b.isw.test
      cacerts = isw-ca.crt
    }
    children { net { local_ts = 10.99.1.0/24 } }
  }
}
secrets {
  ike-1 { id-a = a.isw.test
          id-b = b.isw.test
          secret = 0sc2VjcmV0 }
}
`
	if err := os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "swanctl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	local := cfg.Connection("cert").Local[0]

	signer, err := SignerForCert(&cfg.Credentials, local.Certs[0].X509, SignerOptions{Schemes: ParseConstraints(local.Constraints, false)})
	if err != nil {
		t.Fatal(err)
	}
	m, data, err := signer.Sign(octets, SupportedHashes())
	if err != nil {
		t.Fatal(err)
	}
	if sc, _ := ParseAlgorithmIdentifier(data[1 : 1+int(data[0])]); m != wire.AuthDigitalSignature || sc != RSASHA384 {
		t.Fatalf("signed %v with %v, want sha384WithRSAEncryption (auth = pubkey-sha384)", m, sc)
	}

	// Sun's side: the same CA, the cert from the CERT payload.
	store := TrustStoreFromConfig(cfg)
	if len(store.Certificates()) != 2 { // isw CA, a.crt (x509/ and certs = dedup)
		t.Fatalf("trust store has %d certificates", len(store.Certificates()))
	}
	peer, _ := x509.ParseCertificate(moon.Raw)
	if err := store.VerifyChain(peer, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := MatchIdentity(peer, identity.ID{Type: wire.ID_FQDN, Data: []byte("a.isw.test")}); err != nil {
		t.Fatal(err)
	}
	if err := MatchIdentity(peer, identity.ID{Type: wire.ID_FQDN, Data: []byte("b.isw.test")}); !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("identity mismatch not detected: %v", err)
	}
	if err := (Verifier{}).VerifyCert(peer, m, data, octets); err != nil {
		t.Fatal(err)
	}
	if !store.MatchesCertReq(store.CertReqData(), sun) {
		t.Fatal("sun does not match our own CERTREQ")
	}

	// No key for sun's certificate.
	if _, err := SignerForCert(&cfg.Credentials, sun, SignerOptions{}); !errors.Is(err, ErrNoPrivateKey) ||
		err.Error() != "no private key found for certificate C=CH, O=strongSwan, CN=b.isw.test" {
		t.Fatalf("SignerForCert(sun) = %v", err)
	}

	secrets, err := NewSecrets(cfg.Secrets.IKE)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := secrets.SharedKey(fqdn("b.isw.test"), fqdn("a.isw.test")); !ok || string(k) != "secret" {
		t.Fatalf("SharedKey = %q, %v", k, ok)
	}
}
