package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// testPPK is the postquantum preshared key both ends share in the PPK
// tests, 256 bits as strongSwan's documentation asks.
const testPPK = "0x5fb2a1c3d4e5f60718293a4b5c6d7e8f9000112233445566778899aabbccddee"

// withPPK adds a secrets.ppk<suffix> section holding testPPK under id to a
// swanctl.conf that TunnelConfig.Swanctl rendered.
func withPPK(conf, id, secret string) string {
	return strings.Replace(conf, "secrets {\n", "secrets {\n  ppk-test {\n    id = "+id+"\n    secret = "+secret+"\n  }\n", 1)
}

// TestStrongSwan6PPK sets up IKE SAs with a postquantum preshared key (RFC
// 8784) between cygnet and strongSwan 6.0.1, in both roles, classical and
// with a hybrid ML-KEM exchange in IKE_INTERMEDIATE; both ends report the
// PPK. Without the PPK on the peer, ppk_required fails cleanly and an
// optional PPK falls back to NO_PPK_AUTH.
func TestStrongSwan6PPK(t *testing.T) {
	testnet.RequireStrongSwan6(t)
	for _, tc := range []struct {
		name            string
		cygnetInitiates bool
		props           string
		cygExtra        string // connection options of cygnet (A)
		swExtra         string // and of strongSwan (B)
		cygPPK, swPPK   string // the PPK_ID each end has a PPK for ("": none)
		wantPPK         bool   // the IKE SA comes up with the PPK
		wantFail        string // or the IKE SA fails, cygnet logging this
		swLog           string // strongSwan's log shows this
		cygLog          string // and cygnet's this
	}{
		{name: "cygnet-initiates", cygnetInitiates: true,
			cygExtra: "ppk_id = ppk-1\n    ppk_required = yes", swExtra: "ppk_id = ppk-1\n    ppk_required = yes",
			cygPPK: "ppk-1", swPPK: "ppk-1", wantPPK: true, swLog: "using PPK for PPK_ID 'ppk-1'"},
		{name: "strongswan6-initiates",
			cygExtra: "ppk_id = ppk-1\n    ppk_required = yes", swExtra: "ppk_id = ppk-1\n    ppk_required = yes",
			cygPPK: "ppk-1", swPPK: "ppk-1", wantPPK: true, swLog: "using PPK for PPK_ID 'ppk-1'"},
		{name: "cygnet-initiates-hybrid", cygnetInitiates: true, props: "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
			cygExtra: "ppk_id = ppk-1", swExtra: "ppk_id = ppk-1",
			cygPPK: "ppk-1", swPPK: "ppk-1", wantPPK: true, swLog: "using PPK for PPK_ID 'ppk-1'"},
		{name: "strongswan6-initiates-hybrid", props: "aes256gcm16-prfsha384-x25519-ke1_mlkem768",
			cygExtra: "ppk_id = ppk-1", swExtra: "ppk_id = ppk-1",
			cygPPK: "ppk-1", swPPK: "ppk-1", wantPPK: true, swLog: "using PPK for PPK_ID 'ppk-1'"},
		// strongSwan has PPKs, so it answers USE_PPK, but not this one: it
		// checks our NO_PPK_AUTH and answers without PPK_IDENTITY.
		{name: "cygnet-initiates-peer-lacks-ppk", cygnetInitiates: true,
			cygExtra: "ppk_id = ppk-1", cygPPK: "ppk-1", swPPK: "ppk-other",
			swLog: "no PPK available, using NO_PPK_AUTH notify", cygLog: "peer did not use the PPK (no PPK_IDENTITY), continuing without"},
		// cygnet has another PPK only: strongSwan's NO_PPK_AUTH is checked.
		{name: "strongswan6-initiates-peer-lacks-ppk",
			swExtra: "ppk_id = ppk-1", cygPPK: "ppk-other", swPPK: "ppk-1",
			cygLog: "not using the peer's PPK (no PPK with PPK_ID 'ppk-1'), checking NO_PPK_AUTH"},
		{name: "cygnet-requires-ppk-peer-has-none", cygnetInitiates: true,
			cygExtra: "ppk_id = ppk-1\n    ppk_required = yes", cygPPK: "ppk-1",
			wantFail: "PPK required (ppk_required = yes) but peer 10.99.0.2 does not support PPK (no USE_PPK in its IKE_SA_INIT response)"},
		{name: "cygnet-requires-ppk-initiator-has-none",
			cygExtra: "ppk_required = yes", cygPPK: "ppk-1",
			wantFail: "AUTHENTICATION_FAILED: b.cygnet.test: PPK required (ppk_required = yes) but peer does not support PPK (no USE_PPK in IKE_SA_INIT)",
			swLog:    "received AUTHENTICATION_FAILED notify error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
				c.Proposals = tc.props
				c.Children = c.Children[:1]
			}
			confA.Extra, confB.Extra = tc.cygExtra, tc.swExtra
			textA, textB := confA.Swanctl(), confB.Swanctl()
			if tc.cygPPK != "" {
				textA = withPPK(textA, tc.cygPPK, testPPK)
			}
			if tc.swPPK != "" {
				textB = withPPK(textB, tc.swPPK, testPPK)
			}
			cyg := startCygnet(t, p.A, textA, nil, "a")
			sw := testnet.StartStrongSwan6(t, p.B, nil)
			if err := sw.Load(textB); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.cygnetInitiates {
				_, err = cyg.tryInitiate("tun", "net")
			} else {
				warmUnderlay(t, p, testnet.UnderlayA)
				err = sw.Initiate("tun", "net")
			}
			if tc.wantFail != "" {
				if err == nil {
					t.Fatalf("initiate succeeded, want it to fail with %q", tc.wantFail)
				}
				deadline := time.Now().Add(5 * time.Second)
				for !strings.Contains(cyg.logText(), tc.wantFail) && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if !strings.Contains(cyg.logText(), tc.wantFail) {
					t.Fatalf("cygnet's log lacks %q:\n%s", tc.wantFail, cyg.logText())
				}
				if tc.swLog != "" && !strings.Contains(sw.LogTail(1<<20), tc.swLog) {
					t.Errorf("strongSwan's log lacks %q:\n%s", tc.swLog, sw.LogTail(40))
				}
				for _, sa := range cyg.listSAs() {
					if sa.State == "ESTABLISHED" {
						t.Errorf("cygnet has an established IKE SA: %+v", sa)
					}
				}
				t.Logf("initiate failed as it should: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("initiate: %v\ncygnet log:\n%s\nstrongSwan log:\n%s", err, cyg.logText(), sw.LogTail(40))
			}
			ikeA, _ := cyg.waitChild("net", 10*time.Second)
			ikeB, _, err := sw.WaitChildSA("net", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
			if ikeA.PPK != tc.wantPPK || (ikeB.Fields["ppk"] == "yes") != tc.wantPPK {
				t.Errorf("PPK: cygnet reports %v, strongSwan ppk=%q; want %v", ikeA.PPK, ikeB.Fields["ppk"], tc.wantPPK)
			}
			if ikeA.InitiatorSPI != ikeB.InitiatorSPI {
				t.Errorf("IKE SAs differ: cygnet %s, strongSwan %s", ikeA.InitiatorSPI, ikeB.InitiatorSPI)
			}
			if tc.props != "" && len(ikeA.KeyExchanges) != 2 {
				t.Errorf("key exchanges %v, want two", ikeA.KeyExchanges)
			}
			if tc.swLog != "" && !strings.Contains(sw.LogTail(1<<20), tc.swLog) {
				t.Errorf("strongSwan's log lacks %q", tc.swLog)
			}
			if tc.cygLog != "" && !strings.Contains(cyg.logText(), tc.cygLog) {
				t.Errorf("cygnet's log lacks %q", tc.cygLog)
			}
			if want := "using PPK"; tc.wantPPK != strings.Contains(cyg.logText(), want) {
				t.Errorf("cygnet's log has %q: %v, want %v", want, !tc.wantPPK, tc.wantPPK)
			}
			t.Logf("IKE SA up: cygnet ppk=%v, strongSwan ppk=%q, key exchanges %v", ikeA.PPK, ikeB.Fields["ppk"], ikeA.KeyExchanges)
			if !tc.wantPPK || tc.props != "" {
				return // hybrid IKE SAs reauthenticate instead (pq_test.go)
			}
			// The rekeyed IKE SA's keys descend from SK_d, which the PPK
			// went into: it stays a PPK IKE SA, and both ends agree on it.
			if err := rekeyIKE(cygnetEnd{cyg}, "tun"); err != nil {
				t.Fatalf("rekey the IKE SA: %v", err)
			}
			var rekeyed control.IKESA
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				sas := cyg.listSAs()
				if len(sas) == 1 && sas[0].State == "ESTABLISHED" && sas[0].InitiatorSPI != ikeA.InitiatorSPI && len(sas[0].ChildSAs) == 1 {
					rekeyed = sas[0]
					break
				}
			}
			if rekeyed.InitiatorSPI == "" || !rekeyed.PPK {
				t.Fatalf("after the IKE SA rekey: %+v\ncygnet log:\n%s", cyg.listSAs(), cyg.logText())
			}
			swSAs, err := sw.ListSAs()
			if err != nil {
				t.Fatal(err)
			}
			if len(swSAs) != 1 || swSAs[0].InitiatorSPI != rekeyed.InitiatorSPI || swSAs[0].State != "ESTABLISHED" || swSAs[0].Fields["ppk"] != "yes" {
				t.Fatalf("strongSwan after the rekey: %+v", swSAs)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
			t.Logf("rekeyed IKE SA: cygnet ppk=%v, strongSwan ppk=%q", rekeyed.PPK, swSAs[0].Fields["ppk"])
		})
	}
}

