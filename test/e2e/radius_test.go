package e2e

import (
	"fmt"
	"regexp"
	"slices"
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
	testnet.StartFreeRADIUS(t, p.B, testnet.FreeRADIUSOptions{Secret: secret,
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
}
