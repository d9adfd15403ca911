// Package e2e runs cygnet daemons in network namespaces against each other
// and against strongSwan, with real packets on a veth pair.
package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// cygnetBin is the binary under test, built once by TestMain.
var cygnetBin string

// TestMain builds cmd/cygnet from this tree, or takes the binary named by
// CYGNET_E2E_BIN (a release build, or one of another tree).
func TestMain(m *testing.M) {
	if bin := os.Getenv("CYGNET_E2E_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cygnetBin = abs
		os.Exit(m.Run())
	}
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
// if given) and starts the daemon in ns, with flags added to its command
// line.
func startCygnet(t *testing.T, ns, conf string, pki *testnet.PKI, name string, flags ...string) *cygnet {
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
	args := append([]string{cygnetBin, "--socket", c.socket, "daemon", "--debug", "--config", filepath.Join(dir, "swanctl.conf")}, flags...)
	c.proc = testnet.StartProcess(t, ns, args...)
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

// tryInitiate is initiate returning the error instead of failing the test.
func (c *cygnet) tryInitiate(ike, child string) (time.Duration, error) {
	start := time.Now()
	_, err := control.Call(c.socket, control.Request{Command: control.CmdInitiate, IKE: ike, Child: child}, 30*time.Second)
	return time.Since(start), err
}

// terminate deletes the IKE SA of connection ike, telling the peer.
func (c *cygnet) terminate(ike string) error {
	_, err := control.Call(c.socket, control.Request{Command: control.CmdTerminate, IKE: ike}, 10*time.Second)
	return err
}

// reload replaces swanctl.conf and runs `cygnet reload`, as an operator would.
func (c *cygnet) reload(conf string) error {
	if err := os.WriteFile(filepath.Join(c.dir, "swanctl.conf"), []byte(conf), 0o600); err != nil {
		return err
	}
	out, err := exec.Command(cygnetBin, "--socket", c.socket, "reload").CombinedOutput()
	if err != nil {
		return fmt.Errorf("cygnet reload: %w: %s", err, out)
	}
	return nil
}

// logText is what the daemon has logged so far. The daemon holds its
// lines back for up to 10 ms but writes them before it answers a control
// request, so one goes first: a line of the exchange that just ended is
// then in (a daemon that is gone simply does not answer).
func (c *cygnet) logText() string {
	_, _ = control.Call(c.socket, control.Request{Command: control.CmdListConns}, time.Second)
	return c.proc.Output()
}

func pairConfigs(auth string) (a, b testnet.TunnelConfig) { return pairConfigsOn(auth, false) }

// pairConfigsOn is pairConfigs with IKE (and ESP) between the IPv6
// underlay addresses when six is set. Both ends protect an IPv4 (child
// "net") and an IPv6 (child "net6") subnet either way.
func pairConfigsOn(auth string, six bool) (a, b testnet.TunnelConfig) {
	ua, ub := testnet.UnderlayA, testnet.UnderlayB
	if six {
		ua, ub = testnet.UnderlayA6, testnet.UnderlayB6
	}
	a = testnet.TunnelConfig{
		Name: "tun", LocalAddrs: ua.String(), RemoteAddrs: ub.String(),
		LocalID: "a." + testnet.CertDomain, RemoteID: "b." + testnet.CertDomain, Auth: auth,
		LocalCert: "a.crt", CACert: "ca.crt",
		Children: []testnet.ChildConfig{
			{Name: "net", LocalTS: []netip.Prefix{testnet.SubnetA}, RemoteTS: []netip.Prefix{testnet.SubnetB}},
			{Name: "net6", LocalTS: []netip.Prefix{testnet.SubnetA6}, RemoteTS: []netip.Prefix{testnet.SubnetB6}},
		},
	}
	b = testnet.TunnelConfig{
		Name: "tun", LocalAddrs: ub.String(), RemoteAddrs: ua.String(),
		LocalID: "b." + testnet.CertDomain, RemoteID: "a." + testnet.CertDomain, Auth: auth,
		LocalCert: "b.crt", CACert: "ca.crt",
		Children: []testnet.ChildConfig{
			{Name: "net", LocalTS: []netip.Prefix{testnet.SubnetB}, RemoteTS: []netip.Prefix{testnet.SubnetA}},
			{Name: "net6", LocalTS: []netip.Prefix{testnet.SubnetB6}, RemoteTS: []netip.Prefix{testnet.SubnetA6}},
		},
	}
	return a, b
}

// traffic says what checkTraffic sends across a tunnel and what the
// capture on B's veth must show.
type traffic struct {
	// a4/b4 and a6/b6 are the hosts in A and B that talk over IPv4 and
	// IPv6; leave a family's pair invalid to skip it.
	a4, b4, a6, b6 netip.Addr
	// protected are the prefixes whose traffic must never cross in clear.
	protected []netip.Prefix
	// encap: the ESP must be in UDP (port 4500); raw ESP otherwise.
	encap bool
	// size is the size of each TCP transfer (default 10 MiB).
	size int64
}

// tunnelTraffic is the traffic of a tunnel between the protected subnets.
func tunnelTraffic(encap bool) traffic {
	return traffic{a4: testnet.HostA, b4: testnet.HostB, a6: testnet.HostA6, b6: testnet.HostB6,
		protected: testnet.ProtectedSubnets(), encap: encap}
}

// trafficResult is what checkTraffic measured.
type trafficResult struct {
	xfer4, xfer6 testnet.TransferResult
	capture      testnet.CaptureSummary
	ikeFragments int // IP fragments of IKE messages seen
}

// checkTraffic sends ping both ways and a 10 MiB TCP transfer from A to B
// per family, checks every byte arrived (testnet.TCPTransfer compares
// SHA-256), and that only encrypted packets (raw ESP or ESP-in-UDP, as
// tr.encap says) and IKE crossed B's veth.
func checkTraffic(t *testing.T, p *testnet.Pair, capture *testnet.Capture, tr traffic) trafficResult {
	t.Helper()
	size := tr.size
	if size == 0 {
		size = 10 << 20
	}
	var res trafficResult
	if tr.b4.IsValid() {
		testnet.PingFrom(t, p.A, tr.a4, tr.b4, 3)
		testnet.PingFrom(t, p.B, tr.b4, tr.a4, 3)
		res.xfer4 = testnet.TCPTransfer(t, p.A, p.B, tr.b4, size)
	}
	if tr.b6.IsValid() {
		testnet.PingFrom(t, p.A, tr.a6, tr.b6, 2)
		testnet.PingFrom(t, p.B, tr.b6, tr.a6, 2)
		res.xfer6 = testnet.TCPTransfer(t, p.A, p.B, tr.b6, size)
	}
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	res.capture = testnet.AssertOnlyEncrypted(t, path, tr.protected...)
	s := res.capture
	t.Logf("on %s: %s", p.IfB, s)
	if n, late, worst, err := espOrder(path); err != nil {
		t.Error(err)
	} else if late > 0 {
		t.Logf("ESP order on %s: %d of %d packets behind a higher sequence number of their SA (by up to %d)", p.IfB, late, n, worst)
	}
	if tr.encap && (s.ESP != 0 || s.ESPInUDP == 0) {
		t.Errorf("want ESP in UDP only, capture has %d raw ESP and %d ESP-in-UDP packets", s.ESP, s.ESPInUDP)
	}
	if !tr.encap && (s.ESPInUDP != 0 || s.ESP == 0) {
		t.Errorf("want raw ESP only, capture has %d raw ESP and %d ESP-in-UDP packets", s.ESP, s.ESPInUDP)
	}
	if s.AH != 0 || s.Other != 0 {
		frags, others := describeOther(path, tr.protected)
		res.ikeFragments = frags
		if frags > 0 {
			// Big IKE messages (RSA-3072 certificates) to or from a peer
			// without RFC 7383 support leave as IP fragments; between
			// peers that support it TestIKEFragmentation fails instead.
			t.Logf("capture has %d IP fragments of UDP (IKE messages larger than the MTU)", frags)
		}
		if others != "" {
			t.Errorf("capture has packets that are neither ESP nor IKE:%s", others)
		}
	}
	return res
}

// describeOther counts the non-first IP fragments of UDP datagrams in a
// capture (big IKE messages) and lists the other packets that are neither
// ESP, IKE, keepalives nor link housekeeping.
func describeOther(path string, protected []netip.Prefix) (udpFragments int, others string) {
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		return 0, " " + err.Error()
	}
	var b strings.Builder
	n := 0
	for _, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, protected)
		switch {
		case d.Class == testnet.ClassOther && d.Proto == 17 && d.SrcPort == 0 && d.DstPort == 0:
			// ClassifyPacket reads no ports from a non-first fragment.
			udpFragments++
		case d.Class == testnet.ClassOther || d.Class == testnet.ClassAH:
			if n++; n <= 10 {
				b.WriteString("\n  " + d.String())
			}
		}
	}
	return udpFragments, b.String()
}

