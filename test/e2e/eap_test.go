package e2e

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// The road-warrior shape of RFC 7296 2.16 against strongSwan 5.9.8: the
// gateway authenticates with its certificate, the client with
// EAP-MSCHAPv2; the AUTH payloads after EAP are keyed with the MSK, so a
// tunnel only comes up when both ends derived the same MSK.

var gatewayID = "gw." + testnet.CertDomain

func eapFiles(pki *testnet.PKI, gateway bool) map[string][]byte {
	f := map[string][]byte{"x509ca/ca.crt": pki.CAPEM}
	if gateway {
		f["x509/gw.crt"] = pki.Hosts["gw"].CertPEM
		f["private/gw.key"] = pki.Hosts["gw"].KeyPEM
	}
	return f
}

func startEAPStrongSwan(t *testing.T, ns string, files map[string][]byte, conf string) *testnet.StrongSwan {
	t.Helper()
	sw := testnet.StartStrongSwan(t, ns, &testnet.StrongSwanOptions{Plugins: testnet.EAPStrongSwanPlugins})
	for rel, data := range files {
		if err := sw.WriteFile(rel, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Load(conf); err != nil {
		t.Fatal(err)
	}
	return sw
}

// TestEAPStrongSwanClientToCygnetGateway: strongSwan clients authenticate
// with EAP-MSCHAPv2 to a cygnet gateway that asks for their identity
// (eap_id = %any). alice gets a tunnel that carries traffic as ESP only;
// bob, with a wrong password, is refused with a log line naming the method
// and the identity, and alice's tunnel keeps working.
func TestEAPStrongSwanClientToCygnetGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw")
	gw := testnet.EAPConfig{
		Name: "rw", LocalAddrs: testnet.UnderlayB.String(), RemoteAddrs: "%any", GatewayID: gatewayID,
		Method: "eap-mschapv2", EAPID: "%any", LocalTS: testnet.SubnetB.String(), RemoteTS: testnet.SubnetA.String(),
		Users: []testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}, {ID: "bob", Secret: "bob-password-2"}},
	}
	cyg := startCygnetWithFiles(t, p.B, gw.Gateway(), eapFiles(pki, true))

	client := func(name, id string) string {
		return testnet.EAPConfig{
			Name: name, LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(), GatewayID: gatewayID,
			Method: "eap-mschapv2", ClientID: id, EAPID: id, LocalTS: testnet.SubnetA.String(), RemoteTS: testnet.SubnetB.String(),
		}.ClientConn()
	}
	swConf := testnet.EAPSwanctl([]string{client("alice", "alice"), client("bob", "bob")},
		[]testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}, {ID: "bob", Secret: "not-bobs-password"}})
	sw := startEAPStrongSwan(t, p.A, eapFiles(pki, false), swConf)
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)

	start := time.Now()
	if err := sw.Initiate("alice", "net"); err != nil {
		t.Fatalf("strongSwan as alice: %v\ncygnet's log:\n%s", err, tailLines(cyg.logText(), 30))
	}
	sa, _ := cyg.waitChild("net", 5*time.Second)
	if sa.RemoteID != "alice" || sa.LocalID != gatewayID {
		t.Fatalf("IKE SA between %s and %s, want %s and alice", sa.LocalID, sa.RemoteID, gatewayID)
	}
	ok := regexp.MustCompile(`EAP-MSCHAPV2 method succeeded.*eap_id=alice msk=true`)
	if !logHas(cygnetEnd{cyg}, ok, 3*time.Second) {
		t.Errorf("cygnet's log has no line matching %q", ok)
	}
	t.Logf("alice: tunnel up in %v; cygnet logged: %s", time.Since(start).Round(time.Millisecond), grepLine(cyg.logText(), ok))
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)

	if err := sw.Initiate("bob", "net"); err == nil {
		t.Fatal("strongSwan as bob with a wrong password got a tunnel")
	}
	why := regexp.MustCompile(`AUTHENTICATION_FAILED: EAP-MSCHAPV2 method failed for identity bob: MS-CHAPv2 response of \\"bob\\" does not match its secret`)
	if !logHas(cygnetEnd{cyg}, why, 3*time.Second) {
		t.Fatalf("cygnet's log has no line matching %q:\n%s", why, tailLines(cyg.logText(), 30))
	}
	t.Logf("bob (wrong password): cygnet logged: %s", grepLine(cyg.logText(), why))
	swWhy := regexp.MustCompile(`received EAP_FAILURE`)
	if !logHas(swanEnd{sw}, swWhy, 3*time.Second) {
		t.Errorf("strongSwan's log has no line matching %q:\n%s", swWhy, tailLines(swanEnd{sw}.logText(), 30))
	}
	if err := pollFor(5*time.Second, func() bool { return len(cyg.listSAs()) == 1 }); err != nil {
		t.Errorf("cygnet lists %d IKE SAs after bob's failure, want alice's only", len(cyg.listSAs()))
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetA, testnet.SubnetB)
	if s.Encrypted() == 0 {
		t.Error("no ESP on the wire")
	}
	t.Logf("on %s: %s", p.IfB, s)
}

