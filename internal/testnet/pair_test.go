package testnet

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestPairLifecycle(t *testing.T) {
	RequireRoot(t)
	RequireTools(t, "ping")
	var pair *Pair
	var stray *exec.Cmd
	strayDone := make(chan error, 1)
	t.Run("pair", func(t *testing.T) {
		p := NewPair(t, PairOptions{})
		pair = p
		if len(p.Prefix) > 8 || p.A != p.Prefix+"-a" || p.IfB != p.Prefix+"b0" {
			t.Errorf("names: %+v", p)
		}
		for _, ns := range p.Namespaces() {
			if !NamespaceExists(ns) {
				t.Fatalf("namespace %s missing", ns)
			}
		}
		Ping(t, p.A, UnderlayB, 1)
		Ping(t, p.A, UnderlayB6, 1)
		if out := p.Exec(p.A, "ip", "-br", "addr", "show", "dev", "lo"); !strings.Contains(out, HostA.String()) || !strings.Contains(out, HostA6.String()) {
			t.Errorf("A's lo lacks the protected hosts: %s", out)
		}
		// no tunnel: the protected subnet of B is unreachable from A
		if r, err := TryPing(p.A, HostA, HostB, 1); err == nil && r.Received != 0 {
			t.Errorf("HostB answered without a tunnel: %+v", r)
		}
		if _, err := p.TryExec(p.A, "false"); err == nil {
			t.Error("TryExec(false) succeeded")
		}

		bg := p.Start(p.B, "sleep", "600")
		if bg.Exited() || bg.Pid() <= 0 {
			t.Fatal("background process not running")
		}
		// a process the harness does not track: removal must kill it
		stray = exec.Command("ip", "netns", "exec", p.A, "sleep", "600")
		if err := stray.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { strayDone <- stray.Wait() }()

		// a socket made inside B lives in B
		var ln net.Listener
		err := InNamespace(p.B, func() error {
			var err error
			ln, err = net.Listen("tcp", UnderlayB.String()+":0")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if _, err := net.Listen("tcp", UnderlayB.String()+":0"); err == nil {
			t.Error("B's address exists in the test's own namespace")
		}
		if err := InNamespace("no-such-namespace", func() error { return nil }); err == nil {
			t.Error("InNamespace with a missing namespace succeeded")
		}

		r := TCPTransfer(t, p.A, p.B, UnderlayB, 4<<20)
		if r.Bytes != 4<<20 || r.Mbps() <= 0 {
			t.Errorf("transfer %+v", r)
		}
	})
	if pair == nil {
		t.Fatal("pair subtest did not run")
	}
	for _, ns := range pair.Namespaces() {
		if NamespaceExists(ns) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	select {
	case <-strayDone:
	case <-time.After(5 * time.Second):
		t.Error("stray process in a removed namespace still running")
		_ = stray.Process.Kill()
	}
}

func TestPairNAT(t *testing.T) {
	RequireRoot(t)
	RequireTools(t, "ping", "nft", "tcpdump")
	p := NewPair(t, PairOptions{NAT: true})
	if p.R == "" || len(p.Namespaces()) != 3 || p.LocalA != NATInsideA {
		t.Fatalf("NAT pair %+v", p)
	}
	c := p.Capture(p.B)
	Ping(t, p.A, UnderlayB, 2)
	path, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// B sees A's pings coming from the router's outside address
	var fromRouter int
	for _, pkt := range pc.Packets {
		d := ClassifyPacket(pc.LinkType, pkt.Data, nil)
		if d.Proto == 1 && d.Src == UnderlayA && d.Dst == UnderlayB {
			fromRouter++
		}
		if d.Src == NATInsideA {
			t.Errorf("A's inside address leaked past the NAT: %v", d)
		}
	}
	if fromRouter != 2 {
		t.Errorf("B saw %d echo requests from %s, want 2", fromRouter, UnderlayA)
	}
}

func TestCaptureStopIsComplete(t *testing.T) {
	RequireRoot(t)
	RequireTools(t, "ping", "tcpdump")
	p := NewPair(t, PairOptions{})
	Ping(t, p.A, UnderlayB, 1) // resolve neighbours first
	for round := range 3 {
		c := p.Capture(p.A)
		// every packet sent before Stop must be in the file, with no
		// waiting in between: that is what the end marker is for
		Ping(t, p.A, UnderlayB, 3)
		path, err := c.Stop()
		if err != nil {
			t.Fatal(err)
		}
		pc, err := ReadPcapFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var echo, marker int
		for _, pkt := range pc.Packets {
			d := ClassifyPacket(pc.LinkType, pkt.Data, nil)
			if d.Proto == 1 {
				echo++
			}
			if d.DstPort == captureMarkerPort {
				marker++
			}
		}
		if echo != 6 || marker != 0 {
			t.Errorf("round %d: %d ICMP packets (want 6), %d markers left in the file", round, echo, marker)
		}
		if again, err := c.Stop(); again != path || err != nil {
			t.Errorf("second Stop: %s, %v", again, err)
		}
	}
}
