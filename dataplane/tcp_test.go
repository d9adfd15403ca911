package dataplane

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/spd"
	"github.com/cygnet-ipsec/cygnet/tcpencap"
)

// ikeIn is an IKE message a data plane handed to IKE.
type ikeIn struct {
	b             []byte
	local, remote netip.AddrPort
}

// startIKEOnly starts a data plane without SAs in ns that reports IKE
// messages on the returned channel.
func startIKEOnly(t *testing.T, ns string, cfg Config) (*DataPlane, chan ikeIn) {
	t.Helper()
	got := make(chan ikeIn, 16)
	cfg.TUNName = "cy0"
	cfg.SPD = &spd.DB{}
	cfg.IKE = func(b []byte, l, r netip.AddrPort) { got <- ikeIn{bytes.Clone(b), l, r} }
	var dp *DataPlane
	if err := testnet.InNamespace(ns, func() error {
		var err error
		dp, err = New(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	dp.Start()
	return dp, got
}

// fakeIKE is an IKE message as far as the framing cares: an IKE header's
// length with SPIs that are not zero.
func fakeIKE(tag byte, n int) []byte {
	m := bytes.Repeat([]byte{tag}, n)
	binary.BigEndian.PutUint32(m[24:], uint32(n))
	return m
}

func waitIKE(t *testing.T, got chan ikeIn) ikeIn {
	t.Helper()
	select {
	case g := <-got:
		return g
	case <-time.After(5 * time.Second):
		t.Fatal("no IKE message within 5 s")
	}
	return ikeIn{}
}

// readN reads exactly n octets from c within a deadline.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d octets: %v", n, err)
	}
	return b
}

func frame(t *testing.T, msg []byte) []byte {
	t.Helper()
	f, err := tcpencap.AppendIKE(nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestNetnsTCPResponder speaks RFC 9329 to a data plane's TCP listener from
// a plain TCP socket and checks the octets both ways: the prefix and the
// framed IKE message reach IKE with the connection's addresses, the answer
// comes back framed with the non-ESP marker and no prefix, an identical
// answer (IKE's retransmission) is not sent twice on one connection,
// unknown ESP is dropped without losing the stream, a broken Length or a
// missing prefix closes the connection, and the responder never connects
// back to a peer whose connection is gone.
func TestNetnsTCPResponder(t *testing.T) {
	testnet.RequireRoot(t)
	for _, b := range []netip.Addr{testnet.UnderlayB, testnet.UnderlayB6} {
		t.Run(b.String(), func(t *testing.T) { tcpResponder(t, b) })
	}
}

func tcpResponder(t *testing.T, addrB netip.Addr) {
	p := testnet.NewPair(t, testnet.PairOptions{})
	dpB, got := startIKEOnly(t, p.B, Config{})
	server := netip.AddrPortFrom(addrB, DefaultNATTPort)
	dial := func() net.Conn {
		var c net.Conn
		if err := testnet.InNamespace(p.A, func() error {
			var err error
			c, err = net.DialTimeout("tcp", server.String(), 5*time.Second)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	client := netip.MustParseAddrPort(c.LocalAddr().String())

	req := fakeIKE(0x11, 60)
	// an ESP frame for an SPI B does not know first: dropped, stream kept
	esp := bytes.Repeat([]byte{0xee}, 40)
	espFrame, _ := tcpencap.AppendESP(nil, esp)
	if _, err := c.Write(append(append([]byte(tcpencap.Prefix), espFrame...), frame(t, req)...)); err != nil {
		t.Fatal(err)
	}
	g := waitIKE(t, got)
	if !bytes.Equal(g.b, req) || g.local != server || g.remote != client {
		t.Fatalf("B's IKE got %x from %v on %v, want %x from %v on %v", g.b, g.remote, g.local, req, client, server)
	}
	if s := dpB.Stats(); s.NoSA != 1 {
		t.Errorf("unknown ESP over TCP: NoSA %d, want 1", s.NoSA)
	}

	resp, resp2 := fakeIKE(0x22, 80), fakeIKE(0x33, 90)
	for _, m := range [][]byte{resp, resp, resp2} {
		if err := dpB.SendIKE(m, g.local, g.remote); err != nil {
			t.Fatal(err)
		}
	}
	want := append(frame(t, resp), frame(t, resp2)...)
	if b := readN(t, c, len(want)); !bytes.Equal(b, want) {
		t.Fatalf("B sent\n%x\nwant (no prefix, one copy of the repeated answer)\n%x", b, want)
	}
	if s := dpB.Stats(); s.TCPRetransmits != 1 {
		t.Errorf("TCPRetransmits %d, want 1", s.TCPRetransmits)
	}

	// A Length below 2 breaks the stream: B closes the connection.
	if _, err := c.Write([]byte{0, 1}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d octets after a broken frame, want the connection closed", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("B kept the connection after a Length of 1")
	}
	// The responder never opens a connection: sending to the gone peer fails.
	err := waitFor(5*time.Second, func() bool { return dpB.SendIKE(resp2, g.local, g.remote) != nil })
	if err != nil {
		t.Fatalf("SendIKE to a peer whose TCP connection closed did not fail")
	}
	if e := dpB.SendIKE(fakeIKE(0x44, 30), g.local, g.remote); e == nil || !strings.Contains(e.Error(), "closed") {
		t.Errorf("SendIKE to a closed peer: %v", e)
	}

	// Without the prefix nothing reaches IKE and the connection closes.
	c2 := dial()
	if _, err := c2.Write(append([]byte("IKETCX"), frame(t, req)...)); err != nil {
		t.Fatal(err)
	}
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatal("B answered a connection without the stream prefix")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("B kept a connection without the stream prefix")
	}
	select {
	case g := <-got:
		t.Fatalf("IKE got %x from a connection without the prefix", g.b)
	default:
	}
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return io.ErrNoProgress
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// TestNetnsTCPInitiator checks the initiator's side against a plain TCP
// listener: with TCPAlways the first IKE message opens a connection that
// starts with the prefix; answers reach IKE with the addresses IKE used;
// when the gateway closes the connection, the next message opens a new one
// (with the prefix again). With TCPFallback the first message goes over
// UDP, an unanswered retransmission over TCP, and an answer over UDP keeps
// the gateway on UDP.
func TestNetnsTCPInitiator(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	var ln net.Listener
	var udp net.PacketConn
	if err := testnet.InNamespace(p.B, func() error {
		var err error
		if ln, err = net.Listen("tcp", netip.AddrPortFrom(testnet.UnderlayB, 4500).String()); err != nil {
			return err
		}
		udp, err = net.ListenPacket("udp", netip.AddrPortFrom(testnet.UnderlayB, 500).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); udp.Close() })
	dpA, got := startIKEOnly(t, p.A, Config{NoTCP: true})
	gw := netip.AddrPortFrom(testnet.UnderlayB, 500)
	local, err := dpA.Source(gw)
	if err != nil {
		t.Fatal(err)
	}
	accept := func() net.Conn {
		t.Helper()
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() { c, err := ln.Accept(); ch <- res{c, err} }()
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatal(r.err)
			}
			t.Cleanup(func() { r.c.Close() })
			return r.c
		case <-time.After(5 * time.Second):
			t.Fatal("A opened no TCP connection")
		}
		return nil
	}

	dpA.SetTCPGateways(map[netip.Addr]TCPGateway{testnet.UnderlayB: {Mode: TCPAlways}})
	m1 := fakeIKE(0x51, 40)
	if err := dpA.SendIKE(m1, local, gw); err != nil {
		t.Fatal(err)
	}
	c := accept()
	want := append([]byte(tcpencap.Prefix), frame(t, m1)...)
	if b := readN(t, c, len(want)); !bytes.Equal(b, want) {
		t.Fatalf("A's connection starts with\n%x\nwant\n%x", b, want)
	}
	answer := fakeIKE(0x52, 50)
	if _, err := c.Write(frame(t, answer)); err != nil {
		t.Fatal(err)
	}
	if g := waitIKE(t, got); !bytes.Equal(g.b, answer) || g.local != local || g.remote != gw {
		t.Fatalf("A's IKE got %x on %v from %v, want %x on %v from %v", g.b, g.local, g.remote, answer, local, gw)
	}
	// The gateway goes away; the next message opens a new connection.
	c.Close()
	m2 := fakeIKE(0x53, 40)
	var c2 net.Conn
	if err := waitFor(5*time.Second, func() bool {
		if err := dpA.SendIKE(m2, local, gw); err != nil {
			return false
		}
		_, _, up := dpA.TCPPeer(testnet.UnderlayB)
		return !up // sent on the old connection until A saw it close
	}); err != nil {
		t.Fatal("A still holds the closed connection")
	}
	if err := dpA.SendIKE(m2, local, gw); err != nil {
		t.Fatal(err)
	}
	c2 = accept()
	want = append([]byte(tcpencap.Prefix), frame(t, m2)...)
	if b := readN(t, c2, len(want)); !bytes.Equal(b, want) {
		t.Fatalf("A's second connection starts with\n%x\nwant\n%x", b, want)
	}

	// Fallback: UDP first; a message after the fallback time over TCP.
	other := fakeIKE(0x61, 40)
	dpA.SetTCPGateways(nil)
	dpA.SetTCPGateways(map[netip.Addr]TCPGateway{testnet.UnderlayB: {Mode: TCPFallback, After: time.Nanosecond}})
	readUDP := func() []byte {
		t.Helper()
		_ = udp.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 2048)
		n, _, err := udp.ReadFrom(b)
		if err != nil {
			t.Fatalf("no IKE over UDP: %v", err)
		}
		return b[:n]
	}
	if err := dpA.SendIKE(other, local, gw); err != nil {
		t.Fatal(err)
	}
	if b := readUDP(); !bytes.Equal(b, other) {
		t.Fatalf("first message in fallback mode: UDP %x", b)
	}
	// An answer over UDP keeps the gateway on UDP.
	if _, err := udp.WriteTo(answer, net.UDPAddrFromAddrPort(local)); err != nil {
		t.Fatal(err)
	}
	waitIKE(t, got)
	if err := dpA.SendIKE(other, local, gw); err != nil {
		t.Fatal(err)
	}
	if b := readUDP(); !bytes.Equal(b, other) {
		t.Fatalf("after a UDP answer: UDP %x", b)
	}
	// Unanswered beyond the fallback time: TCP.
	if err := dpA.SendIKE(other, local, gw); err != nil {
		t.Fatal(err)
	}
	c3 := accept()
	want = append([]byte(tcpencap.Prefix), frame(t, other)...)
	if b := readN(t, c3, len(want)); !bytes.Equal(b, want) {
		t.Fatalf("fallback connection starts with\n%x\nwant\n%x", b, want)
	}
}

// TestNetnsTCPTunnel carries a tunnel's ESP over TCP between two data
// planes: A reaches B as a TCP gateway, B answers on the connection A
// opened (its peer taken from the first authentic ESP packet). Ping and a
// transfer go through, A's veth shows neither ESP nor ESP in UDP, and
// neither side sends NAT-keepalives (500 ms apart in this test).
func TestNetnsTCPTunnel(t *testing.T) {
	testnet.RequireRoot(t)
	p, sa, sb := tunnelPair(t, true, false, 0)
	sa.dp.SetTCPGateways(map[netip.Addr]TCPGateway{testnet.UnderlayB: {Mode: TCPAlways}})
	// The first packet opens the connection and is dropped meanwhile.
	// Until B has an authentic ESP packet on it, B's SAs (installed
	// here before any connection, unlike the daemon's) still point at
	// UDP: the capture starts once B answers over TCP.
	if err := waitFor(10*time.Second, func() bool {
		r, _ := testnet.TryPing(p.A, testnet.HostA, testnet.HostB, 1)
		return r.Received == 1
	}); err != nil {
		t.Fatal("no ping reply over TCP")
	}
	keepalives := sa.dp.Stats().Keepalives
	capt := p.Capture(p.A)
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 3)
	testnet.PingFrom(t, p.B, testnet.HostB6, testnet.HostA6, 3)
	res := testnet.TCPTransfer(t, p.A, p.B, testnet.HostB, 4<<20)
	t.Logf("ESP over TCP: %.0f Mbit/s", res.Mbps())
	// An SA that went over TCP never falls back to UDP: with the
	// connection killed and A no longer told to reach B over TCP (B
	// never connects), both sides drop rather than send ESP in UDP.
	sa.dp.SetTCPGateways(nil)
	p.Exec(p.A, "ss", "-K", "dst", testnet.UnderlayB.String(), "dport", "= :4500")
	if err := waitFor(5*time.Second, func() bool { _, _, up := sb.dp.TCPPeer(testnet.UnderlayA); return !up }); err != nil {
		t.Fatal("B still has a connection from A")
	}
	for _, c := range []struct {
		ns       string
		src, dst netip.Addr
	}{{p.A, testnet.HostA, testnet.HostB}, {p.B, testnet.HostB, testnet.HostA}} {
		if r, _ := testnet.TryPing(c.ns, c.src, c.dst, 2); r.Received != 0 {
			t.Errorf("ping %v -> %v answered with no TCP connection: %s", c.src, c.dst, r.Output)
		}
	}
	path, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tcp, udp, esp int
	for _, pkt := range pc.Packets {
		d := testnet.ClassifyPacket(pc.LinkType, pkt.Data, testnet.ProtectedSubnets())
		switch {
		case d.Class == testnet.ClassPlaintext:
			t.Errorf("plaintext on A's veth: %s", d)
		case d.Proto == 6 && (d.SrcPort == 4500 || d.DstPort == 4500):
			tcp++
		case d.Proto == 17:
			udp++
		case d.Proto == 50:
			esp++
		}
	}
	t.Logf("A's veth: %d TCP/4500, %d UDP, %d ESP", tcp, udp, esp)
	if tcp == 0 || udp+esp != 0 {
		t.Errorf("A's veth: %d TCP/4500, %d UDP, %d ESP; want only TCP", tcp, udp, esp)
	}
	if k := sa.dp.Stats().Keepalives; k != keepalives {
		t.Errorf("A received %d NAT-keepalives with ESP over TCP", k-keepalives)
	}
	if k := sb.dp.Stats().Keepalives; k != 0 {
		t.Errorf("B received %d NAT-keepalives", k)
	}
	for _, s := range []*nsSite{sa, sb} {
		st := s.dp.Stats()
		if st.AuthFailed+st.Replay+st.Malformed+st.PolicyMismatch != 0 {
			t.Errorf("%s: %+v", s.ns, st)
		}
		if c := s.dp.inbound(ipsec.ProtoESP, s.site.in.SPI()).Counters(); c.Packets == 0 {
			t.Errorf("%s: inbound SA counted nothing", s.ns)
		}
	}
}
