package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/audit"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

func readAudit(t *testing.T, path string) []audit.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Record
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// waitAudit polls the audit file for a record of event that ok accepts.
func waitAudit(t *testing.T, path, event string, ok func(audit.Record) bool) audit.Record {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, r := range readAudit(t, path) {
			if r.Event == event && ok(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(path)
			t.Fatalf("no %s record in the audit stream:\n%s", event, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAudit: --audit FILE is a 0600 file of JSON lines with the SAs
// established and deleted (identities, addresses, algorithms, SPIs),
// authentication failures with the reason, and reloads with what they
// added, removed and changed, or why they were refused.
func TestAudit(t *testing.T) {
	p := testnet.NewPair(t, testnet.PairOptions{})
	path := filepath.Join(t.TempDir(), "audit.json")
	confA := strings.Replace(reloadConf("a", "keep", "gone"), "id-2 = b-gone\n    secret = \""+testnet.PSK, "id-2 = b-gone\n    secret = \"not-the-peers-psk-0123456789", 1)
	a := startCygnetArgs(t, p.A, confA, "--audit", path)
	startCygnet(t, p.B, reloadConf("b", "keep", "gone", "added"), nil, "")

	a.initiate("keep", "c-keep")
	up := waitAudit(t, path, audit.IKEUp, func(r audit.Record) bool { return r.Conn == "keep" })
	if s := up.IKE; s == nil || s.LocalID != "a-keep" || s.RemoteID != "b-keep" || s.LocalHost != testnet.UnderlayA.String() ||
		s.RemoteHost != testnet.UnderlayB.String() || s.EncrAlg != "AES_GCM_16" || s.DHGroup != "CURVE_25519" || s.InitiatorSPI == "" {
		t.Errorf("IKE SA established record lacks identities, addresses or algorithms: %+v", up.IKE)
	}
	child := waitAudit(t, path, audit.ChildUp, func(r audit.Record) bool { return r.Conn == "keep" })
	if c := child.Child; c == nil || c.Name != "c-keep" || c.SPIIn == "" || c.EncrAlg != "AES_GCM_16" || len(c.RemoteTS) == 0 {
		t.Errorf("Child SA established record: %+v", child.Child)
	}

	if _, err := a.tryInitiate("gone", "c-gone"); err == nil {
		t.Fatal("initiate with a wrong PSK succeeded")
	}
	fail := waitAudit(t, path, audit.AuthFailed, func(r audit.Record) bool { return r.Conn == "gone" })
	if fail.Reason == "" || fail.IKE == nil || fail.IKE.RemoteHost != testnet.UnderlayB.String() {
		t.Errorf("authentication failure record: %+v", fail)
	}

	if err := a.reload(reloadConf("a", "keep", "added")); err != nil {
		t.Fatal(err)
	}
	rl := waitAudit(t, path, audit.Reload, func(audit.Record) bool { return true })
	if !slices.Equal(rl.Added, []string{"added"}) || !slices.Equal(rl.Removed, []string{"gone"}) || len(rl.Changed) != 0 {
		t.Errorf("reload record: added %v removed %v changed %v, want [added] [gone] []", rl.Added, rl.Removed, rl.Changed)
	}
	if err := a.reload("connections {\n  x {\n    unknown_option = 1\n  }\n}\n"); err == nil {
		t.Fatal("invalid reload accepted")
	}
	bad := waitAudit(t, path, audit.ReloadFailed, func(audit.Record) bool { return true })
	if !strings.Contains(bad.Error, "swanctl.conf:3") {
		t.Errorf("refused reload record: %q, want file:line", bad.Error)
	}

	if err := a.terminate("keep"); err != nil {
		t.Fatal(err)
	}
	down := waitAudit(t, path, audit.IKEDown, func(r audit.Record) bool { return r.Conn == "keep" })
	if !strings.Contains(down.Reason, "terminated by operator") || down.IKE == nil || down.IKE.RemoteID != "b-keep" {
		t.Errorf("IKE SA deleted record: %+v", down)
	}
	waitAudit(t, path, audit.ChildDown, func(r audit.Record) bool { return r.Child != nil && r.Child.Name == "c-keep" })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode %v, want 0600", fi.Mode().Perm())
	}
	t.Logf("%d audit records; auth failure: %s; refused reload: %s", len(readAudit(t, path)), fail.Reason, bad.Error)
}
