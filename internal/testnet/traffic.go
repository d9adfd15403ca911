package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// PingResult is what ping reported.
type PingResult struct {
	Transmitted, Received int
	Output                string
}

var pingSummaryRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

// Ping sends count echo requests from namespace ns to dst (5 per second,
// 2 s wait for each reply) and fails the test unless every one is answered.
func Ping(t testing.TB, ns string, dst netip.Addr, count int) PingResult {
	t.Helper()
	return PingFrom(t, ns, netip.Addr{}, dst, count)
}

// PingFrom is Ping with the source address src (ping -I); an invalid src
// lets the kernel choose.
func PingFrom(t testing.TB, ns string, src, dst netip.Addr, count int) PingResult {
	t.Helper()
	r, err := TryPing(ns, src, dst, count)
	if err != nil {
		t.Fatalf("testnet: ping %s from %s: %v\n%s", dst, ns, err, r.Output)
	}
	if r.Received != count {
		t.Fatalf("testnet: ping %s from %s: %d of %d replies\n%s", dst, ns, r.Received, count, r.Output)
	}
	return r
}

// TryPing runs ping and returns its counts; lost replies are not an error.
func TryPing(ns string, src, dst netip.Addr, count int) (PingResult, error) {
	if count <= 0 {
		return PingResult{}, errors.New("ping count must be positive")
	}
	args := []string{"ping", "-n", "-c", strconv.Itoa(count), "-i", "0.2", "-W", "2"}
	if src.IsValid() {
		args = append(args, "-I", src.String())
	}
	args = append(args, dst.String())
	timeout := time.Duration(count)*200*time.Millisecond + 10*time.Second
	out, err := ExecIn(ns, timeout, args...)
	r := PingResult{Output: out}
	m := pingSummaryRE.FindStringSubmatch(out)
	if m == nil {
		if err == nil {
			err = errors.New("no summary line in ping output")
		}
		return r, err
	}
	r.Transmitted, _ = strconv.Atoi(m[1])
	r.Received, _ = strconv.Atoi(m[2])
	return r, nil
}

// TransferResult describes a TCPTransfer.
type TransferResult struct {
	Bytes    int64
	Duration time.Duration
	SHA256   [32]byte
}

// Mbps is the goodput in megabits per second.
func (r TransferResult) Mbps() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Duration.Seconds() / 1e6
}

// TCPTransfer sends size bytes of pseudo-random data over one TCP
// connection from namespace from to a listener on dst in namespace to, and
// fails the test unless the receiver got exactly those bytes (same length,
// same SHA-256). It logs and returns the throughput. The whole transfer is
// bounded by two minutes.
func TCPTransfer(t testing.TB, from, to string, dst netip.Addr, size int64) TransferResult {
	t.Helper()
	r, err := TryTCPTransfer(from, to, dst, size, 2*time.Minute)
	if err != nil {
		t.Fatalf("testnet: TCP transfer %s -> %s (%s): %v", from, to, dst, err)
	}
	t.Logf("testnet: TCP %s -> %s %s: %d bytes in %v, %.1f Mbit/s, sha256 %x", from, to, dst, r.Bytes, r.Duration.Round(time.Millisecond), r.Mbps(), r.SHA256[:8])
	return r
}

// TryTCPTransfer is TCPTransfer returning an error instead of failing.
func TryTCPTransfer(from, to string, dst netip.Addr, size int64, timeout time.Duration) (TransferResult, error) {
	deadline := time.Now().Add(timeout)
	var ln net.Listener
	err := InNamespace(to, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, 0).String())
		return err
	})
	if err != nil {
		return TransferResult{}, fmt.Errorf("listen in %s: %w", to, err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	type recvResult struct {
		n   int64
		sum [32]byte
		err error
	}
	recvc := make(chan recvResult, 1)
	go func() {
		_ = ln.(*net.TCPListener).SetDeadline(deadline)
		c, err := ln.Accept()
		if err != nil {
			recvc <- recvResult{err: fmt.Errorf("accept: %w", err)}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(deadline)
		h := sha256.New()
		n, err := io.Copy(h, c)
		var res recvResult
		res.n, res.err = n, err
		copy(res.sum[:], h.Sum(nil))
		recvc <- res
	}()

	var conn net.Conn
	err = InNamespace(from, func() error {
		d := net.Dialer{Deadline: deadline}
		var err error
		conn, err = d.DialContext(context.Background(), "tcp", addr)
		return err
	})
	if err != nil {
		ln.Close()
		<-recvc
		return TransferResult{}, fmt.Errorf("connect from %s to %s: %w", from, addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)

	start := time.Now()
	h := sha256.New()
	var seed [32]byte
	copy(seed[:], "cygnet testnet tcp transfer seed")
	src := rand.NewChaCha8(seed)
	buf := make([]byte, 64<<10)
	var sent int64
	var sendErr error
	for sent < size {
		chunk := buf
		if rest := size - sent; rest < int64(len(chunk)) {
			chunk = chunk[:rest]
		}
		_, _ = src.Read(chunk)
		h.Write(chunk)
		n, err := conn.Write(chunk)
		sent += int64(n)
		if err != nil {
			sendErr = fmt.Errorf("send after %d bytes: %w", sent, err)
			break
		}
	}
	if sendErr == nil {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			sendErr = fmt.Errorf("close write: %w", err)
		}
	}
	if sendErr != nil {
		conn.Close()
	}
	rr := <-recvc
	elapsed := time.Since(start)
	if sendErr != nil {
		return TransferResult{}, sendErr
	}
	if rr.err != nil {
		return TransferResult{}, fmt.Errorf("receive after %d bytes: %w", rr.n, rr.err)
	}
	var want [32]byte
	copy(want[:], h.Sum(nil))
	if rr.n != size {
		return TransferResult{}, fmt.Errorf("received %d bytes, sent %d", rr.n, size)
	}
	if !bytes.Equal(rr.sum[:], want[:]) {
		return TransferResult{}, fmt.Errorf("SHA-256 mismatch: received %x, sent %x", rr.sum, want)
	}
	return TransferResult{Bytes: rr.n, Duration: elapsed, SHA256: want}, nil
}
