// Package audit writes cygnet's audit stream: one JSON object a line, for a
// SIEM. Each record says what happened (event), when, and to what: the SA
// with its identities, addresses and algorithms, the reason of a failure,
// or what a configuration change changed. The file is created mode 0600
// and only appended to, so a log shipper can follow it.
package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
)

// Event names.
const (
	IKEUp        = "ike_sa_established"
	IKERekeyed   = "ike_sa_rekeyed"
	IKEDown      = "ike_sa_deleted"
	IKEFailed    = "ike_sa_failed"
	AuthFailed   = "authentication_failed"
	ChildUp      = "child_sa_established"
	ChildRekeyed = "child_sa_rekeyed"
	ChildDown    = "child_sa_deleted"
	Reload       = "config_reloaded"
	ReloadFailed = "config_reload_refused"
)

// Record is one line of the audit stream.
type Record struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"`
	// Conn is the connection; Reason why an SA went down or failed.
	Conn   string `json:"conn,omitempty"`
	Reason string `json:"reason,omitempty"`
	// IKE is the IKE SA (identities, addresses, SPIs, algorithms), as
	// list-sas shows it; Child the Child SA of a Child SA event.
	IKE   *control.IKESA   `json:"ike_sa,omitempty"`
	Child *control.ChildSA `json:"child_sa,omitempty"`
	// Added, Removed and Changed are a reload's connections; Error a
	// refused reload's reason (file:line: what).
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []string `json:"changed,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Log is an open audit stream; its methods are safe for concurrent use.
type Log struct {
	mu sync.Mutex
	f  *os.File
}

// Open opens (creating or appending to) the audit file at path, mode 0600.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	// an existing file keeps its mode on open: records name identities
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &Log{f: f}, nil
}

// Write appends r as one line (time now if unset).
func (l *Log) Write(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	// one write of the whole line: followers never see half a record
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
