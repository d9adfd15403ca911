package config

import (
	"crypto/subtle"
	"fmt"
)

// Secret holds a pre-shared key or password. It never prints: every fmt
// verb writes "<redacted>", so a Config can be logged with %v or %+v.
type Secret struct {
	b []byte
}

// NewSecret wraps b (copied).
func NewSecret(b []byte) Secret { return Secret{b: append([]byte(nil), b...)} }

// Bytes returns a copy of the secret's bytes, for the key derivation that
// needs them.
func (s Secret) Bytes() []byte { return append([]byte(nil), s.b...) }

// Len is the secret's length in bytes.
func (s Secret) Len() int { return len(s.b) }

// Equal compares two secrets in constant time (for equal lengths).
func (s Secret) Equal(o Secret) bool { return subtle.ConstantTimeCompare(s.b, o.b) == 1 }

// String returns "<redacted>".
func (s Secret) String() string { return "<redacted>" }

// GoString returns "<redacted>", for %#v.
func (s Secret) GoString() string { return "<redacted>" }

// Format writes "<redacted>" for every verb, so %x or %d do not leak bytes.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("<redacted>")) }

// MarshalText returns "<redacted>", so encoders do not leak the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte("<redacted>"), nil }
