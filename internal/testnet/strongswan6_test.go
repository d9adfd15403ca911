package testnet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStrongSwan6Pair proves the strongSwan 6.0.1 peer of the harness: two
// charons from the Debian 13 root negotiate the hybrid X25519 + ML-KEM-768
// key exchange (RFC 9370, one IKE_INTERMEDIATE exchange), bring a tunnel up
// and carry traffic.
func TestStrongSwan6Pair(t *testing.T) {
	RequireStrongSwan6(t)
	RequireTools(t, "ping")
	p := NewPair(t, PairOptions{})
	start := time.Now()
	swA := StartStrongSwan6(t, p.A, nil)
	swB := StartStrongSwan6(t, p.B, nil)
	t.Logf("two strongSwan 6 charons up in %v", time.Since(start).Round(time.Millisecond))
	// ML-KEM (which 5.9.8 lacks) from the ml plugin the root script built
	if out, err := swA.Swanctl("--list-algs"); err != nil || !strings.Contains(out, "ML_KEM_768[ml]") {
		t.Fatalf("strongSwan 6 offers no ML-KEM-768 (err %v):\n%s", err, out)
	}
	confA, confB := pairConfigs("psk", false)
	for _, c := range []*TunnelConfig{&confA, &confB} {
		c.Proposals = "aes256gcm16-prfsha384-x25519-ke1_mlkem768"
		c.Children = c.Children[:1]
		c.Children[0].ESPProposals = "aes256gcm16-x25519-ke1_mlkem768"
	}
	if err := swA.Load(confA.Swanctl()); err != nil {
		t.Fatal(err)
	}
	if err := swB.Load(confB.Swanctl()); err != nil {
		t.Fatal(err)
	}
	if err := swA.Initiate("tun", "net"); err != nil {
		t.Fatal(err)
	}
	ikeB, _, err := swB.WaitChildSA("net", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	Ping(t, p.A, HostB, 3)
	sasA, err := swA.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	ikeA, _, ok := FindChildSA(sasA, "net", "INSTALLED")
	if !ok {
		t.Fatalf("A lists no INSTALLED CHILD_SA net: %+v", sasA)
	}
	for _, ike := range []IKESA{ikeA, ikeB} {
		// strongSwan 6 lists additional key exchanges as ake1..ake7
		if ike.DHGroup != "CURVE_25519" || ike.Fields["ake1"] != "ML_KEM_768" {
			t.Errorf("IKE SA key exchanges %q + %q, want CURVE_25519 + ML_KEM_768 (fields %v)", ike.DHGroup, ike.Fields["ake1"], ike.Fields)
		}
	}
	log, err := os.ReadFile(filepath.Join(swA.Dir, "charon.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "IKE_INTERMEDIATE request 1") {
		t.Errorf("A's charon.log shows no IKE_INTERMEDIATE exchange")
	}
}
