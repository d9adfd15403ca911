package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/dataplane"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/sad"
)

// memPath is a PacketPath in memory: IKE messages go straight to the peer
// daemon's memPath, Child SAs are only recorded. Its panicSends and
// panicStats make the next calls panic, as a bug in the code they stand for
// would.
type memPath struct {
	local      netip.AddrPort
	peer       *memPath
	in         chan IKEDatagram
	panicSends atomic.Int32
	panicStats atomic.Int32

	mu        sync.Mutex
	installed int
	flushes   atomic.Int32 // FlushRoutes calls (routeFlusher)
}

func (p *memPath) FlushRoutes() { p.flushes.Add(1) }

func newMemPath(local string) *memPath {
	return &memPath{local: netip.MustParseAddrPort(local), in: make(chan IKEDatagram, 64)}
}

func (p *memPath) SendIKE(msg []byte, local, remote netip.AddrPort) error {
	if p.panicSends.Add(-1) >= 0 {
		panic("injected: SendIKE")
	}
	select {
	case p.peer.in <- IKEDatagram{Data: bytes.Clone(msg), Local: remote, Remote: local}:
	default: // a full queue loses the datagram, as a network would
	}
	return nil
}

func (p *memPath) Source(netip.AddrPort) (netip.AddrPort, error) { return p.local, nil }

func (p *memPath) InstallChildSA(*ike.ChildSA) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.installed++
	return nil
}

func (p *memPath) DeleteChildSA(*ike.ChildSA) {}
func (p *memPath) Counters(*ike.ChildSA) (bytesIn, packetsIn, bytesOut, packetsOut uint64) {
	return 0, 0, 0, 0
}
func (p *memPath) IKE() <-chan IKEDatagram         { return p.in }
func (p *memPath) Lifetimes() <-chan sad.Event     { return nil }
func (p *memPath) Expire(time.Time)                {}
func (p *memPath) ChildOf(sad.ID) (uint32, bool)   { return 0, false }
func (p *memPath) Protect([]*ike.PeerConfig) error { return nil }
func (p *memPath) Close() error                    { return nil }
func (p *memPath) Stats() dataplane.Stats {
	if p.panicStats.Add(-1) >= 0 {
		panic("injected: Stats")
	}
	return dataplane.Stats{InPackets: 7}
}

// syncBuffer is a log sink the daemon and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const memConf = `connections {
  tun {
    local_addrs = %s
    remote_addrs = %s
    proposals = aes128gcm16-prfsha256-x25519
    local {
      auth = psk
      id = %s.test
    }
    remote {
      auth = psk
      id = %s.test
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
  ike-1 {
    id-a = a.test
    id-b = b.test
    secret = panic-test-psk-0123456789
  }
}
`

// newMemDaemon builds a daemon on p with conf as its swanctl.conf, without
// running it. It retransmits quickly (an answer may be lost to an injected
// panic) and logs to log.
func newMemDaemon(t *testing.T, conf string, p *memPath, log *syncBuffer) (d *Daemon, socket string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(filepath.Join(dir, "strongswan.conf"), []byte("charon {\n  retransmit_timeout = 0.2\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(dir, "c.sock")
	d, err := New(Options{ConfigPath: path, SocketPath: socket, Log: slog.New(slog.NewTextHandler(log, nil))},
		func() (PacketPath, error) { return p, nil })
	if err != nil {
		t.Fatal(err)
	}
	return d, socket
}

// startMemDaemon runs a daemon on p until the test ends.
func startMemDaemon(t *testing.T, name, conf string, p *memPath) (socket string, log *syncBuffer) {
	t.Helper()
	log = &syncBuffer{}
	d, socket := newMemDaemon(t, conf, p, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: daemon did not stop", name)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := control.Call(socket, control.Request{Command: control.CmdListSAs}, time.Second); err == nil {
			return socket, log
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: control socket: %v", name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type panicStats struct {
	IKESAs   int `json:"ike_sas"`
	ChildSAs int `json:"child_sas"`
	Panics   struct {
		IKE     uint64 `json:"ike"`
		Control uint64 `json:"control"`
	} `json:"panics"`
	PacketsIn uint64 `json:"packets_in"`
}

func readStats(t *testing.T, socket string) panicStats {
	t.Helper()
	resp, err := control.Call(socket, control.Request{Command: control.CmdStats}, 5*time.Second)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	var st panicStats
	if err := json.Unmarshal(resp.Stats, &st); err != nil {
		t.Fatalf("stats %s: %v", resp.Stats, err)
	}
	return st
}

// A panic while handling one IKE message or one control request costs that
// message or request: the daemon logs it with its stack, counts it, and
// keeps serving every tunnel and the control socket.
func TestPanicInOneMessageOrRequestIsRecovered(t *testing.T) {
	pa, pb := newMemPath("192.0.2.1:500"), newMemPath("192.0.2.2:500")
	pa.peer, pb.peer = pb, pa
	// B's first answer (to A's IKE_SA_INIT) panics inside the IKE state
	// machine, as a bug while handling that message would.
	pb.panicSends.Store(1)
	sockB, logB := startMemDaemon(t, "b", fmt.Sprintf(memConf, "192.0.2.2", "192.0.2.1", "b", "a", "10.2.0.0/16", "10.1.0.0/16"), pb)
	sockA, logA := startMemDaemon(t, "a", fmt.Sprintf(memConf, "192.0.2.1", "192.0.2.2", "a", "b", "10.1.0.0/16", "10.2.0.0/16"), pa)

	// A retransmits; B, still running, answers and the tunnel comes up.
	if _, err := control.Call(sockA, control.Request{Command: control.CmdInitiate, Child: "net"}, 30*time.Second); err != nil {
		t.Fatalf("initiate after B's panic: %v\nB's log:\n%s", err, logB)
	}
	if !strings.Contains(logB.String(), "recovered from a panic while handling an IKE message") ||
		!strings.Contains(logB.String(), "injected: SendIKE") || !strings.Contains(logB.String(), "(*memPath).SendIKE") {
		t.Errorf("B's log lacks the panic, its value or its stack:\n%s", logB)
	}
	stB := readStats(t, sockB)
	if stB.Panics.IKE != 1 || stB.Panics.Control != 0 || stB.IKESAs != 1 || stB.ChildSAs != 1 {
		t.Errorf("B's stats after one IKE panic and the tunnel up: %+v", stB)
	}

	// A control request that panics is answered with an error; the next
	// one works and counts it.
	pa.panicStats.Store(1)
	_, err := control.Call(sockA, control.Request{Command: control.CmdStats}, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("stats that panicked: err %v, want an internal error", err)
	}
	stA := readStats(t, sockA)
	if stA.Panics.Control != 1 || stA.Panics.IKE != 0 || stA.IKESAs != 1 || stA.ChildSAs != 1 || stA.PacketsIn != 7 {
		t.Errorf("A's stats after one control panic: %+v", stA)
	}
	if !strings.Contains(logA.String(), "recovered from a panic while handling a control request") ||
		!strings.Contains(logA.String(), "(*memPath).Stats") {
		t.Errorf("A's log lacks the panic or its stack:\n%s", logA)
	}
	resp, err := control.Call(sockA, control.Request{Command: control.CmdListSAs}, 5*time.Second)
	if err != nil || len(resp.IKESAs) != 1 || len(resp.IKESAs[0].ChildSAs) != 1 || resp.IKESAs[0].ChildSAs[0].State != "INSTALLED" {
		t.Fatalf("list-sas after the panics: %v %+v", err, resp.IKESAs)
	}
}
