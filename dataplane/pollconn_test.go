package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// epollWatches lists, from /proc/self/fdinfo, the events each epoll
// instance of this process watches fd for.
func epollWatches(t *testing.T, fd int) []uint32 {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []uint32
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); l != "anon_inode:[eventpoll]" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[0] == "tfd:" && f[1] == strconv.Itoa(fd) && f[2] == "events:" {
				ev, err := strconv.ParseUint(f[3], 16, 32)
				if err != nil {
					t.Fatalf("fdinfo line %q: %v", line, err)
				}
				out = append(out, uint32(ev))
			}
		}
	}
	return out
}

// TestPollConnNoOutputWakeups checks that the data plane's sockets are
// watched for input only: a socket watched for output wakes the Go
// poller each time the kernel frees one of its sent packets.
func TestPollConnNoOutputWakeups(t *testing.T) {
	for _, role := range []int{sockUDP4IKE, sockUDP4NATT, sockESP4} {
		t.Run(fmt.Sprint(role), func(t *testing.T) {
			dp := &DataPlane{cfg: Config{Batch: 8}}
			s, err := dp.openSocket(role, false, netip.MustParseAddr("127.0.0.1"))
			if err != nil {
				if role == sockESP4 && errors.Is(err, unix.EPERM) {
					t.Skipf("raw socket: %v (needs CAP_NET_RAW)", err)
				}
				t.Fatal(err)
			}
			defer s.conn.Close()
			w := epollWatches(t, s.conn.fd)
			if len(w) != 1 {
				t.Fatalf("socket watched by %d epoll instances (%x), want 1", len(w), w)
			}
			if w[0]&unix.EPOLLIN == 0 || w[0]&unix.EPOLLOUT != 0 {
				t.Errorf("socket watched for events %#x, want EPOLLIN without EPOLLOUT", w[0])
			}
		})
	}
}

// TestPollConnReadWaitsAndCloses checks a read that waits: it returns the
// datagram sent after it began waiting, and a waiting read returns
// net.ErrClosed when the socket closes.
func TestPollConnReadWaitsAndCloses(t *testing.T) {
	c, err := listenPoll(false, unix.SOCK_DGRAM, 0, netip.MustParseAddr("127.0.0.1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	own, err := c.localAddr()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(own))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	buf := make([]byte, 64)
	type result struct {
		n   int
		err error
	}
	read := func() <-chan result {
		done := make(chan result, 1)
		go func() {
			n := 0
			err := c.Read(func(fd uintptr) bool {
				k, _, e := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
				if e == unix.EAGAIN {
					return false
				}
				n = k
				return true
			})
			done <- result{n, err}
		}()
		return done
	}
	for i := range 3 {
		done := read()
		select {
		case r := <-done:
			t.Fatalf("round %d: read returned %+v before anything was sent", i, r)
		case <-time.After(20 * time.Millisecond):
		}
		msg := []byte(fmt.Sprintf("datagram %d", i))
		if _, err := tx.Write(msg); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || string(buf[:r.n]) != string(msg) {
				t.Fatalf("round %d: read %q, %v; want %q", i, buf[:r.n], r.err, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the waiting read did not wake for the datagram", i)
		}
	}

	done := read()
	select {
	case r := <-done:
		t.Fatalf("read returned %+v before the close", r)
	case <-time.After(20 * time.Millisecond):
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("waiting read after close: %v, want net.ErrClosed", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("close did not end the waiting read")
	}
	if err := c.Write(func(uintptr) bool { return true }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v, want net.ErrClosed", err)
	}
}

// localAddr is the address and port the socket is bound to.
func (c *pollConn) localAddr() (netip.AddrPort, error) {
	var sa unix.Sockaddr
	var serr error
	if err := c.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) }); err != nil {
		return netip.AddrPort{}, err
	}
	if serr != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockname: %w", serr)
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, errors.New("getsockname: not an IP socket")
}
