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

// reloadUnderPing reloads end a with the "added" and "keep" connections
// (keep moved down the file and reformatted, which is no change) while
// `ping -i 0.05` crosses the unchanged connection, waits up to addedWait for
// the added one, and checks that every echo came back.
func reloadUnderPing(t *testing.T, p *testnet.Pair, a *cygnet, addedWait time.Duration) pingRun {
	t.Helper()
	const count = 80 // 4 s at -i 0.05
	ping := startFloodPing(p, count, 50*time.Millisecond)
	time.Sleep(time.Second) // let the ping run before and after the reload
	if err := a.reload("# reloaded\n\n" + reloadConf("a", "added", "keep")); err != nil {
		t.Fatal(err)
	}
	a.waitChild("c-added", addedWait)
	r := <-ping
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.sent != count || r.received != count {
		t.Errorf("ping across the unchanged connection during reload: %d sent, %d received, want %d/%d\n%s", r.sent, r.received, count, count, a.logText())
	}
	return r
}

// refusedReload offers end a an invalid file and checks that it is refused
// with file:line and the connections stay; it returns the refusal.
func refusedReload(t *testing.T, a *cygnet) error {
	t.Helper()
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
	return err
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

	r := reloadUnderPing(t, p, a, 15*time.Second)
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
	err := refusedReload(t, a)
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

// reloadSwanConf is reloadConf for a strongSwan 5.9.8 peer at end b: the
// same connections, identities and selectors in strongSwan's syntax (its
// values run to the end of the line, so no closing brace may share one).
func reloadSwanConf(names ...string) string {
	var b strings.Builder
	b.WriteString("connections {\n")
	for _, n := range names {
		local, remote := testnet.SubnetB.String(), testnet.SubnetA.String()
		switch n {
		case "gone":
			local, remote = "10.99.3.0/24", "10.99.1.128/25"
		case "added":
			local, remote = testnet.SubnetB6.String(), testnet.SubnetA6.String()
		}
		fmt.Fprintf(&b, `  %[1]s {
    version = 2
    local_addrs = %[2]s
    remote_addrs = %[3]s
    proposals = aes128gcm16-prfsha256-x25519
    local {
      auth = psk
      id = b-%[1]s
    }
    remote {
      auth = psk
      id = a-%[1]s
    }
    children {
      c-%[1]s {
        local_ts = %[4]s
        remote_ts = %[5]s
        esp_proposals = aes256gcm16,aes128gcm16
      }
    }
  }
`, n, testnet.UnderlayB, testnet.UnderlayA, local, remote)
	}
	b.WriteString("}\nsecrets {\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  ike-%s {\n    id-1 = a-%s\n    id-2 = b-%s\n    secret = %q\n  }\n", n, n, n, testnet.PSK)
	}
	b.WriteString("}\n")
	return b.String()
}

// swanChildSPIs is childSPIs for strongSwan's view of its SAs.
func swanChildSPIs(t *testing.T, s *testnet.StrongSwan, child string) []string {
	t.Helper()
	sas, err := s.ListSAs()
	if err != nil {
		t.Fatalf("strongSwan list-sas: %v", err)
	}
	var out []string
	for _, sa := range sas {
		for _, c := range sa.ChildSAs {
			if c.Name == child {
				out = append(out, fmt.Sprintf("%s %s %08x/%08x", sa.State, c.State, c.SPIIn, c.SPIOut))
			}
		}
	}
	return out
}

