package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// cygnetConn renders one connection of a cygnet responder on B towards A,
// protecting SubnetB === SubnetA with child child, for the trust tests.
func cygnetConn(name, child, local, remote string) string {
	return fmt.Sprintf(`  %s {
    local_addrs = %s
    remote_addrs = %s
    proposals = aes128gcm16-prfsha256-x25519
    send_cert = always
    local {
%s
    }
    remote {
%s
    }
    children {
      %s {
        local_ts = %s
        remote_ts = %s
        esp_proposals = aes128gcm16
      }
    }
  }
`, name, testnet.UnderlayB, testnet.UnderlayA, local, remote, child, testnet.SubnetB, testnet.SubnetA)
}

// swanPeer is a strongSwan initiator on A authenticating as host with a
// certificate (certs = <host>.crt), trusting ca.crt, towards cygnet on B.
func swanPeer(host, remoteAuth string) string {
	return testnet.TunnelConfig{
		Name: "tun", LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(),
		LocalID: host + "." + testnet.CertDomain, RemoteID: "b." + testnet.CertDomain, Auth: "pubkey",
		LocalCert: host + ".crt", CACert: "ca.crt",
		Children: []testnet.ChildConfig{{Name: "net", LocalTS: []netip.Prefix{testnet.SubnetA}, RemoteTS: []netip.Prefix{testnet.SubnetB}}},
		Extra:    remoteAuth,
	}.Swanctl()
}

