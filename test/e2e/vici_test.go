package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	govici "github.com/strongswan/govici/vici"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// startCygnetArgs is startCygnet with more daemon flags.
func startCygnetArgs(t *testing.T, ns, conf string, args ...string) *cygnet {
	t.Helper()
	dir, err := os.MkdirTemp("", "cyg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "swanctl.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cygnet{t: t, ns: ns, dir: dir, socket: filepath.Join(dir, "cygnet.sock")}
	c.proc = testnet.StartProcess(t, ns, append([]string{cygnetBin, "--socket", c.socket, "daemon", "--debug",
		"--config", filepath.Join(dir, "swanctl.conf")}, args...)...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := control.Call(c.socket, control.Request{Command: control.CmdListConns}, time.Second); err == nil {
			return c
		}
		if c.proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("cygnet in %s did not start:\n%s", ns, c.proc.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startCygnetVICI is startCygnet with the VICI socket enabled; it returns
// the daemon and the socket's path.
func startCygnetVICI(t *testing.T, ns, conf string) (*cygnet, string) {
	t.Helper()
	dir := t.TempDir()
	viciPath := filepath.Join(dir, "charon.vici")
	c := startCygnetArgs(t, ns, conf, "--vici", viciPath)
	// the VICI socket opens with the control socket, before the daemon
	// answers on it
	if _, err := os.Stat(viciPath); err != nil {
		t.Fatalf("vici socket: %v", err)
	}
	return c, viciPath
}

// swanctl runs strongSwan's swanctl against the socket at path.
func swanctl(t *testing.T, path string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	// --uri is an option of each command, so it follows the command
	cmd := exec.CommandContext(ctx, "swanctl", append(args, "--uri", "unix://"+path)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), err
}

func mustSwanctl(t *testing.T, path string, args ...string) string {
	t.Helper()
	out, err := swanctl(t, path, args...)
	if err != nil {
		t.Fatalf("swanctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func requireSwanctl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("swanctl"); err != nil {
		if os.Getenv("CYGNET_REQUIRE_NETNS") != "" {
			t.Fatal("swanctl not installed (scripts/install-deps.sh installs strongswan-swanctl)")
		}
		t.Skip("swanctl not installed")
	}
}

// swanctlChild is one Child SA as swanctl --list-sas prints it.
type swanctlChild struct {
	spiIn, spiOut                            string
	bytesIn, packetsIn, bytesOut, packetsOut uint64
}

var swanctlSARE = regexp.MustCompile(`(?m)^\s+in\s+([0-9a-f]{8}),\s+(\d+) bytes,\s+(\d+) packets.*\n\s+out\s+([0-9a-f]{8}),\s+(\d+) bytes,\s+(\d+) packets`)

func parseSwanctlSAs(out string) []swanctlChild {
	var cs []swanctlChild
	for _, m := range swanctlSARE.FindAllStringSubmatch(out, -1) {
		n := func(s string) uint64 { v, _ := strconv.ParseUint(s, 10, 64); return v }
		cs = append(cs, swanctlChild{spiIn: m[1], bytesIn: n(m[2]), packetsIn: n(m[3]), spiOut: m[4], bytesOut: n(m[5]), packetsOut: n(m[6])})
	}
	return cs
}

// eventLog keeps the events a govici session received, so a test can wait
// for them in any order.
type eventLog struct {
	ch   chan govici.Event
	seen []govici.Event
}

// wait returns the first event name, received so far or within timeout,
// whose message satisfies ok, and forgets it.
func (l *eventLog) wait(t *testing.T, name string, timeout time.Duration, ok func(*govici.Message) bool) *govici.Message {
	t.Helper()
	deadline := time.After(timeout)
	for i := 0; ; i++ {
		for i >= len(l.seen) {
			select {
			case ev := <-l.ch:
				l.seen = append(l.seen, ev)
			case <-deadline:
				t.Fatalf("no %s event within %v", name, timeout)
				return nil
			}
		}
		if ev := l.seen[i]; ev.Name == name && ok(ev.Message) {
			l.seen = append(l.seen[:i], l.seen[i+1:]...)
			return ev.Message
		}
	}
}

// TestVICI drives cygnet with strongSwan's own tools: swanctl initiates,
// lists and terminates a tunnel to another cygnet over the VICI socket,
// showing the SPIs and byte counts cygnet's own list-sas shows, and a
// govici program lists the SAs and sees the tunnel come and go as
// ike-updown and child-updown events.
func TestVICI(t *testing.T) {
	testnet.RequireRoot(t)
	requireSwanctl(t)
	for _, impl := range []string{implCygnet, implStrongSwan} {
		t.Run("to-"+impl, func(t *testing.T) {
			if impl == implStrongSwan {
				testnet.RequireStrongSwan(t)
			}
			testVICI(t, impl)
		})
	}
}

func testVICI(t *testing.T, impl string) {
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	var peer *testnet.StrongSwan
	if impl == implStrongSwan {
		peer = testnet.StartStrongSwan(t, p.B, nil)
		if err := peer.Load(confB.Swanctl()); err != nil {
			t.Fatal(err)
		}
	} else {
		startCygnet(t, p.B, confB.Swanctl(), nil, "")
	}
	a, path := startCygnetVICI(t, p.A, confA.Swanctl())

	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("vici socket: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	sess, err := govici.NewSession(govici.WithSocketPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	events := &eventLog{ch: make(chan govici.Event, 64)}
	sess.NotifyEvents(events.ch)
	if err := sess.Subscribe("ike-updown", "child-updown", "child-rekey", "ike-rekey", "log"); err != nil {
		t.Fatalf("govici subscribe: %v", err)
	}

	if out := mustSwanctl(t, path, "--version", "--daemon"); !strings.Contains(out, "cygnet") {
		t.Errorf("swanctl --version: %q", out)
	}
	conns := mustSwanctl(t, path, "--list-conns")
	t.Logf("swanctl --list-conns:\n%s", conns)
	for _, want := range []string{"tun: IKEv2", "net: TUNNEL", "net6: TUNNEL", testnet.SubnetA.String(), "pre-shared key"} {
		if !strings.Contains(conns, want) {
			t.Errorf("swanctl --list-conns lacks %q", want)
		}
	}

	start := time.Now()
	out := mustSwanctl(t, path, "--initiate", "--ike", "tun", "--child", "net")
	if !strings.Contains(out, "initiate completed successfully") {
		t.Fatalf("swanctl --initiate:\n%s", out)
	}
	t.Logf("swanctl --initiate in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	up := events.wait(t, "ike-updown", 5*time.Second, func(m *govici.Message) bool { return m.Get("up") == "yes" })
	ikeUp, _ := up.Get("tun").(*govici.Message)
	if ikeUp == nil || ikeUp.Get("state") != "ESTABLISHED" || ikeUp.Get("remote-id") != confA.RemoteID {
		t.Errorf("ike-updown event: %v", up)
	}
	events.wait(t, "log", 5*time.Second, func(m *govici.Message) bool {
		return strings.Contains(fmt.Sprint(m.Get("msg")), "IKE SA established") && m.Get("ikesa-name") == "tun"
	})
	cup := events.wait(t, "child-updown", 5*time.Second, func(m *govici.Message) bool { return m.Get("up") == "yes" })
	t.Logf("govici child-updown: %v", cup)

	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 5)

	// the same SPIs and counters through both interfaces
	sas := a.listSAs()
	text := mustSwanctl(t, path, "--list-sas")
	t.Logf("swanctl --list-sas:\n%s", text)
	got := parseSwanctlSAs(text)
	if len(sas) != 1 || len(sas[0].ChildSAs) != 1 || len(got) != 1 {
		t.Fatalf("cygnet list-sas shows %d IKE SAs, swanctl %d Child SAs:\n%s", len(sas), len(got), text)
	}
	c := sas[0].ChildSAs[0]
	want := swanctlChild{c.SPIIn, c.SPIOut, c.BytesIn, c.PacketsIn, c.BytesOut, c.PacketsOut}
	if got[0] != want {
		t.Errorf("swanctl shows %+v, cygnet list-sas %+v", got[0], want)
	}
	if c.PacketsIn < 5 || c.PacketsOut < 5 {
		t.Errorf("counters after 5 pings: %+v", c)
	}
	if peer != nil {
		// strongSwan's own view of the same Child SA, mirrored
		sc, err := peer.ChildSA("net")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%08x", sc.SPIIn) != c.SPIOut || fmt.Sprintf("%08x", sc.SPIOut) != c.SPIIn {
			t.Errorf("strongSwan has SPIs in %08x out %08x, cygnet over VICI in %s out %s", sc.SPIIn, sc.SPIOut, c.SPIIn, c.SPIOut)
		}
	}
	if !strings.Contains(text, fmt.Sprintf("%s_i* %s_r", sas[0].InitiatorSPI, sas[0].ResponderSPI)) {
		t.Errorf("swanctl --list-sas lacks the IKE SPIs %s/%s", sas[0].InitiatorSPI, sas[0].ResponderSPI)
	}

	// govici lists the SAs through the streamed list-sa events. govici
	// v0.8.0 hands streamed events and the final reply to its caller
	// through two channels it selects between, so when both have arrived
	// it may see the reply first and end the stream without the event
	// (swanctl's C client reads in order): a few tries.
	var listed []*govici.Message
	for try := 0; try < 5 && len(listed) == 0; try++ {
		for m, err := range sess.CallStreaming(context.Background(), "list-sas", "list-sa", nil) {
			if err != nil {
				t.Fatalf("govici list-sas: %v", err)
			}
			listed = append(listed, m)
		}
	}
	if len(listed) != 1 { // one list-sa event per IKE SA
		t.Fatalf("govici list-sas: %d messages", len(listed))
	}
	ike, _ := listed[0].Get("tun").(*govici.Message)
	if ike == nil {
		t.Fatalf("list-sa event: %v", listed[0])
	}
	if ike.Get("initiator-spi") != sas[0].InitiatorSPI {
		t.Errorf("govici initiator-spi %v, cygnet %s", ike.Get("initiator-spi"), sas[0].InitiatorSPI)
	}
	children, _ := ike.Get("child-sas").(*govici.Message)
	var child *govici.Message
	if children != nil {
		child, _ = children.Get(fmt.Sprintf("net-%d", c.UniqueID)).(*govici.Message)
	}
	if child == nil || child.Get("spi-in") != c.SPIIn || child.Get("state") != "INSTALLED" {
		t.Errorf("govici list-sa child: %v", children)
	}

	if out := mustSwanctl(t, path, "--stats"); !strings.Contains(out, "IKE_SAs: 1 total, 0 half-open") {
		t.Errorf("swanctl --stats:\n%s", out)
	}

	if out := mustSwanctl(t, path, "--list-pools"); strings.TrimSpace(out) != "" {
		t.Errorf("swanctl --list-pools without pools: %q", out)
	}

	// a rekey through VICI: the new Child SA streams as child-rekey
	if out := mustSwanctl(t, path, "--rekey", "--child", "net"); !strings.Contains(out, "rekey completed successfully") {
		t.Errorf("swanctl --rekey:\n%s", out)
	}
	rk := events.wait(t, "child-rekey", 10*time.Second, func(*govici.Message) bool { return true })
	rkIKE, _ := rk.Get("tun").(*govici.Message)
	var rkNew, rkOld *govici.Message
	if rkIKE != nil {
		if cs, _ := rkIKE.Get("child-sas").(*govici.Message); cs != nil {
			if n, _ := cs.Get("net").(*govici.Message); n != nil {
				rkNew, _ = n.Get("new").(*govici.Message)
				rkOld, _ = n.Get("old").(*govici.Message)
			}
		}
	}
	if rkOld == nil || rkOld.Get("spi-in") != c.SPIIn {
		t.Errorf("child-rekey event's old Child SA: %v, want SPI %s", rkOld, c.SPIIn)
	}
	if rkNew == nil || rkNew.Get("spi-in") == c.SPIIn {
		t.Errorf("child-rekey event: %v", rk)
	} else if _, nc := a.waitChild("net", 5*time.Second); nc.SPIIn != rkNew.Get("spi-in") {
		t.Errorf("child-rekey names SPI %v, cygnet list-sas shows %s", rkNew.Get("spi-in"), nc.SPIIn)
	}

	// an IKE SA rekey through VICI: ike-rekey names the old and the new
	// IKE SA by their SPIs, the new one is what cygnet lists
	oldIKE, _ := a.waitChild("net", 5*time.Second)
	if out := mustSwanctl(t, path, "--rekey", "--ike", "tun"); !strings.Contains(out, "rekey completed successfully") {
		t.Errorf("swanctl --rekey --ike:\n%s", out)
	}
	irk := events.wait(t, "ike-rekey", 10*time.Second, func(*govici.Message) bool { return true })
	var irkOld, irkNew *govici.Message
	if m, _ := irk.Get("tun").(*govici.Message); m != nil {
		irkOld, _ = m.Get("old").(*govici.Message)
		irkNew, _ = m.Get("new").(*govici.Message)
	}
	if irkOld == nil || irkOld.Get("initiator-spi") != oldIKE.InitiatorSPI || irkOld.Get("responder-spi") != oldIKE.ResponderSPI {
		t.Errorf("ike-rekey event's old IKE SA: %v, want SPIs %s_i %s_r", irkOld, oldIKE.InitiatorSPI, oldIKE.ResponderSPI)
	}
	if irkNew == nil || irkNew.Get("initiator-spi") == oldIKE.InitiatorSPI {
		t.Errorf("ike-rekey event's new IKE SA: %v", irkNew)
	} else {
		deadline := time.Now().Add(5 * time.Second)
		for {
			sas := a.listSAs()
			if len(sas) == 1 && sas[0].InitiatorSPI == irkNew.Get("initiator-spi") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("ike-rekey names new SPI %v, cygnet lists %+v", irkNew.Get("initiator-spi"), sas)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	out = mustSwanctl(t, path, "--terminate", "--ike", "tun")
	if !strings.Contains(out, "terminate completed successfully") {
		t.Errorf("swanctl --terminate:\n%s", out)
	}
	down := events.wait(t, "ike-updown", 10*time.Second, func(m *govici.Message) bool { return m.Get("up") == nil })
	t.Logf("govici ike-updown (down): %v", down)
	events.wait(t, "child-updown", time.Second, func(m *govici.Message) bool { return m.Get("up") == nil })
	deadline := time.Now().Add(10 * time.Second)
	for len(parseSwanctlSAs(mustSwanctl(t, path, "--list-sas"))) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("swanctl --list-sas still shows the Child SA after --terminate")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVICILoadAll starts cygnet with no connections and loads a
// swanctl.conf into it with strongSwan's swanctl --load-all: the connection
// and its credentials (a PSK, or certificates and a private key) arrive
// over VICI and a tunnel comes up with them; an option cygnet does not
// implement is refused with its name, and the rest still loads.
func TestVICILoadAll(t *testing.T) {
	testnet.RequireRoot(t)
	requireSwanctl(t)
	for _, auth := range []string{"psk", "pubkey"} {
		t.Run(auth, func(t *testing.T) { testVICILoadAll(t, auth) })
	}
}

func testVICILoadAll(t *testing.T, auth string) {
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs(auth)
	dir := t.TempDir()
	var pki *testnet.PKI
	wantLoaded := []string{"loaded ike secret 'ike-tun'"}
	if auth == "pubkey" {
		var err error
		if pki, err = testnet.GeneratePKI(testnet.KeyECDSAP256, "a", "b"); err != nil {
			t.Fatal(err)
		}
		if err := pki.WriteSwanctl(dir, "a"); err != nil {
			t.Fatal(err)
		}
		wantLoaded = []string{"loaded certificate from '" + filepath.Join(dir, "x509", "a.crt"),
			"loaded certificate from '" + filepath.Join(dir, "x509ca", "ca.crt"), "loaded private key from '" + filepath.Join(dir, "private", "a.key")}
	}
	startCygnet(t, p.B, confB.Swanctl(), pki, "b")
	a, path := startCygnetVICI(t, p.A, "# connections arrive over VICI\n")

	bad := "connections {\n  bad {\n    remote_addrs = 192.0.2.1\n    aggressive = yes\n    local {\n      auth = psk\n    }\n    remote {\n      auth = psk\n    }\n  }\n}\n"
	file := filepath.Join(dir, "swanctl.conf")
	authorities := ""
	if auth == "pubkey" {
		authorities = "authorities {\n  lab-ca {\n    cacert = ca.crt\n  }\n}\n"
		wantLoaded = append(wantLoaded, "loaded authority 'lab-ca'")
	}
	if err := os.WriteFile(file, []byte(confA.Swanctl()+bad+authorities), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swanctl", "--load-all", "--noprompt", "--file", file, "--uri", "unix://"+path)
	cmd.Env = append(os.Environ(), "SWANCTL_DIR="+dir)
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	t.Logf("swanctl --load-all (%v):\n%s", err, out)
	for _, want := range append(wantLoaded, "loaded connection 'tun'", "loading connection 'bad' failed", "aggressive = yes is not supported by cygnet") {
		if !strings.Contains(out, want) {
			t.Errorf("swanctl --load-all output lacks %q", want)
		}
	}
	if err == nil {
		t.Error("swanctl --load-all succeeded although a connection was refused")
	}

	conns := mustSwanctl(t, path, "--list-conns")
	if !strings.Contains(conns, "tun: IKEv2") || strings.Contains(conns, "bad:") {
		t.Errorf("after --load-all, swanctl --list-conns:\n%s", conns)
	}
	if auth == "pubkey" {
		certs := mustSwanctl(t, path, "--list-certs")
		t.Logf("swanctl --list-certs:\n%s", certs)
		for _, want := range []string{"X.509 End Entity Certificate", "X.509 CA Certificate", "a." + testnet.CertDomain, "has private key"} {
			if !strings.Contains(certs, want) {
				t.Errorf("swanctl --list-certs lacks %q", want)
			}
		}
		cas := mustSwanctl(t, path, "--list-authorities")
		t.Logf("swanctl --list-authorities:\n%s", cas)
		if !regexp.MustCompile(`lab-ca:\n  cacert: .*CN=` + regexp.QuoteMeta(pki.CA.Subject.CommonName)).MatchString(cas) {
			t.Errorf("swanctl --list-authorities does not show lab-ca with CN=%s", pki.CA.Subject.CommonName)
		}
	}
	if out := mustSwanctl(t, path, "--initiate", "--child", "net"); !strings.Contains(out, "initiate completed successfully") {
		t.Fatalf("swanctl --initiate:\n%s", out)
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
	if _, c := a.waitChild("net", 5*time.Second); c.PacketsIn < 3 {
		t.Errorf("Child SA of the loaded connection carried %d packets in, want 3", c.PacketsIn)
	}

	// cygnet reload reads its own file again; what VICI loaded stays
	if err := a.reload("# connections arrive over VICI\n"); err != nil {
		t.Fatal(err)
	}
	if conns := mustSwanctl(t, path, "--list-conns"); !strings.Contains(conns, "tun: IKEv2") {
		t.Errorf("after cygnet reload, swanctl --list-conns:\n%s", conns)
	}

	// loading the file again replaces the connection and unloads nothing
	cmd = exec.CommandContext(ctx, "swanctl", "--load-conns", "--file", file, "--uri", "unix://"+path)
	cmd.Env = append(os.Environ(), "SWANCTL_DIR="+dir)
	outb, _ = cmd.CombinedOutput()
	if !strings.Contains(string(outb), "loaded connection 'tun'") || !strings.Contains(string(outb), ", 0 unloaded") {
		t.Errorf("second --load-conns:\n%s", outb)
	}
}
