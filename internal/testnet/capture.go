package testnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// captureMarkerPort is the UDP port (discard) of the end-of-capture marker.
const captureMarkerPort = 9

// Capture is a tcpdump running on one interface of a namespace, writing a
// pcap file.
type Capture struct {
	// NS and Iface are where it captures; Path is the pcap file.
	NS, Iface, Path string

	t       testing.TB
	proc    *Process
	marker  []byte
	stopped bool
	result  error
}

// StartCapture starts tcpdump on iface in namespace ns (immediate mode,
// packet-buffered, 512-byte snapshots) and waits until it is listening.
// An optional BPF filter may follow. Stop it with Stop; cleanup stops it
// otherwise.
func StartCapture(t testing.TB, ns, iface string, filter ...string) *Capture {
	t.Helper()
	RequireTools(t, "tcpdump")
	dir := t.TempDir()
	c := &Capture{NS: ns, Iface: iface, Path: filepath.Join(dir, ns+"-"+iface+".pcap"), t: t}
	tok := make([]byte, 8)
	if _, err := rand.Read(tok); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	c.marker = []byte("cygnet-capture-end:" + hex.EncodeToString(tok))
	// -Z root: Debian's tcpdump would otherwise drop to user tcpdump and
	// fail to write into the test's root-only temporary directory.
	args := []string{"tcpdump", "-n", "-i", iface, "-U", "--immediate-mode", "-s", "512", "-Z", "root", "-w", c.Path}
	args = append(args, filter...)
	c.proc = StartProcess(t, ns, args...)
	t.Cleanup(func() {
		if !c.stopped {
			if _, err := c.Stop(); err != nil {
				t.Errorf("testnet: %v", err)
			}
		}
	})
	err := pollUntil(10*time.Second, 20*time.Millisecond, func() (bool, error) {
		if strings.Contains(c.proc.Output(), "listening on") {
			return true, nil
		}
		if c.proc.Exited() {
			return false, fmt.Errorf("tcpdump exited: %s", strings.TrimSpace(c.proc.Output()))
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("testnet: capture on %s/%s: %v", ns, iface, err)
	}
	return c
}

// Capture starts a capture on the underlay interface of namespace ns (p.A
// or p.B); see StartCapture.
func (p *Pair) Capture(ns string, filter ...string) *Capture {
	p.t.Helper()
	var iface string
	switch ns {
	case p.A:
		iface = p.IfA
	case p.B:
		iface = p.IfB
	default:
		p.t.Fatalf("testnet: Pair.Capture(%q): want %s or %s (use StartCapture for the router)", ns, p.A, p.B)
	}
	return StartCapture(p.t, ns, iface, filter...)
}

// Stop ends the capture deterministically: it sends a marker datagram out
// of the interface, waits until tcpdump has written it (so every packet
// sent before Stop is in the file), stops tcpdump and cuts the marker and
// anything after it from the file. It returns the pcap path. Calling Stop
// again returns the first result.
func (c *Capture) Stop() (string, error) {
	if c.stopped {
		return c.Path, c.result
	}
	c.stopped = true
	c.result = c.stop()
	return c.Path, c.result
}

func (c *Capture) stop() error {
	var markerOff = -1
	var lastErr error
	// Up to 3 markers: a datagram can be lost while the link resolves.
	for attempt := 0; attempt < 3 && markerOff < 0; attempt++ {
		if err := c.sendMarker(); err != nil {
			lastErr = err
			break
		}
		_ = pollUntil(2*time.Second, 10*time.Millisecond, func() (bool, error) {
			markerOff = c.findMarker()
			return markerOff >= 0 || c.proc.Exited(), nil
		})
	}
	if err := c.proc.Stop(); err != nil {
		return fmt.Errorf("stop tcpdump: %w", err)
	}
	if markerOff < 0 {
		markerOff = c.findMarker()
	}
	if markerOff < 0 {
		// without the marker the capture may miss its last packets
		if lastErr == nil {
			lastErr = errors.New("marker never reached the capture")
		}
		return fmt.Errorf("capture %s/%s: %w (tcpdump said: %s)", c.NS, c.Iface, lastErr, strings.TrimSpace(c.proc.Output()))
	}
	if err := os.Truncate(c.Path, int64(markerOff)); err != nil {
		return fmt.Errorf("cut capture marker: %w", err)
	}
	return nil
}

// findMarker returns the file offset of the marker record, or -1.
func (c *Capture) findMarker() int {
	p, err := ReadPcapFile(c.Path)
	if p == nil || (err != nil && !errors.Is(err, ErrTruncatedPcap)) {
		return -1
	}
	for _, pkt := range p.Packets {
		d := ClassifyPacket(p.LinkType, pkt.Data, nil)
		if d.Proto == protoUDP && d.DstPort == captureMarkerPort && bytes.HasPrefix(d.Payload, c.marker) {
			return pkt.Offset
		}
	}
	return -1
}

// sendMarker broadcasts the marker out of the captured interface
// (SO_BINDTODEVICE, 255.255.255.255): no address resolution, no reply.
func (c *Capture) sendMarker() error {
	return InNamespace(c.NS, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, c.Iface)
				if serr == nil {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}}
		pc, err := lc.ListenPacket(context.Background(), "udp4", ":0")
		if err != nil {
			return fmt.Errorf("marker socket: %w", err)
		}
		defer pc.Close()
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), captureMarkerPort))
		if _, err := pc.WriteTo(c.marker, dst); err != nil {
			return fmt.Errorf("send marker: %w", err)
		}
		return nil
	})
}

