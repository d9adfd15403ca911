package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// EAP-TLS (RFC 5216) against strongSwan 5.9.8's eap-tls plugin, both ways,
// in the road-warrior shape: the gateway authenticates with its
// certificate in IKE, the client with its certificate inside EAP-TLS; the
// AUTH payloads after EAP are keyed with the MSK from the TLS 1.2 master
// secret, so a tunnel only comes up when both ends derived the same one.

var eapTLSPlugins = append(append([]string(nil), testnet.EAPStrongSwanPlugins...), "eap-tls")

// eapTLSFiles are the credentials of one end: the CA, and each named
// host's certificate and key from its PKI.
func eapTLSFiles(ca *testnet.PKI, hosts map[string]*testnet.PKI) map[string][]byte {
	f := map[string][]byte{"x509ca/ca.crt": ca.CAPEM}
	for name, pki := range hosts {
		f["x509/"+name+".crt"] = pki.Hosts[name].CertPEM
		f["private/"+name+".key"] = pki.Hosts[name].KeyPEM
	}
	return f
}

func startEAPTLSStrongSwan(t *testing.T, ns string, files map[string][]byte, conf string) *testnet.StrongSwan {
	t.Helper()
	sw := testnet.StartStrongSwan(t, ns, &testnet.StrongSwanOptions{Plugins: eapTLSPlugins})
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

// eapTLSClient is a road warrior's connection with EAP-TLS as name.
func eapTLSClient(conn, name string) testnet.EAPConfig {
	id := name + "." + testnet.CertDomain
	return testnet.EAPConfig{
		Name: conn, LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(), GatewayID: gatewayID,
		Method: "eap-tls", ClientID: id, EAPID: id, ClientCerts: name + ".crt",
		LocalTS: "dynamic", RemoteTS: testnet.SubnetB.String(), Extra: "vips = 0.0.0.0",
	}
}

// eapTLSGateway is the gateway's connection: its certificate in IKE,
// EAP-TLS for the clients, whose EAP identity it asks.
func eapTLSGateway() testnet.EAPConfig {
	return testnet.EAPConfig{
		Name: "rw", LocalAddrs: testnet.UnderlayB.String(), RemoteAddrs: "%any", GatewayID: gatewayID,
		Method: "eap-tls", EAPID: "%any", LocalTS: testnet.SubnetB.String(), RemoteTS: "dynamic",
		Extra: "pools = rw4",
	}
}

// TestVIPEAPTLSStrongSwanClientCygnetGateway: a strongSwan road warrior
// with vips = 0.0.0.0 and EAP-TLS connects to a cygnet gateway with a pool.
// alice's address comes from the pool, list-pools shows it leased to her
// EAP identity, pings from the virtual IP cross as ESP only; mallory, whose
// certificate comes from a CA the gateway does not trust, fails cleanly
// with a log line that says why, takes no lease, and alice keeps her
// tunnel.
func TestVIPEAPTLSStrongSwanClientCygnetGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	// RSA-3072 certificates make both TLS flights larger than one EAP
	// packet: each side fragments and acknowledges.
	pki := mustPKI(t, testnet.KeyRSA3072, "EAP CA", "gw", "alice")
	rogue := mustPKI(t, testnet.KeyECDSAP256, "Rogue CA", "mallory")
	pool := testnet.PoolsSwanctl(testnet.PoolConfig{Name: "rw4", Addrs: vipPool4.String(), DNS: []string{"10.99.2.53"}})
	gw := startCygnetWithFiles(t, p.B, eapTLSGateway().Gateway()+pool, eapTLSFiles(pki, map[string]*testnet.PKI{"gw": pki}))
	sw := startEAPTLSStrongSwan(t, p.A, eapTLSFiles(pki, map[string]*testnet.PKI{"alice": pki, "mallory": rogue}),
		testnet.EAPSwanctl([]string{eapTLSClient("alice", "alice").ClientConn(), eapTLSClient("mallory", "mallory").ClientConn()}, nil))
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)

	if err := sw.Initiate("alice", "net"); err != nil {
		t.Fatalf("strongSwan as alice: %v\ncygnet's log:\n%s\nstrongSwan's log:\n%s", err, tailLines(gw.logText(), 30), sw.LogTail(40))
	}
	alice := "alice." + testnet.CertDomain
	sa, ch := gw.waitChild("net", 5*time.Second)
	if !slices.Equal(sa.RemoteVIPs, []string{vip4.String()}) || sa.RemoteEAPID != alice {
		t.Errorf("gateway list-sas: remote_vips %v remote_eap_id %q, want [%s] %s", sa.RemoteVIPs, sa.RemoteEAPID, vip4, alice)
	}
	if !slices.Equal(ch.RemoteTS, []string{vip4.String() + "/32"}) {
		t.Errorf("gateway's Child SA remote selector %v, want %s/32", ch.RemoteTS, vip4)
	}
	if !logHas(cygnetEnd{gw}, regexp.MustCompile(`EAP-TLS method succeeded.*eap_id=alice\.cygnet\.test.*msk=true`), 3*time.Second) {
		t.Error("no EAP-TLS success with an MSK in cygnet's log")
	}
	checkFragmented(t, sw, 0)
	online := control.Pool{Name: "rw4", Base: "10.99.3.1", Size: 14, Online: 1,
		Leases: []control.Lease{{Address: vip4.String(), Identity: alice, Status: "online"}}}
	waitPool(t, gw, online)
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)

	if err := sw.Initiate("mallory", "net"); err == nil {
		t.Fatal("strongSwan as mallory with a certificate of an untrusted CA got a tunnel")
	}
	why := regexp.MustCompile(`AUTHENTICATION_FAILED: EAP-TLS method failed for identity mallory\.cygnet\.test: EAP-TLS: TLS handshake: .*Rogue CA`)
	if !logHas(cygnetEnd{gw}, why, 3*time.Second) {
		t.Fatalf("cygnet's log has no line matching %q:\n%s", why, tailLines(gw.logText(), 30))
	}
	t.Logf("gateway on mallory:\n%s", grepLines(gw.logText(), why))
	if err := pollFor(5*time.Second, func() bool { return len(gw.listSAs()) == 1 }); err != nil {
		t.Errorf("cygnet lists %d IKE SAs after mallory's failure, want alice's only", len(gw.listSAs()))
	}
	waitPool(t, gw, online) // mallory took no address
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)
	testnet.PingFrom(t, p.B, testnet.HostB, vip4, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetB, vipPool4)
	if s.Encrypted() == 0 {
		t.Error("no ESP on the wire")
	}
	t.Logf("alice leased %s; on %s: %s", vip4, p.IfB, s)
}

