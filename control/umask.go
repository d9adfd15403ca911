package control

import "golang.org/x/sys/unix"

// umask sets the process umask so the socket is never created wider than
// intended, even for the instant before the chmod.
func umask(m int) int { return unix.Umask(m) }
