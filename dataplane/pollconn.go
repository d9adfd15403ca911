package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pollConn is a non-blocking socket that Go's poller watches for input
// only. It is the syscall.RawConn the data plane's sockets are used
// through (batchIO, sendIKE, the link socket).
//
// A socket in Go's poller (net.ListenUDP, os.NewFile) is watched for
// output too. The kernel then wakes the poller each time one of the
// socket's sent packets is freed (sock_wfree: the socket has room to
// write again), and for raw ESP that is every packet: the thread asleep
// in epoll_wait woke, found nobody waiting to write, and slept again.
// During a raw-ESP bulk transfer that was a quarter of both daemons'
// context switches and 15 % of their CPU (TestPollConnNoOutputWakeups).
// So the socket stays out of Go's poller; an epoll instance of our own
// watches it for input (EPOLLIN alone) and Go's poller watches that
// instance. A send that finds the socket full, which the 8 MiB send
// buffers make rare, waits in poll(2).
type pollConn struct {
	fd int
	// ep watches fd for input; nil for a socket that only sends.
	ep *os.File
	// epRead waits for ep through Go's poller; readyFn is ready, bound
	// once (a method value allocates).
	epRead  func(func(uintptr) bool) error
	readyFn func(uintptr) bool
	// mu is held shared by each call that uses fd and exclusively by
	// Close, so that fd is closed only when no call is inside.
	mu     sync.RWMutex
	closed atomic.Bool
}

// newPollConn takes over fd, a non-blocking socket; input sets up the
// watch for input (a send-only socket needs none). On error fd is closed.
func newPollConn(fd int, input bool) (*pollConn, error) {
	c := &pollConn{fd: fd}
	if !input {
		return c, nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(fd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	// Non-blocking, so that os.NewFile hands it to Go's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(fd)
		return nil, fmt.Errorf("epoll non-blocking: %w", err)
	}
	c.ep = os.NewFile(uintptr(epfd), "epoll")
	rc, err := c.ep.SyscallConn()
	if err != nil {
		c.ep.Close()
		unix.Close(fd)
		return nil, fmt.Errorf("epoll in the poller: %w", err)
	}
	c.epRead = rc.Read
	c.readyFn = c.ready
	return c, nil
}

// Control runs f on the socket.
func (c *pollConn) Control(f func(fd uintptr)) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed.Load() {
		return net.ErrClosed
	}
	f(uintptr(c.fd))
	return nil
}

// Read runs f until it reports done, waiting for input between calls.
func (c *pollConn) Read(f func(fd uintptr) bool) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ep == nil {
		return errors.New("dataplane: read on a send-only socket")
	}
	for {
		if c.closed.Load() {
			return net.ErrClosed
		}
		if f(uintptr(c.fd)) {
			return nil
		}
		if err := c.epRead(c.readyFn); err != nil {
			if c.closed.Load() {
				return net.ErrClosed
			}
			return err
		}
	}
}

// ready takes what the epoll instance holds: true when the socket has
// input. When it has none, taking empties the instance's ready list, so
// the next datagram marks it ready again and Go's poller (which watches
// for that edge) wakes the reader.
func (c *pollConn) ready(epfd uintptr) bool {
	var ev [1]unix.EpollEvent
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&ev[0])), 1, 0, 0, 0)
	if e != 0 {
		// EINTR (or worse): let f find out.
		return true
	}
	return n > 0
}

// pollOutWait is how long a send on a full socket waits in poll(2) before
// it looks whether the socket was closed.
const pollOutWait = 50 // milliseconds

// Write runs f until it reports done, waiting for room between calls.
func (c *pollConn) Write(f func(fd uintptr) bool) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for {
		if c.closed.Load() {
			return net.ErrClosed
		}
		if f(uintptr(c.fd)) {
			return nil
		}
		fds := [1]unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds[:], pollOutWait); err != nil && err != unix.EINTR {
			return fmt.Errorf("poll: %w", err)
		}
	}
}

// Close closes the socket once no call is inside it; a Read waiting for
// input returns net.ErrClosed.
func (c *pollConn) Close() error {
	if c.closed.Swap(true) {
		return net.ErrClosed
	}
	var err error
	if c.ep != nil {
		err = c.ep.Close() // wakes a Read waiting on it
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := unix.Close(c.fd); err == nil {
		err = e
	}
	return err
}

// listenPoll opens a non-blocking socket of type sotype and protocol proto
// bound to local (any address when invalid) and port, as a pollConn. An
// IPv6 UDP socket takes IPv6 only, as Go's net package makes them (a raw
// one refuses the option).
func listenPoll(v6 bool, sotype, proto int, local netip.Addr, port uint16) (*pollConn, error) {
	fam := unix.AF_INET
	if v6 {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	var sa unix.Sockaddr
	if v6 {
		if sotype != unix.SOCK_RAW {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
				unix.Close(fd)
				return nil, fmt.Errorf("IPV6_V6ONLY: %w", err)
			}
		}
		a := &unix.SockaddrInet6{Port: int(port)}
		if local.IsValid() {
			a.Addr = local.As16()
			if z := local.Zone(); z != "" {
				ifi, err := net.InterfaceByName(z)
				if err != nil {
					unix.Close(fd)
					return nil, fmt.Errorf("zone of %v: %w", local, err)
				}
				a.ZoneId = uint32(ifi.Index)
			}
		}
		sa = a
	} else {
		a := &unix.SockaddrInet4{Port: int(port)}
		if local.IsValid() {
			a.Addr = local.Unmap().As4()
		}
		sa = a
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %v: %w", netip.AddrPortFrom(local, port), err)
	}
	return newPollConn(fd, true)
}