// TestVIPEAPTLSCygnetClientStrongSwanGateway: a cygnet road warrior
// authenticating with EAP-TLS and asking for a virtual IP connects to a
// strongSwan gateway with a pool: it gets the pool's first address, its
// pings leave from it through the tunnel as ESP only. A second cygnet
// connection, whose certificate comes from a CA the gateway does not
// trust, fails cleanly on both ends.
func TestVIPEAPTLSCygnetClientStrongSwanGateway(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	pki := mustPKI(t, testnet.KeyRSA3072, "EAP CA", "gw", "alice")
	rogue := mustPKI(t, testnet.KeyECDSAP256, "Rogue CA", "mallory")
	pool := testnet.PoolsSwanctl(testnet.PoolConfig{Name: "rw4", Addrs: vipPool4.String(), DNS: []string{"10.99.2.53"}})
	sw := startEAPTLSStrongSwan(t, p.B, eapTLSFiles(pki, map[string]*testnet.PKI{"gw": pki}), eapTLSGateway().Gateway()+pool)
	conf := testnet.EAPSwanctl([]string{eapTLSClient("home", "alice").ClientConn(), eapTLSClient("rogue", "mallory").ClientConn()}, nil)
	cyg := startCygnetWithFiles(t, p.A, conf, eapTLSFiles(pki, map[string]*testnet.PKI{"alice": pki, "mallory": rogue}))
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)

	if _, err := cyg.tryInitiate("rogue", "net"); err == nil {
		t.Fatal("cygnet as mallory with a certificate of an untrusted CA got a tunnel")
	}
	// strongSwan refuses the certificate with a TLS alert, which the
	// client's log names.
	why := regexp.MustCompile(`AUTHENTICATION_FAILED: EAP-TLS method failed for identity mallory\.cygnet\.test: TLS handshake: remote error: tls: unknown certificate`)
	if !logHas(cygnetEnd{cyg}, why, 3*time.Second) {
		t.Errorf("cygnet's log has no line matching %q:\n%s", why, tailLines(cyg.logText(), 30))
	}
	t.Logf("client on mallory:\n%s", grepLines(cyg.logText(), why))
	if err := pollFor(5*time.Second, func() bool { return len(cyg.listSAs()) == 0 }); err != nil {
		t.Errorf("cygnet lists %d IKE SAs after mallory's failure, want none", len(cyg.listSAs()))
	}
	if swLog := grepLines(sw.LogTail(200), regexp.MustCompile("TLS|EAP|mallory")); !regexp.MustCompile(`no trusted certificate found for 'mallory\.cygnet\.test'`).MatchString(swLog) {
		t.Errorf("strongSwan's log does not say it refused mallory's certificate:\n%s", swLog)
	}

	before := eapTLSRequests(sw)
	if _, err := cyg.tryInitiate("home", "net"); err != nil {
		t.Fatalf("cygnet initiating: %v\n%s\nstrongSwan's log:\n%s", err, tailLines(cyg.logText(), 30), sw.LogTail(60))
	}
	sa, ch := cyg.waitChild("net", 5*time.Second)
	// strongSwan's mem pools skip a subnet's network address.
	if !slices.Equal(sa.LocalVIPs, []string{vip4.String()}) || !slices.Equal(sa.DNS, []string{"10.99.2.53"}) {
		t.Errorf("client list-sas: local_vips %v dns %v, want [%s] [10.99.2.53]", sa.LocalVIPs, sa.DNS, vip4)
	}
	if !slices.Equal(ch.LocalTS, []string{vip4.String() + "/32"}) {
		t.Errorf("client's local selector %v, want %s/32", ch.LocalTS, vip4)
	}
	if _, swChild, err := sw.WaitChildSA("net", 5*time.Second); err != nil || !slices.Equal(swChild.RemoteTS, []string{vip4.String() + "/32"}) {
		t.Errorf("strongSwan's Child SA: %v, remote selector %v, want %s/32", err, swChild.RemoteTS, vip4)
	}
	if !logHas(cygnetEnd{cyg}, regexp.MustCompile(`EAP-TLS method succeeded.*eap_id=alice\.cygnet\.test.*msk=true`), 3*time.Second) {
		t.Error("no EAP-TLS success in cygnet's log")
	}
	checkFragmented(t, sw, before)
	// No source given: the route through the TUN picks the virtual IP.
	testnet.PingFrom(t, p.A, netip.Addr{}, testnet.HostB, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetB, vipPool4)
	if s.Encrypted() == 0 {
		t.Error("no ESP on the wire")
	}
	t.Logf("cygnet client got %s from strongSwan's pool over EAP-TLS; on %s: %s", vip4, p.IfB, s)
}