// TestVICILoadsPPK loads a connection with ppk_id and ppk_required and its
// PPK through VICI (swanctl --load-all, load-shared of type ppk) into a
// cygnet that then sets up a PPK IKE SA with another cygnet.
func TestVICILoadsPPK(t *testing.T) {
	testnet.RequireRoot(t)
	requireSwanctl(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
	confA.Extra = "ppk_id = ppk-vici\n    ppk_required = yes"
	confB.Extra = "ppk_id = ppk-vici\n    ppk_required = yes"
	startCygnet(t, p.B, withPPK(confB.Swanctl(), "ppk-vici", testPPK), nil, "b")
	a, path := startCygnetVICI(t, p.A, "# connections arrive over VICI\n")
	dir := t.TempDir()
	file := dir + "/swanctl.conf"
	if err := os.WriteFile(file, []byte(withPPK(confA.Swanctl(), "ppk-vici", testPPK)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swanctl", "--load-all", "--noprompt", "--file", file, "--uri", "unix://"+path)
	cmd.Env = append(os.Environ(), "SWANCTL_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "loaded ppk secret 'ppk-test'") || !strings.Contains(string(out), "loaded connection 'tun'") {
		t.Fatalf("swanctl --load-all: %v\n%s", err, out)
	}
	if out := mustSwanctl(t, path, "--initiate", "--child", "net"); !strings.Contains(out, "initiate completed successfully") {
		t.Fatalf("swanctl --initiate:\n%s", out)
	}
	ike, _ := a.waitChild("net", 5*time.Second)
	if !ike.PPK {
		t.Fatalf("the IKE SA of the VICI-loaded connection has no PPK: %+v", ike)
	}
}
