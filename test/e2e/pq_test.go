package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// ikeExchanges returns the IKE exchange types (IKE header octet 18) of
// every IKE message in a capture, UDP 500 and 4500 (after the non-ESP
// marker), in order.
func ikeExchanges(t *testing.T, path string) []int {
	t.Helper()
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, nil)
		if d.Class != testnet.ClassIKE {
			continue
		}
		b := d.Payload
		if d.SrcPort == 4500 || d.DstPort == 4500 {
			if len(b) < 4 {
				continue
			}
			b = b[4:]
		}
		if len(b) >= 28 {
			out = append(out, int(b[18]))
		}
	}
	return out
}

// TestStrongSwan6Hybrid: cygnet and strongSwan 6.0.1 set up an IKE SA with
// the hybrid key exchange X25519 + ML-KEM-768 (RFC 9370: one
// IKE_INTERMEDIATE exchange, RFC 9242 IntAuth in both AUTH payloads), in
// both roles; traffic crosses the tunnel, the capture shows the
// IKE_INTERMEDIATE exchange, and both ends list the same key exchanges.
func TestStrongSwan6Hybrid(t *testing.T) {
	testnet.RequireStrongSwan6(t)
	for _, tc := range []struct {
		name            string
		cygnetInitiates bool
		kem             string
	}{
		{"cygnet-initiates", true, "mlkem768"},
		{"strongswan6-initiates", false, "mlkem768"},
		// ML-KEM-1024's 1568-octet key exceeds the 1280-octet fragment
		// size: the IKE_INTERMEDIATE request goes in RFC 7383 fragments
		{"cygnet-initiates-mlkem1024", true, "mlkem1024"},
		{"strongswan6-initiates-mlkem1024", false, "mlkem1024"},
	} {
		cygnetInitiates := tc.cygnetInitiates
		ikeProps := "aes256gcm16-prfsha384-x25519-ke1_" + tc.kem
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
				c.Proposals = ikeProps
				c.Children = c.Children[:1]
				c.Children[0].ESPProposals = "aes256gcm16"
			}
			// A is cygnet, B strongSwan 6; the initiator varies.
			cyg := startCygnet(t, p.A, confA.Swanctl(), nil, "a")
			sw := testnet.StartStrongSwan6(t, p.B, nil)
			if err := sw.Load(confB.Swanctl()); err != nil {
				t.Fatal(err)
			}
			capture := p.Capture(p.B)
			start := time.Now()
			var err error
			if cygnetInitiates {
				_, err = cyg.tryInitiate("tun", "net")
			} else {
				warmUnderlay(t, p, testnet.UnderlayA)
				err = sw.Initiate("tun", "net")
			}
			if err != nil {
				t.Fatalf("initiate: %v\ncygnet log:\n%s", err, cyg.logText())
			}
			t.Logf("hybrid IKE SA + Child SA up in %v", time.Since(start).Round(time.Millisecond))
			ikeA, _ := cyg.waitChild("net", 10*time.Second)
			ikeB, _, err := sw.WaitChildSA("net", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
			testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)

			want := []string{"CURVE_25519", map[string]string{"mlkem768": "ML_KEM_768", "mlkem1024": "ML_KEM_1024"}[tc.kem]}
			if !slices.Equal(ikeA.KeyExchanges, want) {
				t.Errorf("cygnet lists key exchanges %v, want %v", ikeA.KeyExchanges, want)
			}
			if got := []string{ikeB.DHGroup, ikeB.Fields["ake1"]}; !slices.Equal(got, want) {
				t.Errorf("strongSwan 6 lists key exchanges %v, want %v", got, want)
			}
			if ikeA.InitiatorSPI != ikeB.InitiatorSPI || ikeA.Initiator != cygnetInitiates {
				t.Errorf("IKE SAs differ: cygnet %s initiator=%v, strongSwan %s", ikeA.InitiatorSPI, ikeA.Initiator, ikeB.InitiatorSPI)
			}
			if _, err := capture.Stop(); err != nil {
				t.Fatal(err)
			}
			ex := ikeExchanges(t, capture.Path)
			// IKE_SA_INIT (34) request and response, then the IKE_INTERMEDIATE
			// (43) request (ML-KEM-768's 1184-octet key: may come in RFC 7383
			// fragments) and response, then IKE_AUTH (35)
			first, last := slices.Index(ex, 43), -1
			for i, x := range ex {
				if x == 43 {
					last = i
				}
			}
			if first < 0 || countOf(ex[:first], 34) != 2 || countOf(ex[first:last+1], 43) != last-first+1 || countOf(ex[first:], 43) < 2 ||
				countOf(ex[last+1:], 35) != 2 {
				t.Errorf("IKE exchanges on the wire %v: want 2 IKE_SA_INIT, the IKE_INTERMEDIATE request and response, 2 IKE_AUTH", ex)
			}
			t.Logf("IKE exchange types on the wire: %v", ex)
			if !strings.Contains(sw.LogTail(1<<20), "IKE_INTERMEDIATE") {
				t.Error("strongSwan's log shows no IKE_INTERMEDIATE")
			}

			// A rekey of the hybrid IKE SA is a reauthentication (no
			// IKE_FOLLOWUP_KE): a new IKE SA, again with both exchanges.
			if err := rekeyIKE(cygnetEnd{cyg}, "tun"); err != nil {
				t.Fatalf("rekey the IKE SA: %v", err)
			}
			deadline := time.Now().Add(15 * time.Second)
			var fresh control.IKESA
			for time.Now().Before(deadline) {
				sas := cyg.listSAs()
				if len(sas) == 1 && sas[0].State == "ESTABLISHED" && sas[0].InitiatorSPI != ikeA.InitiatorSPI && len(sas[0].ChildSAs) == 1 {
					fresh = sas[0]
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if fresh.InitiatorSPI == "" {
				t.Fatalf("no reauthenticated IKE SA: %+v\ncygnet log:\n%s", cyg.listSAs(), cyg.logText())
			}
			if !slices.Equal(fresh.KeyExchanges, want) || !fresh.Initiator {
				t.Errorf("reauthenticated IKE SA: key exchanges %v (want %v), initiator %v", fresh.KeyExchanges, want, fresh.Initiator)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
			swSAs, err := sw.ListSAs()
			if err != nil {
				t.Fatal(err)
			}
			if len(swSAs) != 1 || swSAs[0].InitiatorSPI != fresh.InitiatorSPI || swSAs[0].Fields["ake1"] != want[1] {
				t.Errorf("strongSwan after the reauthentication: %+v", swSAs)
			}

			// strongSwan 6 rekeys the IKE SA: CREATE_CHILD_SA, then one
			// IKE_FOLLOWUP_KE for the ML-KEM exchange (RFC 9370 2.2.4)
			if err := rekeyIKE(swanEnd{sw}, "tun"); err != nil {
				t.Fatalf("strongSwan rekeys the IKE SA: %v", err)
			}
			var rekeyed control.IKESA
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				sas := cyg.listSAs()
				if len(sas) == 1 && sas[0].State == "ESTABLISHED" && sas[0].InitiatorSPI != fresh.InitiatorSPI && len(sas[0].ChildSAs) == 1 {
					rekeyed = sas[0]
					break
				}
			}
			if rekeyed.InitiatorSPI == "" {
				t.Fatalf("no IKE SA rekeyed by strongSwan: %+v\ncygnet log:\n%s\nstrongSwan log:\n%s", cyg.listSAs(), cyg.logText(), sw.LogTail(60))
			}
			if !slices.Equal(rekeyed.KeyExchanges, want) || rekeyed.Initiator {
				t.Errorf("IKE SA rekeyed by strongSwan: key exchanges %v (want %v), initiator %v", rekeyed.KeyExchanges, want, rekeyed.Initiator)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
			if !strings.Contains(sw.LogTail(1<<20), "IKE_FOLLOWUP_KE") {
				t.Error("strongSwan's log shows no IKE_FOLLOWUP_KE")
			}
		})
	}
}