// eapTLSRequests counts the EAP-TLS requests in strongSwan's log, sent or
// received.
func eapTLSRequests(sw *testnet.StrongSwan) int {
	return len(regexp.MustCompile(`IKE_AUTH response \d+ \[ EAP/REQ/TLS \]`).FindAllString(sw.LogTail(100000), -1))
}

// checkFragmented: a TLS 1.2 handshake without fragments takes three
// EAP-TLS requests (start, the server's flight, its Finished); each
// fragment of either side's flight adds one (the next fragment, or the
// acknowledgement of the peer's).
func checkFragmented(t *testing.T, sw *testnet.StrongSwan, before int) {
	t.Helper()
	n := eapTLSRequests(sw) - before
	if n < 5 {
		t.Errorf("%d EAP-TLS requests: the flights were not fragmented both ways", n)
	}
	t.Logf("%d EAP-TLS requests for one handshake", n)
}

// TestEAPTLS13StrongSwan6: with charon.tls.version_max = 1.3 on both ends
// (strongswan.conf), EAP-TLS runs TLS 1.3 as RFC 9190 has it (the
// exporter's MSK, the server's protected success indication) against
// strongSwan 6.0.1, which implements it: cygnet as client and as gateway,
// each time a virtual IP from the pool and a ping through the tunnel.
func TestEAPTLS13StrongSwan6(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan6(t)
	tls13 := "charon {\n  tls {\n    version_max = 1.3\n  }\n}\n"
	plugins := append(append([]string(nil), testnet.DefaultStrongSwan6Plugins...), "eap-identity", "eap-tls")
	pool := testnet.PoolsSwanctl(testnet.PoolConfig{Name: "rw4", Addrs: vipPool4.String()})
	start6 := func(t *testing.T, ns string, files map[string][]byte, conf string) *testnet.StrongSwan {
		sw := testnet.StartStrongSwan6(t, ns, &testnet.StrongSwanOptions{Plugins: plugins, ExtraConf: tls13})
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
	negotiated13 := regexp.MustCompile(`negotiated TLS 1\.3`)
	t.Run("cygnet client", func(t *testing.T) {
		p := testnet.NewPair(t, testnet.PairOptions{})
		// An RSA CA: strongSwan 6.0.1 names only RSA CAs in its TLS 1.3
		// CertificateRequest, and with none it sends an empty
		// certificate_authorities extension, which RFC 8446 4.2.4 does
		// not allow and crypto/tls refuses ("error decoding message").
		pki := mustPKI(t, testnet.KeyRSA3072, "EAP CA", "gw", "alice")
		sw := start6(t, p.B, eapTLSFiles(pki, map[string]*testnet.PKI{"gw": pki}), eapTLSGateway().Gateway()+pool)
		files := eapTLSFiles(pki, map[string]*testnet.PKI{"alice": pki})
		files["strongswan.conf"] = []byte(tls13)
		cyg := startCygnetWithFiles(t, p.A, testnet.EAPSwanctl([]string{eapTLSClient("home", "alice").ClientConn()}, nil), files)
		warmUnderlay(t, p, testnet.UnderlayB)
		if _, err := cyg.tryInitiate("home", "net"); err != nil {
			t.Fatalf("cygnet initiating: %v\n%s\nstrongSwan's log:\n%s", err, tailLines(cyg.logText(), 30), sw.LogTail(60))
		}
		sa, _ := cyg.waitChild("net", 5*time.Second)
		if !slices.Equal(sa.LocalVIPs, []string{vip4.String()}) {
			t.Errorf("client list-sas: local_vips %v, want [%s]", sa.LocalVIPs, vip4)
		}
		if !negotiated13.MatchString(sw.LogTail(100000)) {
			t.Errorf("strongSwan 6 did not negotiate TLS 1.3:\n%s", grepLines(sw.LogTail(300), regexp.MustCompile(`TLS`)))
		}
		testnet.PingFrom(t, p.A, netip.Addr{}, testnet.HostB, 3)
	})
	t.Run("cygnet gateway", func(t *testing.T) {
		p := testnet.NewPair(t, testnet.PairOptions{})
		pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw", "alice")
		files := eapTLSFiles(pki, map[string]*testnet.PKI{"gw": pki})
		files["strongswan.conf"] = []byte(tls13)
		gw := startCygnetWithFiles(t, p.B, eapTLSGateway().Gateway()+pool, files)
		sw := start6(t, p.A, eapTLSFiles(pki, map[string]*testnet.PKI{"alice": pki}),
			testnet.EAPSwanctl([]string{eapTLSClient("alice", "alice").ClientConn()}, nil))
		warmUnderlay(t, p, testnet.UnderlayB)
		if err := sw.Initiate("alice", "net"); err != nil {
			t.Fatalf("strongSwan 6 as alice: %v\ncygnet's log:\n%s\nstrongSwan's log:\n%s", err, tailLines(gw.logText(), 30), sw.LogTail(60))
		}
		sa, _ := gw.waitChild("net", 5*time.Second)
		if !slices.Equal(sa.RemoteVIPs, []string{vip4.String()}) || sa.RemoteEAPID != "alice."+testnet.CertDomain {
			t.Errorf("gateway list-sas: remote_vips %v remote_eap_id %q", sa.RemoteVIPs, sa.RemoteEAPID)
		}
		if !negotiated13.MatchString(sw.LogTail(100000)) {
			t.Errorf("strongSwan 6 did not negotiate TLS 1.3:\n%s", grepLines(sw.LogTail(300), regexp.MustCompile(`TLS`)))
		}
		testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)
	})
}

