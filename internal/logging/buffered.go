package logging

import (
	"io"
	"sync"
	"time"
)

// bufferedMax is how many octets of lines Buffered holds before it writes
// them at once, and the most buffer it keeps between batches.
const bufferedMax = 64 << 10

// Buffered is a writer for log lines that passes them on in batches: at
// most its delay after the first line not yet written, at once when
// bufferedMax octets wait, and at Flush. A gateway under a handshake storm
// writes five lines per SA; one write system call per line was a tenth of
// its CPU per SA. strongSwan's file logger buffers the same way unless told
// flush_line = yes. A crash loses at most the last delay's lines (a Go
// panic runs the deferred Flush first).
type Buffered struct {
	mu    sync.Mutex
	w     io.Writer
	delay time.Duration
	buf   []byte
	timer *time.Timer
	// armed is set from the first line written after the timer last
	// fired until it fires again (reset arms it). Flush leaves it armed:
	// the daemon flushes before each control answer, and re-arming the
	// timer each time (a Reset and a Stop, and the poller woken to take
	// the new deadline) cost more than the write.
	armed bool
	reset func(time.Duration)
}

// NewBuffered is a Buffered writing to w at most delay after a line.
func NewBuffered(w io.Writer, delay time.Duration) *Buffered {
	b := &Buffered{w: w, delay: delay}
	b.timer = time.AfterFunc(time.Hour, b.fired)
	b.timer.Stop()
	b.reset = func(d time.Duration) { b.timer.Reset(d) }
	return b
}

// Write takes one line (slog's handlers write a line per call).
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= bufferedMax {
		return len(p), b.flushLocked()
	}
	if !b.armed {
		b.armed = true
		b.reset(b.delay)
	}
	return len(p), nil
}

// fired writes what the timer finds and lets the next line arm it again.
func (b *Buffered) fired() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	// a failed write in the background has nobody to tell: the log is
	// where errors go
	_ = b.flushLocked()
}

// Flush writes the lines held now.
func (b *Buffered) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *Buffered) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	if cap(b.buf) > bufferedMax {
		b.buf = nil // a burst's buffer is not kept
	} else {
		b.buf = b.buf[:0]
	}
	return err
}