func mustPKI(t *testing.T, kt testnet.KeyType, ca string, hosts ...string) *testnet.PKI {
	t.Helper()
	p, err := testnet.GeneratePKINamed(kt, ca, hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTrustScopedPerConnection: one cygnet responder, two connections
// scoped to two CAs by remote cacerts and told apart by the remote id.
// strongSwan presenting a certificate of CA B as the identity of the
// connection for CA A is refused (no IKE SA, the log names the CA
// required), although CA B is trusted for the other connection; presenting
// a CA B certificate as the identity of the connection for CA B, it gets a
// tunnel that carries traffic.
func TestTrustScopedPerConnection(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	caA := mustPKI(t, testnet.KeyECDSAP256, "CA A", "b")
	caB := mustPKI(t, testnet.KeyECDSAP256, "CA B", "a", "c")

	conf := "connections {\n" +
		cygnetConn("for-ca-a", "net-a", "      auth = pubkey\n      certs = b.crt\n      id = b.cygnet.test",
			"      auth = pubkey\n      id = a.cygnet.test\n      cacerts = caA.crt") +
		cygnetConn("for-ca-b", "net-b", "      auth = pubkey\n      certs = b.crt\n      id = b.cygnet.test",
			"      auth = pubkey\n      id = c.cygnet.test\n      cacerts = caB.crt") +
		"}\n"
	cyg := startCygnetWithFiles(t, p.B, conf, map[string][]byte{
		"x509ca/caA.crt": caA.CAPEM,
		"x509ca/caB.crt": caB.CAPEM,
		"x509/b.crt":     caA.Hosts["b"].CertPEM,
		"private/b.key":  caA.Hosts["b"].KeyPEM,
	})

	sw := testnet.StartStrongSwan(t, p.A, nil)
	for rel, data := range map[string][]byte{
		"x509ca/ca.crt": caA.CAPEM, // strongSwan trusts cygnet's CA
		"x509/a.crt":    caB.Hosts["a"].CertPEM,
		"private/a.key": caB.Hosts["a"].KeyPEM,
		"x509/c.crt":    caB.Hosts["c"].CertPEM,
		"private/c.key": caB.Hosts["c"].KeyPEM,
	} {
		if err := sw.WriteFile(rel, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Load(swanPeer("a", "")); err != nil {
		t.Fatal(err)
	}
	peer := swanEnd{sw}
	warmUnderlay(t, p, testnet.UnderlayB)

	// 1. a.cygnet.test selects for-ca-a; its certificate is of CA B.
	if err := sw.Initiate("tun", "net"); err == nil {
		t.Fatal("strongSwan with a certificate of CA B got a tunnel from the connection for CA A")
	}
	why := regexp.MustCompile(`AUTHENTICATION_FAILED: a\.cygnet\.test: peer certificate chain ends at C=XX, O=cygnet test, CN=CA B, connection for-ca-a requires C=XX, O=cygnet test, CN=CA A`)
	if !logHas(cygnetEnd{cyg}, why, 3*time.Second) {
		t.Fatalf("cygnet's log has no line matching %q:\n%s", why, tailLines(cyg.logText(), 30))
	}
	t.Logf("cygnet logged: %s", grepLine(cyg.logText(), why))
	if !logHas(peer, regexp.MustCompile(`received AUTHENTICATION_FAILED`), 3*time.Second) {
		t.Errorf("strongSwan was not told AUTHENTICATION_FAILED:\n%s", tailLines(peer.logText(), 30))
	}
	waitNoIKESAs(t, cygnetEnd{cyg}, 5*time.Second)
	waitNoIKESAs(t, peer, 5*time.Second)

	// 2. c.cygnet.test selects for-ca-b, whose CA issued its certificate.
	if err := sw.Load(swanPeer("c", "")); err != nil {
		t.Fatal(err)
	}
	if err := sw.Initiate("tun", "net"); err != nil {
		t.Fatalf("strongSwan as c.cygnet.test (CA B) towards the connection for CA B: %v\ncygnet's log:\n%s", err, tailLines(cyg.logText(), 30))
	}
	sa, _ := cyg.waitChild("net-b", 5*time.Second)
	if sa.Name != "for-ca-b" || sa.RemoteID != "c.cygnet.test" {
		t.Fatalf("IKE SA %s with %s, want for-ca-b with c.cygnet.test", sa.Name, sa.RemoteID)
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
	t.Logf("c.cygnet.test of CA B: IKE SA on %s, ping through the tunnel", sa.Name)
}

// TestSignatureConstraintsInterop: cygnet with local auth = rsa/pss signs
// with RSASSA-PSS, and strongSwan requiring ike:rsa/pss-sha256 of it accepts
// (its log names the scheme); cygnet with remote auth = rsa/pss refuses
// strongSwan signing with PKCS#1 v1.5 (strongSwan's default for auth =
// pubkey), saying why.
func TestSignatureConstraintsInterop(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pki := mustPKI(t, testnet.KeyRSA3072, "CA R", "a", "b")
	conf := func(remoteAuth string) string {
		c := cygnetConn("tun", "net", "      auth = rsa/pss\n      certs = b.crt\n      id = b.cygnet.test",
			"      auth = "+remoteAuth+"\n      id = a.cygnet.test\n      cacerts = ca.crt")
		return "connections {\n" + c + "}\n"
	}
	files := map[string][]byte{"x509ca/ca.crt": pki.CAPEM, "x509/b.crt": pki.Hosts["b"].CertPEM, "private/b.key": pki.Hosts["b"].KeyPEM}
	cyg := startCygnetWithFiles(t, p.B, conf("pubkey"), files)
	sw := testnet.StartStrongSwan(t, p.A, nil)
	if err := sw.InstallCerts(pki, "a"); err != nil {
		t.Fatal(err)
	}
	// strongSwan signs with its default (PKCS#1 v1.5) and demands RSASSA-PSS
	// with SHA-256 of cygnet.
	swConf := swanPeer("a", "")
	swConf = regexp.MustCompile(`(remote \{\n\s*auth = )pubkey`).ReplaceAllString(swConf, "${1}ike:rsa/pss-sha256")
	if err := sw.Load(swConf); err != nil {
		t.Fatal(err)
	}
	peer := swanEnd{sw}
	warmUnderlay(t, p, testnet.UnderlayB)

	// 1. cygnet initiates and signs with RSASSA-PSS.
	if _, err := cyg.tryInitiate("tun", "net"); err != nil {
		t.Fatalf("cygnet with local auth = rsa/pss towards strongSwan requiring ike:rsa/pss-sha256: %v\nstrongSwan:\n%s\ncygnet:\n%s",
			err, tailLines(peer.logText(), 30), tailLines(cyg.logText(), 30))
	}
	pss := regexp.MustCompile(`authentication of 'b\.cygnet\.test' with RSA_EMSA_PSS\S* successful`)
	if !logHas(peer, pss, 3*time.Second) {
		t.Fatalf("strongSwan's log does not show a PSS signature (%q):\n%s", pss, tailLines(peer.logText(), 30))
	}
	t.Logf("strongSwan logged: %s", grepLine(peer.logText(), pss))
	if err := cyg.terminate("tun"); err != nil {
		t.Fatal(err)
	}
	waitNoIKESAs(t, peer, 5*time.Second)

	// 2. cygnet requires rsa/pss of its peer; strongSwan signs with PKCS#1
	// v1.5 and is refused.
	if err := cyg.reload(conf("rsa/pss")); err != nil {
		t.Fatal(err)
	}
	if err := sw.Initiate("tun", "net"); err == nil {
		t.Fatal("strongSwan signing with PKCS#1 v1.5 got a tunnel from cygnet requiring rsa/pss")
	}
	why := regexp.MustCompile(`AUTHENTICATION_FAILED: a\.cygnet\.test: AUTH: signature scheme sha\d+WithRSAEncryption not allowed by the auth constraints for C=XX, O=cygnet test, CN=a\.cygnet\.test`)
	if !logHas(cygnetEnd{cyg}, why, 3*time.Second) {
		t.Fatalf("cygnet's log has no line matching %q:\n%s", why, tailLines(cyg.logText(), 30))
	}
	t.Logf("cygnet logged: %s", grepLine(cyg.logText(), why))
	waitNoIKESAs(t, cygnetEnd{cyg}, 5*time.Second)
	waitNoIKESAs(t, peer, 5*time.Second)
}

// TestWildcardRemoteIDs: a cygnet responder whose remote id is a pattern
// ("*.cygnet.test", "C=XX, O=cygnet test, CN=*") accepts a strongSwan peer
// whose identity matches it, and the IKE SA shows the peer's own identity.
func TestWildcardRemoteIDs(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	pki := pkiFor(t, testnet.KeyECDSAP256)
	for _, tc := range []struct {
		name, pattern, peerID, want string
	}{
		{"fqdn", "*.cygnet.test", "a.cygnet.test", "a.cygnet.test"},
		{"dn", `"C=XX, O=cygnet test, CN=*"`, `"C=XX, O=cygnet test, CN=a.cygnet.test"`, "C=XX, O=cygnet test, CN=a.cygnet.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			conf := "connections {\n" + cygnetConn("wild", "net", "      auth = pubkey\n      certs = b.crt\n      id = b.cygnet.test",
				"      auth = pubkey\n      id = "+tc.pattern+"\n      cacerts = ca.crt") + "}\n"
			cyg := startCygnet(t, p.B, conf, pki, "b")
			sw := testnet.StartStrongSwan(t, p.A, nil)
			if err := sw.InstallCerts(pki, "a"); err != nil {
				t.Fatal(err)
			}
			swConf := regexp.MustCompile(`(local \{\n\s*auth = pubkey\n\s*id = )\S+`).ReplaceAllString(swanPeer("a", ""), "${1}"+tc.peerID)
			if err := sw.Load(swConf); err != nil {
				t.Fatal(err)
			}
			warmUnderlay(t, p, testnet.UnderlayB)
			if err := sw.Initiate("tun", "net"); err != nil {
				t.Fatalf("strongSwan as %s towards remote id %s: %v\ncygnet:\n%s", tc.peerID, tc.pattern, err, tailLines(cyg.logText(), 20))
			}
			sa, _ := cyg.waitChild("net", 5*time.Second)
			if sa.Name != "wild" || sa.RemoteID != tc.want {
				t.Fatalf("IKE SA %s with remote id %q, want wild with %q", sa.Name, sa.RemoteID, tc.want)
			}
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
		})
	}
}
