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
	timer *time.Timer // armed while buf holds lines
	armed bool
}

// NewBuffered is a Buffered writing to w at most delay after a line.
func NewBuffered(w io.Writer, delay time.Duration) *Buffered {
	b := &Buffered{w: w, delay: delay}
	// a failed write in the background has nobody to tell: the log is
	// where errors go
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
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
		b.timer.Reset(b.delay)
	}
	return len(p), nil
}

// Flush writes the lines held now.
func (b *Buffered) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *Buffered) flushLocked() error {
	if b.armed {
		b.armed = false
		b.timer.Stop()
	}
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