// TestEAPCygnetClientToStrongSwanGateway: a cygnet client authenticates
// with EAP-MSCHAPv2 to a strongSwan gateway that asks for its identity. A
// wrong password fails on both sides with a line that says so; after a
// reload with the right one the tunnel comes up and carries traffic.
func TestEAPCygnetClientToStrongSwanGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw")
	gw := testnet.EAPConfig{
		Name: "rw", LocalAddrs: testnet.UnderlayB.String(), RemoteAddrs: "%any", GatewayID: gatewayID,
		Method: "eap-mschapv2", EAPID: "%any", LocalTS: testnet.SubnetB.String(), RemoteTS: testnet.SubnetA.String(),
		Users: []testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}},
	}
	sw := startEAPStrongSwan(t, p.B, eapFiles(pki, true), gw.Gateway())
	client := testnet.EAPConfig{
		Name: "tun", LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(), GatewayID: gatewayID,
		Method: "eap-mschapv2", ClientID: "alice", EAPID: "alice", LocalTS: testnet.SubnetA.String(), RemoteTS: testnet.SubnetB.String(),
		Users: []testnet.EAPUser{{ID: "alice", Secret: "a-wrong-password"}},
	}
	cyg := startCygnetWithFiles(t, p.A, client.Client(), eapFiles(pki, false))
	warmUnderlay(t, p, testnet.UnderlayB)

	if _, err := cyg.tryInitiate("tun", "net"); err == nil {
		t.Fatal("cygnet with a wrong password got a tunnel")
	}
	why := regexp.MustCompile(`AUTHENTICATION_FAILED: EAP-MSCHAPV2 method failed for identity alice`)
	if !logHas(cygnetEnd{cyg}, why, 3*time.Second) {
		t.Fatalf("cygnet's log has no line matching %q:\n%s", why, tailLines(cyg.logText(), 30))
	}
	t.Logf("wrong password: cygnet logged: %s", grepLine(cyg.logText(), why))
	swWhy := regexp.MustCompile(`EAP method EAP_MSCHAPV2 failed for peer alice`)
	if !logHas(swanEnd{sw}, swWhy, 3*time.Second) {
		t.Errorf("strongSwan's log has no line matching %q:\n%s", swWhy, tailLines(swanEnd{sw}.logText(), 30))
	}
	waitNoIKESAs(t, swanEnd{sw}, 5*time.Second)

	client.Users[0].Secret = "alice-password-1"
	if err := cyg.reload(client.Client()); err != nil {
		t.Fatal(err)
	}
	capture := p.Capture(p.B)
	up, err := cyg.tryInitiate("tun", "net")
	if err != nil {
		t.Fatalf("cygnet with the right password: %v\n%s", err, tailLines(cyg.logText(), 30))
	}
	ok := regexp.MustCompile(`EAP-MSCHAPV2 method succeeded.*eap_id=alice msk=true`)
	if !logHas(cygnetEnd{cyg}, ok, 3*time.Second) {
		t.Errorf("cygnet's log has no line matching %q", ok)
	}
	sa, _ := cyg.waitChild("net", 5*time.Second)
	if sa.RemoteID != gatewayID {
		t.Errorf("IKE SA with %s, want %s", sa.RemoteID, gatewayID)
	}
	if _, _, err := sw.WaitChildSA("net", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("right password: tunnel up in %v", up.Round(time.Millisecond))
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
	testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetA, testnet.SubnetB)
	if s.Encrypted() == 0 {
		t.Error("no ESP on the wire")
	}
	t.Logf("on %s: %s", p.IfB, s)
}

