package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// reloadConn is one PSK connection of the reload test, from end a's ("a")
// or b's ("b") point of view; each connection has its own identities so
// that the responder picks it by them.
func reloadConn(end, name string, local, remote netip.Prefix, extra string) string {
	la, ra := testnet.UnderlayA, testnet.UnderlayB
	lid, rid := "a-"+name, "b-"+name
	if end == "b" {
		la, ra = ra, la
		lid, rid = rid, lid
		local, remote = remote, local
	}
	return fmt.Sprintf(`  %s {
    local_addrs = %s
    remote_addrs = %s
    proposals = aes128gcm16-prfsha256-x25519
    local { auth = psk
      id = %s }
    remote { auth = psk
      id = %s }
    children {
      c-%s {
        local_ts = %s
        remote_ts = %s
        esp_proposals = aes128gcm16
        %s
      }
    }
  }
`, name, la, ra, lid, rid, name, local, remote, extra)
}

// reloadConf is swanctl.conf with the named connections ("keep", "gone",
// "added") and one PSK for all of them.
func reloadConf(end string, names ...string) string {
	var b strings.Builder
	b.WriteString("connections {\n")
	for _, n := range names {
		switch n {
		case "keep":
			b.WriteString(reloadConn(end, n, testnet.SubnetA, testnet.SubnetB, ""))
		case "gone":
			b.WriteString(reloadConn(end, n, netip.MustParsePrefix("10.99.1.128/25"), netip.MustParsePrefix("10.99.3.0/24"), ""))
		case "added":
			extra := ""
			if end == "a" {
				extra = "start_action = start"
			}
			b.WriteString(reloadConn(end, n, testnet.SubnetA6, testnet.SubnetB6, extra))
		}
	}
	b.WriteString("}\nsecrets {\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  ike-%s {\n    id-1 = a-%s\n    id-2 = b-%s\n    secret = %q\n  }\n", n, n, n, testnet.PSK)
	}
	b.WriteString("}\n")
	return b.String()
}

// childSPIs is the Child SAs named child as "in/out" SPI pairs.
func childSPIs(sas []control.IKESA, child string) []string {
	var out []string
	for _, sa := range sas {
		for _, c := range sa.ChildSAs {
			if c.Name == child {
				out = append(out, sa.State+" "+c.State+" "+c.SPIIn+"/"+c.SPIOut)
			}
		}
	}
	return out
}

func connNames(t *testing.T, c *cygnet) string {
	t.Helper()
	resp, err := control.Call(c.socket, control.Request{Command: control.CmdListConns}, 5*time.Second)
	if err != nil {
		t.Fatalf("list-conns: %v", err)
	}
	var names []string
	for _, cn := range resp.Conns {
		names = append(names, cn.Name)
	}
	return strings.Join(names, ",")
}