// TestEAPTLSOnlyInterop: EAP-only authentication (RFC 5998) with EAP-TLS
// between cygnet and strongSwan 5.9.8, both ways. EAP-TLS is mutual and
// derives keys, so strongSwan accepts it as a client, unlike EAP-MSCHAPv2
// (TestEAPOnlyInterop): the gateway sends no AUTH before EAP, its TLS
// certificate proves it, and the tunnel carries traffic.
func TestEAPTLSOnlyInterop(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	alice := "alice." + testnet.CertDomain
	gatewayConf := testnet.EAPSwanctl([]string{roundsConn("rw", testnet.UnderlayB.String(), "%any",
		testnet.SubnetB.String()+"\n        remote_ts = "+testnet.SubnetA.String(), fmt.Sprintf(`    local {
      auth = eap
      id = %s
    }
    remote {
      auth = eap-tls
      eap_id = %%any
    }`, gatewayID))}, nil)
	clientConf := testnet.EAPSwanctl([]string{roundsConn("tun", testnet.UnderlayA.String(), testnet.UnderlayB.String(),
		testnet.SubnetA.String()+"\n        remote_ts = "+testnet.SubnetB.String(), fmt.Sprintf(`    local {
      auth = eap-tls
      id = %s
      certs = alice.crt
    }
    remote {
      auth = eap
      id = %s
    }`, alice, gatewayID))}, nil)
	for _, c := range []struct{ client, gateway string }{{implStrongSwan, implCygnet}, {implCygnet, implStrongSwan}} {
		t.Run(c.client+"-to-"+c.gateway, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw", "alice")
			gwFiles := eapTLSFiles(pki, map[string]*testnet.PKI{"gw": pki})
			clFiles := eapTLSFiles(pki, map[string]*testnet.PKI{"alice": pki})
			var gw, cl, sw tunnelEnd
			if c.gateway == implCygnet {
				gw = cygnetEnd{startCygnetWithFiles(t, p.B, gatewayConf, gwFiles)}
				cl = swanEnd{startEAPTLSStrongSwan(t, p.A, clFiles, clientConf)}
				sw = cl
			} else {
				gw = swanEnd{startEAPTLSStrongSwan(t, p.B, gwFiles, gatewayConf)}
				cl = cygnetEnd{startCygnetWithFiles(t, p.A, clientConf, clFiles)}
				sw = gw
			}
			warmUnderlay(t, p, testnet.UnderlayB)
			up, err := cl.initiate("tun", "net")
			if err != nil {
				t.Fatalf("%s client: %v\ngateway's log:\n%s\nclient's log:\n%s", c.client, err, tailLines(gw.logText(), 30), tailLines(cl.logText(), 30))
			}
			if _, err := gw.view("net", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			// No AUTH of the gateway before EAP; EAP-TLS authenticated it.
			want := `generating IKE_AUTH response 1 \[ IDr EAP/REQ/ID \]`
			if c.client == implStrongSwan {
				want = `parsed IKE_AUTH response 1 \[ IDr EAP/REQ/ID \]`
			}
			for _, r := range []string{want, `EAP method EAP_TLS succeeded, MSK established`} {
				if re := regexp.MustCompile(r); !logHas(sw, re, 3*time.Second) {
					t.Errorf("strongSwan's log has no line matching %q", re)
				}
			}
			testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
			t.Logf("EAP-only with EAP-TLS: tunnel up in %v", up.Round(time.Millisecond))
		})
	}
}
