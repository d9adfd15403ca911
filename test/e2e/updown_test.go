package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// updownRecorder is an updown script that writes the environment of every
// run (PATH and PLUTO_*) and its first argument to a file of its own in dir.
type updownRecorder struct {
	dir, script string
}

func newUpdownRecorder(t *testing.T, name string) *updownRecorder {
	t.Helper()
	dir, err := os.MkdirTemp("", "cyg-updown-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &updownRecorder{dir: dir, script: filepath.Join(dir, "record.sh")}
	// One file per run, renamed into place whole: runs of different
	// children may overlap.
	body := `#!/bin/sh
f="` + dir + `/run.$(date +%s%N).$$"
{ echo "ARG=$1"; echo "ARGC=$#"; env | grep -E '^(PATH|PLUTO_[A-Z0-9_]*)=' | sort; } > "$f.tmp"
mv "$f.tmp" "$f"
`
	if err := os.WriteFile(r.script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

// updownRun is one recorded run: the variables it saw.
type updownRun map[string]string

func (r updownRun) String() string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s=%s\n", k, r[k])
	}
	return b.String()
}

// runs returns the recorded runs in the order they started.
func (r *updownRecorder) runs(t *testing.T) []updownRun {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(r.dir, "run.*"))
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, ".tmp") })
	// run.<nanoseconds>.<pid>: the names sort by start time.
	sort.Strings(files)
	var out []updownRun
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		run := updownRun{}
		for l := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				run[k] = v
			}
		}
		out = append(out, run)
	}
	return out
}

