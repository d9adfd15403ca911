package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ikeSocketPair opens the IKE socket role on 127.0.0.1 (an ephemeral port)
// and a plain UDP socket to receive what it sends.
func ikeSocketPair(t *testing.T) (*socket, *net.UDPConn) {
	t.Helper()
	dp := &DataPlane{cfg: Config{Batch: 8}}
	s, err := dp.openSocket(sockUDP4IKE, false, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Skipf("no IKE socket on loopback: %v", err)
	}
	t.Cleanup(func() { s.conn.Close() })
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	return s, rx
}

func readDatagram(t *testing.T, rx *net.UDPConn) ([]byte, netip.AddrPort) {
	t.Helper()
	if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, from, err := rx.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("nothing received: %v", err)
	}
	return buf[:n], from
}

// TestSendIKEOnTheWire checks what sendIKE puts on the wire: the message,
// the non-ESP marker in front when asked, from the source address asked
// for, to the remote's port.
func TestSendIKEOnTheWire(t *testing.T) {
	s, rx := ikeSocketPair(t)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	own, err := s.conn.localAddr()
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte{0xa5, 0x17}, 150)

	if err := s.sendIKE(msg, false, netip.Addr{}, to); err != nil {
		t.Fatal(err)
	}
	got, from := readDatagram(t, rx)
	if !bytes.Equal(got, msg) || from != own {
		t.Errorf("got %d octets from %v, want the %d-octet message from %v", len(got), from, len(msg), own)
	}

	if err := s.sendIKE(msg[:40], true, netip.MustParseAddr("127.0.0.2"), to); err != nil {
		t.Fatal(err)
	}
	got, from = readDatagram(t, rx)
	want := append([]byte{0, 0, 0, 0}, msg[:40]...)
	if !bytes.Equal(got, want) {
		t.Errorf("with the marker: got % x, want % x", got, want)
	}
	if from.Addr() != netip.MustParseAddr("127.0.0.2") || from.Port() != own.Port() {
		t.Errorf("sent from %v, want 127.0.0.2:%d (packet info)", from, own.Port())
	}

	// A family the socket does not have is an error with the peer in it,
	// not a panic or a silent drop.
	if err := s.sendIKE(msg, false, netip.Addr{}, netip.MustParseAddrPort("[2001:db8::1]:500")); err == nil {
		t.Error("an IPv6 peer on the IPv4 socket: no error")
	}
}

// TestSendIKEWaitsWhenFull checks that a send the kernel refuses for a full
// socket (EAGAIN) is not lost: sendIKE waits for the poller to find the
// socket writable and sends it then, once.
func TestSendIKEWaitsWhenFull(t *testing.T) {
	s, rx := ikeSocketPair(t)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	// A real full socket becomes writable when the kernel frees a datagram
	// it held; the poller learns it from that edge. The fake EAGAIN makes
	// one: a datagram to another socket, freed as loopback delivers it.
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var sa unix.SockaddrInet4
	sa.Addr = [4]byte{127, 0, 0, 1}
	sa.Port = other.LocalAddr().(*net.UDPAddr).Port
	calls := 0
	ikeSendmmsg = func(fd uintptr, hdrs []unix.Mmsghdr) (int, bool, error) {
		calls++
		if calls == 1 {
			if err := unix.Sendto(int(fd), []byte("filler"), unix.MSG_DONTWAIT, &sa); err != nil {
				t.Errorf("filler: %v", err)
			}
			return 0, true, nil
		}
		return sendmmsg(fd, hdrs)
	}
	t.Cleanup(func() { ikeSendmmsg = sendmmsg })
	msg := []byte("a whole IKE message")
	sent := make(chan error, 1)
	go func() { sent <- s.sendIKE(msg, false, netip.Addr{}, to) }()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sendIKE still waits 5 s after the socket became writable")
	}
	if calls != 2 {
		t.Errorf("%d send attempts, want 2 (EAGAIN, then the send)", calls)
	}
	if got, _ := readDatagram(t, rx); !bytes.Equal(got, msg) {
		t.Errorf("got %q, want %q", got, msg)
	}
	if err := rx.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := rx.ReadFromUDPAddrPort(make([]byte, 100)); err == nil {
		t.Errorf("a second datagram of %d octets arrived", n)
	}
}

// TestSendIKEAllocatesNothing: a reply is sent without garbage.
func TestSendIKEAllocatesNothing(t *testing.T) {
	s, rx := ikeSocketPair(t)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := make([]byte, 300)
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := rx.Read(buf); err != nil {
				return
			}
		}
	}()
	if a := testing.AllocsPerRun(100, func() {
		if err := s.sendIKE(msg, true, netip.MustParseAddr("127.0.0.1"), to); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%v allocations per send, want 0", a)
	}
}
