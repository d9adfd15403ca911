package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
)

// The demo's two hosts: A (10.99.0.1) and B (10.99.0.2) joined by a veth
// pair, each with a private subnet on its loopback that the tunnel protects.
const (
	demoPSK  = "cygnet-demo-psk-change-me-0123456789"
	demoConf = `connections {
  demo {
    local_addrs = %s
    remote_addrs = %s
    proposals = aes128gcm16-prfsha256-x25519
    local {
      auth = psk
      id = %s
    }
    remote {
      auth = psk
      id = %s
    }
    children {
      net {
        local_ts = %s
        remote_ts = %s
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets {
  ike-demo {
    id-a = a.demo.cygnet
    id-b = b.demo.cygnet
    secret = "` + demoPSK + `"
  }
}
`
)

type demoHost struct {
	ns, ifname, addr, peer, id, peerID, subnet, peerSubnet, host string
	dir, socket                                                  string
	daemon                                                       *exec.Cmd
}

// cmdDemo shows a working tunnel on a fresh machine: two network namespaces,
// a cygnet daemon in each, a tunnel between them and a ping through it. It
// removes everything it created, also when interrupted.
func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo")
	keep := fs.Bool("keep", false, "leave the namespaces and daemons running until Ctrl-C")
	bulkMiB := fs.Int("bulk", 32, "MiB to push through the tunnel over TCP (0: none)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if demoEUID() != 0 {
		return errors.New(demoNeedsRoot)
	}
	for _, tool := range []string{"ip", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (apt-get install iproute2 iputils-ping)", tool)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The daemons die with the demo, also a killed one (their parent-death
	// signal). That signal fires when the thread that forked them exits, so
	// the demo keeps its thread until the daemons are stopped.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	tmp, err := os.MkdirTemp("", "cygnet-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	prefix := fmt.Sprintf("cyd%d", os.Getpid()%100000)
	a := &demoHost{ns: prefix + "-a", ifname: prefix + "a", addr: "10.99.0.1", peer: "10.99.0.2", id: "a.demo.cygnet", peerID: "b.demo.cygnet",
		subnet: "10.99.1.0/24", peerSubnet: "10.99.2.0/24", host: "10.99.1.1", dir: filepath.Join(tmp, "a")}
	b := &demoHost{ns: prefix + "-b", ifname: prefix + "b", addr: "10.99.0.2", peer: "10.99.0.1", id: "b.demo.cygnet", peerID: "a.demo.cygnet",
		subnet: "10.99.2.0/24", peerSubnet: "10.99.1.0/24", host: "10.99.2.1", dir: filepath.Join(tmp, "b")}
	say := func(format string, args ...any) { fmt.Fprintf(stdout, "==> "+format+"\n", args...) }

	defer func() {
		for _, h := range []*demoHost{a, b} {
			if h.daemon != nil && h.daemon.Process != nil {
				_ = h.daemon.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { _ = h.daemon.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					_ = h.daemon.Process.Kill()
				}
			}
			_ = exec.Command("ip", "netns", "del", h.ns).Run()
		}
		say("removed the namespaces %s and %s", a.ns, b.ns)
	}()

	say("creating network namespaces %s (%s, protects %s) and %s (%s, protects %s)", a.ns, a.addr, a.subnet, b.ns, b.addr, b.subnet)
	steps := [][]string{
		{"ip", "netns", "add", a.ns}, {"ip", "netns", "add", b.ns},
		{"ip", "-n", a.ns, "link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname, "netns", b.ns},
	}
	for _, h := range []*demoHost{a, b} {
		steps = append(steps,
			[]string{"ip", "-n", h.ns, "link", "set", "lo", "up"},
			[]string{"ip", "-n", h.ns, "addr", "add", h.addr + "/24", "dev", h.ifname},
			[]string{"ip", "-n", h.ns, "link", "set", h.ifname, "up"},
			[]string{"ip", "-n", h.ns, "addr", "add", h.host + "/32", "dev", "lo"})
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	for _, h := range []*demoHost{a, b} {
		if err := os.MkdirAll(h.dir, 0o700); err != nil {
			return err
		}
		conf := fmt.Sprintf(demoConf, h.addr, h.peer, h.id, h.peerID, h.subnet, h.peerSubnet)
		if err := os.WriteFile(filepath.Join(h.dir, "swanctl.conf"), []byte(conf), 0o600); err != nil {
			return err
		}
		h.socket = filepath.Join(h.dir, "cygnet.sock")
		h.daemon = exec.CommandContext(ctx, "ip", "netns", "exec", h.ns, self, "--socket", h.socket, "daemon", "--config", filepath.Join(h.dir, "swanctl.conf"))
		logf, err := os.Create(filepath.Join(h.dir, "daemon.log"))
		if err != nil {
			return err
		}
		defer logf.Close()
		h.daemon.Stdout, h.daemon.Stderr = logf, logf
		h.daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := h.daemon.Start(); err != nil {
			return fmt.Errorf("start daemon in %s: %w", h.ns, err)
		}
		if err := waitSocket(ctx, h.socket, 10*time.Second); err != nil {
			tail, _ := os.ReadFile(filepath.Join(h.dir, "daemon.log"))
			return fmt.Errorf("daemon in %s did not come up: %w\n%s", h.ns, err, tail)
		}
	}
	say("cygnet daemons running in both namespaces (PSK, aes128gcm16-prfsha256-x25519)")

	start := time.Now()
	if _, err := control.Call(a.socket, control.Request{Command: control.CmdInitiate, IKE: "demo", Child: "net"}, 20*time.Second); err != nil {
		tail, _ := os.ReadFile(filepath.Join(a.dir, "daemon.log"))
		return fmt.Errorf("initiate: %w\n%s", err, tail)
	}
	say("tunnel up in %v", time.Since(start).Round(time.Millisecond))

	say("ping from %s to %s through the tunnel:", a.host, b.host)
	ping := exec.CommandContext(ctx, "ip", "netns", "exec", a.ns, "ping", "-c", fmt.Sprint(demoPings), "-i", "0.2", "-W", "2", "-I", a.host, b.host)
	ping.Stdout, ping.Stderr = stdout, stderr
	if err := ping.Run(); err != nil {
		return fmt.Errorf("ping through the tunnel failed: %w", err)
	}
	// An answered ping proves only that the hosts reach each other; the
	// Child SA's counters show that ESP carried it.
	pktsOut, pktsIn, err := demoChildPackets(a.socket)
	if err != nil {
		return err
	}
	if pktsOut < demoPings || pktsIn < demoPings {
		return fmt.Errorf("the ping was answered, but the Child SA sealed %d and opened %d packets (want %d each): it did not go through the tunnel", pktsOut, pktsIn, demoPings)
	}
	if *bulkMiB > 0 {
		size := int64(*bulkMiB) << 20
		say("pushing %d MiB over TCP from %s to %s through the tunnel:", *bulkMiB, a.host, b.host)
		took, err := demoBulk(ctx, a, b, size, stdout)
		if err != nil {
			return err
		}
		say("bulk transfer: %d MiB in %v, %.0f Mbit/s", *bulkMiB, took.Round(time.Millisecond), float64(size)*8/1e6/took.Seconds())
	}
	for _, h := range []*demoHost{a, b} {
		say("cygnet list-sas in %s:", h.ns)
		if err := cmdListSAs(nil, h.socket, stdout); err != nil {
			return err
		}
	}
	if *keep {
		say("running until Ctrl-C; try: %s --socket %s list-sas", self, a.socket)
		<-ctx.Done()
	}
	say("demo finished: the tunnel carried the ping (ESP: %d packets sealed, %d opened)", pktsOut, pktsIn)
	return nil
}

// demoNeedsRoot is what a user without root is told.
const demoNeedsRoot = "cygnet demo needs root (it creates two network namespaces, a veth pair and TUN devices): run it with sudo"

// demoEUID is os.Geteuid, replaceable in tests.
var demoEUID = os.Geteuid

// demoPings is how many echo requests the demo sends.
const demoPings = 3

// demoChildPackets returns the packets the demo's Child SA sealed and opened.
func demoChildPackets(socket string) (out, in uint64, err error) {
	resp, err := control.Call(socket, control.Request{Command: control.CmdListSAs}, callTimeout)
	if err != nil {
		return 0, 0, fmt.Errorf("list-sas after the ping: %w", err)
	}
	for _, sa := range resp.IKESAs {
		for _, c := range sa.ChildSAs {
			out, in = out+c.PacketsOut, in+c.PacketsIn
		}
	}
	return out, in, nil
}

func waitSocket(ctx context.Context, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := control.Call(path, control.Request{Command: control.CmdListConns}, time.Second); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer on %s within %v", path, timeout)
}
