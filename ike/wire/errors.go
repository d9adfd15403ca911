package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped with context by the parsers and marshallers. All of them mean the message is not
// well-formed IKEv2 (a responder answers INVALID_SYNTAX, RFC 7296 2.21.1), except ErrInvalidMajorVersion
// (answered with INVALID_MAJOR_VERSION, RFC 7296 1.5).
var (
	// ErrTruncated: the input ends before a fixed field or a length field's extent.
	ErrTruncated = errors.New("truncated")
	// ErrInvalidLength: a length field is below its minimum or disagrees with the bytes it describes.
	ErrInvalidLength = errors.New("invalid length")
	// ErrInvalidSyntax: a structural rule other than a length is broken (counts, substructure markers, order).
	ErrInvalidSyntax = errors.New("invalid syntax")
	// ErrInvalidMajorVersion: the IKE header's major version is not 2.
	ErrInvalidMajorVersion = errors.New("unsupported IKE major version")
)

func errf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), sentinel)
}
