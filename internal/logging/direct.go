package logging

import (
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Direct returns a writer for w that skips the Go scheduler's system call
// bookkeeping when w is an *os.File on a regular file or a socket (a log
// file, the journal), and w itself otherwise (a pipe, a terminal: a write
// there may block for as long as the reader takes).
//
// Through os.File every write entered the kernel as a blocking system call,
// and the first one after an idle moment woke the Go runtime's monitor
// thread, which then polled every 20 us while the daemon worked: the event
// loop writes its lines after every IKE message, so under a handshake load
// that was most of the monitor's wake-ups. A regular file's write returns
// without waiting for a reader; a socket's is sent with MSG_DONTWAIT, and
// when the socket is full the rest goes through w as before.
func Direct(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return w
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return w
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return &direct{f: f, fd: f.Fd()}
	case unix.S_IFSOCK:
		return &direct{f: f, fd: f.Fd(), sock: true}
	}
	return w
}

// direct writes to a regular file or a socket with raw system calls.
type direct struct {
	f    *os.File
	fd   uintptr
	sock bool
}

func (d *direct) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		b := p[done:]
		var n uintptr
		var e unix.Errno
		if d.sock {
			n, _, e = unix.RawSyscall6(unix.SYS_SENDTO, d.fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		} else {
			n, _, e = unix.RawSyscall(unix.SYS_WRITE, d.fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		}
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			// full: wait the ordinary way for the rest
			m, err := d.f.Write(b)
			return done + m, err
		case e != 0:
			return done, &os.PathError{Op: "write", Path: d.f.Name(), Err: e}
		case n == 0:
			return done, io.ErrShortWrite
		}
		done += int(n)
	}
	return done, nil
}