// TestEAPMD5StrongSwanClientToCygnetGateway: EAP-MD5, named explicitly on
// both ends, derives no MSK; the AUTH payloads after it are keyed with
// SK_pi and SK_pr (RFC 7296 2.16), which strongSwan checks.
func TestEAPMD5StrongSwanClientToCygnetGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw")
	users := []testnet.EAPUser{{ID: "carol", Secret: "carol-password-3"}}
	gw := testnet.EAPConfig{
		Name: "rw", LocalAddrs: testnet.UnderlayB.String(), RemoteAddrs: "%any", GatewayID: gatewayID,
		Method: "eap-md5", EAPID: "%any", LocalTS: testnet.SubnetB.String(), RemoteTS: testnet.SubnetA.String(), Users: users,
	}
	cyg := startCygnetWithFiles(t, p.B, gw.Gateway(), eapFiles(pki, true))
	client := testnet.EAPConfig{
		Name: "tun", LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(), GatewayID: gatewayID,
		Method: "eap-md5", ClientID: "carol", EAPID: "carol", LocalTS: testnet.SubnetA.String(), RemoteTS: testnet.SubnetB.String(), Users: users,
	}
	sw := startEAPStrongSwan(t, p.A, eapFiles(pki, false), client.Client())
	warmUnderlay(t, p, testnet.UnderlayB)
	if err := sw.Initiate("tun", "net"); err != nil {
		t.Fatalf("strongSwan with EAP-MD5: %v\ncygnet's log:\n%s", err, tailLines(cyg.logText(), 30))
	}
	cyg.waitChild("net", 5*time.Second)
	ok := regexp.MustCompile(`EAP-MD5 method succeeded.*eap_id=carol msk=false`)
	if !logHas(cygnetEnd{cyg}, ok, 3*time.Second) {
		t.Errorf("cygnet's log has no line matching %q", ok)
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
}

// roundsConn renders a connection whose rounds are given verbatim
// (local-1, local-2, remote-1, ...), for the RFC 4739 tests.
func roundsConn(name, local, remote, ts, rounds string) string {
	return fmt.Sprintf(`  %s {
    version = 2
    local_addrs = %s
    remote_addrs = %s
    proposals = aes128gcm16-prfsha256-x25519
    send_cert = always
%s
    children {
      net {
        local_ts = %s
        esp_proposals = aes128gcm16
      }
    }
  }
`, name, local, remote, rounds, ts)
}

