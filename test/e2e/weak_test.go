package e2e

import (
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
