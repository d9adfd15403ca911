package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// TestRADIUSGatewayStrongSwanClient: a cygnet gateway with
// remote { auth = eap-radius } relays its road warriors' EAP to a
// FreeRADIUS server (strongswan.conf's charon.plugins.eap-radius, as
// strongSwan reads it). A strongSwan client (EAP-MSCHAPv2, vips = 0.0.0.0)
// whose password FreeRADIUS knows gets a tunnel keyed with the MSK from the
// server's MS-MPPE keys, and an address from the pool leased to its EAP
// identity; a client with a wrong password is refused with a log line that
// names the RADIUS reject, and the first client's tunnel keeps working.
func TestRADIUSGatewayStrongSwanClient(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireStrongSwan(t)
	testnet.RequireFreeRADIUS(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	const secret = "radius-shared-secret-1"
	fr := testnet.StartFreeRADIUS(t, p.B, testnet.FreeRADIUSOptions{Secret: secret,
		Users: map[string]string{"alice": "alice-password-1", "bob": "bob-password-2"}})
	pki := mustPKI(t, testnet.KeyECDSAP256, "EAP CA", "gw")
	gwConf := testnet.EAPConfig{
		Name: "rw", LocalAddrs: testnet.UnderlayB.String(), RemoteAddrs: "%any", GatewayID: gatewayID,
		Method: "eap-radius", EAPID: "%any", LocalTS: testnet.SubnetB.String(), RemoteTS: "dynamic",
		Extra: "pools = rw4",
	}
	pool := testnet.PoolsSwanctl(testnet.PoolConfig{Name: "rw4", Addrs: vipPool4.String()})
	files := eapFiles(pki, true)
	files["strongswan.conf"] = []byte(fmt.Sprintf(`charon {
  plugins {
    eap-radius {
      accounting = yes
      servers {
        local {
          address = 127.0.0.1
          secret = %s
        }
      }
    }
  }
}
`, secret))
	gw := startCygnetWithFiles(t, p.B, gwConf.Gateway()+pool, files)
	client := func(name, id string) string {
		return testnet.EAPConfig{
			Name: name, LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(), GatewayID: gatewayID,
			Method: "eap-mschapv2", ClientID: id, EAPID: id, LocalTS: "dynamic", RemoteTS: testnet.SubnetB.String(),
			Extra: "vips = 0.0.0.0",
		}.ClientConn()
	}
	sw := startEAPStrongSwan(t, p.A, eapFiles(pki, false), testnet.EAPSwanctl([]string{client("alice", "alice"), client("bob", "bob")},
		[]testnet.EAPUser{{ID: "alice", Secret: "alice-password-1"}, {ID: "bob", Secret: "not-bobs-password"}}))
	warmUnderlay(t, p, testnet.UnderlayB)
	capture := p.Capture(p.B)

	start := time.Now()
	if err := sw.Initiate("alice", "net"); err != nil {
		t.Fatalf("strongSwan as alice: %v\ncygnet's log:\n%s", err, tailLines(gw.logText(), 40))
	}
	sa, _ := gw.waitChild("net", 5*time.Second)
	if !slices.Equal(sa.RemoteVIPs, []string{vip4.String()}) || sa.RemoteEAPID != "alice" {
		t.Errorf("gateway list-sas: remote_vips %v remote_eap_id %q, want [%s] alice", sa.RemoteVIPs, sa.RemoteEAPID, vip4)
	}
	ok := regexp.MustCompile(`EAP-MSCHAPV2 method succeeded.*eap_id=alice msk=true`)
	if !logHas(cygnetEnd{gw}, ok, 3*time.Second) {
		t.Errorf("cygnet's log has no line matching %q", ok)
	}
	t.Logf("alice through FreeRADIUS: tunnel up in %v", time.Since(start).Round(time.Millisecond))
	waitPool(t, gw, control.Pool{Name: "rw4", Base: "10.99.3.1", Size: 14, Online: 1,
		Leases: []control.Lease{{Address: vip4.String(), Identity: "alice", Status: "online"}}})
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)

	if err := sw.Initiate("bob", "net"); err == nil {
		t.Fatal("strongSwan as bob with a wrong password got a tunnel")
	}
	why := regexp.MustCompile(`AUTHENTICATION_FAILED: EAP-MSCHAPV2 method failed for identity bob: RADIUS server local rejected the client`)
	if !logHas(cygnetEnd{gw}, why, 5*time.Second) {
		t.Fatalf("cygnet's log has no line matching %q:\n%s", why, tailLines(gw.logText(), 30))
	}
	t.Logf("bob (wrong password): cygnet logged: %s", grepLine(gw.logText(), why))
	if err := pollFor(5*time.Second, func() bool { return len(gw.listSAs()) == 1 }); err != nil {
		t.Errorf("cygnet lists %d IKE SAs after bob's failure, want alice's only", len(gw.listSAs()))
	}
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	s := testnet.AssertOnlyEncrypted(t, path, testnet.SubnetB, vipPool4)
	if s.Encrypted() == 0 {
		t.Error("no ESP on the wire")
	}
	t.Logf("on %s: %s", p.IfB, s)

	// RADIUS accounting: alice's session started with her address, and
	// stopped when she hung up, with every ping counted across a Child SA
	// rekey and an IKE SA rekey, all under one session
	oldSA, oldChild := gw.waitChild("net", 5*time.Second)
	if _, err := sw.Swanctl("--rekey", "--child", "net"); err != nil {
		t.Fatal(err)
	}
	if err := pollFor(10*time.Second, func() bool {
		sas := gw.listSAs()
		return len(sas) == 1 && len(sas[0].ChildSAs) == 1 && sas[0].ChildSAs[0].SPIIn != oldChild.SPIIn && sas[0].ChildSAs[0].State == "INSTALLED"
	}); err != nil {
		t.Fatalf("Child SA not rekeyed: %+v", gw.listSAs())
	}
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 1) // the rekeyed Child SA carries traffic both ways
	if _, err := sw.Swanctl("--rekey", "--ike", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := pollFor(10*time.Second, func() bool {
		sas := gw.listSAs()
		return len(sas) == 1 && sas[0].InitiatorSPI != oldSA.InitiatorSPI && sas[0].State == "ESTABLISHED"
	}); err != nil {
		t.Fatalf("IKE SA not rekeyed: %+v", gw.listSAs())
	}
	testnet.PingFrom(t, p.A, vip4, testnet.HostB, 3)
	if err := sw.Terminate("alice"); err != nil {
		t.Fatal(err)
	}
	var records string
	if err := pollFor(10*time.Second, func() bool {
		records, _ = fr.AccountingRecords()
		return strings.Contains(records, "Acct-Status-Type = Stop")
	}); err != nil {
		t.Fatalf("FreeRADIUS has no Stop record:\n%s\ncygnet's log:\n%s", records, tailLines(gw.logText(), 20))
	}
	t.Logf("FreeRADIUS accounting detail:\n%s", records)
	startRec, stop := acctRecord(records, "Start"), acctRecord(records, "Stop")
	for _, r := range []map[string]string{startRec, stop} {
		if r["User-Name"] != `"alice"` || r["Framed-IP-Address"] != vip4.String() || r["Acct-Session-Id"] == "" ||
			r["Acct-Session-Id"] != startRec["Acct-Session-Id"] || r["NAS-IP-Address"] != testnet.UnderlayB.String() {
			t.Errorf("accounting record %v: want alice at %s from NAS %s, one session ID", r, vip4, testnet.UnderlayB)
		}
	}
	for _, k := range []string{"Acct-Input-Packets", "Acct-Output-Packets"} {
		if n, _ := strconv.Atoi(stop[k]); n < 10 {
			t.Errorf("Stop record %s = %q, want at least the 10 pings", k, stop[k])
		}
	}
	if n, _ := strconv.Atoi(stop["Acct-Input-Octets"]); n < 10*84 {
		t.Errorf("Stop record Acct-Input-Octets = %q, want at least 10 pings of 84 octets", stop["Acct-Input-Octets"])
	}
	if stop["Acct-Terminate-Cause"] != "User-Request" {
		t.Errorf("Stop record Acct-Terminate-Cause = %q, want User-Request", stop["Acct-Terminate-Cause"])
	}
	if strings.Count(records, "Acct-Status-Type = Start") != 1 || strings.Contains(records, `User-Name = "bob"`) {
		t.Errorf("want exactly alice's session accounted, not bob's failed attempt")
	}
}

// acctRecord returns the attributes of the first FreeRADIUS detail record
// of the given Acct-Status-Type.
func acctRecord(detail, status string) map[string]string {
	for _, block := range strings.Split(detail, "\n\n") {
		r := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), " = "); ok {
				r[k] = v
			}
		}
		if r["Acct-Status-Type"] == status {
			return r
		}
	}
	return nil
}