// TestEAPSecondRoundInterop: two authentication rounds (RFC 4739), a
// certificate then EAP-MSCHAPv2, between cygnet and strongSwan both ways.
// Each gateway checks the client's certificate in round 1 and its password
// in round 2; the tunnel carries traffic.
func TestEAPSecondRoundInterop(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw", "a")
	users := []testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}}
	gatewayRounds := fmt.Sprintf(`    local {
      auth = pubkey
      certs = gw.crt
      id = %s
    }
    remote-1 {
      auth = pubkey
      cacerts = ca.crt
      id = a.%s
    }
    remote-2 {
      auth = eap-mschapv2
      eap_id = %%any
    }`, gatewayID, testnet.CertDomain)
	clientRounds := fmt.Sprintf(`    local-1 {
      auth = pubkey
      certs = a.crt
      id = a.%s
    }
    local-2 {
      auth = eap-mschapv2
      eap_id = alice
    }
    remote {
      auth = pubkey
      cacerts = ca.crt
      id = %s
    }`, testnet.CertDomain, gatewayID)
	gatewayConf := testnet.EAPSwanctl([]string{roundsConn("rw", testnet.UnderlayB.String(), "%any", testnet.SubnetB.String()+"\n        remote_ts = "+testnet.SubnetA.String(), gatewayRounds)}, users)
	clientConf := testnet.EAPSwanctl([]string{roundsConn("tun", testnet.UnderlayA.String(), testnet.UnderlayB.String(), testnet.SubnetA.String()+"\n        remote_ts = "+testnet.SubnetB.String(), clientRounds)}, users)
	clientFiles := map[string][]byte{"x509ca/ca.crt": pki.CAPEM, "x509/a.crt": pki.Hosts["a"].CertPEM, "private/a.key": pki.Hosts["a"].KeyPEM}
	gatewayFiles := eapFiles(pki, true)

	for _, c := range []struct{ client, gateway string }{{implStrongSwan, implCygnet}, {implCygnet, implStrongSwan}} {
		t.Run(c.client+"-to-"+c.gateway, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			var gw, cl tunnelEnd
			if c.gateway == implCygnet {
				gw = cygnetEnd{startCygnetWithFiles(t, p.B, gatewayConf, gatewayFiles)}
				cl = swanEnd{startEAPStrongSwan(t, p.A, clientFiles, clientConf)}
			} else {
				gw = swanEnd{startEAPStrongSwan(t, p.B, gatewayFiles, gatewayConf)}
				cl = cygnetEnd{startCygnetWithFiles(t, p.A, clientConf, clientFiles)}
			}
			warmUnderlay(t, p, testnet.UnderlayB)
			up, err := cl.initiate("tun", "net")
			if err != nil {
				t.Fatalf("%s client: %v\ngateway's log:\n%s", c.client, err, tailLines(gw.logText(), 30))
			}
			cyg := gw
			if c.client == implCygnet {
				cyg = cl
			}
			ok := regexp.MustCompile(`EAP-MSCHAPV2 method succeeded.*eap_id=alice msk=true`)
			if !logHas(cyg, ok, 3*time.Second) {
				t.Errorf("cygnet's log has no line matching %q", ok)
			}
			if _, err := gw.view("net", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
			t.Logf("certificate then EAP-MSCHAPv2: tunnel up in %v", up.Round(time.Millisecond))
			// strongSwan saw both rounds: the certificate, then EAP with
			// the MSK keying the AUTH payloads.
			sw, rounds := gw, []string{
				`authentication of 'a\.cygnet\.test' with ECDSA_WITH_SHA256_DER successful`,
				`EAP method EAP_MSCHAPV2 succeeded, MSK established`,
				`authentication of 'a\.cygnet\.test' with EAP successful`,
			}
			if c.client == implStrongSwan {
				sw, rounds = cl, []string{
					`authentication of 'a\.cygnet\.test' \(myself\) with ECDSA_WITH_SHA256_DER successful`,
					`EAP method EAP_MSCHAPV2 succeeded, MSK established`,
					`authentication of 'gw\.cygnet\.test' with EAP successful`,
				}
			}
			for _, r := range rounds {
				if re := regexp.MustCompile(r); !logHas(sw, re, 3*time.Second) {
					t.Errorf("strongSwan's log has no line matching %q", re)
				}
			}
		})
	}
}

