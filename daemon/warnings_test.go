package daemon

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCA puts a self-signed CA certificate into dir/x509ca/name.
func writeCA(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "x509ca"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x509ca", name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWarnings: options cygnet accepts without doing all they promise
// (revocation sources, revocation = relaxed) and short pre-shared keys are
// reported with their line, and the daemon logs them.
func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, "ca.pem")
	path := filepath.Join(dir, "swanctl.conf")
	conf := `connections {
    gw {
        remote_addrs = 192.0.2.2
        proposals = aes256gcm16-prfsha384-x25519-ke1_mlkem768, aes256gcm16-prfsha384-x25519
        local { auth = psk }
        remote {
            auth = psk
            revocation = relaxed
        }
    }
}
authorities {
    ca {
        cacert = ca.pem
        crl_uris = http://crl.example/ca.crl
        ocsp_uris = http://ocsp.example
    }
}
secrets {
    ike-short { secret = 0x0102030405 }
    ike-long { secret = "twenty characters ok" }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PeerConfigs(cfg); err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + ":8: connections.gw.remote.revocation: cygnet does not check certificate revocation yet",
		path + ":15: authorities.ca.crl_uris: cygnet does not check certificate revocation yet; http://crl.example/ca.crl is not fetched",
		path + ":16: authorities.ca.ocsp_uris: cygnet does not check certificate revocation yet; http://ocsp.example is not queried",
		path + ":20: secrets.ike-short: the pre-shared key has 5 characters; use at least 20 random ones",
	}
	ws := Warnings(cfg)
	if len(ws) != len(want) {
		t.Errorf("got %d warnings, want %d:\n%v", len(ws), len(want), ws)
	}
	// The daemon logs them when it starts (before it builds its packet
	// path, which this test does not need).
	var buf bytes.Buffer
	_, err = New(Options{ConfigPath: path, Log: slog.New(slog.NewTextHandler(&buf, nil))}, func() (PacketPath, error) {
		return nil, errors.New("no packet path in this test")
	})
	if err == nil || !strings.Contains(err.Error(), "no packet path in this test") {
		t.Fatalf("New: %v", err)
	}
	for _, w := range want {
		found := false
		for _, p := range ws {
			found = found || strings.HasPrefix(p.Error(), w)
		}
		if !found {
			t.Errorf("no warning %q in\n%v", w, ws)
		}
		if !strings.Contains(buf.String(), w) {
			t.Errorf("daemon log lacks %q:\n%s", w, buf.String())
		}
	}
	if strings.Contains(buf.String(), "0x0102030405") || strings.Contains(buf.String(), "twenty characters ok") {
		t.Errorf("a secret leaked into the log:\n%s", buf.String())
	}
}

// TestCertURIBaseRefused: hash-and-URL certificates are not implemented, so
// cert_uri_base is refused with its line rather than ignored.
func TestCertURIBaseRefused(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, "ca.pem")
	path := filepath.Join(dir, "swanctl.conf")
	conf := "authorities {\n    ca {\n        cacert = ca.pem\n        cert_uri_base = http://certs.example/\n    }\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = PeerConfigs(cfg)
	if want := path + ":4: authorities.ca.cert_uri_base: not implemented by cygnet yet (hash-and-URL"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}
