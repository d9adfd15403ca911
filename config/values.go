package config

import (
	"math"
	"strings"
	"time"
)

// The value parsers below accept exactly what strongSwan's vici plugin
// accepts (vici_config.c), so that a swanctl.conf that loads there loads here:
// numbers in C strtoul base-0 form (decimal, 0x hex, leading-0 octal),
// case-insensitive keywords.

// parseCUint parses a C strtoul base-0 unsigned number at the start of s and
// returns it with the rest of s. ok is false without digits, with a sign, or
// on overflow of 64 bits.
func parseCUint(s string) (v uint64, rest string, ok bool) {
	base := uint64(10)
	i := 0
	switch {
	case len(s) >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && hexDigit(s[2]) >= 0:
		base, i = 16, 2
	case len(s) >= 1 && s[0] == '0':
		base = 8
	}
	start := i
	for ; i < len(s); i++ {
		d := digitValue(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			return 0, s, false
		}
		v = v*base + uint64(d)
	}
	if i == start {
		return 0, s, false
	}
	return v, s[i:], true
}

func hexDigit(c byte) int { return digitValue(c) }

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parseUint parses a whole value as an unsigned number no larger than max.
func parseUint(s string, max uint64) (uint64, bool) {
	v, rest, ok := parseCUint(s)
	if !ok || rest != "" || v > max {
		return 0, false
	}
	return v, true
}

// parseBool accepts strongSwan's yes/true/enabled/1 and no/false/disabled/0.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "yes", "true", "enabled", "1":
		return true, true
	case "no", "false", "disabled", "0":
		return false, true
	}
	return false, false
}

// parseDuration accepts a number of seconds with an optional unit s, m, h or
// d (either case), spaces allowed between: "30", "30s", "10m", "4h", "1d".
func parseDuration(s string) (time.Duration, bool) {
	v, rest, ok := parseCUint(s)
	if !ok {
		return 0, false
	}
	rest = strings.TrimLeft(rest, " ")
	mult := uint64(1)
	if rest != "" {
		switch rest[0] {
		case 's', 'S':
		case 'm', 'M':
			mult = 60
		case 'h', 'H':
			mult = 3600
		case 'd', 'D':
			mult = 86400
		default:
			return 0, false
		}
		rest = rest[1:]
	}
	if rest != "" {
		return 0, false
	}
	const maxSeconds = uint64(math.MaxInt64 / int64(time.Second))
	if v > maxSeconds/mult {
		return 0, false
	}
	return time.Duration(v*mult) * time.Second, true
}

// parseBytes accepts a byte count with an optional binary unit k, m or g
// (either case, 1024-based): "500000", "512k", "1M", "2G". Like strongSwan,
// an overflowing product saturates.
func parseBytes(s string) (uint64, bool) {
	v, rest, ok := parseCUint(s)
	if !ok {
		return 0, false
	}
	rest = strings.TrimLeft(rest, " ")
	shift := 0
	if rest != "" {
		switch rest[0] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		default:
			return 0, false
		}
		rest = rest[1:]
	}
	if rest != "" {
		return 0, false
	}
	if shift > 0 && v > math.MaxUint64>>shift {
		return math.MaxUint64, true
	}
	return v << shift, true
}

// splitList splits a list value the way swanctl does: items separated by
// commas, blanks around them trimmed, empty items dropped.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		item = strings.Trim(item, " ")
		if item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Mark is an XFRM-style mark: Value and Mask, or one of the special values.
type Mark struct {
	Value uint32
	Mask  uint32
	// Special is "", "%unique", "%unique-dir" or "%same".
	Special string
}

// IsZero reports whether no mark is configured.
func (m Mark) IsZero() bool { return m == Mark{} }

// parseMark parses "value[/mask]"; allowUnique admits %unique and
// %unique-dir (mark_in, mark_out), allowSame admits %same (set_mark_*).
func parseMark(s string, allowUnique, allowSame bool) (Mark, bool) {
	var m Mark
	rest := s
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "%unique-dir"):
		if !allowUnique {
			return m, false
		}
		m.Special, rest = "%unique-dir", s[len("%unique-dir"):]
	case strings.HasPrefix(lower, "%unique"):
		if !allowUnique {
			return m, false
		}
		m.Special, rest = "%unique", s[len("%unique"):]
	case strings.HasPrefix(lower, "%same"):
		if !allowSame {
			return m, false
		}
		m.Special, rest = "%same", s[len("%same"):]
	default:
		v, r, ok := parseCUint(s)
		if !ok || v > math.MaxUint32 {
			return m, false
		}
		m.Value, rest = uint32(v), r
	}
	m.Mask = math.MaxUint32
	if rest != "" {
		if rest[0] != '/' {
			return Mark{}, false
		}
		v, ok := parseUint(rest[1:], math.MaxUint32)
		if !ok {
			return Mark{}, false
		}
		m.Mask = uint32(v)
	}
	if m.Special == "" {
		m.Value &= m.Mask
	}
	return m, true
}

// IfID is an XFRM interface ID: a number or %unique / %unique-dir.
type IfID struct {
	Value   uint32
	Special string
}

func parseIfID(s string) (IfID, bool) {
	switch strings.ToLower(s) {
	case "%unique":
		return IfID{Special: "%unique"}, true
	case "%unique-dir":
		return IfID{Special: "%unique-dir"}, true
	}
	v, ok := parseUint(s, math.MaxUint32)
	return IfID{Value: uint32(v)}, ok
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// suggest returns the known name closest to name, if it is close enough to
// be a typo.
func suggest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}
