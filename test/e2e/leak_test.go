package e2e

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// Traffic a tunnel protects must never leave in clear text: not before the
// tunnel is up, and not after the daemon is killed without any chance to
// clean up.
func TestNoPlaintextWhileTunnelDownOrDaemonKilled(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	startCygnet(t, p.B, confB.Swanctl(), nil, "")
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	// Give A's underlay a default route, as a real host has one: without
	// protection the pings would leave through it in clear text.
	p.Exec(p.A, "ip", "route", "add", "default", "via", testnet.UnderlayB.String())
	capture := p.Capture(p.B)

	if r, err := testnet.TryPing(p.A, testnet.HostA, testnet.HostB, 2); err == nil && r.Received > 0 {
		t.Fatalf("ping crossed before any tunnel existed: %+v", r)
	}
	a.initiate("tun", "net")
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
	// The operator's view of the same: packets through, nothing dropped.
	resp, err := control.Call(a.socket, control.Request{Command: control.CmdStats}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		IKE struct {
			IKESAs int `json:"ike_sas"`
		} `json:"ike"`
		Dataplane struct{ OutPackets, InPackets, AuthFailed, Replay uint64 }
	}
	if err := json.Unmarshal(resp.Stats, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %s", resp.Stats)
	if st.IKE.IKESAs != 1 || st.Dataplane.OutPackets < 2 || st.Dataplane.InPackets < 2 || st.Dataplane.AuthFailed+st.Dataplane.Replay != 0 {
		t.Errorf("stats after two pings: %+v", st)
	}

	if err := syscall.Kill(a.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := a.proc.Wait(5 * time.Second); err == nil {
		t.Log("daemon exited")
	}
	if r, err := testnet.TryPing(p.A, testnet.HostA, testnet.HostB, 2); err == nil && r.Received > 0 {
		t.Fatalf("ping crossed after the daemon was killed: %+v", r)
	}
	// The leak-protection route answers for the subnet now.
	out, rerr := p.TryExec(p.A, "ip", "route", "get", testnet.HostB.String(), "from", testnet.HostA.String())
	t.Logf("route to %s after the kill: %s %v", testnet.HostB, out, rerr)
	sum, err := capture.Summary(testnet.ProtectedSubnets()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("on %s: %s", p.IfB, sum)
	if sum.Plaintext != 0 {
		t.Fatalf("%d plaintext packets between the protected subnets crossed the wire", sum.Plaintext)
	}
	if sum.ESP == 0 {
		t.Fatal("the tunnel carried nothing while it was up")
	}
}