// TestEAPOnlyInterop: EAP-only authentication (RFC 5998) between cygnet
// and strongSwan: the gateway has no certificate, the client offers
// EAP_ONLY_AUTHENTICATION, and EAP-MSCHAPv2 with its MSK authenticates
// both. A cygnet client gets a tunnel from a strongSwan gateway. strongSwan
// 5.9.8 as a client does not count EAP-MSCHAPv2 as mutual and refuses the
// cygnet gateway after EAP, saying so; the cygnet gateway then removes the
// IKE SA it had completed.
func TestEAPOnlyInterop(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	users := []testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}}
	gatewayConf := testnet.EAPSwanctl([]string{roundsConn("rw", testnet.UnderlayB.String(), "%any",
		testnet.SubnetB.String()+"\n        remote_ts = "+testnet.SubnetA.String(), fmt.Sprintf(`    local {
      auth = eap
      id = %s
    }
    remote {
      auth = eap-mschapv2
      eap_id = %%any
    }`, gatewayID))}, users)
	clientConf := testnet.EAPSwanctl([]string{roundsConn("tun", testnet.UnderlayA.String(), testnet.UnderlayB.String(),
		testnet.SubnetA.String()+"\n        remote_ts = "+testnet.SubnetB.String(), fmt.Sprintf(`    local {
      auth = eap-mschapv2
      id = alice
      eap_id = alice
    }
    remote {
      auth = eap
      id = %s
    }`, gatewayID))}, users)
	for _, c := range []struct{ client, gateway string }{{implStrongSwan, implCygnet}, {implCygnet, implStrongSwan}} {
		t.Run(c.client+"-to-"+c.gateway, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			var gw, cl, sw tunnelEnd
			if c.gateway == implCygnet {
				gw = cygnetEnd{startCygnetWithFiles(t, p.B, gatewayConf, map[string][]byte{})}
				cl = swanEnd{startEAPStrongSwan(t, p.A, nil, clientConf)}
				sw = cl
			} else {
				gw = swanEnd{startEAPStrongSwan(t, p.B, nil, gatewayConf)}
				cl = cygnetEnd{startCygnetWithFiles(t, p.A, clientConf, map[string][]byte{})}
				sw = gw
			}
			warmUnderlay(t, p, testnet.UnderlayB)
			up, err := cl.initiate("tun", "net")
			if c.client == implStrongSwan {
				refused := regexp.MustCompile(`EAP-only authentication requires a mutual and MSK deriving EAP method, but EAP_MSCHAPV2 is not`)
				if !logHas(sw, refused, 3*time.Second) {
					t.Fatalf("strongSwan's log has no line matching %q (initiate: %v):\n%s", refused, err, tailLines(sw.logText(), 30))
				}
				told := regexp.MustCompile(`AUTHENTICATION_FAILED: peer 10\.99\.0\.1:4500 rejected our authentication as gw\.cygnet\.test`)
				if !logHas(gw, told, 3*time.Second) {
					t.Errorf("cygnet's log has no line matching %q", told)
				}
				waitNoIKESAs(t, gw, 5*time.Second)
				return
			}
			if err != nil {
				t.Fatalf("%s client: %v\ngateway's log:\n%s", c.client, err, tailLines(gw.logText(), 30))
			}
			if _, err := gw.view("net", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			// strongSwan saw no AUTH of the gateway before EAP (as client)
			// or sent none (as gateway), and EAP authenticated the gateway.
			want := `generating IKE_AUTH response 1 \[ IDr EAP/REQ/ID \]`
			if c.client == implStrongSwan {
				want = `parsed IKE_AUTH response 1 \[ IDr EAP/REQ/ID \]`
			}
			for _, r := range []string{want, `EAP method EAP_MSCHAPV2 succeeded, MSK established`} {
				if re := regexp.MustCompile(r); !logHas(sw, re, 3*time.Second) {
					t.Errorf("strongSwan's log has no line matching %q", re)
				}
			}
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
			t.Logf("EAP-only: tunnel up in %v", up.Round(time.Millisecond))
		})
	}
}
