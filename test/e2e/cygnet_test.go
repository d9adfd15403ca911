// Package e2e runs cygnet daemons in network namespaces against each other
// and against strongSwan, with real packets on a veth pair.
package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// cygnetBin is the binary under test, built once by TestMain.
var cygnetBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cygnet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cygnetBin = filepath.Join(dir, "cygnet")
	if out, err := exec.Command("go", "build", "-o", cygnetBin, "../../cmd/cygnet").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build cygnet: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cygnet is one daemon running in a namespace.
type cygnet struct {
	t      *testing.T
	ns     string
	dir    string
	socket string
	proc   *testnet.Process
}

// startCygnet writes conf as swanctl.conf (with pki's credentials for name,
// if given) and starts the daemon in ns.
func startCygnet(t *testing.T, ns, conf string, pki *testnet.PKI, name string) *cygnet {
	t.Helper()
	dir, err := os.MkdirTemp("", "cyg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if pki != nil {
		if err := pki.WriteSwanctl(dir, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cygnet{t: t, ns: ns, dir: dir, socket: filepath.Join(dir, "cygnet.sock")}
	c.proc = testnet.StartProcess(t, ns, cygnetBin, "--socket", c.socket, "daemon", "--debug", "--config", filepath.Join(dir, "swanctl.conf"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := control.Call(c.socket, control.Request{Command: control.CmdListConns}, time.Second); err == nil {
			break
		}
		if c.proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("cygnet in %s did not start:\n%s", ns, c.proc.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func (c *cygnet) initiate(ike, child string) time.Duration {
	c.t.Helper()
	start := time.Now()
	if _, err := control.Call(c.socket, control.Request{Command: control.CmdInitiate, IKE: ike, Child: child}, 30*time.Second); err != nil {
		c.t.Fatalf("initiate %s/%s: %v", ike, child, err)
	}
	return time.Since(start)
}

func (c *cygnet) listSAs() []control.IKESA {
	c.t.Helper()
	resp, err := control.Call(c.socket, control.Request{Command: control.CmdListSAs}, 5*time.Second)
	if err != nil {
		c.t.Fatalf("list-sas: %v", err)
	}
	return resp.IKESAs
}

// waitChild polls list-sas until the named Child SA is INSTALLED.
func (c *cygnet) waitChild(name string, timeout time.Duration) (control.IKESA, control.ChildSA) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, sa := range c.listSAs() {
			for _, ch := range sa.ChildSAs {
				if ch.Name == name && ch.State == "INSTALLED" && sa.State == "ESTABLISHED" {
					return sa, ch
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("cygnet in %s: no INSTALLED Child SA %s after %v", c.ns, name, timeout)
	return control.IKESA{}, control.ChildSA{}
}

func pairConfigs(auth string) (a, b testnet.TunnelConfig) {
	a = testnet.TunnelConfig{
		Name: "tun", LocalAddrs: testnet.UnderlayA.String(), RemoteAddrs: testnet.UnderlayB.String(),
		LocalID: "a." + testnet.CertDomain, RemoteID: "b." + testnet.CertDomain, Auth: auth,
		LocalCert: "a.crt", CACert: "ca.crt",
		Children: []testnet.ChildConfig{
			{Name: "net", LocalTS: []netip.Prefix{testnet.SubnetA}, RemoteTS: []netip.Prefix{testnet.SubnetB}},
			{Name: "net6", LocalTS: []netip.Prefix{testnet.SubnetA6}, RemoteTS: []netip.Prefix{testnet.SubnetB6}},
		},
	}
	b = testnet.TunnelConfig{
		Name: "tun", LocalAddrs: testnet.UnderlayB.String(), RemoteAddrs: testnet.UnderlayA.String(),
		LocalID: "b." + testnet.CertDomain, RemoteID: "a." + testnet.CertDomain, Auth: auth,
		LocalCert: "b.crt", CACert: "ca.crt",
		Children: []testnet.ChildConfig{
			{Name: "net", LocalTS: []netip.Prefix{testnet.SubnetB}, RemoteTS: []netip.Prefix{testnet.SubnetA}},
			{Name: "net6", LocalTS: []netip.Prefix{testnet.SubnetB6}, RemoteTS: []netip.Prefix{testnet.SubnetA6}},
		},
	}
	return a, b
}

// checkTraffic sends ping and a TCP transfer across the tunnel, both IPv4
// and IPv6, and checks only encrypted packets crossed B's veth.
func checkTraffic(t *testing.T, p *testnet.Pair, capture *testnet.Capture) testnet.TransferResult {
	t.Helper()
	testnet.Ping(t, p.A, testnet.HostB, 3)
	testnet.PingFrom(t, p.B, testnet.HostB, testnet.HostA, 3)
	testnet.Ping(t, p.A, testnet.HostB6, 2)
	xfer := testnet.TCPTransfer(t, p.A, p.B, testnet.HostB, 10<<20)
	sum, err := capture.Summary(testnet.ProtectedSubnets()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("on %s: %s; 10 MiB TCP at %.0f Mbit/s", p.IfB, sum, xfer.Mbps())
	testnet.AssertOnlyEncrypted(t, capture.Path, testnet.ProtectedSubnets()...)
	return xfer
}

func TestCygnetToCygnetPSK(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	b := startCygnet(t, p.B, confB.Swanctl(), nil, "")
	a := startCygnet(t, p.A, confA.Swanctl(), nil, "")
	capture := p.Capture(p.B)
	d := a.initiate("tun", "net")
	t.Logf("initiate to usable tunnel (IKE_SA_INIT + IKE_AUTH + Child SA): %v", d)
	d6 := a.initiate("tun", "net6")
	t.Logf("second Child SA (CREATE_CHILD_SA): %v", d6)
	b.waitChild("net", 5*time.Second)
	xfer := checkTraffic(t, p, capture)

	ikeA, childA := a.waitChild("net", time.Second)
	ikeB, childB := b.waitChild("net", time.Second)
	if !ikeA.Initiator || ikeB.Initiator || ikeA.RemoteID != "b."+testnet.CertDomain || ikeB.RemoteID != "a."+testnet.CertDomain {
		t.Errorf("IKE SAs: A %+v, B %+v", ikeA, ikeB)
	}
	if childA.SPIIn != childB.SPIOut || childA.SPIOut != childB.SPIIn || childA.Mode != "TUNNEL" || childA.Protocol != "ESP" {
		t.Errorf("Child SAs do not pair up: A %+v, B %+v", childA, childB)
	}
	if childA.BytesOut < uint64(xfer.Bytes) || childB.BytesIn < uint64(xfer.Bytes) || childA.PacketsIn < 3 {
		t.Errorf("counters: A out %d bytes, B in %d bytes, A in %d packets", childA.BytesOut, childB.BytesIn, childA.PacketsIn)
	}
}
