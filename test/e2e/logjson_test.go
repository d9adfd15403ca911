package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// jsonLogLines parses a daemon's --log-format json output; every line must
// be one JSON object.
func jsonLogLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// findLog is the first line whose msg starts with prefix and whose fields
// have the given values (compared as text).
func findLog(lines []map[string]any, prefix string, fields map[string]string) map[string]any {
next:
	for _, l := range lines {
		msg, _ := l["msg"].(string)
		if !strings.HasPrefix(msg, prefix) {
			continue
		}
		for k, v := range fields {
			if fmt.Sprint(l[k]) != v {
				continue next
			}
		}
		return l
	}
	return nil
}

// waitJSONLog polls a daemon's JSON log for a line findLog finds.
func waitJSONLog(t *testing.T, c *cygnet, prefix string, fields map[string]string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if l := findLog(jsonLogLines(t, c.logText()), prefix, fields); l != nil {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q with %v in %s's log:\n%s", prefix, fields, c.ns, c.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLogJSON: with --log-format json every line is a JSON object, and the
// events an operator cares about each have their line with the connection,
// the IKE SA's unique id and the peer: SA up, rekeyed, deleted and why;
// authentication failure and why; proposal mismatch with both offers.
func TestLogJSON(t *testing.T) {
	p := testnet.NewPair(t, testnet.PairOptions{})
	badPSK := strings.Replace(reloadConf("a", "keep", "gone"), "id-2 = b-gone\n    secret = \""+testnet.PSK, "id-2 = b-gone\n    secret = \"not-the-peers-psk-0123456789", 1)
	otherSuite := strings.Replace(reloadConn("a", "added", testnet.SubnetA6, testnet.SubnetB6, ""), "aes128gcm16-prfsha256-x25519", "aes256-sha384-ecp384", 1)
	confA := strings.Replace(badPSK, "connections {\n", "connections {\n"+otherSuite, 1)
	a := startCygnetArgs(t, p.A, confA, "--log-format", "json", "--log-level", "info,ike=debug")
	b := startCygnetArgs(t, p.B, reloadConf("b", "keep", "gone", "added"), "--log-format", "json", "--log-level", "warn,ike=info")
	peerB, peerA := testnet.UnderlayB.String(), testnet.UnderlayA.String()

	a.initiate("keep", "c-keep")
	up := waitJSONLog(t, a, "IKE SA established", map[string]string{"conn": "keep", "peer": peerB, "subsys": "ike"})
	if _, ok := up["ike"].(float64); !ok {
		t.Errorf("IKE SA established line without the IKE SA's unique id: %v", up)
	}
	waitJSONLog(t, b, "IKE SA established", map[string]string{"conn": "keep", "peer": peerA})
	waitJSONLog(t, a, "Child SA installed", map[string]string{"conn": "keep", "peer": peerB, "child": "c-keep"})

	if _, err := control.Call(a.socket, control.Request{Command: control.CmdRekey, Child: "c-keep"}, 10*time.Second); err != nil {
		t.Fatalf("rekey: %v", err)
	}
	waitJSONLog(t, a, "Child SA rekeyed", map[string]string{"conn": "keep", "peer": peerB, "child": "c-keep"})

	if err := a.terminate("keep"); err != nil {
		t.Fatal(err)
	}
	del := waitJSONLog(t, a, "IKE SA deleted", map[string]string{"conn": "keep", "peer": peerB})
	if r, _ := del["reason"].(string); !strings.Contains(r, "terminated by operator") {
		t.Errorf("IKE SA deleted without why: %v", del)
	}
	if r, _ := waitJSONLog(t, b, "IKE SA deleted", map[string]string{"conn": "keep", "peer": peerA})["reason"].(string); r == "" {
		t.Error("peer's IKE SA deleted line has no reason")
	}

	if _, err := a.tryInitiate("gone", "c-gone"); err == nil {
		t.Fatal("initiate with a wrong PSK succeeded")
	}
	fail := waitJSONLog(t, b, "AUTHENTICATION_FAILED", map[string]string{"conn": "gone", "peer": peerA})
	if msg := fail["msg"].(string); !strings.Contains(msg, "b-gone") && !strings.Contains(msg, "a-gone") && !strings.Contains(msg, "PSK") && !strings.Contains(msg, "psk") {
		t.Errorf("authentication failure line does not say why: %q", msg)
	}
	if _, ok := fail["ike"].(float64); !ok {
		t.Errorf("authentication failure line without the IKE SA id: %v", fail)
	}

	if _, err := a.tryInitiate("added", "c-added"); err == nil {
		t.Fatal("initiate with a proposal the peer does not accept succeeded")
	}
	np := waitJSONLog(t, b, "NO_PROPOSAL_CHOSEN: peer offered", map[string]string{"remote": peerA + ":500"})
	msg := np["msg"].(string)
	if !strings.Contains(msg, "AES_CBC_256") && !strings.Contains(strings.ToLower(msg), "aes256") || !strings.Contains(strings.ToLower(msg), "we accept") {
		t.Errorf("proposal mismatch line does not show both offers: %q", msg)
	}
	// b's cfg and esp subsystems are at warn: no info lines of theirs
	for _, l := range jsonLogLines(t, b.logText()) {
		if s, _ := l["subsys"].(string); (s == "cfg" || s == "esp" || s == "net") && l["level"] == "INFO" {
			t.Errorf("b logged an INFO line of subsystem %s at warn: %v", s, l)
		}
	}
	t.Logf("auth failure: %s; proposal mismatch: %s", fail["msg"], msg)
}