func countOf(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestStrongSwan598HybridFallback: against strongSwan 5.9.8, which knows no
// additional key exchanges, a cygnet initiator whose first proposal is
// hybrid gets its classical one; with the hybrid proposal alone it fails
// with NO_PROPOSAL_CHOSEN naming what it offered.
func TestStrongSwan598HybridFallback(t *testing.T) {
	testnet.RequireStrongSwan(t)
	for _, tc := range []struct {
		name, props string
		up          bool
	}{
		{"hybrid-first", "aes256gcm16-prfsha384-x25519-ke1_mlkem768, aes256gcm16-prfsha384-x25519", true},
		{"hybrid-only", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
			confA.Proposals = tc.props
			confB.Proposals = "aes256gcm16-prfsha384-x25519"
			cyg := startCygnet(t, p.A, confA.Swanctl(), nil, "a")
			sw := testnet.StartStrongSwan(t, p.B, nil)
			if err := sw.Load(confB.Swanctl()); err != nil {
				t.Fatal(err)
			}
			_, err := cyg.tryInitiate("tun", "net")
			if !tc.up {
				if err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") || !strings.Contains(err.Error(), "ke1_mlkem768") {
					t.Fatalf("hybrid-only against strongSwan 5.9.8: %v, want NO_PROPOSAL_CHOSEN naming ke1_mlkem768", err)
				}
				t.Logf("refused as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("initiate: %v", err)
			}
			ikeA, _ := cyg.waitChild("net", 10*time.Second)
			if !slices.Equal(ikeA.KeyExchanges, []string{"CURVE_25519"}) {
				t.Errorf("key exchanges %v, want the classical CURVE_25519 alone", ikeA.KeyExchanges)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
		})
	}
}
