package testnet

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"
)

// pairConfigs returns the swanctl connections of A (initiator) and B for a
// tunnel between SubnetA and SubnetB (and the IPv6 subnets as child net6).
func pairConfigs(auth string, nat bool) (a, b TunnelConfig) {
	a = TunnelConfig{
		Name: "tun", LocalAddrs: UnderlayA.String(), RemoteAddrs: UnderlayB.String(),
		LocalID: "a." + CertDomain, RemoteID: "b." + CertDomain, Auth: auth,
		LocalCert: "a.crt", CACert: "ca.crt",
		Children: []ChildConfig{
			{Name: "net", LocalTS: []netip.Prefix{SubnetA}, RemoteTS: []netip.Prefix{SubnetB}},
			{Name: "net6", LocalTS: []netip.Prefix{SubnetA6}, RemoteTS: []netip.Prefix{SubnetB6}},
		},
	}
	b = TunnelConfig{
		Name: "tun", LocalAddrs: UnderlayB.String(), RemoteAddrs: UnderlayA.String(),
		LocalID: "b." + CertDomain, RemoteID: "a." + CertDomain, Auth: auth,
		LocalCert: "b.crt", CACert: "ca.crt",
		Children: []ChildConfig{
			{Name: "net", LocalTS: []netip.Prefix{SubnetB}, RemoteTS: []netip.Prefix{SubnetA}},
			{Name: "net6", LocalTS: []netip.Prefix{SubnetB6}, RemoteTS: []netip.Prefix{SubnetA6}},
		},
	}
	if nat {
		a.LocalAddrs = "" // A's own address is behind the NAT
		b.RemoteAddrs = "%any"
		a.Encap, b.Encap = true, true
	}
	return a, b
}