// espOrder reads the ESP sequence numbers of a capture (raw ESP and
// ESP-in-UDP on an Ethernet link) and counts, per SPI, the packets that
// arrived after one with a higher number: reordering on the sender's side,
// which a peer with a small replay window drops.
func espOrder(path string) (packets, late int, worst uint32, err error) {
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		return 0, 0, 0, err
	}
	if pc.LinkType != testnet.LinkTypeEthernet {
		return 0, 0, 0, fmt.Errorf("link type %d, want Ethernet", pc.LinkType)
	}
	highest := map[uint32]uint32{}
	for _, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, nil)
		var esp []byte
		switch d.Class {
		case testnet.ClassESPInUDP:
			esp = d.Payload
		case testnet.ClassESP:
			ipPkt := pkt.Data[14:]
			if d.Src.Is4() {
				esp = ipPkt[int(ipPkt[0]&0x0f)*4:]
			} else {
				esp = ipPkt[40:]
			}
		default:
			continue
		}
		if len(esp) < 8 {
			continue
		}
		spi, seq := binary.BigEndian.Uint32(esp), binary.BigEndian.Uint32(esp[4:])
		packets++
		if h := highest[spi]; seq < h {
			late++
			worst = max(worst, h-seq)
		} else {
			highest[spi] = seq
		}
	}
	return packets, late, worst, nil
}
