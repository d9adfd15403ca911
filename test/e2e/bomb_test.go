package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// daemonRuntime asks a cygnet daemon for its IKE counters and its runtime
// memory figures (stats' "runtime" section).
func daemonRuntime(t *testing.T, c *cygnet) (ike map[string]uint64, totalAlloc, heapAlloc uint64) {
	t.Helper()
	resp, err := control.Call(c.socket, control.Request{Command: control.CmdStats}, 5*time.Second)
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	var st struct {
		IKE     map[string]uint64 `json:"ike"`
		Runtime struct {
			HeapAlloc  *uint64 `json:"heap_alloc_bytes"`
			TotalAlloc *uint64 `json:"total_alloc_bytes"`
		} `json:"runtime"`
	}
	if err := json.Unmarshal(resp.Stats, &st); err != nil || st.IKE == nil || st.Runtime.TotalAlloc == nil || st.Runtime.HeapAlloc == nil {
		t.Fatalf("stats without IKE counters or runtime memory figures: %s (%v)", resp.Stats, err)
	}
	return st.IKE, *st.Runtime.TotalAlloc, *st.Runtime.HeapAlloc
}

// bombSender sends unauthenticated IKE_SA_INIT requests to B's UDP port 500
// from namespace A: over a UDP socket (the kernel fragments what exceeds the
// MTU, and B's kernel reassembles it into one datagram of up to 64 KB), or
// over a raw socket from a spoofed source address.
type bombSender struct {
	t    *testing.T
	udp  *net.UDPConn
	raw  int
	dst  netip.Addr
	spis uint64
}

func newBombSender(t *testing.T, ns string, src, dst netip.Addr) *bombSender {
	t.Helper()
	s := &bombSender{t: t, dst: dst, spis: 0xb0b0_0000}
	err := testnet.InNamespace(ns, func() error {
		var err error
		// An ephemeral port: port 500 belongs to the real peer started later.
		if s.udp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))); err != nil {
			return err
		}
		s.raw, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		t.Fatalf("sockets in %s: %v", ns, err)
	}
	t.Cleanup(func() { s.udp.Close(); unix.Close(s.raw) })
	return s
}

// nextSPI gives every request its own initiator SPI.
func (s *bombSender) nextSPI() uint64 { s.spis++; return s.spis }

func (s *bombSender) sendUDP(msg []byte) {
	s.t.Helper()
	if _, err := s.udp.WriteToUDPAddrPort(msg, netip.AddrPortFrom(s.dst, 500)); err != nil {
		s.t.Fatalf("send %d bytes: %v", len(msg), err)
	}
}

// sendSpoofed sends msg from src (port 500) through the raw socket.
func (s *bombSender) sendSpoofed(src netip.Addr, msg []byte) {
	s.t.Helper()
	pkt := make([]byte, 28+len(msg))
	ip := pkt[:20]
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP // total length and checksum: the kernel fills them in
	a, d := src.As4(), s.dst.As4()
	copy(ip[12:16], a[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(pkt[20:], 500)
	binary.BigEndian.PutUint16(pkt[22:], 500)
	binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(msg))) // checksum 0: none, fine over IPv4
	copy(pkt[28:], msg)
	if err := unix.Sendto(s.raw, pkt, 0, &unix.SockaddrInet4{Addr: d}); err != nil {
		s.t.Fatalf("raw send of %d bytes: %v", len(pkt), err)
	}
}

// sync sends a small well-formed IKE_SA_INIT whose proposal B does not
// accept and waits for its NO_PROPOSAL_CHOSEN: B handles IKE messages in
// order, so by then it has handled everything sent before.
func (s *bombSender) sync(timeout time.Duration) error {
	spi := s.nextSPI()
	s.sendUDP(alloctest.InitWith(spi, 0, alloctest.Payload{}))
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for {
		if err := s.udp.SetReadDeadline(deadline); err != nil {
			return err
		}
		n, err := s.udp.Read(buf)
		if err != nil {
			return fmt.Errorf("no answer to the marker request within %v: %w", timeout, err)
		}
		if n >= 28 && binary.BigEndian.Uint64(buf[:8]) == spi && buf[19]&0x20 != 0 {
			return nil
		}
	}
}