// waitSwan polls strongSwan's Child SAs named child until ok accepts them.
func waitSwan(t *testing.T, s *testnet.StrongSwan, child string, timeout time.Duration, ok func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := swanChildSPIs(t, s, child)
		if ok(got) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReloadLosesNothingStrongSwan is TestReloadLosesNothing against a
// strongSwan 5.9.8 peer: cygnet reloads under `ping -i 0.05` across an
// unchanged connection with not one echo lost and strongSwan keeping the
// same SPIs; strongSwan deletes the removed connection's SAs when cygnet
// tells it to; the added connection comes up with strongSwan as responder;
// an invalid file changes nothing; and a connection changed by SIGHUP is
// renegotiated, strongSwan holding new SPIs for it afterwards.
func TestReloadLosesNothingStrongSwan(t *testing.T) {
	testnet.RequireTools(t, "ping")
	p := testnet.NewPair(t, testnet.PairOptions{})
	// kernel-libipsec routes a Child SA only with a local address inside
	// its selector: give b one in the removed connection's subnet
	if out, err := testnet.ExecIn(p.B, 5*time.Second, "ip", "addr", "add", "10.99.3.1/32", "dev", "lo"); err != nil {
		t.Fatalf("address for c-gone: %v\n%s", err, out)
	}
	sw := testnet.StartStrongSwan(t, p.B, nil)
	if err := sw.Load(reloadSwanConf("keep", "gone", "added")); err != nil {
		t.Fatal(err)
	}
	a := startCygnet(t, p.A, reloadConf("a", "keep", "gone"), nil, "")
	a.initiate("keep", "c-keep")
	a.initiate("gone", "c-gone")
	a.waitChild("c-keep", 10*time.Second)
	a.waitChild("c-gone", 10*time.Second)
	spisA := childSPIs(a.listSAs(), "c-keep")
	spisB := waitSwan(t, sw, "c-keep", 10*time.Second, func(s []string) bool { return len(s) == 1 })
	if len(spisA) != 1 || len(spisB) != 1 {
		t.Fatalf("c-keep before reload: cygnet %v, strongSwan %v", spisA, spisB)
	}
	if got := waitSwan(t, sw, "c-gone", 10*time.Second, func(s []string) bool { return len(s) == 1 }); len(got) != 1 {
		t.Fatalf("strongSwan has %v for c-gone before reload, want one Child SA", got)
	}

	r := reloadUnderPing(t, p, a, 20*time.Second)
	if got := childSPIs(a.listSAs(), "c-keep"); strings.Join(got, ";") != strings.Join(spisA, ";") {
		t.Errorf("cygnet: c-keep SPIs %v after reload, want %v", got, spisA)
	}
	if got := swanChildSPIs(t, sw, "c-keep"); strings.Join(got, ";") != strings.Join(spisB, ";") {
		t.Errorf("strongSwan: c-keep SPIs %v after reload, want %v", got, spisB)
	}
	if got := waitSwan(t, sw, "c-gone", 10*time.Second, func(s []string) bool { return len(s) == 0 }); len(got) != 0 {
		t.Errorf("strongSwan still has the removed connection's SA: %v\n%s", got, sw.LogTail(30))
	}
	sas, err := sw.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range sas {
		if sa.Name == "gone" {
			t.Errorf("strongSwan still has the removed connection's IKE SA %s %s", sa.Name, sa.State)
		}
	}
	if got := waitSwan(t, sw, "c-added", 10*time.Second, func(s []string) bool { return len(s) == 1 }); len(got) != 1 {
		t.Errorf("strongSwan has %v for the added connection, want one Child SA", got)
	}
	if out, err := testnet.ExecIn(p.A, 15*time.Second, "ping", "-n", "-c", "2", "-W", "2", "-I", testnet.HostA6.String(), testnet.HostB6.String()); err != nil {
		t.Errorf("ping over the added connection: %v\n%s", err, out)
	}

	// an invalid file: refused with file:line, nothing changes at either end
	before := swanChildSPIs(t, sw, "c-keep")
	rerr := refusedReload(t, a)

	// SIGHUP with c-added changed: strongSwan ends up with one new Child SA
	// for it; c-keep is left alone
	changed := strings.Replace(reloadConf("a", "added", "keep"), "esp_proposals = aes128gcm16\n        start_action", "esp_proposals = aes256gcm16, aes128gcm16\n        start_action", 1)
	if changed == reloadConf("a", "added", "keep") {
		t.Fatal("test bug: the change did not apply")
	}
	if err := os.WriteFile(filepath.Join(a.dir, "swanctl.conf"), []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	oldAdded := swanChildSPIs(t, sw, "c-added")
	if len(oldAdded) != 1 {
		t.Fatalf("strongSwan holds %v for c-added before SIGHUP, want one Child SA", oldAdded)
	}
	if err := syscall.Kill(a.proc.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	now := waitSwan(t, sw, "c-added", 20*time.Second, func(s []string) bool {
		return len(s) == 1 && strings.HasPrefix(s[0], "ESTABLISHED INSTALLED") && s[0] != oldAdded[0]
	})
	if len(now) != 1 || now[0] == oldAdded[0] {
		t.Fatalf("changed connection not renegotiated after SIGHUP: strongSwan has %v, had %v\n%s", now, oldAdded, a.logText())
	}
	if got := swanChildSPIs(t, sw, "c-keep"); strings.Join(got, ";") != strings.Join(before, ";") {
		t.Errorf("strongSwan: c-keep after SIGHUP %v, want %v", got, before)
	}
	t.Logf("ping during reload: %d/%d; strongSwan kept c-keep %v; refused: %v; c-added %v renegotiated as %v", r.received, r.sent, spisB, rerr, oldAdded, now)
}
