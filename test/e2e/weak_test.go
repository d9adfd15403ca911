package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// TestWeakESPOptIn: a strongSwan peer offering only the legacy ESP
// proposals native clients default to (aes256-sha1, 3des-sha1) gets a Child
// SA from cygnet when cygnet's esp_proposals name them, and traffic passes;
// cygnet's log warns at the line that names them.
func TestWeakESPOptIn(t *testing.T) {
	testnet.RequireStrongSwan(t)
	for _, esp := range []string{"aes256-sha1", "3des-sha1"} {
		t.Run(esp, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
			confA.Children[0].ESPProposals = esp
			confB.Children[0].ESPProposals = esp
			a := startEnd(t, implCygnet, p.A, confA.Swanctl(), nil, "a")
			b := startEnd(t, implStrongSwan, p.B, confB.Swanctl(), nil, "b").(swanEnd)
			warmUnderlay(t, p, testnet.UnderlayA)
			if !strings.Contains(a.logText(), "uses the weak legacy algorithms") {
				t.Errorf("cygnet did not warn about %s; log:\n%s", esp, rekeyTail(a.logText(), 20))
			}
			if _, err := b.initiate("tun", "net"); err != nil {
				t.Fatalf("strongSwan initiating with %s: %v", esp, err)
			}
			if _, err := a.view("net", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if sent, got, _, err := floodPing(p, 20, 20*time.Millisecond); err != nil || got != sent {
				t.Fatalf("%d of %d echoes answered over %s (%v)", got, sent, esp, err)
			}
		})
	}
}

// TestWeakIKEOptIn: the IKE proposals Windows offers by default
// (aes256-sha1-modp1024, 3des-sha1-modp1024) set up an IKE SA between cygnet
// and strongSwan 5.9.8 in both roles once cygnet's proposals name them:
// tunnel up, pings cross, both ends list the legacy algorithms, cygnet's log
// warns at the line. Without the opt-in cygnet answers NO_PROPOSAL_CHOSEN
// and its log names what the peer offered.
func TestWeakIKEOptIn(t *testing.T) {
	testnet.RequireStrongSwan(t)
	for _, c := range []struct {
		ike        string
		encr       string // list-sas encr-alg, both ends
		keySize    int
		integ, prf string
	}{
		{"aes256-sha1-modp1024", "AES_CBC", 256, "HMAC_SHA1_96", "PRF_HMAC_SHA1"},
		{"3des-sha1-modp1024", "3DES_CBC", 0, "HMAC_SHA1_96", "PRF_HMAC_SHA1"},
	} {
		for _, cygnetInitiates := range []bool{true, false} {
			role := "strongswan-initiates"
			if cygnetInitiates {
				role = "cygnet-initiates"
			}
			t.Run(c.ike+"/"+role, func(t *testing.T) {
				p := testnet.NewPair(t, testnet.PairOptions{})
				confA, confB := pairConfigs("psk")
				confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
				confA.Proposals, confB.Proposals = c.ike, c.ike
				a := startEnd(t, implCygnet, p.A, confA.Swanctl(), nil, "a").(cygnetEnd)
				b := startEnd(t, implStrongSwan, p.B, confB.Swanctl(), nil, "b").(swanEnd)
				warmUnderlay(t, p, testnet.UnderlayA)
				warn := regexp.MustCompile(`swanctl.conf:\d+: connections.tun.proposals: \\?"` + c.ike + `\\?" uses the weak legacy algorithms`)
				if !warn.MatchString(a.logText()) {
					t.Errorf("cygnet did not warn about %s; log:\n%s", c.ike, rekeyTail(a.logText(), 20))
				}
				var err error
				if cygnetInitiates {
					_, err = a.initiate("tun", "net")
				} else {
					_, err = b.initiate("tun", "net")
				}
				if err != nil {
					t.Fatalf("initiating with %s: %v\ncygnet log:\n%s", c.ike, err, rekeyTail(a.logText(), 20))
				}
				va, err := a.view("net", 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				vb, err := b.view("net", 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range []saView{va, vb} {
					if v.IKEEncr != c.encr || v.IKEKeySize != c.keySize && c.keySize != 0 || v.PRF != c.prf || v.DH != "MODP_1024" {
						t.Errorf("%s lists the IKE SA with %s/%d %s %s, want %s/%d %s MODP_1024", []string{"cygnet", "strongSwan"}[i],
							v.IKEEncr, v.IKEKeySize, v.PRF, v.DH, c.encr, c.keySize, c.prf)
					}
				}
				var integ string
				for _, sa := range a.listSAs() {
					integ = sa.IntegAlg
				}
				if integ != c.integ {
					t.Errorf("cygnet lists the IKE SA's integrity as %q, want %s", integ, c.integ)
				}
				if sent, got, _, err := floodPing(p, 20, 20*time.Millisecond); err != nil || got != sent {
					t.Fatalf("%d of %d echoes answered over an IKE SA with %s (%v)", got, sent, c.ike, err)
				}
			})
		}
	}

	t.Run("without-opt-in", func(t *testing.T) {
		p := testnet.NewPair(t, testnet.PairOptions{})
		confA, confB := pairConfigs("psk")
		confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
		confA.Proposals, confB.Proposals = "aes256-sha256-modp2048", "aes256-sha1-modp1024"
		a := startEnd(t, implCygnet, p.A, confA.Swanctl(), nil, "a")
		b := startEnd(t, implStrongSwan, p.B, confB.Swanctl(), nil, "b").(swanEnd)
		warmUnderlay(t, p, testnet.UnderlayA)
		if _, err := b.initiate("tun", "net"); err == nil {
			t.Fatal("strongSwan set up an IKE SA with aes256-sha1-modp1024 that cygnet's proposals do not name")
		}
		why := regexp.MustCompile(`NO_PROPOSAL_CHOSEN: peer offered aes256-sha1-modp1024, we accept aes256-sha256-modp2048`)
		if !logHas(a, why, 5*time.Second) {
			t.Errorf("cygnet log lacks %q:\n%s", why, rekeyTail(a.logText(), 20))
		}
		if strings.Contains(a.logText(), "uses the weak legacy algorithms") {
			t.Errorf("cygnet warned about weak algorithms it was not configured with")
		}
		if sas, _ := a.ikeSAs(); len(sas) != 0 {
			t.Errorf("cygnet holds IKE SAs %v", sas)
		}
	})
}