// TestReloadLosesNothing: `cygnet reload` under a continuous ping
// (-i 0.05) across a connection the new file does not change: not one echo
// lost and the same SPIs at both ends; the connection the file no longer
// has is deleted at the peer too; the new one (start_action = start) comes
// up; and an invalid file is refused with file:line and changes nothing.
func TestReloadLosesNothing(t *testing.T) {
	testnet.RequireTools(t, "ping")
	p := testnet.NewPair(t, testnet.PairOptions{})
	a := startCygnet(t, p.A, reloadConf("a", "keep", "gone"), nil, "")
	b := startCygnet(t, p.B, reloadConf("b", "keep", "gone", "added"), nil, "")
	a.initiate("keep", "c-keep")
	a.initiate("gone", "c-gone")
	a.waitChild("c-keep", 10*time.Second)
	b.waitChild("c-gone", 10*time.Second)
	spisA, spisB := childSPIs(a.listSAs(), "c-keep"), childSPIs(b.listSAs(), "c-keep")
	if len(spisA) != 1 || len(spisB) != 1 {
		t.Fatalf("c-keep before reload: a %v, b %v", spisA, spisB)
	}

	const count = 80 // 4 s at -i 0.05
	ping := startFloodPing(p, count, 50*time.Millisecond)
	time.Sleep(time.Second) // let the ping run before and after the reload
	// the same connection further down the file and reformatted is no change
	if err := a.reload("# reloaded\n\n" + reloadConf("a", "added", "keep")); err != nil {
		t.Fatal(err)
	}
	a.waitChild("c-added", 15*time.Second)
	r := <-ping
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.sent != count || r.received != count {
		t.Errorf("ping across the unchanged connection during reload: %d sent, %d received, want %d/%d\n%s", r.sent, r.received, count, count, a.logText())
	}
	if got := childSPIs(a.listSAs(), "c-keep"); strings.Join(got, ";") != strings.Join(spisA, ";") {
		t.Errorf("a: c-keep SPIs %v after reload, want %v", got, spisA)
	}
	if got := childSPIs(b.listSAs(), "c-keep"); strings.Join(got, ";") != strings.Join(spisB, ";") {
		t.Errorf("b: c-keep SPIs %v after reload, want %v", got, spisB)
	}
	// the removed connection is gone at both ends: deleted, the peer told
	deadline := time.Now().Add(10 * time.Second)
	for len(childSPIs(b.listSAs(), "c-gone")) != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := childSPIs(b.listSAs(), "c-gone"); len(got) != 0 {
		t.Errorf("peer still has the removed connection's SA: %v", got)
	}
	if got := childSPIs(a.listSAs(), "c-gone"); len(got) != 0 {
		t.Errorf("a still has the removed connection's SA: %v", got)
	}
	for _, sa := range b.listSAs() {
		if sa.Name == "gone" {
			t.Errorf("peer still has the removed connection's IKE SA %+v", sa)
		}
	}
	if got := connNames(t, a); got != "added,keep" {
		t.Errorf("list-conns after reload = %q, want added,keep", got)
	}
	// the added connection carries traffic
	if out, err := testnet.ExecIn(p.A, 15*time.Second, "ping", "-n", "-c", "2", "-W", "2", "-I", testnet.HostA6.String(), testnet.HostB6.String()); err != nil {
		t.Errorf("ping over the added connection: %v\n%s", err, out)
	}

	// an invalid file: refused with file:line, nothing changes
	before := childSPIs(a.listSAs(), "c-keep")
	beforeAdded := childSPIs(a.listSAs(), "c-added")
	bad := reloadConf("a", "keep") + "connections {\n  broken {\n    rekey_time = often\n  }\n}\n"
	err := a.reload(bad)
	if err == nil {
		t.Fatal("reload of an invalid file succeeded")
	}
	if !regexp.MustCompile(`swanctl\.conf:\d+`).MatchString(err.Error()) {
		t.Errorf("reload error %q does not name file:line", err)
	}
	if got := connNames(t, a); got != "added,keep" {
		t.Errorf("list-conns after a refused reload = %q, want added,keep", got)
	}
	if got := childSPIs(a.listSAs(), "c-keep"); strings.Join(got, ";") != strings.Join(before, ";") {
		t.Errorf("c-keep after a refused reload: %v, want %v", got, before)
	}
	if got := childSPIs(a.listSAs(), "c-added"); strings.Join(got, ";") != strings.Join(beforeAdded, ";") {
		t.Errorf("c-added after a refused reload: %v, want %v", got, beforeAdded)
	}

	// SIGHUP with a changed connection: it is renegotiated (new SPIs, the
	// old SAs deleted at the peer), the unchanged one is left alone
	changed := strings.Replace(reloadConf("a", "added", "keep"), "esp_proposals = aes128gcm16\n        start_action", "esp_proposals = aes256gcm16, aes128gcm16\n        start_action", 1)
	if changed == reloadConf("a", "added", "keep") {
		t.Fatal("test bug: the change did not apply")
	}
	if err := os.WriteFile(filepath.Join(a.dir, "swanctl.conf"), []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	// What the peer holds before the signal: once it is sent, the old SAs
	// may go at any moment.
	oldAdded := childSPIs(b.listSAs(), "c-added")
	if len(oldAdded) != 1 {
		t.Fatalf("peer holds %v for c-added before SIGHUP, want one Child SA", oldAdded)
	}
	if err := syscall.Kill(a.proc.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		now := childSPIs(b.listSAs(), "c-added")
		if len(now) == 1 && strings.HasPrefix(now[0], "ESTABLISHED INSTALLED") && now[0] != oldAdded[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changed connection not renegotiated after SIGHUP: peer has %v, had %v\n%s", now, oldAdded, a.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := childSPIs(a.listSAs(), "c-keep"); strings.Join(got, ";") != strings.Join(spisA, ";") {
		t.Errorf("c-keep after SIGHUP: %v, want %v", got, spisA)
	}
	t.Logf("ping during reload: %d/%d; c-keep %v kept; refused: %v; c-added %v renegotiated as %v", r.received, r.sent, spisA, err,
		oldAdded, childSPIs(b.listSAs(), "c-added"))
}
