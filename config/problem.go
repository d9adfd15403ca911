package config

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is where a section, setting or value was written: the file as named
// when it was opened (the top file as given to Load, included files joined to
// the including file's folder) and the 1-based line. Line 0 means the whole
// file, for problems that are not on any one line (an unreadable key file).
type Pos struct {
	File string
	Line int
}

// String formats the position as "file:line", or "file" when Line is 0.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// IsValid reports whether the position names a file.
func (p Pos) IsValid() bool { return p.File != "" }

// Problem is one reason why cygnet cannot use a configuration, at the place
// the user has to change.
type Problem struct {
	Pos  Pos
	Text string
}

// Error formats the problem as "file:line: text", the form editors and
// compilers use, so that the line is clickable in a terminal.
func (p Problem) Error() string {
	if !p.Pos.IsValid() {
		return p.Text
	}
	return p.Pos.String() + ": " + p.Text
}

// Problems is every problem found in one configuration; Load returns it as
// its error so that a user fixes all of them in one pass.
type Problems []Problem

// Error joins the problems, one "file:line: text" per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the problems to errors.Is and errors.As.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// add appends a problem at pos.
func (ps *Problems) add(pos Pos, format string, args ...any) {
	*ps = append(*ps, Problem{Pos: pos, Text: fmt.Sprintf(format, args...)})
}

// sorted returns the problems ordered by file (in the order the files were
// read, files not read last), then line, keeping the discovery order for
// problems on the same line; duplicates are dropped.
func (ps Problems) sorted(fileOrder []string) Problems {
	rank := make(map[string]int, len(fileOrder))
	for i, f := range fileOrder {
		if _, ok := rank[f]; !ok {
			rank[f] = i
		}
	}
	fileRank := func(f string) int {
		if r, ok := rank[f]; ok {
			return r
		}
		return len(fileOrder)
	}
	out := make(Problems, len(ps))
	copy(out, ps)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := fileRank(out[i].Pos.File), fileRank(out[j].Pos.File)
		if ri != rj {
			return ri < rj
		}
		if out[i].Pos.File != out[j].Pos.File {
			return out[i].Pos.File < out[j].Pos.File
		}
		return out[i].Pos.Line < out[j].Pos.Line
	})
	dedup := out[:0]
	for i, p := range out {
		if i > 0 && p == out[i-1] {
			continue
		}
		dedup = append(dedup, p)
	}
	return dedup
}
