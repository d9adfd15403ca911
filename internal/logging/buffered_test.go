package logging

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter counts the writes it gets.
type countingWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.b.Write(p)
}

func (c *countingWriter) get() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String(), c.writes
}

// A burst of lines reaches the file in one write, complete and in order,
// within the delay; Flush writes what waits at once.
func TestBufferedBatchesLines(t *testing.T) {
	w := &countingWriter{}
	b := NewBuffered(w, 20*time.Millisecond)
	l, err := New(b, "text", Levels{Default: slog.LevelInfo})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		l.Info("IKE SA established", "ike", i)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if out, _ := w.get(); strings.Count(out, "\n") == 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	out, writes := w.get()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 100 || writes != 1 {
		t.Fatalf("%d lines in %d writes, want 100 in 1", len(lines), writes)
	}
	for i, line := range lines {
		if !strings.HasSuffix(line, `msg="IKE SA established" ike=`+strconv.Itoa(i)) {
			t.Fatalf("line %d: %s", i, line)
		}
	}

	l.Warn("last words")
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if out, writes := w.get(); !strings.HasSuffix(out, "msg=\"last words\"\n") || writes != 2 {
		t.Fatalf("after Flush: %d writes, output ends %q", writes, out[max(0, len(out)-40):])
	}
	// a full buffer goes at once, without waiting for the delay
	big := NewBuffered(w, time.Hour)
	line := strings.Repeat("x", 1023) + "\n"
	for range bufferedMax / len(line) {
		if _, err := big.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if _, writes := w.get(); writes != 3 {
		t.Fatalf("%d writes after %d octets, want the full buffer written", writes, bufferedMax)
	}
}

// The event loop flushes after every step: that must not arm the timer
// anew for every step. One arming covers the lines of a delay, however
// many flushes come between; lines after the timer fired arm it again, and
// still reach the writer within the delay without a Flush.
func TestBufferedArmsOncePerDelay(t *testing.T) {
	w := &countingWriter{}
	b := NewBuffered(w, 30*time.Millisecond)
	var mu sync.Mutex
	arms := 0
	reset := b.reset
	b.reset = func(d time.Duration) {
		mu.Lock()
		arms++
		mu.Unlock()
		reset(d)
	}
	armed := func() int { mu.Lock(); defer mu.Unlock(); return arms }
	for i := range 50 {
		if _, err := b.Write([]byte("step " + strconv.Itoa(i) + "\n")); err != nil {
			t.Fatal(err)
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if out, writes := w.get(); writes != 50 || strings.Count(out, "\n") != 50 {
		t.Fatalf("%d writes, %d lines after 50 flushed steps", writes, strings.Count(out, "\n"))
	}
	if n := armed(); n != 1 {
		t.Errorf("the timer was armed %d times for 50 steps within its delay, want 1", n)
	}
	// After the timer has fired (with nothing left to write), a line from
	// another goroutine arms it again and arrives unflushed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		idle := !b.armed
		b.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timer never fired")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := b.Write([]byte("from elsewhere\n")); err != nil {
		t.Fatal(err)
	}
	for {
		if out, _ := w.get(); strings.HasSuffix(out, "from elsewhere\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a line after the timer fired was not written within the delay")
		}
		time.Sleep(time.Millisecond)
	}
	if n := armed(); n != 2 {
		t.Errorf("armed %d times, want 2", n)
	}
}
