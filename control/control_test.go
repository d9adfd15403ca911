package control

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func serve(t *testing.T, h Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Serve(ctx, l, h)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return sock
}

// Many clients at once each get their own answer; the race detector
// watches the server's goroutines.
func TestConcurrentCalls(t *testing.T) {
	var served atomic.Int64
	sock := serve(t, func(r Request) Response {
		served.Add(1)
		if r.Child == "fail" {
			return Response{Error: "no such child"}
		}
		return Response{Message: "child " + r.Child}
	})
	const clients = 32
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			child := fmt.Sprint("c", i)
			if i%4 == 0 {
				child = "fail"
			}
			resp, err := Call(sock, Request{Command: CmdInitiate, Child: child}, 5*time.Second)
			switch {
			case child == "fail" && (err == nil || err.Error() != "no such child"):
				errs <- fmt.Errorf("client %d: err %v, want the handler's error", i, err)
			case child != "fail" && (err != nil || resp.Message != "child "+child):
				errs <- fmt.Errorf("client %d: %q %v", i, resp.Message, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if served.Load() != clients {
		t.Errorf("handler ran %d times, want %d", served.Load(), clients)
	}
}

// A request that is not JSON gets an error answer, not a hang or a crash.
func TestBadRequest(t *testing.T) {
	sock := serve(t, func(Request) Response { return Response{Message: "ok"} })
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("{not json\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	if !strings.Contains(string(buf[:n]), `"error":"bad request`) {
		t.Fatalf("answer %q", buf[:n])
	}
}

// A second daemon on the same socket is refused; a stale socket file from a
// dead one is replaced.
func TestListenRefusesALiveSocketAndReplacesAStaleOne(t *testing.T) {
	sock := serve(t, func(Request) Response { return Response{} })
	if _, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "another daemon is listening") {
		t.Fatalf("second Listen: %v", err)
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("stale socket file: %v", err)
	}
	l2, err := Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
}
