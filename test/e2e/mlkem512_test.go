package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// TestStrongSwan6MLKEM512 sets up a hybrid X25519 + ML-KEM-512 IKE SA (RFC
// 9370, ML-KEM-512 from circl) between cygnet and strongSwan 6.0.1 in both
// roles; traffic crosses and both ends list the same key exchanges.
func TestStrongSwan6MLKEM512(t *testing.T) {
	testnet.RequireStrongSwan6(t)
	for _, cygnetInitiates := range []bool{true, false} {
		name := "strongswan6-initiates"
		if cygnetInitiates {
			name = "cygnet-initiates"
		}
		t.Run(name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
				c.Proposals = "aes256gcm16-prfsha384-x25519-ke1_mlkem512"
				c.Children = c.Children[:1]
			}
			cyg := startCygnet(t, p.A, confA.Swanctl(), nil, "a")
			sw := testnet.StartStrongSwan6(t, p.B, nil)
			if err := sw.Load(confB.Swanctl()); err != nil {
				t.Fatal(err)
			}
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
			ikeA, _ := cyg.waitChild("net", 10*time.Second)
			ikeB, _, err := sw.WaitChildSA("net", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			testnet.Ping(t, p.A, testnet.HostB, 3)
			testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
			want := []string{"CURVE_25519", "ML_KEM_512"}
			if !slices.Equal(ikeA.KeyExchanges, want) {
				t.Errorf("cygnet lists key exchanges %v, want %v", ikeA.KeyExchanges, want)
			}
			if got := []string{ikeB.DHGroup, ikeB.Fields["ake1"]}; !slices.Equal(got, want) {
				t.Errorf("strongSwan 6 lists key exchanges %v, want %v", got, want)
			}
			if ikeA.InitiatorSPI != ikeB.InitiatorSPI || ikeA.Initiator != cygnetInitiates {
				t.Errorf("IKE SAs differ: cygnet %s initiator=%v, strongSwan %s", ikeA.InitiatorSPI, ikeA.Initiator, ikeB.InitiatorSPI)
			}
			t.Logf("key exchanges: cygnet %v, strongSwan %s + %s", ikeA.KeyExchanges, ikeB.DHGroup, ikeB.Fields["ake1"])
		})
	}
}
