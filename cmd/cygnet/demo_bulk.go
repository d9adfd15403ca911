package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on a fresh OS thread switched into the named network
// namespace: sockets fn opens live in that namespace for good and can be
// used from anywhere afterwards. If the thread cannot switch back it stays
// locked, so the runtime throws it away.
func inNetns(ns string, fn func() error) error {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("own namespace: %w", err)
			return
		}
		defer own.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leave namespace %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// demoBulk sends size bytes over TCP from a's host to b's through the
// tunnel, showing a progress line, and returns how long it took once b has
// received every byte.
func demoBulk(ctx context.Context, a, b *demoHost, size int64, stdout io.Writer) (time.Duration, error) {
	addr := net.JoinHostPort(b.host, "5201")
	var ln net.Listener
	if err := inNetns(b.ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		return 0, fmt.Errorf("bulk transfer: listen in %s: %w", b.ns, err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		got <- result{n, err}
	}()
	var conn net.Conn
	err := inNetns(a.ns, func() (err error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(a.host)}, Timeout: 10 * time.Second}
		conn, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("bulk transfer: connect from %s: %w", a.ns, err)
	}
	defer conn.Close()
	// Ctrl-C or a stuck tunnel ends the transfer rather than the wait
	stop := context.AfterFunc(ctx, func() { conn.Close(); ln.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(120 * time.Second))

	buf := make([]byte, 64<<10)
	start := time.Now()
	var sent int64
	lastShown := start
	show := func(final bool) {
		el := time.Since(start).Seconds()
		fmt.Fprintf(stdout, "\r    %6.1f of %d MiB  %7.1f Mbit/s", float64(sent)/(1<<20), size>>20, float64(sent)*8/1e6/max(el, 1e-6))
		if final {
			fmt.Fprintln(stdout)
		}
	}
	for sent < size {
		n := int64(len(buf))
		n = min(n, size-sent)
		w, err := conn.Write(buf[:n])
		sent += int64(w)
		if err != nil {
			fmt.Fprintln(stdout)
			return 0, fmt.Errorf("bulk transfer after %d bytes: %w", sent, err)
		}
		if time.Since(lastShown) > 200*time.Millisecond {
			show(false)
			lastShown = time.Now()
		}
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		if err := tc.CloseWrite(); err != nil {
			return 0, fmt.Errorf("bulk transfer: %w", err)
		}
	}
	var r result
	select {
	case r = <-got:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	took := time.Since(start)
	show(true)
	if r.err != nil {
		return 0, fmt.Errorf("bulk transfer: receiving: %w", r.err)
	}
	if r.n != size {
		return 0, errors.New("bulk transfer: " + fmt.Sprintf("%d bytes sent, %d received", size, r.n))
	}
	return took, nil
}
