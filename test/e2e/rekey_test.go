package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/daemon"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// rekeyEnd is what the rekey test asks of a peer beyond tunnelEnd: rekey on
// command, as swanctl --rekey does.
func rekeyChild(e tunnelEnd, child string) error {
	switch x := e.(type) {
	case cygnetEnd:
		_, err := control.Call(x.socket, control.Request{Command: control.CmdRekey, Child: child}, 10*time.Second)
		return err
	case swanEnd:
		_, err := x.Swanctl("--rekey", "--child", child)
		return err
	}
	return fmt.Errorf("rekey: unknown end %T", e)
}

func rekeyIKE(e tunnelEnd, ike string) error {
	switch x := e.(type) {
	case cygnetEnd:
		_, err := control.Call(x.socket, control.Request{Command: control.CmdRekey, IKE: ike}, 10*time.Second)
		return err
	case swanEnd:
		_, err := x.Swanctl("--rekey", "--ike", ike)
		return err
	}
	return fmt.Errorf("rekey: unknown end %T", e)
}

// blockIKE drops IKE (UDP 500, and UDP 4500 with the non-ESP marker) in
// and out of namespace ns until the returned function is called; ESP, in
// UDP or not, passes.
func blockIKE(ns string) (unblock func() error, err error) {
	const table = "cygnet_rekey_test"
	script := "add table inet " + table + "\n" +
		"add chain inet " + table + " in { type filter hook input priority 0; }\n" +
		"add chain inet " + table + " out { type filter hook output priority 0; }\n"
	for _, chain := range []string{"in", "out"} {
		script += "add rule inet " + table + " " + chain + " udp dport 500 drop\n" +
			"add rule inet " + table + " " + chain + " udp sport 500 drop\n" +
			"add rule inet " + table + " " + chain + " udp dport 4500 @th,64,32 0 drop\n" +
			"add rule inet " + table + " " + chain + " udp sport 4500 @th,64,32 0 drop\n"
	}
	f, err := os.CreateTemp("", "rekey-nft-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	if out, err := testnet.ExecIn(ns, 10*time.Second, "nft", "-f", f.Name()); err != nil {
		return nil, fmt.Errorf("nft: %w: %s", err, out)
	}
	return func() error {
		if out, err := testnet.ExecIn(ns, 10*time.Second, "nft", "delete", "table", "inet", table); err != nil {
			return fmt.Errorf("nft: %w: %s", err, out)
		}
		return nil
	}, nil
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

// floodPing sends count echo requests every interval from A's host to B's
// and reports how many were sent and answered, and the sequence numbers
// whose answer had not come when the next echo left (ping -O; late, not
// necessarily lost).
func floodPing(p *testnet.Pair, count int, interval time.Duration) (sent, received int, late []int, err error) {
	out, err := testnet.ExecIn(p.A, 2*time.Duration(count)*interval+30*time.Second, "ping", "-n", "-O", "-c", strconv.Itoa(count),
		"-i", fmt.Sprintf("%.3f", interval.Seconds()), "-W", "2", "-I", testnet.HostA.String(), testnet.HostB.String())
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, nil, fmt.Errorf("ping: %v, no summary in %q", err, rekeyTail(out, 5))
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	for _, l := range regexp.MustCompile(`no answer yet for icmp_seq=(\d+)`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(l[1])
		late = append(late, n)
	}
	return sent, received, late, nil
}

// pingRun is the outcome of a floodPing run in the background.
type pingRun struct {
	sent, received int
	late           []int
	err            error
}

// startFloodPing runs floodPing in the background; the result arrives on
// the channel when ping ends.
func startFloodPing(p *testnet.Pair, count int, interval time.Duration) <-chan pingRun {
	done := make(chan pingRun, 1)
	go func() {
		var r pingRun
		r.sent, r.received, r.late, r.err = floodPing(p, count, interval)
		done <- r
	}()
	return done
}

func rekeyTail(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

var logTime = regexp.MustCompile(`time=(\S+) level=\w+ msg="([^"]+)"`)

// rekeyDurations pairs cygnet's "rekeying ..." log lines with the next
// "... rekeyed" line and returns how long each rekey took.
func rekeyDurations(log, start, done string) []time.Duration {
	var out []time.Duration
	var began time.Time
	for _, m := range logTime.FindAllStringSubmatch(log, -1) {
		t, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		switch m[2] {
		case start:
			if began.IsZero() {
				began = t
			}
		case done:
			if !began.IsZero() {
				out = append(out, t.Sub(began))
				began = time.Time{}
			}
		}
	}
	return out
}

// collisionLines picks a daemon's log lines about colliding exchanges.
func collisionLines(who, log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "simultaneous") || strings.Contains(l, "collision") || strings.Contains(l, "TEMPORARY_FAILURE") ||
			strings.Contains(l, "redundant") || strings.Contains(l, "lowest nonce") {
			out = append(out, who+": "+strings.TrimSpace(l))
		}
	}
	return out
}