// Summary stops the capture if needed and classifies its packets.
func (c *Capture) Summary(protected ...netip.Prefix) (CaptureSummary, error) {
	if _, err := c.Stop(); err != nil {
		return CaptureSummary{}, err
	}
	p, err := ReadPcapFile(c.Path)
	if err != nil {
		return CaptureSummary{}, err
	}
	return Summarize(p, protected), nil
}

// AssertOnlyEncrypted reads a pcap file and fails the test if any packet
// between the given protected subnets (ProtectedSubnets() when none are
// given) crossed the wire in clear, or if the file holds no ESP at all. It
// returns the summary for further checks.
func AssertOnlyEncrypted(t testing.TB, pcapPath string, protected ...netip.Prefix) CaptureSummary {
	t.Helper()
	if len(protected) == 0 {
		protected = ProtectedSubnets()
	}
	p, err := ReadPcapFile(pcapPath)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	s := Summarize(p, protected)
	if s.Plaintext > 0 {
		var b strings.Builder
		for _, d := range s.PlaintextSamples {
			b.WriteString("\n  " + d.String())
		}
		t.Errorf("testnet: %s: %d plaintext packets between protected subnets:%s", pcapPath, s.Plaintext, b.String())
	}
	if s.Encrypted() == 0 {
		t.Errorf("testnet: %s: no ESP packets at all (%s)", pcapPath, s)
	}
	return s
}

// AssertOnlyAH is AssertOnlyEncrypted for AH tunnels: no plaintext between
// the protected subnets, some AH (IP protocol 51) packets, and no ESP at all.
func AssertOnlyAH(t testing.TB, pcapPath string, protected ...netip.Prefix) CaptureSummary {
	t.Helper()
	p, err := ReadPcapFile(pcapPath)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	s := Summarize(p, protected)
	if s.Plaintext > 0 {
		var b strings.Builder
		for _, d := range s.PlaintextSamples {
			b.WriteString("\n  " + d.String())
		}
		t.Errorf("testnet: %s: %d plaintext packets between protected subnets:%s", pcapPath, s.Plaintext, b.String())
	}
	if s.AH == 0 || s.Encrypted() != 0 {
		t.Errorf("testnet: %s: want AH packets only, capture has %d AH, %d ESP, %d ESP-in-UDP", pcapPath, s.AH, s.ESP, s.ESPInUDP)
	}
	return s
}