// runStrongSwanPair is the harness's proof: two charons in two namespaces,
// a tunnel, traffic both ways, nothing in clear on the wire.
// It reports what it created so the caller can check it is all gone.
func runStrongSwanPair(t *testing.T, auth string, kt KeyType, nat bool, created func(*Pair, ...*StrongSwan)) {
	p := NewPair(t, PairOptions{NAT: nat})
	swA := StartStrongSwan(t, p.A, nil)
	swB := StartStrongSwan(t, p.B, nil)
	created(p, swA, swB)
	if auth == "pubkey" {
		pki, err := GeneratePKI(kt, "a", "b")
		if err != nil {
			t.Fatal(err)
		}
		if err := swA.InstallCerts(pki, "a"); err != nil {
			t.Fatal(err)
		}
		if err := swB.InstallCerts(pki, "b"); err != nil {
			t.Fatal(err)
		}
	}
	confA, confB := pairConfigs(auth, nat)
	if err := swA.Load(confA.Swanctl()); err != nil {
		t.Fatal(err)
	}
	if err := swB.Load(confB.Swanctl()); err != nil {
		t.Fatal(err)
	}
	capture := p.Capture(p.B)

	start := time.Now()
	if err := swA.Initiate("tun", "net"); err != nil {
		t.Fatal(err)
	}
	t.Logf("IKE_SA + CHILD_SA net up in %v", time.Since(start).Round(time.Millisecond))
	if err := swA.Initiate("tun", "net6"); err != nil {
		t.Fatal(err)
	}
	ikeB, childB, err := swB.WaitChildSA("net", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	Ping(t, p.A, HostB, 3)
	PingFrom(t, p.B, HostB, HostA, 3)
	Ping(t, p.A, HostB6, 2)
	xfer := TCPTransfer(t, p.A, p.B, HostB, 10<<20)

	sum, err := capture.Summary(ProtectedSubnets()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("on %s: %s", p.IfB, sum)
	AssertOnlyEncrypted(t, capture.Path)
	if sum.ESP != 0 || sum.AH != 0 || sum.Other != 0 {
		t.Errorf("want only UDP 500/4500 on the wire, got %s", sum)
	}
	if sum.IKE500 == 0 || sum.IKE4500 == 0 {
		t.Errorf("want IKE on 500 and 4500 (kernel-libipsec forces NAT-T), got %s", sum)
	}
	// 3+3+2 pings each way plus >= 10 MiB of TCP in 1400-byte packets
	if want := 16 + int(xfer.Bytes/1400); sum.ESPInUDP < want {
		t.Errorf("want >= %d ESP-in-UDP packets, got %s", want, sum)
	}

	sasA, err := swA.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	ikeA, childA, ok := FindChildSA(sasA, "net", "INSTALLED")
	if !ok {
		t.Fatalf("A lists no INSTALLED CHILD_SA net: %+v", sasA)
	}
	for _, c := range []struct {
		who   string
		ike   IKESA
		child ChildSA
	}{{"A", ikeA, childA}, {"B", ikeB, childB}} {
		if c.ike.State != "ESTABLISHED" || c.ike.Version != 2 || c.ike.Name != "tun" {
			t.Errorf("%s: IKE_SA %s state %s version %d", c.who, c.ike.Name, c.ike.State, c.ike.Version)
		}
		if !c.child.Encap || c.child.Mode != "TUNNEL" || c.child.Protocol != "ESP" {
			t.Errorf("%s: CHILD_SA encap=%v mode=%s protocol=%s", c.who, c.child.Encap, c.child.Mode, c.child.Protocol)
		}
		if c.child.EncrAlg != "AES_GCM_16" || c.child.EncrKeySize != 128 {
			t.Errorf("%s: CHILD_SA algorithm %s/%d", c.who, c.child.EncrAlg, c.child.EncrKeySize)
		}
		if c.ike.InitiatorSPI == "" || c.ike.InitiatorSPI != ikeB.InitiatorSPI {
			t.Errorf("%s: IKE SPIs %s/%s differ from B's %s", c.who, c.ike.InitiatorSPI, c.ike.ResponderSPI, ikeB.InitiatorSPI)
		}
	}
	if !ikeA.Initiator || ikeB.Initiator {
		t.Errorf("initiator flags: A %v, B %v", ikeA.Initiator, ikeB.Initiator)
	}
	if childA.SPIOut != childB.SPIIn || childA.SPIIn != childB.SPIOut {
		t.Errorf("SPIs do not pair up: A in %08x out %08x, B in %08x out %08x", childA.SPIIn, childA.SPIOut, childB.SPIIn, childB.SPIOut)
	}
	if fmt.Sprint(childA.LocalTS) != "["+SubnetA.String()+"]" || fmt.Sprint(childA.RemoteTS) != "["+SubnetB.String()+"]" {
		t.Errorf("A's traffic selectors %v === %v", childA.LocalTS, childA.RemoteTS)
	}
	if childA.BytesOut < uint64(xfer.Bytes) || childA.PacketsIn < 6 {
		t.Errorf("A's counters: %d bytes out, %d packets in", childA.BytesOut, childA.PacketsIn)
	}
	if ikeA.RemoteID != "b."+CertDomain || ikeB.RemoteID != "a."+CertDomain {
		t.Errorf("identities: A sees %q, B sees %q", ikeA.RemoteID, ikeB.RemoteID)
	}
	if nat {
		if !ikeA.NATLocal || ikeB.RemoteHost != UnderlayA {
			t.Errorf("NAT: A nat-local=%v, B sees A at %s:%d", ikeA.NATLocal, ikeB.RemoteHost, ikeB.RemotePort)
		}
	} else if ikeB.RemoteHost != UnderlayA || ikeB.RemotePort != 4500 {
		t.Errorf("B sees A at %s:%d", ikeB.RemoteHost, ikeB.RemotePort)
	}

	if err := swA.Terminate("tun"); err != nil {
		t.Fatal(err)
	}
	err = pollUntil(5*time.Second, 50*time.Millisecond, func() (bool, error) {
		sas, err := swB.ListSAs()
		return err == nil && len(sas) == 0, err
	})
	if err != nil {
		t.Errorf("B still has IKE_SAs after A terminated: %v", err)
	}
}

func TestStrongSwanPair(t *testing.T) {
	RequireStrongSwan(t)
	RequireTools(t, "tcpdump", "ping")
	cases := []struct {
		name string
		auth string
		kt   KeyType
		nat  bool
	}{
		{"psk", "psk", "", false},
		{"ecdsa", "pubkey", KeyECDSAP256, false},
		{"rsa", "pubkey", KeyRSA3072, false},
		{"ed25519", "pubkey", KeyEd25519, false},
		{"psk-nat", "psk", "", true},
	}
	for _, c := range cases {
		var pair *Pair
		var swans []*StrongSwan
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.name != "psk" {
				t.Skip("short mode: psk only")
			}
			runStrongSwanPair(t, c.auth, c.kt, c.nat, func(p *Pair, s ...*StrongSwan) { pair, swans = p, s })
		})
		if pair == nil {
			continue
		}
		// the subtest's cleanups have run: nothing may be left behind
		for _, ns := range pair.Namespaces() {
			if NamespaceExists(ns) {
				t.Errorf("%s: namespace %s left behind", c.name, ns)
			}
		}
		for _, s := range swans {
			if s.Running() {
				t.Errorf("%s: charon %d in %s still running", c.name, s.Pid(), s.NS)
			}
			if _, err := os.Stat(s.Dir); err == nil {
				t.Errorf("%s: %s left behind", c.name, s.Dir)
			}
		}
	}
}
