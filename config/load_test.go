package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.want from the current output")

// problemLines formats problems one per line with dir/ stripped from paths.
func problemLines(err error, dir string) string {
	if err == nil {
		return ""
	}
	var ps Problems
	if !errors.As(err, &ps) {
		return "not Problems: " + err.Error() + "\n"
	}
	var b strings.Builder
	for _, p := range ps {
		line := p.Error()
		if dir != "" {
			line = strings.ReplaceAll(line, dir+string(filepath.Separator), "")
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// TestGolden loads every testdata/bad and testdata/strongswan config and
// compares the problems, one "file:line: reason" per line, with the .want
// file beside it (absent or empty: the config must load).
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.conf")
	more, _ := filepath.Glob("testdata/strongswan/*.conf")
	files = append(files, more...)
	if len(files) < 10 {
		t.Fatalf("only %d test configs found", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			_, err := LoadOptions{SkipCredentials: true}.Load(f)
			got := problemLines(err, "")
			wantFile := strings.TrimSuffix(f, ".conf") + ".want"
			if *update {
				if got == "" {
					_ = os.Remove(wantFile)
					return
				}
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, _ := os.ReadFile(wantFile)
			if got != string(want) {
				t.Errorf("problems differ\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestLoadInteropSamples loads the PSK samples of the interop harness as
// they are (no credential folders needed).
func TestLoadInteropSamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/interop/*.conf")
	if len(files) != 10 {
		t.Fatalf("want the 10 interop samples, found %d", len(files))
	}
	for _, f := range files {
		if strings.Contains(f, "cert-tunnel") {
			continue // needs certificates; see TestLoadCertTunnel
		}
		cfg, err := Load(f)
		if err != nil {
			t.Errorf("%s:\n%v", f, err)
			continue
		}
		if len(cfg.Connections) != 1 || len(cfg.Secrets.IKE) != 1 {
			t.Errorf("%s: %d connections, %d IKE secrets", f, len(cfg.Connections), len(cfg.Secrets.IKE))
		}
	}

	cfg, err := Load("testdata/interop/psk-tunnel.a.conf")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connection("psk-tunnel")
	if c.Version != 2 || c.LocalAddrs[0].Text != "10.99.0.1" || c.RemoteAddrs[0].Text != "10.99.0.2" {
		t.Errorf("addresses: %+v %+v", c.LocalAddrs, c.RemoteAddrs)
	}
	if c.Proposals[0].Text != "aes128gcm16-prfsha256-x25519" || c.Proposals[0].Pos.Line != 9 {
		t.Errorf("proposals: %+v", c.Proposals)
	}
	if c.RekeyTime != 4*time.Hour || c.DPDDelay != 30*time.Second {
		t.Errorf("rekey %v dpd %v", c.RekeyTime, c.DPDDelay)
	}
	if c.Local[0].Method != AuthPSK || c.Local[0].ID.Text != "a.isw.test" || c.Remote[0].ID.Text != "b.isw.test" {
		t.Errorf("auth: %+v %+v", c.Local[0], c.Remote[0])
	}
	net6 := c.Child("net6")
	if net6 == nil || net6.LocalTS[0].String() != "fd00:99:1::/64" || net6.RemoteTS[0].String() != "fd00:99:2::/64" {
		t.Fatalf("net6: %+v", net6)
	}
	s := cfg.Secrets.IKE[0]
	if len(s.Owners) != 2 || s.Owners[0].Text != "a.isw.test" || !s.Secret.Equal(NewSecret([]byte("isw-interop-test-psk-0123456789"))) {
		t.Errorf("secret: %+v", s)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", cfg, s, *s), "isw-interop-test-psk") {
		t.Error("the PSK shows up in formatted output")
	}

	cfg, err = Load("testdata/interop/psk-transport.b.conf")
	if err != nil {
		t.Fatal(err)
	}
	host := cfg.Connections[0].Child("host")
	if host.Mode != ModeTransport || !host.LocalTS[0].Dynamic || !host.RemoteTS[0].Dynamic {
		t.Errorf("transport child: %+v", host)
	}
	cfg, err = Load("testdata/interop/natt.b.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Connections[0]; !c.Encap || c.RemoteAddrs[0].Text != "%any" {
		t.Errorf("natt: %+v", c)
	}
	cfg, err = Load("testdata/interop/multi-proposal.b.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Connections[0]; len(c.Proposals) != 8 || len(c.Children[0].ESPProposals) != 12 || c.Children[0].ESPProposals[11].Text != "aes256gcm16" {
		t.Errorf("multi-proposal: %d IKE, %d ESP", len(c.Proposals), len(c.Children[0].ESPProposals))
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"swanctl.conf": "connections {\n  c {\n    children {\n      x { }\n    }\n  }\n}\n"})
	cfg, err := Load(filepath.Join(dir, "swanctl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Connections[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", c.Version, 0},
		{"local_addrs", c.LocalAddrs[0].Text, "%any"},
		{"remote_addrs", c.RemoteAddrs[0].Text, "%any"},
		{"local_port", c.LocalPort, uint16(500)},
		{"remote_port", c.RemotePort, uint16(500)},
		{"proposals", c.Proposals[0].Text + fmt.Sprint(c.Proposals[0].Implicit), "defaulttrue"},
		{"encap", c.Encap, false},
		{"mobike", c.MOBIKE, true},
		{"fragmentation", c.Fragmentation, FragmentationYes},
		{"childless", c.Childless, ChildlessAllow},
		{"send_certreq", c.SendCertReq, true},
		{"send_cert", c.SendCert, SendCertIfAsked},
		{"keyingtries", c.Keyingtries, uint32(1)},
		{"unique", c.Unique, UniqueNo},
		{"reauth_time", c.ReauthTime, time.Duration(0)},
		{"rekey_time", c.RekeyTime, 4 * time.Hour},
		{"over_time", c.OverTime, 24 * time.Minute},
		{"rand_time", c.RandTime, 24 * time.Minute},
		{"dpd_delay", c.DPDDelay, time.Duration(0)},
		{"dpd_timeout", c.DPDTimeout, time.Duration(0)},
		{"pull", c.Pull, true},
		{"local auth", c.Local[0].Method, AuthPubkey},
		{"local id", c.Local[0].ID.Text, ""},
		{"remote auth", c.Remote[0].Method, AuthPubkey},
		{"remote id", c.Remote[0].ID.Text, "%any"},
		{"revocation", c.Remote[0].Revocation, RevocationRelaxed},
	}
	x := c.Children[0]
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"mode", x.Mode, ModeTunnel},
		{"local_ts", x.LocalTS[0].String(), "dynamic"},
		{"remote_ts", x.RemoteTS[0].String(), "dynamic"},
		{"esp_proposals", x.ESPProposals[0].Text, "default"},
		{"ah_proposals", len(x.AHProposals), 0},
		{"rekey_time", x.RekeyTime, time.Hour},
		{"life_time", x.LifeTime, 66 * time.Minute},
		{"rand_time", x.RandTime, 6 * time.Minute},
		{"rekey_bytes", x.RekeyBytes, uint64(0)},
		{"life_bytes", x.LifeBytes, uint64(0)},
		{"rand_bytes", x.RandBytes, uint64(0)},
		{"rekey_packets", x.RekeyPackets, uint64(0)},
		{"start_action", x.StartAction, ActionNone},
		{"close_action", x.CloseAction, ActionNone},
		{"dpd_action", x.DPDAction, ActionNone},
		{"replay_window", x.ReplayWindow, uint32(32)},
		{"copy_df", x.CopyDF, true},
		{"copy_ecn", x.CopyECN, true},
		{"copy_dscp", x.CopyDSCP, CopyDSCPOut},
		{"policies", x.Policies, true},
		{"hostaccess", x.HostAccess, false},
		{"hw_offload", x.HWOffload, HWOffloadNo},
		{"mark_in", x.MarkIn.IsZero(), true},
	}...)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLifetimes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"swanctl.conf": `connections {
  reauth { reauth_time = 1h }
  both { rekey_time = 2h
         reauth_time = 10h }
  none { rekey_time = 0 }
  explicit { rekey_time = 1d
             over_time = 1m
             rand_time = 0 }
  c {
    children {
      life { life_time = 110m }
      rekey { rekey_time = 30m
              rand_time = 0s }
      bytes { rekey_bytes = 1G
              life_packets = 11000 }
      all { rekey_time = 10 m
            life_time = 20m
            rand_time = 1m
            rekey_bytes = 500k
            life_bytes = 1M
            rand_bytes = 1k
            rekey_packets = 100
            life_packets = 0x200
            rand_packets = 010 }
    }
  }
}
`})
	cfg, err := Load(filepath.Join(dir, "swanctl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ike := []struct {
		name                       string
		rekey, reauth, over, rand_ time.Duration
	}{
		{"reauth", 0, time.Hour, 6 * time.Minute, 6 * time.Minute},
		{"both", 2 * time.Hour, 10 * time.Hour, time.Hour, time.Hour},
		{"none", 0, 0, 0, 0},
		{"explicit", 24 * time.Hour, 0, time.Minute, 0},
	}
	for _, w := range ike {
		c := cfg.Connection(w.name)
		if c.RekeyTime != w.rekey || c.ReauthTime != w.reauth || c.OverTime != w.over || c.RandTime != w.rand_ {
			t.Errorf("%s: rekey %v reauth %v over %v rand %v", w.name, c.RekeyTime, c.ReauthTime, c.OverTime, c.RandTime)
		}
	}
	c := cfg.Connection("c")
	type lt struct{ rekey, life, rand_ uint64 }
	secs := func(d time.Duration) uint64 { return uint64(d / time.Second) }
	children := []struct {
		name              string
		time, bytes, pkts lt
	}{
		// rekey = life/1.1 in floating point, truncated like strongSwan:
		// 6600/1.1 = 5999.999...
		{"life", lt{5999, 6600, 601}, lt{}, lt{}},
		{"rekey", lt{1800, 1980, 0}, lt{}, lt{}},
		// 1G*1.1 truncated; packets: 11000/1.1 = 10000.000000000002
		{"bytes", lt{3600, 3960, 360}, lt{1 << 30, 1181116006, 1181116006 - 1<<30}, lt{10000, 11000, 1000}},
		{"all", lt{600, 1200, 60}, lt{500 << 10, 1 << 20, 1 << 10}, lt{100, 512, 8}},
	}
	for _, w := range children {
		ch := c.Child(w.name)
		got := struct{ time, bytes, pkts lt }{
			lt{secs(ch.RekeyTime), secs(ch.LifeTime), secs(ch.RandTime)},
			lt{ch.RekeyBytes, ch.LifeBytes, ch.RandBytes},
			lt{ch.RekeyPackets, ch.LifePackets, ch.RandPackets},
		}
		want := struct{ time, bytes, pkts lt }{w.time, w.bytes, w.pkts}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", w.name, got, want)
		}
	}
}

func TestProposalHook(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"swanctl.conf": `connections {
  c {
    proposals = aes128-sha256-modp2048, bogus-ike, default
    children {
      x {
        esp_proposals = aes128gcm16, nonsense
        ah_proposals = sha256
      }
    }
  }
}
`})
	var seen []string
	opts := LoadOptions{ValidateProposal: func(kind, s string) error {
		seen = append(seen, kind+":"+s)
		if strings.HasPrefix(s, "bogus") || s == "nonsense" {
			return fmt.Errorf("unknown algorithm %q", strings.Split(s, "-")[0])
		}
		return nil
	}}
	_, err := opts.Load(filepath.Join(dir, "swanctl.conf"))
	want := "swanctl.conf:3: ike proposal \"bogus-ike\": unknown algorithm \"bogus\"\n" +
		"swanctl.conf:6: esp proposal \"nonsense\": unknown algorithm \"nonsense\"\n"
	if got := problemLines(err, dir); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := strings.Join(seen, " "); got != "ike:aes128-sha256-modp2048 ike:bogus-ike esp:aes128gcm16 esp:nonsense ah:sha256" {
		t.Errorf("hook saw %s", got)
	}
	if ps := opts.Check(filepath.Join(dir, "swanctl.conf")); len(ps) != 2 || ps[0].Pos.Line != 3 || ps[1].Pos.Line != 6 {
		t.Errorf("Check: %v", ps)
	}
}

// testPKI makes a CA and end-entity certificates at run time.
type testPKI struct {
	t      *testing.T
	caKey  crypto.Signer
	caCert *x509.Certificate
	caDER  []byte
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"XX"}, Organization: []string{"cygnet test"}, CommonName: "cygnet test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testPKI{t: t, caKey: key, caCert: cert, caDER: der}
}

// leaf returns a certificate DER for name and its key of the given type.
func (p *testPKI) leaf(name, keyType string) ([]byte, crypto.Signer) {
	p.t.Helper()
	var key crypto.Signer
	var err error
	switch keyType {
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	return der, key
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writeBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadCertTunnel installs certificates the way gen-certs.sh does
// (x509ca/isw-ca.crt, x509/a.crt, private/a.key) and loads the interop
// sample with them, for each key type and encoding.
func TestLoadCertTunnel(t *testing.T) {
	pki := newTestPKI(t)
	conf, err := os.ReadFile("testdata/interop/cert-tunnel.a.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range []struct{ keyType, folder, encoding string }{
		{"ecdsa", "private", "sec1"},
		{"ecdsa", "ecdsa", "der-sec1"},
		{"rsa", "private", "pkcs1"},
		{"rsa", "rsa", "pkcs8"},
		{"ed25519", "private", "pkcs8"},
		{"ed25519", "pkcs8", "der-pkcs8"},
	} {
		t.Run(kt.keyType+"-"+kt.folder+"-"+kt.encoding, func(t *testing.T) {
			dir := t.TempDir()
			writeBytes(t, filepath.Join(dir, "swanctl.conf"), conf)
			certDER, key := pki.leaf("a.isw.test", kt.keyType)
			writeBytes(t, filepath.Join(dir, "x509ca/isw-ca.crt"), pemBytes("CERTIFICATE", pki.caDER))
			writeBytes(t, filepath.Join(dir, "x509/a.crt"), certDER) // DER
			var keyBytes []byte
			switch kt.encoding {
			case "sec1", "der-sec1":
				der, _ := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
				keyBytes = der
				if kt.encoding == "sec1" {
					keyBytes = pemBytes("EC PRIVATE KEY", der)
				}
			case "pkcs1":
				keyBytes = pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey)))
			case "pkcs8", "der-pkcs8":
				der, _ := x509.MarshalPKCS8PrivateKey(key)
				keyBytes = der
				if kt.encoding == "pkcs8" {
					keyBytes = pemBytes("PRIVATE KEY", der)
				}
			}
			writeBytes(t, filepath.Join(dir, kt.folder, "a.key"), keyBytes)

			cfg, err := Load(filepath.Join(dir, "swanctl.conf"))
			if err != nil {
				t.Fatal(err)
			}
			c := cfg.Connections[0]
			if c.SendCert != SendCertAlways {
				t.Errorf("send_cert = %v", c.SendCert)
			}
			l, r := c.Local[0], c.Remote[0]
			if len(l.Certs) != 1 || l.Certs[0].X509.Subject.CommonName != "a.isw.test" || l.Certs[0].Path != filepath.Join(dir, "x509/a.crt") {
				t.Errorf("local certs: %+v", l.Certs)
			}
			if len(r.CACerts) != 1 || r.CACerts[0].X509.Subject.CommonName != "cygnet test CA" {
				t.Errorf("remote cacerts: %+v", r.CACerts)
			}
			if len(cfg.Credentials.Certs) != 1 || len(cfg.Credentials.CACerts) != 1 || len(cfg.Credentials.PrivateKeys) != 1 {
				t.Errorf("credentials: %+v", cfg.Credentials)
			}
			pk := cfg.Credentials.PrivateKeyFor(l.Certs[0].X509.PublicKey)
			if pk == nil {
				t.Fatal("private key not matched to the certificate")
			}
			if s := fmt.Sprintf("%v %+v %#v %s", pk, pk, pk, pk); strings.Contains(s, "D:") || strings.Count(s, "private key ") != 4 {
				t.Errorf("private key prints as %s", s)
			}
		})
	}
}

func TestCredentialProblems(t *testing.T) {
	pki := newTestPKI(t)
	certDER, _ := pki.leaf("a.isw.test", "ecdsa")
	_, otherKey := pki.leaf("b.isw.test", "ecdsa")
	otherDER, _ := x509.MarshalPKCS8PrivateKey(otherKey)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"swanctl.conf": `connections {
  c {
    local {
      certs = a.crt, missing.crt
      pubkeys = a.pub, /nonexistent/b.pub
    }
    remote {
      cacerts = garbage.crt
      cert-1 { file = x509/a.crt }
      cacert-1 { handle = 01 }
    }
  }
}
authorities {
  ca {
    cacert = ca.crt
  }
}
secrets {
  private-a {
    file = a.key
    secret = "pass phrase"
  }
  rsa-1 {
    file = gone.key
    secret = x
  }
}
`})
	writeBytes(t, filepath.Join(dir, "x509/a.crt"), pemBytes("CERTIFICATE", certDER))
	writeBytes(t, filepath.Join(dir, "x509ca/ca.crt"), pemBytes("CERTIFICATE", pki.caDER))
	writeBytes(t, filepath.Join(dir, "x509ca/garbage.crt"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	writeBytes(t, filepath.Join(dir, "pubkey/a.pub"), pemBytes("PUBLIC KEY", mustPKIX(t, otherKey.Public())))
	writeBytes(t, filepath.Join(dir, "private/a.key"), pemBytes("PRIVATE KEY", otherDER))
	writeBytes(t, filepath.Join(dir, "private/enc.key"), pemBytes("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}))
	writeBytes(t, filepath.Join(dir, "x509crl/ca.crl"), []byte("x"))
	writeBytes(t, filepath.Join(dir, "ecdsa/rsa.key"), pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(mustRSA(t))))

	_, err := Load(filepath.Join(dir, "swanctl.conf"))
	got := problemLines(err, dir)
	want := `swanctl.conf:4: connections.c.local.certs: certificate ` + dir + `/x509/missing.crt: no such file
swanctl.conf:4: connections.c.local: no private key for certificate a.crt in private/, rsa/, ecdsa/ or pkcs8/
swanctl.conf:5: connections.c.local.pubkeys: public key /nonexistent/b.pub: no such file
swanctl.conf:8: connections.c.remote.cacerts: certificate ` + dir + `/x509ca/garbage.crt: not a valid X.509 certificate: x509: malformed certificate
swanctl.conf:10: connections.c.remote.cacert-1: handle is not supported by cygnet (PKCS#11 tokens)
swanctl.conf:10: connections.c.remote.cacert-1: missing file
swanctl.conf:25: secrets.rsa-1: key ` + dir + `/rsa/gone.key: no such file
ecdsa/rsa.key: private key: RSA key in the ecdsa/ folder
private/enc.key: private key: encrypted private keys are not supported by cygnet; store it decrypted (openssl pkey -in KEY -out KEY.dec) with mode 0600
x509ca/garbage.crt: certificate: not a valid X.509 certificate: x509: malformed certificate
x509crl/ca.crl: CRLs (x509crl/) are not supported by cygnet
`
	got = strings.ReplaceAll(got, dir+"/", "")
	want = strings.ReplaceAll(want, dir+"/", "")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func mustPKIX(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheck(t *testing.T) {
	if ps := Check("testdata/interop/psk-tunnel.b.conf"); ps != nil {
		t.Errorf("Check of a good config: %v", ps)
	}
	ps := Check("testdata/bad/syntax.conf")
	if len(ps) != 1 || ps[0].Error() != `testdata/bad/syntax.conf:7: unexpected name "net" after "children", expected '=', '{' or ':'` {
		t.Errorf("Check: %v", ps)
	}
	if ps := Check("testdata/does-not-exist.conf"); len(ps) != 1 || ps[0].Pos.Line != 0 {
		t.Errorf("Check of a missing file: %v", ps)
	}
}

// TestStrongSwanExamples checks what the examples modelled on strongSwan's
// own test scenarios load into.
func TestStrongSwanExamples(t *testing.T) {
	load := func(name string) *Config {
		t.Helper()
		cfg, err := LoadOptions{SkipCredentials: true}.Load("testdata/strongswan/" + name)
		if err != nil {
			t.Fatalf("%s:\n%v", name, err)
		}
		return cfg
	}

	cfg := load("templates.conf")
	be, ef, rw := cfg.Connection("dscp-be"), cfg.Connection("dscp-ef"), cfg.Connection("rw")
	if len(cfg.Connections) != 3 || be == nil || ef == nil || rw == nil {
		t.Fatalf("connections: %+v", cfg.Connections)
	}
	if ef.Version != 2 || ef.MOBIKE || ef.DSCP != 0x2e || be.DSCP != 0 || ef.Proposals[0].Text != "aes128-sha256-x25519" {
		t.Errorf("dscp-ef inherited: %+v", ef)
	}
	if ef.Local[0].Method != AuthPSK || ef.Local[0].ID.Text != "sun-ef" || be.Local[0].ID.Text != "sun-be" {
		t.Errorf("dscp-ef local: %+v", ef.Local[0])
	}
	n := ef.Child("net-net")
	if n.MarkIn != (Mark{Value: 20, Mask: 0xff}) || n.MarkOut != (Mark{Value: 20, Mask: 0xffffffff}) || n.SetMarkIn.Special != "%same" ||
		n.LocalTS[0].String() != "10.2.0.0/16" || n.ESPProposals[0].Text != "aes128gcm128-x25519" {
		t.Errorf("dscp-ef child: %+v", n)
	}
	if n.LocalTS[0].Pos.Line != 15 {
		t.Errorf("inherited selector keeps the template's line, got %v", n.LocalTS[0].Pos)
	}
	if be.Child("net-net").MarkIn.Value != 10 {
		t.Errorf("dscp-be mark: %+v", be.Child("net-net").MarkIn)
	}
	if !rw.Encap || rw.RemoteAddrs[0].Text != "%any" || rw.Children[0].RemoteTS[0].String() != "10.3.0.0/16" ||
		rw.Children[0].RemoteTS[0].Pos.File != "testdata/strongswan/templates.inc" || rw.Children[0].LocalTS[0].String() != "10.2.0.0/16" {
		t.Errorf("rw: %+v %+v", rw, rw.Children[0])
	}
	if len(cfg.Files) != 2 {
		t.Errorf("files read: %v", cfg.Files)
	}

	cfg = load("multi-auth.conf")
	rm := cfg.Connection("rw-multi")
	if len(rm.Remote) != 2 || rm.Remote[0].Name != "remote-cert" || rm.Remote[1].Name != "remote-eap" {
		t.Fatalf("rounds not ordered: %v, %v", rm.Remote[0].Name, rm.Remote[1].Name)
	}
	if r := rm.Remote[0]; r.Method != AuthPubkey || strings.Join(r.Constraints, " ") != "ike:rsa/pss sha256 sha384" || r.Revocation != RevocationStrict {
		t.Errorf("remote-cert: %+v", r)
	}
	if r := rm.Remote[1]; r.Method != AuthEAP || r.EAPType != "md5" || r.EAPID.Text != "%any" || r.ID.Text != "%any" {
		t.Errorf("remote-eap: %+v", r)
	}
	home := cfg.Connection("home")
	if home.Local[0].Name != "local-1" || home.Local[1].Method != AuthEAP || home.Local[1].EAPType != "" ||
		strings.Join(home.Remote[0].Constraints, " ") != "ecdsa 384 sha384" {
		t.Errorf("home: %+v %+v %+v", home.Local[0], home.Local[1], home.Remote[0])
	}

	cfg = load("secrets.conf")
	want := map[string]string{
		"ike-1": "\x45\xa3\x07\x59\xdf\x97\xdc\x26\xa1\x5b\x88\xff",
		"ike-2": "This is a strong password",
		"ike-4": `'My home is my castle !'`, // strongSwan joins the parts of the line
		"ike-5": "Andi's home",
	}
	for _, s := range cfg.Secrets.IKE {
		if w, ok := want[s.Name]; ok && string(s.Secret.Bytes()) != w {
			t.Errorf("%s = %q, want %q", s.Name, s.Secret.Bytes(), w)
		}
	}
	if s := cfg.Secrets.IKE[2]; s.Secret.Len() != 24 || len(s.Owners) != 2 || s.Owners[1].Text != "sun.strongswan.org" {
		t.Errorf("ike-3: len %d owners %+v", s.Secret.Len(), s.Owners)
	}
	if len(cfg.Secrets.IKE[3].Owners) != 0 || len(cfg.Secrets.EAP) != 1 || len(cfg.Secrets.XAuth) != 1 || len(cfg.Secrets.Keys) != 2 {
		t.Errorf("secrets: %+v", cfg.Secrets)
	}
	if k := cfg.Secrets.Keys[0]; k.File != filepath.Join("testdata/strongswan/private/moonKey.pem") || cfg.Secrets.Keys[1].File != "/etc/swanctl/rsa/sunKey.pem" {
		t.Errorf("key files: %s %s", k.File, cfg.Secrets.Keys[1].File)
	}

	cfg = load("rw-eap.conf")
	p := cfg.Pool("rw_pool")
	if len(p.Addrs) != 1 || p.Addrs[0].End.String() != "10.3.0.15" || len(p.DNS) != 2 || p.NBNS[0].String() != "10.1.0.30" ||
		p.Attrs["28674"][0].Text != "a banner" || p.Attrs["split_include"][0].Text != "10.1.0.0/16" {
		t.Errorf("rw_pool: %+v", p)
	}
	if p6 := cfg.Pool("rw_pool6"); p6.Addrs[0].Start.String() != "fec3::1" || p6.Addrs[0].End.String() != "fec3::fe" {
		t.Errorf("rw_pool6: %+v", p6)
	}
	c := cfg.Connection("home")
	if len(c.VIPs) != 2 || !c.VIPs[0].IsUnspecified() || !c.VIPs[1].Is6() || c.RemoteAddrs[0].Text != "moon.strongswan.org" ||
		c.Children[0].StartAction != ActionStart {
		t.Errorf("home: %+v", c)
	}
	if c := cfg.Connection("rw-eap"); len(c.Proposals) != 2 || c.Proposals[1].Text != "default" || c.Proposals[1].Implicit || c.SendCertReq ||
		c.Remote[0].EAPType != "mschapv2" || len(c.Pools) != 2 {
		t.Errorf("rw-eap: %+v", c)
	}

	cfg = load("shunts.conf")
	pass := cfg.Connection("pass-lan")
	if pass.Child("pass-lan").Mode != ModePass || pass.Child("drop-smb").Mode != ModeDrop || pass.Child("drop-smb").StartAction != ActionTrap {
		t.Errorf("shunts: %+v", pass.Children)
	}
	hh := cfg.Connection("host-host")
	web, ping, opaque := hh.Child("web"), hh.Child("ping"), hh.Child("opaque")
	if web.LocalTS[0].String() != "dynamic[6/80]" || web.LocalTS[1].String() != "dynamic[6/443]" || web.RemoteTS[0].String() != "dynamic[6/1024-65535]" {
		t.Errorf("web selectors: %v %v", web.LocalTS, web.RemoteTS)
	}
	if ping.LocalTS[0].FromPort != 8<<8 || ping.LocalTS[1].Protocol != 58 || len(ping.ESPProposals) != 0 || ping.AHProposals[0].Text != "sha256-modp2048" {
		t.Errorf("ping: %+v", ping)
	}
	if opaque.LocalTS[0].String() != "dynamic[17/opaque]" || opaque.ReplayWindow != 0 || opaque.TFCPadding != TFCPaddingMTU {
		t.Errorf("opaque: %+v", opaque)
	}

	cfg = load("route-based.conf")
	gw := cfg.Connection("gw-gw")
	net := gw.Child("net")
	if gw.IfIDIn.Value != 42 || gw.IfIDOut.Value != 42 || net.IfIDIn.Special != "%unique" || net.IfIDOut.Special != "%unique-dir" ||
		!net.MarkInSA || net.Reqid != 10 || net.Priority != 100 || net.Interface.Text != "eth1" || net.Policies || !net.PoliciesFwdOut ||
		net.CopyDF || net.CopyECN || net.CopyDSCP != CopyDSCPYes || !net.SHA256_96 || net.HWOffload != HWOffloadAuto ||
		net.Inactivity != 10*time.Minute || !net.ForwardICMP || net.RekeyTime != 24*time.Hour || net.LifeTime != 25*time.Hour || net.RandTime != time.Hour {
		t.Errorf("route-based: %+v %+v", gw, net)
	}

	cfg = load("net2net-cert.conf")
	gw = cfg.Connection("gw-gw")
	nn := gw.Child("net-net")
	if gw.RekeyTime != 0 || gw.ReauthTime != 2*time.Hour || gw.OverTime != 12*time.Minute || gw.RandTime != 12*time.Minute ||
		gw.DPDDelay != time.Minute || gw.DPDTimeout != 2*time.Minute || gw.Fragmentation != FragmentationForce || gw.Unique != UniqueReplace ||
		gw.Keyingtries != 0 || gw.MOBIKE {
		t.Errorf("gw-gw: %+v", gw)
	}
	if nn.StartAction != ActionTrap|ActionStart || nn.DPDAction != ActionStart || nn.CloseAction != ActionTrap || !nn.HostAccess ||
		nn.Updown.Text != "/usr/local/libexec/ipsec/_updown iptables" || nn.RekeyBytes != 500<<20 || nn.LifePackets != 1100000 {
		t.Errorf("net-net: %+v", nn)
	}

	cfg = load("authorities.conf")
	a := cfg.Authorities[0]
	// swanctl splits crl_uris at every comma, even inside an LDAP DN (its
	// own test configs do this too); cygnet does the same
	if len(a.CRLURIs) != 4 || a.CRLURIs[1].Text != "ldap://ldap.strongswan.org/cn=strongSwan Root CA" || a.OCSPURIs[0].Text != "http://ocsp.strongswan.org:8880" ||
		cfg.Authorities[1].CertURIBase.Text != "http://crl.strongswan.org/certs/" {
		t.Errorf("authorities: %+v", a)
	}
	if r := cfg.Connections[0].Remote[0]; r.CAID.Text != "C=CH, O=strongSwan Project, OU=Research, CN=Research CA" || r.Revocation != RevocationIfURI {
		t.Errorf("ca_id: %+v", r)
	}
}

// A ppk_id needs its secrets.ppk<suffix>, and a PPK needs an id to be
// found by.
func TestPPKProblems(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"swanctl.conf": `connections {
  c {
    ppk_id = missing
    ppk_required = yes
  }
  d {
    ppk_id = ppk-1
  }
}
secrets {
  ppk-1 {
    secret = 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
    id = ppk-1
  }
  ppk-noid {
    secret = foo
  }
}
`})
	_, err := LoadOptions{SkipCredentials: true}.Load(filepath.Join(dir, "swanctl.conf"))
	got := problemLines(err, dir)
	want := `swanctl.conf:3: connections.c.ppk_id: no secrets.ppk<suffix> section has id = missing
swanctl.conf:15: secrets.ppk-noid: a PPK needs at least one id<suffix> (its PPK_ID)
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