// wait polls until at least n runs are recorded and returns them.
func (r *updownRecorder) wait(t *testing.T, n int, timeout time.Duration) []updownRun {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runs := r.runs(t)
		if len(runs) >= n {
			return runs
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, run := range runs {
				b.WriteString(run.String() + "  --\n")
			}
			t.Fatalf("%d updown runs after %v, want %d:\n%s", len(runs), timeout, n, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// find returns the recorded run with that verb and child.
func findRun(t *testing.T, runs []updownRun, verb, child string) updownRun {
	t.Helper()
	for _, r := range runs {
		if r["PLUTO_VERB"] == verb && r["PLUTO_CONNECTION"] == child {
			return r
		}
	}
	t.Fatalf("no %s run for %s among %d runs", verb, child, len(runs))
	return nil
}

// checkRun compares a run's variables with want ("" means must be absent).
func checkRun(t *testing.T, who string, run updownRun, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := run[k]
		switch {
		case v == "" && ok:
			t.Errorf("%s %s %s: %s=%q is set, want it absent", who, run["PLUTO_VERB"], run["PLUTO_CONNECTION"], k, got)
		case v != "" && got != v:
			t.Errorf("%s %s %s: %s=%q, want %q", who, run["PLUTO_VERB"], run["PLUTO_CONNECTION"], k, got, v)
		}
	}
}

// routeDev is the interface of the route from ns to dst, what strongSwan
// reports as PLUTO_INTERFACE.
func routeDev(t *testing.T, p *testnet.Pair, ns string, dst netip.Addr) string {
	t.Helper()
	out := p.Exec(ns, "ip", "-o", "route", "get", dst.String())
	m := regexp.MustCompile(`\bdev (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no dev in %q", out)
	}
	return m[1]
}

// expectedRun is what one end's run for a child must show.
func expectedRun(verb, child, iface string, me, peer netip.Addr, myID, peerID string, my, theirs netip.Prefix) map[string]string {
	mask := func(p netip.Prefix) string {
		b := make([]byte, p.Addr().BitLen()/8)
		for i := range p.Bits() {
			b[i/8] |= 0x80 >> (i % 8)
		}
		a, _ := netip.AddrFromSlice(b)
		return a.String()
	}
	return map[string]string{
		"ARG": "iptables", "ARGC": "1",
		"PLUTO_VERSION": "1.1", "PLUTO_VERB": verb, "PLUTO_CONNECTION": child, "PLUTO_INTERFACE": iface,
		"PLUTO_PROTO": "esp", "PLUTO_ME": me.String(), "PLUTO_MY_ID": myID, "PLUTO_PEER": peer.String(), "PLUTO_PEER_ID": peerID,
		"PLUTO_MY_CLIENT": my.String(), "PLUTO_MY_CLIENT_NET": my.Addr().String(), "PLUTO_MY_CLIENT_MASK": mask(my),
		"PLUTO_PEER_CLIENT": theirs.String(), "PLUTO_PEER_CLIENT_NET": theirs.Addr().String(), "PLUTO_PEER_CLIENT_MASK": mask(theirs),
		"PLUTO_MY_PORT": "0", "PLUTO_PEER_PORT": "0", "PLUTO_MY_PROTOCOL": "0", "PLUTO_PEER_PROTOCOL": "0",
		"PLUTO_IPCOMP": "", "PLUTO_MY_SOURCEIP": "", "PLUTO_PEER_SOURCEIP": "", "PLUTO_MARK_IN": "", "PLUTO_MARK_OUT": "",
		"PLUTO_IF_ID_IN": "", "PLUTO_IF_ID_OUT": "",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func terminateChild(t *testing.T, c *cygnet, child string) {
	t.Helper()
	if _, err := control.Call(c.socket, control.Request{Command: control.CmdTerminate, Child: child}, 10*time.Second); err != nil {
		t.Fatalf("terminate child %s: %v", child, err)
	}
}

// updownChildren adds the recorder as updown script to both children of a
// pairConfigs side; the IPv4 child also gets hostaccess.
func updownChildren(c *testnet.TunnelConfig, r *updownRecorder) {
	for i := range c.Children {
		c.Children[i].Extra = "updown = " + r.script + " iptables"
		if c.Children[i].Name == "net" {
			c.Children[i].Extra += "\n        hostaccess = yes"
		}
	}
}

// TestUpdownCygnetToCygnet runs a recording updown script on both ends of
// a cygnet-to-cygnet tunnel with an IPv4 and an IPv6 child (ESP in UDP, as
// encap = yes forces): up-client / up-client-v6 on install, down-client /
// down-client-v6 on delete, with strongSwan's PLUTO_* variables.
func TestUpdownCygnetToCygnet(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	confA.Encap = true
	recA, recB := newUpdownRecorder(t, "a"), newUpdownRecorder(t, "b")
	updownChildren(&confA, recA)
	updownChildren(&confB, recB)
	b := startCygnet(t, p.B, confB.Swanctl(), nil, "")
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	warmUnderlay(t, p, testnet.UnderlayB)
	devA, devB := routeDev(t, p, p.A, testnet.UnderlayB), routeDev(t, p, p.B, testnet.UnderlayA)
	idA, idB := "a."+testnet.CertDomain, "b."+testnet.CertDomain

	start := time.Now()
	a.initiate("tun", "net")
	a.initiate("tun", "net6")
	upA, upB := recA.wait(t, 2, 10*time.Second), recB.wait(t, 2, 10*time.Second)
	t.Logf("initiate of net and net6 to both ends' up runs recorded: %v", time.Since(start).Round(time.Millisecond))
	if len(upA) != 2 || len(upB) != 2 {
		t.Fatalf("%d runs on A and %d on B after two Child SAs came up, want 2 each", len(upA), len(upB))
	}
	encap := []string{"PLUTO_UDP_ENC", "4500"}
	wantA4 := with(expectedRun("up-client", "net", devA, testnet.UnderlayA, testnet.UnderlayB, idA, idB, testnet.SubnetA, testnet.SubnetB), append(encap, "PLUTO_HOST_ACCESS", "1")...)
	wantA6 := with(expectedRun("up-client-v6", "net6", devA, testnet.UnderlayA, testnet.UnderlayB, idA, idB, testnet.SubnetA6, testnet.SubnetB6), append(encap, "PLUTO_HOST_ACCESS", "")...)
	wantB4 := with(expectedRun("up-client", "net", devB, testnet.UnderlayB, testnet.UnderlayA, idB, idA, testnet.SubnetB, testnet.SubnetA), append(encap, "PLUTO_HOST_ACCESS", "1")...)
	wantB6 := with(expectedRun("up-client-v6", "net6", devB, testnet.UnderlayB, testnet.UnderlayA, idB, idA, testnet.SubnetB6, testnet.SubnetA6), append(encap, "PLUTO_HOST_ACCESS", "")...)
	checkRun(t, "A", findRun(t, upA, "up-client", "net"), wantA4)
	checkRun(t, "A", findRun(t, upA, "up-client-v6", "net6"), wantA6)
	checkRun(t, "B", findRun(t, upB, "up-client", "net"), wantB4)
	checkRun(t, "B", findRun(t, upB, "up-client-v6", "net6"), wantB6)
	for _, run := range append(upA, upB...) {
		if run["PLUTO_REQID"] == "" || run["PLUTO_REQID"] == "0" || run["PLUTO_UNIQUEID"] == "" || run["PATH"] == "" {
			t.Errorf("run without REQID, UNIQUEID or PATH:\n%s", run)
		}
	}
	if r4, r6 := findRun(t, upA, "up-client", "net"), findRun(t, upA, "up-client-v6", "net6"); r4["PLUTO_REQID"] == r6["PLUTO_REQID"] || r4["PLUTO_UNIQUEID"] != r6["PLUTO_UNIQUEID"] {
		t.Errorf("A: net and net6 have reqids %s and %s (want different) in IKE SAs %s and %s (want the same)",
			r4["PLUTO_REQID"], r6["PLUTO_REQID"], r4["PLUTO_UNIQUEID"], r6["PLUTO_UNIQUEID"])
	}

	// Deleting the IPv6 child runs down-client-v6 on both ends; deleting
	// the IKE SA then takes the IPv4 child down.
	start = time.Now()
	terminateChild(t, a, "net6")
	downA, downB := recA.wait(t, 3, 10*time.Second), recB.wait(t, 3, 10*time.Second)
	t.Logf("terminate of net6 to both ends' down runs recorded: %v", time.Since(start).Round(time.Millisecond))
	checkRun(t, "A", downA[2], with(wantA6, "PLUTO_VERB", "down-client-v6", "PLUTO_REQID", findRun(t, upA, "up-client-v6", "net6")["PLUTO_REQID"]))
	checkRun(t, "B", downB[2], with(wantB6, "PLUTO_VERB", "down-client-v6", "PLUTO_REQID", findRun(t, upB, "up-client-v6", "net6")["PLUTO_REQID"]))

	start = time.Now()
	if err := a.terminate("tun"); err != nil {
		t.Fatal(err)
	}
	downA, downB = recA.wait(t, 4, 10*time.Second), recB.wait(t, 4, 10*time.Second)
	t.Logf("terminate of the IKE SA to both ends' down runs recorded: %v", time.Since(start).Round(time.Millisecond))
	checkRun(t, "A", downA[3], with(wantA4, "PLUTO_VERB", "down-client", "PLUTO_REQID", findRun(t, upA, "up-client", "net")["PLUTO_REQID"]))
	checkRun(t, "B", downB[3], with(wantB4, "PLUTO_VERB", "down-client", "PLUTO_REQID", findRun(t, upB, "up-client", "net")["PLUTO_REQID"]))

	// Nothing more runs, and the daemons said nothing failed.
	time.Sleep(300 * time.Millisecond)
	if na, nb := len(recA.runs(t)), len(recB.runs(t)); na != 4 || nb != 4 {
		t.Errorf("%d runs on A and %d on B, want 4 each", na, nb)
	}
	for _, c := range []*cygnet{a, b} {
		if strings.Contains(c.logText(), "updown script failed") {
			t.Errorf("cygnet in %s logged a failed updown run:\n%s", c.ns, c.logText())
		}
	}
}

// TestUpdownAgainstStrongSwan runs the same recording script under cygnet
// (A) and under strongSwan's updown plugin (B) for one tunnel with an IPv4
// and an IPv6 child: each end's variables must mirror the other's (MY_* on
// one side is PEER_* on the other), with the same names set, so scripts
// written for strongSwan see what they expect.
func TestUpdownAgainstStrongSwan(t *testing.T) {
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	recA, recB := newUpdownRecorder(t, "a"), newUpdownRecorder(t, "b")
	updownChildren(&confA, recA)
	updownChildren(&confB, recB)
	sw := testnet.StartStrongSwan(t, p.B, &testnet.StrongSwanOptions{Plugins: append(slices.Clone(testnet.DefaultStrongSwanPlugins), "updown")})
	if err := sw.Load(confB.Swanctl()); err != nil {
		t.Fatal(err)
	}
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	warmUnderlay(t, p, testnet.UnderlayB)

	start := time.Now()
	a.initiate("tun", "net")
	a.initiate("tun", "net6")
	upA := recA.wait(t, 2, 10*time.Second)
	recB.wait(t, 2, 10*time.Second)
	t.Logf("initiate of net and net6 to cygnet's and strongSwan's up runs recorded: %v", time.Since(start).Round(time.Millisecond))

	devA := routeDev(t, p, p.A, testnet.UnderlayB)
	idA, idB := "a."+testnet.CertDomain, "b."+testnet.CertDomain
	checkRun(t, "cygnet", findRun(t, upA, "up-client", "net"),
		with(expectedRun("up-client", "net", devA, testnet.UnderlayA, testnet.UnderlayB, idA, idB, testnet.SubnetA, testnet.SubnetB), "PLUTO_HOST_ACCESS", "1"))
	checkRun(t, "cygnet", findRun(t, upA, "up-client-v6", "net6"),
		with(expectedRun("up-client-v6", "net6", devA, testnet.UnderlayA, testnet.UnderlayB, idA, idB, testnet.SubnetA6, testnet.SubnetB6), "PLUTO_HOST_ACCESS", ""))

	// Mirror check against strongSwan's own runs (PLUTO_UDP_ENC among
	// them: strongSwan's kernel-libipsec peer asks for ESP in UDP).
	mirror := func(verb, child string) {
		t.Helper()
		bad := false
		ra, rb := findRun(t, recA.runs(t), verb, child), findRun(t, recB.runs(t), verb, child)
		swap := func(k string) string {
			switch {
			case strings.HasPrefix(k, "PLUTO_MY_"):
				return "PLUTO_PEER_" + strings.TrimPrefix(k, "PLUTO_MY_")
			case strings.HasPrefix(k, "PLUTO_PEER_"):
				return "PLUTO_MY_" + strings.TrimPrefix(k, "PLUTO_PEER_")
			case k == "PLUTO_ME":
				return "PLUTO_PEER"
			case k == "PLUTO_PEER":
				return "PLUTO_ME"
			}
			return k
		}
		// Values that are each end's own: numbering, interface, PATH.
		own := map[string]bool{"PATH": true, "PLUTO_REQID": true, "PLUTO_UNIQUEID": true, "PLUTO_INTERFACE": true}
		// pluto's CLIENT_NET/_MASK, which cygnet sets for older scripts
		// and strongSwan's charon no longer does.
		extra := map[string]bool{"PLUTO_MY_CLIENT_NET": true, "PLUTO_MY_CLIENT_MASK": true, "PLUTO_PEER_CLIENT_NET": true, "PLUTO_PEER_CLIENT_MASK": true}
		for k, v := range ra {
			if extra[k] {
				continue
			}
			w, ok := rb[swap(k)]
			switch {
			case !ok:
				bad = true
				t.Errorf("%s %s: cygnet sets %s=%s, strongSwan does not set %s", verb, child, k, v, swap(k))
			case !own[k] && w != v:
				bad = true
				t.Errorf("%s %s: cygnet %s=%q, strongSwan %s=%q", verb, child, k, v, swap(k), w)
			}
		}
		for k, v := range rb {
			if _, ok := ra[swap(k)]; !ok {
				bad = true
				t.Errorf("%s %s: strongSwan sets %s=%s, cygnet does not set %s", verb, child, k, v, swap(k))
			}
		}
		if bad {
			t.Logf("cygnet:\n%sstrongSwan:\n%s", ra, rb)
		}
	}
	mirror("up-client", "net")
	t.Logf("up-client net under cygnet:\n%sand under strongSwan:\n%s", findRun(t, upA, "up-client", "net"), findRun(t, recB.runs(t), "up-client", "net"))
	mirror("up-client-v6", "net6")

	start = time.Now()
	terminateChild(t, a, "net6")
	recA.wait(t, 3, 10*time.Second)
	recB.wait(t, 3, 10*time.Second)
	t.Logf("terminate of net6 to both down runs recorded: %v", time.Since(start).Round(time.Millisecond))
	mirror("down-client-v6", "net6")
	start = time.Now()
	if err := a.terminate("tun"); err != nil {
		t.Fatal(err)
	}
	recA.wait(t, 4, 10*time.Second)
	recB.wait(t, 4, 10*time.Second)
	t.Logf("terminate of the IKE SA to both down runs recorded: %v", time.Since(start).Round(time.Millisecond))
	mirror("down-client", "net")
	time.Sleep(300 * time.Millisecond)
	if na, nb := len(recA.runs(t)), len(recB.runs(t)); na != 4 || nb != 4 {
		t.Errorf("%d runs under cygnet and %d under strongSwan, want 4 each", na, nb)
	}
}

// TestUpdownTransportHost checks the -host verbs: a transport-mode child
// between the IKE addresses themselves, over IPv4 and IPv6.
func TestUpdownTransportHost(t *testing.T) {
	testnet.RequireRoot(t)
	for _, six := range []bool{false, true} {
		name, verb := "ipv4", "up-host"
		if six {
			name, verb = "ipv6", "up-host-v6"
		}
		t.Run(name, func(t *testing.T) {
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigsOn("psk", six)
			recA, recB := newUpdownRecorder(t, "a"), newUpdownRecorder(t, "b")
			confA.Children = []testnet.ChildConfig{{Name: "host", Mode: "transport", Extra: "updown = " + recA.script + " iptables"}}
			confB.Children = []testnet.ChildConfig{{Name: "host", Mode: "transport", Extra: "updown = " + recB.script + " iptables"}}
			startCygnet(t, p.B, confB.Swanctl(), nil, "")
			a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
			ua, ub := testnet.UnderlayA, testnet.UnderlayB
			if six {
				ua, ub = testnet.UnderlayA6, testnet.UnderlayB6
			}
			warmUnderlay(t, p, ub)
			start := time.Now()
			a.initiate("tun", "host")
			ra, rb := recA.wait(t, 1, 10*time.Second)[0], recB.wait(t, 1, 10*time.Second)[0]
			t.Logf("%s: initiate to both up runs recorded: %v", name, time.Since(start).Round(time.Millisecond))
			hostA, hostB := netip.PrefixFrom(ua, ua.BitLen()), netip.PrefixFrom(ub, ub.BitLen())
			checkRun(t, "A", ra, map[string]string{"PLUTO_VERB": verb, "PLUTO_CONNECTION": "host", "PLUTO_ME": ua.String(), "PLUTO_MY_CLIENT": hostA.String(), "PLUTO_PEER_CLIENT": hostB.String()})
			checkRun(t, "B", rb, map[string]string{"PLUTO_VERB": verb, "PLUTO_ME": ub.String(), "PLUTO_MY_CLIENT": hostB.String(), "PLUTO_PEER_CLIENT": hostA.String()})
			if err := a.terminate("tun"); err != nil {
				t.Fatal(err)
			}
			down := strings.Replace(verb, "up", "down", 1)
			checkRun(t, "A", recA.wait(t, 2, 10*time.Second)[1], map[string]string{"PLUTO_VERB": down})
			checkRun(t, "B", recB.wait(t, 2, 10*time.Second)[1], map[string]string{"PLUTO_VERB": down})
		})
	}
}

// TestUpdownNoRunOnRekey rekeys a Child SA with `cygnet rekey --child`,
// then reauthenticates the IKE SA, and checks that no script runs on either
// end (the tunnel never went down) until the final delete runs down-client
// with the first up run's reqid. It skips while the command does not exist.
func TestUpdownNoRunOnRekey(t *testing.T) {
	testnet.RequireRoot(t)
	if out, err := exec.Command(cygnetBin, "--socket", "/nonexistent/cygnet.sock", "rekey", "--child", "net").CombinedOutput(); err != nil &&
		regexp.MustCompile(`(?i)unknown command|usage:`).Match(out) {
		t.Skipf("cygnet has no `rekey --child` command yet (%s): rekey without updown runs is covered by daemon's TestUpdownRekeyRunsNothing only",
			firstLine(string(out)))
	}
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	recA, recB := newUpdownRecorder(t, "a"), newUpdownRecorder(t, "b")
	updownChildren(&confA, recA)
	updownChildren(&confB, recB)
	b := startCygnet(t, p.B, confB.Swanctl(), nil, "")
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	warmUnderlay(t, p, testnet.UnderlayB)
	a.initiate("tun", "net")
	recA.wait(t, 1, 10*time.Second)
	recB.wait(t, 1, 10*time.Second)
	_, before := a.waitChild("net", 5*time.Second)

	start := time.Now()
	if out, err := exec.Command(cygnetBin, "--socket", a.socket, "rekey", "--child", "net").CombinedOutput(); err != nil {
		t.Fatalf("cygnet rekey --child net: %v: %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, now := a.waitChild("net", 5*time.Second)
		if now.SPIIn != before.SPIIn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Child SA net still has SPI %s 10s after the rekey command", before.SPIIn)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("rekey command to new SPIs: %v", time.Since(start).Round(time.Millisecond))
	// The replaced SA lingers a few seconds; its removal must run nothing either.
	for _, c := range []*cygnet{a, b} {
		deadline := time.Now().Add(15 * time.Second)
		for netChildren(c.listSAs()) > 1 {
			if time.Now().After(deadline) {
				t.Fatalf("cygnet in %s still lists the replaced Child SA after 15s", c.ns)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("rekey command to the replaced SAs gone on both ends: %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	if na, nb := len(recA.runs(t)), len(recB.runs(t)); na != 1 || nb != 1 {
		t.Errorf("after a rekey: %d runs on A and %d on B, want only the first up run each", na, nb)
	}

	// Make-before-break reauthentication builds a new IKE SA and Child SA
	// before the old ones go: the tunnel stays up, so nothing runs either
	// (strongSwan would run up for the new and down for the old SA, with
	// the same net effect on firewall rules).
	oldIKE, _ := a.waitChild("net", 5*time.Second)
	start = time.Now()
	if out, err := exec.Command(cygnetBin, "--socket", a.socket, "rekey", "--ike", "tun", "--reauth").CombinedOutput(); err != nil {
		t.Fatalf("cygnet rekey --ike tun --reauth: %v: %s", err, out)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		sas := a.listSAs()
		if len(sas) == 1 && sas[0].UniqueID != oldIKE.UniqueID && netChildren(sas) == 1 && netChildren(b.listSAs()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no clean reauthentication after 15s: A lists %+v", sas)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("reauth command to the old IKE SA gone: %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	if na, nb := len(recA.runs(t)), len(recB.runs(t)); na != 1 || nb != 1 {
		t.Errorf("after a reauthentication: %d runs on A and %d on B, want only the first up run each", na, nb)
	}
	if err := a.terminate("tun"); err != nil {
		t.Fatal(err)
	}
	ra, rb := recA.wait(t, 2, 10*time.Second), recB.wait(t, 2, 10*time.Second)
	checkRun(t, "A", ra[1], map[string]string{"PLUTO_VERB": "down-client", "PLUTO_REQID": ra[0]["PLUTO_REQID"]})
	checkRun(t, "B", rb[1], map[string]string{"PLUTO_VERB": "down-client", "PLUTO_REQID": rb[0]["PLUTO_REQID"]})
}

// TestUpdownOnShutdown stops a daemon with SIGTERM while a Child SA is up:
// its down script still runs (firewall rules do not outlive the tunnel),
// and the peer, told by DELETE, runs its own.
func TestUpdownOnShutdown(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	recA, recB := newUpdownRecorder(t, "a"), newUpdownRecorder(t, "b")
	updownChildren(&confA, recA)
	updownChildren(&confB, recB)
	startCygnet(t, p.B, confB.Swanctl(), nil, "")
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	warmUnderlay(t, p, testnet.UnderlayB)
	a.initiate("tun", "net")
	recA.wait(t, 1, 10*time.Second)
	recB.wait(t, 1, 10*time.Second)

	start := time.Now()
	if err := a.proc.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGTERM to daemon exit: %v", time.Since(start).Round(time.Millisecond))
	checkRun(t, "A", recA.wait(t, 2, 5*time.Second)[1], map[string]string{"PLUTO_VERB": "down-client", "PLUTO_CONNECTION": "net"})
	checkRun(t, "B", recB.wait(t, 2, 5*time.Second)[1], map[string]string{"PLUTO_VERB": "down-client", "PLUTO_CONNECTION": "net"})
}

// netChildren counts the Child SAs named net, in any state.
func netChildren(sas []control.IKESA) int {
	n := 0
	for _, sa := range sas {
		for _, ch := range sa.ChildSAs {
			if ch.Name == "net" {
				n++
			}
		}
	}
	return n
}

// TestUpdownHangingScriptDoesNotStallIKE gives A's IPv4 child a script
// that hangs and B's IPv6 child one that fails: the other child still comes
// up at once, the daemons keep answering, and the failure is logged with
// its exit status and output.
func TestUpdownHangingScriptDoesNotStallIKE(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	recA := newUpdownRecorder(t, "a")
	confA.Children[0].Extra = "updown = sleep 60"
	confA.Children[1].Extra = "updown = " + recA.script
	confB.Children[1].Extra = `updown = "echo no route to fd00:99:1::/64; exit 3"`
	b := startCygnet(t, p.B, confB.Swanctl(), nil, "")
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	warmUnderlay(t, p, testnet.UnderlayB)

	upNet := a.initiate("tun", "net")
	upNet6 := a.initiate("tun", "net6")
	recA.wait(t, 1, 5*time.Second)
	t.Logf("initiate net (script hangs): %v; initiate net6 after it: %v", upNet.Round(time.Millisecond), upNet6.Round(time.Millisecond))
	if upNet6 > 5*time.Second {
		t.Errorf("net6 took %v to come up while net's script hangs", upNet6)
	}
	start := time.Now()
	if n := netChildren(a.listSAs()); n != 1 {
		t.Errorf("A lists %d Child SAs named net", n)
	}
	t.Logf("list-sas while a script hangs: %v", time.Since(start).Round(time.Millisecond))
	re := regexp.MustCompile(`level=WARN msg="updown script failed" err="updown script exited with status 3" exit_status=3 .*child=net6 .*verb=up-client-v6 output="no route to fd00:99:1::/64"`)
	if !logHas(cygnetEnd{b}, re, 5*time.Second) {
		t.Errorf("B did not log the failed script:\n%s", b.logText())
	}
}