// TestPreAuthAllocationBomb sends a cygnet responder the messages that made
// its IKE parser allocate far more than their size before any cookie or
// authentication: the Delete bomb (Delete payloads with SPI size 0 and
// 65535 SPIs; 1.5 KB cost 220 MB) from spoofed sources, 60 KB variants that
// travel as IP fragments (the old parser needed 11.7 GB for one), one that
// ends with an SKF fragment payload, and 60 KB requests stuffed with every
// other payload whose parsed form is larger than its wire form (empty
// payloads, traffic selectors, configuration attributes, one-octet SPIs,
// transforms full of attributes). The daemon's total allocation, from its
// stats, must grow by less than 1 MB per message, and afterwards a
// strongSwan peer still gets its tunnel.
func TestPreAuthAllocationBomb(t *testing.T) {
	testnet.RequireStrongSwan(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	floodRoutes(t, p)
	confA, confB := pairConfigs("psk")
	b := startCygnet(t, p.B, confB.Swanctl(), nil, "")
	warmUnderlay(t, p, testnet.UnderlayB)
	s := newBombSender(t, p.A, testnet.UnderlayA, testnet.UnderlayB)
	if err := s.sync(10 * time.Second); err != nil {
		t.Fatalf("daemon does not answer a plain IKE_SA_INIT: %v", err)
	}

	type attack struct {
		name      string
		count     int
		malformed bool // refused as malformed, as opposed to parsed and answered
		send      func(i int)
		size      int // for the amplifiers that parse: the bound is linear in it, 1 MB otherwise
	}
	spoofedSrc := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 99, 200, byte(i + 1)}) }
	withSKF := func(size int) []byte {
		// The Delete bomb, then an SKF payload (fragment 1 of 2) as the last
		// payload: what a fragment arriving before any SA exists carries.
		m := alloctest.InitWith(s.nextSPI(), size-12, alloctest.DeleteBomb())
		m = append(m, 0, 0, 0, 12, 0, 1, 0, 2, 0xde, 0xad, 0xbe, 0xef)
		// Chain it: the last payload (the nonce) now points to SKF (53).
		last := lastPayloadOffset(m)
		m[last] = 53
		binary.BigEndian.PutUint32(m[24:28], uint32(len(m)))
		return m
	}
	attacks := []attack{
		{"delete-bomb-1440-spoofed", 20, true, func(i int) {
			s.sendSpoofed(spoofedSrc(i), alloctest.InitWith(s.nextSPI(), 1440, alloctest.DeleteBomb())) // fits a 1500-octet MTU
		}, 0},
		{"delete-bomb-60000-ip-fragmented", 5, true, func(int) {
			s.sendUDP(alloctest.InitWith(s.nextSPI(), 60000, alloctest.DeleteBomb()))
		}, 0},
		{"delete-bomb-with-skf-60000", 5, true, func(int) { s.sendUDP(withSKF(60000)) }, 0},
	}
	amps := alloctest.Amplifiers(60000)
	names := make([]string, 0, len(amps))
	for name := range amps {
		if name != "delete-bomb" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		attacks = append(attacks, attack{name + "-60000", 5, false, func(int) {
			m := amps[name]
			binary.BigEndian.PutUint64(m[:8], s.nextSPI())
			s.sendUDP(m)
		}, len(amps[name])})
	}

	for _, a := range attacks {
		ike0, total0, heap0 := daemonRuntime(t, b)
		start := time.Now()
		for i := range a.count {
			a.send(i)
		}
		if err := s.sync(30 * time.Second); err != nil {
			t.Fatalf("%s: after %d messages the daemon %v", a.name, a.count, err)
		}
		took := time.Since(start)
		ike1, total1, heap1 := daemonRuntime(t, b)
		per := (total1 - total0) / uint64(a.count)
		malformed := ike1["malformed"] - ike0["malformed"]
		t.Logf("%-34s %2d messages in %6v: daemon allocated %9d bytes (%7d per message), heap %d -> %d, malformed +%d",
			a.name, a.count, took.Round(time.Millisecond), total1-total0, per, heap0, heap1, malformed)
		// The Delete bomb and its variants are refused at once: under 1 MB
		// each. Messages that do parse cost their parsed form, a small
		// multiple of their size (traffic selectors of 4 octets, the densest,
		// take about 20 octets each).
		limit, what := uint64(1<<20), "1 MB"
		if a.size > 0 {
			limit, what = 256<<10+24*uint64(a.size), fmt.Sprintf("256 KiB + 24 per octet of the %d-octet message", a.size)
		}
		if per >= limit {
			t.Errorf("%s: the daemon allocated %d bytes per message, want less than %s", a.name, per, what)
		}
		if a.malformed && malformed != uint64(a.count) {
			t.Errorf("%s: malformed counter grew by %d for %d messages", a.name, malformed, a.count)
		}
	}
	if ike, _, _ := daemonRuntime(t, b); ike["ike_sas"] != 0 || ike["half_open"] != 0 {
		t.Errorf("the attack left state behind: %d IKE SAs, %d half-open", ike["ike_sas"], ike["half_open"])
	}

	// A real peer still gets its tunnel.
	peer := startEnd(t, implStrongSwan, p.A, confA.Swanctl(), nil, "a")
	up, err := peer.initiate("tun", "net")
	if err != nil {
		t.Fatalf("strongSwan could not connect after the attack: %v", err)
	}
	if _, err := (cygnetEnd{b}).view("net", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 2)
	t.Logf("strongSwan connected after the attack in %v", up.Round(time.Millisecond))
}

// lastPayloadOffset returns the offset of the last payload's generic header
// in an IKE message, or 16 (the header's Next Payload octet) when there is
// none.
func lastPayloadOffset(m []byte) int {
	next, off, last := m[16], 28, 16
	for next != 0 && off+4 <= len(m) {
		last = off
		next = m[off]
		off += int(binary.BigEndian.Uint16(m[off+2:]))
	}
	return last
}
