package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// TestStrongSwanRekeyWithoutPFSRefused has a strongSwan initiator whose
// esp_proposals name no key exchange rekey its Child SA against a cygnet
// responder that requires PFS (every ESP proposal names x25519). cygnet
// refuses the CREATE_CHILD_SA with NO_PROPOSAL_CHOSEN and says why; the old
// Child SA keeps carrying traffic with the same SPIs.
func TestStrongSwanRekeyWithoutPFSRefused(t *testing.T) {
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
	confA.Children[0].ESPProposals = "aes128gcm16-x25519"
	confB.Children[0].ESPProposals = "aes128gcm16"
	a := startEnd(t, implCygnet, p.A, confA.Swanctl(), nil, "a")
	b := startEnd(t, implStrongSwan, p.B, confB.Swanctl(), nil, "b").(swanEnd)
	warmUnderlay(t, p, testnet.UnderlayA)
	if _, err := b.initiate("tun", "net"); err != nil {
		t.Fatalf("strongSwan initiating: %v", err)
	}
	before, err := a.view("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if sent, got, _, err := floodPing(p, 20, 20*time.Millisecond); err != nil || got != sent {
		t.Fatalf("before the rekey: %d of %d echoes answered (%v)", got, sent, err)
	}

	if _, err := b.Swanctl("--rekey", "--child", "net"); err != nil {
		t.Fatalf("swanctl --rekey --child net: %v", err)
	}
	why := regexp.MustCompile(`NO_PROPOSAL_CHOSEN: peer offered .*we accept .*x25519.*PFS required: the peer sent no key exchange`)
	if !logHas(a, why, 10*time.Second) {
		t.Fatalf("cygnet did not log the refused rekey; log tail:\n%s", rekeyTail(a.logText(), 30))
	}
	if !logHas(b, regexp.MustCompile(`NO_PROPOSAL_CHOSEN`), 10*time.Second) {
		t.Errorf("strongSwan did not receive NO_PROPOSAL_CHOSEN; log tail:\n%s", rekeyTail(b.logText(), 40))
	}

	if sent, got, _, err := floodPing(p, 50, 20*time.Millisecond); err != nil || got != sent {
		t.Fatalf("after the refused rekey: %d of %d echoes answered (%v)", got, sent, err)
	}
	after, err := a.view("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if after.SPIIn != before.SPIIn || after.SPIOut != before.SPIOut || after.PacketsIn <= before.PacketsIn {
		t.Fatalf("Child SA after the refused rekey: SPIs %08x/%08x (before %08x/%08x), packets in %d (before %d)",
			after.SPIIn, after.SPIOut, before.SPIIn, before.SPIOut, after.PacketsIn, before.PacketsIn)
	}
	if n := strings.Count(a.logText(), `msg="Child SA rekeyed"`); n != 0 {
		t.Fatalf("cygnet logged %d Child SA rekeys", n)
	}
	t.Logf("refused rekey: Child SA %08x/%08x kept, %d packets in", after.SPIIn, after.SPIOut, after.PacketsIn)
}