func durationSummary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return fmt.Sprintf("%d, median %v, max %v", len(s), s[len(s)/2].Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}

// TestRekeyUnderLoad runs a ping flood (one echo every 10 ms for a minute)
// across a tunnel whose Child SA cygnet rekeys every 10 s with PFS, rekeys
// the IKE SA on command, and forces simultaneous Child SA and IKE SA rekeys
// from both ends; not one echo may be lost. The peer is strongSwan
// (kernel-libipsec, so ESP in UDP) or cygnet.
func TestRekeyUnderLoad(t *testing.T) {
	for _, peer := range []string{implStrongSwan, implCygnet} {
		t.Run("cygnet-"+peer, func(t *testing.T) {
			if peer == implStrongSwan {
				testnet.RequireStrongSwan(t)
			} else {
				testnet.RequireRoot(t)
			}
			runRekeyUnderLoad(t, peer)
		})
	}
}

func runRekeyUnderLoad(t *testing.T, peer string) {
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
	for _, c := range []*testnet.TunnelConfig{&confA, &confB} {
		c.Children[0].ESPProposals = "aes128gcm16-x25519"
	}
	// A rekeys the Child SA every 9 to 10 s; B would only after an hour.
	confA.Children[0].Extra = "rekey_time = 10s\n        life_time = 40s\n        rand_time = 1s"
	b := startEnd(t, peer, p.B, confB.Swanctl(), nil, "b")
	a := startEnd(t, implCygnet, p.A, confA.Swanctl(), nil, "a")
	warmUnderlay(t, p, testnet.UnderlayB)
	up, err := a.initiate("tun", "net")
	if err != nil {
		t.Fatalf("initiate: %v", err)
	}
	first, err := a.view("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cygnet -> %s: tunnel up in %v, Child SA %08x/%08x, encap %v", peer, up, first.SPIIn, first.SPIOut, first.Encap)

	const count, interval = 6000, 10 * time.Millisecond
	start := time.Now()
	done := startFloodPing(p, count, interval)

	// Operator rekeys on top of the automatic ones, at fixed points of the
	// minute: an IKE SA rekey, then both ends at once.
	type step struct {
		at   time.Duration
		name string
		run  func() error
	}
	both := func(f func(tunnelEnd) error) func() error {
		return func() error {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, e := range []tunnelEnd{a, b} {
				wg.Go(func() { errs[i] = f(e) })
			}
			wg.Wait()
			if errs[0] != nil {
				return fmt.Errorf("cygnet: %w", errs[0])
			}
			if errs[1] != nil {
				return fmt.Errorf("%s: %w", peer, errs[1])
			}
			return nil
		}
	}
	// On a veth both requests would hardly ever cross, so B drops IKE for
	// a moment: both requests are lost, and their retransmissions meet a
	// peer whose own request is still unanswered.
	forced := func(f func(tunnelEnd) error) func() error {
		return func() error {
			unblock, err := blockIKE(p.B)
			if err != nil {
				return err
			}
			errc := make(chan error, 1)
			go func() { errc <- both(f)() }()
			<-time.After(1500 * time.Millisecond)
			if err := unblock(); err != nil {
				return err
			}
			return <-errc
		}
	}
	steps := []step{
		{25 * time.Second, "IKE SA rekey by cygnet", func() error { return rekeyIKE(a, "tun") }},
		{32 * time.Second, "simultaneous Child SA rekey", forced(func(e tunnelEnd) error { return rekeyChild(e, "net") })},
		{42 * time.Second, "simultaneous IKE SA rekey", forced(func(e tunnelEnd) error { return rekeyIKE(e, "tun") })},
		{52 * time.Second, "Child SA rekey by " + peer, func() error { return rekeyChild(b, "net") }},
	}
	var res pingRun
	timer := time.NewTimer(time.Until(start.Add(steps[0].at)))
	defer timer.Stop()
	next := 0
	for finished := false; !finished; {
		select {
		case res = <-done:
			finished = true
		case <-timer.C:
			s := steps[next]
			if err := s.run(); err != nil {
				t.Errorf("%s at %v: %v", s.name, time.Since(start).Round(time.Millisecond), err)
			} else {
				t.Logf("%s at %v", s.name, time.Since(start).Round(time.Millisecond))
			}
			if next++; next < len(steps) {
				timer.Reset(time.Until(start.Add(steps[next].at)))
			}
		}
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	elapsed := time.Since(start)

	logA := a.logText()
	childRekeys := rekeyDurations(logA, "rekeying Child SA", "Child SA rekeyed")
	ikeRekeys := rekeyDurations(logA, "rekeying IKE SA", "IKE SA rekeyed")
	t.Logf("cygnet -> %s: %d echoes sent in %v (ping -i 0.01 on a shared machine), %d answered, %d lost; %d answers came after the next echo left (icmp_seq %v)",
		peer, res.sent, elapsed.Round(time.Millisecond), res.received, res.sent-res.received, len(res.late), res.late)
	t.Logf("cygnet's Child SA rekeys started here: %s; IKE SA rekeys started here: %s", durationSummary(childRekeys), durationSummary(ikeRekeys))
	logB := b.logText()
	t.Logf("cygnet's log: %d \"Child SA rekeyed\", %d \"IKE SA rekeyed\", %d lines on simultaneous rekeys, %d TEMPORARY_FAILURE; %s's log: %d lines on collisions or simultaneous rekeys",
		strings.Count(logA, `msg="Child SA rekeyed"`), strings.Count(logA, `msg="IKE SA rekeyed"`),
		strings.Count(logA, "simultaneous"), strings.Count(logA, "TEMPORARY_FAILURE"),
		peer, strings.Count(logB, "collision")+strings.Count(logB, "simultaneous"))
	for _, l := range collisionLines("cygnet", logA) {
		t.Log(l)
	}
	for _, l := range collisionLines(peer, logB) {
		t.Log(l)
	}
	if strings.Count(logA, "simultaneous")+strings.Count(logB, "collision")+strings.Count(logB, "simultaneous") == 0 {
		t.Errorf("the forced rekeys did not collide")
	}

	if res.sent != count || res.received != res.sent {
		t.Errorf("lost %d of %d echoes across the rekeys (late or lost icmp_seq %v)", res.sent-res.received, res.sent, res.late)
	}
	if n := strings.Count(logA, `msg="Child SA rekeyed"`); n < 6 {
		t.Errorf("only %d Child SA rekeys in a minute; want one every 10 s plus the forced ones", n)
	}
	if n := strings.Count(logA, `msg="IKE SA rekeyed"`); n < 2 {
		t.Errorf("only %d IKE SA rekeys; want the commanded and the simultaneous ones", n)
	}

	// One tunnel is left, the same on both ends, and it carries traffic.
	va, err := a.view("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.view("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if va.SPIIn != vb.SPIOut || va.SPIOut != vb.SPIIn || va.SPIIn == first.SPIIn || va.SPIi != vb.SPIi || va.SPIr != vb.SPIr || va.SPIi == first.SPIi {
		t.Errorf("after the rekeys: cygnet IKE %s_%s child %08x/%08x, %s IKE %s_%s child %08x/%08x (first child %08x, IKE %s)",
			va.SPIi, va.SPIr, va.SPIIn, va.SPIOut, peer, vb.SPIi, vb.SPIr, vb.SPIIn, vb.SPIOut, first.SPIIn, first.SPIi)
	}
	for _, e := range []tunnelEnd{a, b} {
		states, err := e.ikeSAs()
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != 1 || states[0] != "ESTABLISHED" {
			t.Errorf("%s has IKE SAs %v, want one ESTABLISHED", e.impl(), states)
		}
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
	testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
	if t.Failed() {
		t.Logf("cygnet log tail:\n%s", rekeyTail(logA, 80))
		t.Logf("%s log tail:\n%s", peer, rekeyTail(logB, 80))
	}
}

// TestReauthUnderLoad reauthenticates the IKE SA make before break (a new
// IKE_SA_INIT and IKE_AUTH with the Child SA, then the old IKE SA deleted)
// twice during a ping flood; not one echo may be lost.
func TestReauthUnderLoad(t *testing.T) {
	for _, peer := range []string{implStrongSwan, implCygnet} {
		t.Run("cygnet-"+peer, func(t *testing.T) {
			if peer == implStrongSwan {
				testnet.RequireStrongSwan(t)
			} else {
				testnet.RequireRoot(t)
			}
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
			b := startEnd(t, peer, p.B, confB.Swanctl(), nil, "b")
			a := startEnd(t, implCygnet, p.A, confA.Swanctl(), nil, "a")
			warmUnderlay(t, p, testnet.UnderlayB)
			if _, err := a.initiate("tun", "net"); err != nil {
				t.Fatal(err)
			}
			first, err := a.view("net", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			const count, interval = 2000, 10 * time.Millisecond
			start := time.Now()
			done := startFloodPing(p, count, interval)
			reauth := func() error {
				_, err := control.Call(a.(cygnetEnd).socket, control.Request{Command: control.CmdRekey, IKE: "tun", Reauth: true}, 10*time.Second)
				return err
			}
			var res pingRun
			ticker := time.NewTicker(6 * time.Second)
			defer ticker.Stop()
			for finished, n := false, 0; !finished; {
				select {
				case res = <-done:
					finished = true
				case <-ticker.C:
					if n < 2 {
						n++
						if err := reauth(); err != nil {
							t.Errorf("reauthenticate: %v", err)
						}
						t.Logf("reauthentication %d at %v", n, time.Since(start).Round(time.Millisecond))
					}
				}
			}
			if res.err != nil {
				t.Fatal(res.err)
			}
			logA := a.logText()
			t.Logf("cygnet -> %s: %d echoes sent in %v, %d answered, %d lost; %d late; cygnet logged %d \"IKE SA reauthenticated\", %d \"Child SA rekeyed\"",
				peer, res.sent, time.Since(start).Round(time.Millisecond), res.received, res.sent-res.received, len(res.late),
				strings.Count(logA, "IKE SA reauthenticated"), strings.Count(logA, `msg="Child SA rekeyed"`))
			// Which drop a lost echo hit (none is expected).
			for _, e := range []tunnelEnd{a, b} {
				if c, ok := e.(cygnetEnd); ok {
					t.Logf("%s's data plane drops: %s", e.impl(), dataplaneDrops(t, c.cygnet))
				}
			}
			if res.sent != count || res.received != res.sent {
				t.Errorf("lost %d of %d echoes across the reauthentications (late or lost icmp_seq %v)", res.sent-res.received, res.sent, res.late)
			}
			if n := strings.Count(logA, "IKE SA reauthenticated"); n != 2 {
				t.Errorf("%d reauthentications, want 2", n)
			}
			va, err := a.view("net", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			vb, err := b.view("net", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if va.SPIi == first.SPIi || va.SPIi != vb.SPIi || va.SPIIn == first.SPIIn || va.SPIIn != vb.SPIOut {
				t.Errorf("after reauthentication: cygnet IKE %s child %08x, %s IKE %s child out %08x (first IKE %s child %08x)",
					va.SPIi, va.SPIIn, peer, vb.SPIi, vb.SPIOut, first.SPIi, first.SPIIn)
			}
			for _, e := range []tunnelEnd{a, b} {
				if err := pollIKECount(e, 1, 10*time.Second); err != nil {
					t.Error(err)
				}
			}
			if t.Failed() {
				t.Logf("cygnet log tail:\n%s", rekeyTail(logA, 80))
				t.Logf("%s log tail:\n%s", peer, rekeyTail(b.logText(), 80))
			}
		})
	}
}

// dataplaneDrops returns a cygnet daemon's nonzero data-plane drop
// counters (stats --json), "none" without any.
func dataplaneDrops(t *testing.T, c *cygnet) string {
	t.Helper()
	resp, err := control.Call(c.socket, control.Request{Command: control.CmdStats}, 5*time.Second)
	if err != nil {
		return fmt.Sprintf("stats: %v", err)
	}
	var st struct {
		Dataplane map[string]uint64 `json:"dataplane"`
	}
	if err := json.Unmarshal(resp.Stats, &st); err != nil {
		return fmt.Sprintf("stats %s: %v", resp.Stats, err)
	}
	var out []string
	for k, v := range st.Dataplane {
		switch k {
		case "OutPackets", "OutBytes", "InPackets", "InBytes", "LinkSent", "Keepalives", "IKE", "Fragmented":
			continue // traffic, not drops
		}
		if v != 0 {
			out = append(out, fmt.Sprintf("%s=%d", k, v))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// pollIKECount waits until an end has exactly n IKE SAs, all ESTABLISHED.
func pollIKECount(e tunnelEnd, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		states, err := e.ikeSAs()
		if err != nil {
			return err
		}
		ok := len(states) == n
		for _, s := range states {
			ok = ok && s == "ESTABLISHED"
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has IKE SAs %v, want %d ESTABLISHED", e.impl(), states, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSequenceNumberRekey lowers cygnet's soft sequence-number limit to 500
// packets: the data plane's soft-expire event must rekey the Child SA long
// before the counter runs out, again and again during a ping flood, with
// nothing lost.
func TestSequenceNumberRekey(t *testing.T) {
	for _, peer := range []string{implStrongSwan, implCygnet} {
		t.Run("cygnet-"+peer, func(t *testing.T) {
			if peer == implStrongSwan {
				testnet.RequireStrongSwan(t)
			} else {
				testnet.RequireRoot(t)
			}
			p := testnet.NewPair(t, testnet.PairOptions{})
			confA, confB := pairConfigs("psk")
			confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
			b := startEnd(t, peer, p.B, confB.Swanctl(), nil, "b")
			t.Setenv(daemon.SoftSeqLimitEnv, "500")
			a := startEnd(t, implCygnet, p.A, confA.Swanctl(), nil, "a")
			warmUnderlay(t, p, testnet.UnderlayB)
			if _, err := a.initiate("tun", "net"); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			sent, received, late, err := floodPing(p, 2000, 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			logA := a.logText()
			n := strings.Count(logA, "soft lifetime reached (sequence number)")
			t.Logf("cygnet -> %s: %d echoes in %v, %d answered, %d lost, %d late; %d rekeys on the sequence-number soft limit of 500, %d \"Child SA rekeyed\"",
				peer, sent, time.Since(start).Round(time.Millisecond), received, sent-received, len(late), n, strings.Count(logA, `msg="Child SA rekeyed"`))
			if sent != 2000 || received != sent {
				t.Errorf("lost %d of %d echoes (late or lost icmp_seq %v)", sent-received, sent, late)
			}
			// 2000 echo requests (plus the warm-up ping) on the outbound
			// SAs: a rekey near every 500.
			if n < 3 {
				t.Errorf("%d sequence-number rekeys, want at least 3", n)
			}
			if _, err := b.view("net", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if t.Failed() {
				t.Logf("cygnet log tail:\n%s", rekeyTail(logA, 60))
			}
		})
	}
}

// TestStrongSwanReauthToCygnet has strongSwan, the responder of the IKE SA,
// reauthenticate it make before break (charon.make_before_break = yes): a
// new IKE SA with IKE_AUTH and no INITIAL_CONTACT, then a DELETE of the old
// one. cygnet, answering, installs the new Child SA beside the old one and
// seals with it once the old IKE SA is deleted; no echo may be lost.
func TestStrongSwanReauthToCygnet(t *testing.T) {
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	confA.Children, confB.Children = confA.Children[:1], confB.Children[:1]
	sw := testnet.StartStrongSwan(t, p.B, &testnet.StrongSwanOptions{ExtraConf: "charon {\n  make_before_break = yes\n}\n"})
	if err := sw.Load(confB.Swanctl()); err != nil {
		t.Fatal(err)
	}
	b := swanEnd{sw}
	a := startEnd(t, implCygnet, p.A, confA.Swanctl(), nil, "a")
	warmUnderlay(t, p, testnet.UnderlayB)
	if _, err := a.initiate("tun", "net"); err != nil {
		t.Fatal(err)
	}
	first, err := a.view("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := startFloodPing(p, 1500, 10*time.Millisecond)
	var res pingRun
	select {
	case res = <-done:
		t.Fatal("ping ended before the reauthentication")
	case <-time.After(5 * time.Second):
		if _, err := sw.Swanctl("--rekey", "--ike", "tun", "--reauth"); err != nil {
			t.Fatalf("swanctl --rekey --reauth: %v", err)
		}
		t.Logf("strongSwan reauthenticates at %v", time.Since(start).Round(time.Millisecond))
		res = <-done
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	logA := a.logText()
	t.Logf("strongswan -> cygnet reauthentication: %d echoes in %v, %d answered, %d lost, %d late; cygnet logged %d \"Child SA rekeyed\", %d \"IKE SA deleted\"",
		res.sent, time.Since(start).Round(time.Millisecond), res.received, res.sent-res.received, len(res.late),
		strings.Count(logA, `msg="Child SA rekeyed"`), strings.Count(logA, `msg="IKE SA deleted"`))
	if res.received != res.sent {
		t.Errorf("lost %d of %d echoes (late or lost icmp_seq %v)", res.sent-res.received, res.sent, res.late)
	}
	va, err := a.view("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := b.view("net", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if va.SPIi == first.SPIi || va.SPIi != vb.SPIi || va.SPIIn != vb.SPIOut || va.SPIOut != vb.SPIIn {
		t.Errorf("after reauthentication: cygnet IKE %s child %08x/%08x, strongSwan IKE %s child %08x/%08x (first IKE %s)",
			va.SPIi, va.SPIIn, va.SPIOut, vb.SPIi, vb.SPIIn, vb.SPIOut, first.SPIi)
	}
	for _, e := range []tunnelEnd{a, b} {
		if err := pollIKECount(e, 1, 10*time.Second); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.Logf("cygnet log tail:\n%s", rekeyTail(logA, 60))
		t.Logf("strongSwan log tail:\n%s", rekeyTail(b.logText(), 120))
	}
}
