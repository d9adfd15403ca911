package logging

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Direct takes over writes to a regular file and to a socket, and they
// arrive complete and in order; a pipe keeps os.File's writes.
func TestDirectWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cygnet.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := Direct(f)
	if _, ok := w.(*direct); !ok {
		t.Fatalf("Direct(regular file) = %T, want the raw writer", w)
	}
	var want bytes.Buffer
	for i := range 200 {
		line := "time=2026-12-07T06:00:00.000Z level=INFO msg=\"IKE SA established\" n=" + strings.Repeat("x", i) + "\n"
		want.WriteString(line)
		if n, err := w.Write([]byte(line)); err != nil || n != len(line) {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("file holds %d octets (%v), want %d", len(got), err, want.Len())
	}

	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	if got := Direct(pw); got != io.Writer(pw) {
		t.Errorf("Direct(pipe) = %T, want the *os.File itself", got)
	}

	// a socket (the journal's stream): more than its buffer holds goes
	// through, the rest waiting for the reader the ordinary way
	fds, err := socketPair()
	if err != nil {
		t.Skip(err)
	}
	sw, sr := fds[0], fds[1]
	defer sw.Close()
	defer sr.Close()
	w = Direct(sw)
	if _, ok := w.(*direct); !ok {
		t.Fatalf("Direct(socket) = %T, want the raw writer", w)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(sr); got <- b }()
	if n, err := w.Write(big); err != nil || n != len(big) {
		t.Fatalf("socket write: %d, %v", n, err)
	}
	sw.Close()
	if b := <-got; !bytes.Equal(b, big) {
		t.Errorf("read %d octets from the socket, want the %d written", len(b), len(big))
	}
}

func socketPair() ([2]*os.File, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: "", Net: "unix"})
	if err != nil {
		return [2]*os.File{}, err
	}
	defer l.Close()
	c, err := net.DialUnix("unix", nil, l.Addr().(*net.UnixAddr))
	if err != nil {
		return [2]*os.File{}, err
	}
	s, err := l.AcceptUnix()
	if err != nil {
		return [2]*os.File{}, err
	}
	cf, err := c.File()
	c.Close()
	if err != nil {
		return [2]*os.File{}, err
	}
	sf, err := s.File()
	s.Close()
	return [2]*os.File{cf, sf}, err
}
