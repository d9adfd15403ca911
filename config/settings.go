package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Setting is one "key = value" line of the settings syntax.
type Setting struct {
	Key string
	// Value is the value as strongSwan sees it: the unquoted parts of the
	// line joined by single spaces, escapes in quoted parts resolved.
	Value string
	// Set is false for "key =" with nothing after it, which strongSwan
	// treats as not set at all (the default applies).
	Set bool
	Pos Pos
}

// Ref is one section reference, "name : ref1, ref2 {": the section inherits
// the settings and subsections of the referenced ones (full dotted paths from
// the top of the file).
type Ref struct {
	Path string
	Pos  Pos
}

// Section is a "name { ... }" block. Settings and subsections keep the order
// of their first appearance; a repeated key replaces the earlier value and a
// repeated section is merged into the first one, as strongSwan does.
type Section struct {
	Name     string
	Pos      Pos
	Refs     []Ref
	Settings []*Setting
	Sections []*Section

	// indexes by name, kept by set and child while parsing so that huge
	// sections do not make parsing quadratic; used while they are in step
	// with the slices.
	kvIndex  map[string]*Setting
	secIndex map[string]*Section
}

// Lookup returns the setting named key, or nil.
func (s *Section) Lookup(key string) *Setting {
	if s.kvIndex != nil && len(s.kvIndex) == len(s.Settings) {
		return s.kvIndex[key]
	}
	for _, kv := range s.Settings {
		if kv.Key == key {
			return kv
		}
	}
	return nil
}

// Sub returns the subsection named name, or nil.
func (s *Section) Sub(name string) *Section {
	if s.secIndex != nil && len(s.secIndex) == len(s.Sections) {
		return s.secIndex[name]
	}
	for _, sec := range s.Sections {
		if sec.Name == name {
			return sec
		}
	}
	return nil
}

// set adds or replaces a setting (later wins, the position moves with it).
func (s *Section) set(kv *Setting) {
	if old := s.Lookup(kv.Key); old != nil {
		*old = *kv
		return
	}
	if s.kvIndex == nil && len(s.Settings) == 0 {
		s.kvIndex = map[string]*Setting{}
	}
	if s.kvIndex != nil {
		s.kvIndex[kv.Key] = kv
	}
	s.Settings = append(s.Settings, kv)
}

// child returns the subsection name, creating it at pos when missing.
func (s *Section) child(name string, pos Pos) *Section {
	if sec := s.Sub(name); sec != nil {
		return sec
	}
	sec := &Section{Name: name, Pos: pos}
	s.addSection(sec)
	return sec
}

// addSection appends a subsection known not to exist yet.
func (s *Section) addSection(sec *Section) {
	if s.secIndex == nil && len(s.Sections) == 0 {
		s.secIndex = map[string]*Section{}
	}
	if s.secIndex != nil {
		s.secIndex[sec.Name] = sec
	}
	s.Sections = append(s.Sections, sec)
}

// addRef adds a reference unless the section has it already.
func (s *Section) addRef(r Ref) {
	for _, old := range s.Refs {
		if old.Path == r.Path {
			return
		}
	}
	s.Refs = append(s.Refs, r)
}

// Limits that keep hostile or broken input from exhausting the stack or
// looping through includes forever.
const (
	maxIncludeDepth = 16
	maxNesting      = 64
	maxIncludeFiles = 1024
)

// fileSource reads included files; tests and the fuzz target replace it.
type fileSource interface {
	ReadFile(name string) ([]byte, error)
	Glob(pattern string) ([]string, error)
}

// osFiles is the real file system.
type osFiles struct{}

func (osFiles) ReadFile(name string) ([]byte, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	return os.ReadFile(name)
}

func (osFiles) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// noFiles refuses every include; used for parsing text without a file system.
type noFiles struct{}

func (noFiles) ReadFile(string) ([]byte, error) { return nil, errors.New("includes disabled") }
func (noFiles) Glob(string) ([]string, error)   { return nil, nil }

// errSyntax stops parsing after a syntax error; the problem is already
// recorded. The settings grammar has no reliable point to resume at.
var errSyntax = errors.New("syntax error")

// parseCtx is shared by the parsers of one file and all it includes.
type parseCtx struct {
	fs       fileSource
	problems Problems
	files    []string // every file read, in order
}

// ParseFile reads a file in strongSwan's settings syntax (swanctl.conf,
// strongswan.conf) with everything it includes and returns its top section.
// The error is a Problems list when the syntax is wrong.
func ParseFile(path string) (*Section, error) {
	root, ctx := parseFile(osFiles{}, path)
	if len(ctx.problems) > 0 {
		return root, ctx.problems
	}
	return root, nil
}

// ParseSettings parses src as the content of a file named name; includes
// are read from disk relative to name's folder.
func ParseSettings(name string, src []byte) (*Section, error) {
	root, ctx := parseSource(osFiles{}, name, src)
	if len(ctx.problems) > 0 {
		return root, ctx.problems
	}
	return root, nil
}

func parseFile(fs fileSource, path string) (*Section, *parseCtx) {
	ctx := &parseCtx{fs: fs}
	root := &Section{Pos: Pos{File: path}}
	src, err := fs.ReadFile(path)
	if err != nil {
		ctx.problems.add(Pos{File: path}, "cannot read configuration: %v", unwrapPathError(err))
		return root, ctx
	}
	ctx.files = append(ctx.files, path)
	p := &parser{ctx: ctx, src: src, file: path, line: 1}
	_ = p.statements(root, 0, 0)
	return root, ctx
}

func parseSource(fs fileSource, name string, src []byte) (*Section, *parseCtx) {
	ctx := &parseCtx{fs: fs, files: []string{name}}
	root := &Section{Pos: Pos{File: name}}
	p := &parser{ctx: ctx, src: src, file: name, line: 1}
	_ = p.statements(root, 0, 0)
	return root, ctx
}

// unwrapPathError drops the path os errors repeat, since problems carry it.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parser scans one file. The scanner mirrors strongSwan's flex states: names
// outside values, values to the end of the line (or '#', '}'), quoted strings
// with escapes, include patterns, and section references.
type parser struct {
	ctx  *parseCtx
	src  []byte
	off  int
	line int
	file string
	// parent is the parser of the including file, nil for the top file.
	parent *parser
}

// includeDepth counts the files that include this one, directly or not.
func (p *parser) includeDepth() int {
	n := 0
	for q := p.parent; q != nil; q = q.parent {
		n++
	}
	return n
}

func (p *parser) pos() Pos { return Pos{File: p.file, Line: p.line} }

func (p *parser) errorf(format string, args ...any) error {
	p.ctx.problems.add(p.pos(), format, args...)
	return errSyntax
}

func (p *parser) eof() bool { return p.off >= len(p.src) }

func (p *parser) peek() byte {
	if p.off >= len(p.src) {
		return 0
	}
	return p.src[p.off]
}

// isNameByte reports whether c may appear in a section or key name.
func isNameByte(c byte) bool {
	switch c {
	case '#', '{', '}', ':', '.', ',', '=', '"', '\r', '\n', '\t', ' ':
		return false
	}
	return true
}

// skipBlank skips spaces, tabs, carriage returns, newlines and comments.
func (p *parser) skipBlank() {
	for p.off < len(p.src) {
		switch c := p.src[p.off]; c {
		case ' ', '\t', '\r':
			p.off++
		case '\n':
			p.off++
			p.line++
		case '#':
			for p.off < len(p.src) && p.src[p.off] != '\n' {
				p.off++
			}
		default:
			return
		}
	}
}

// skipSpace skips spaces, tabs and carriage returns on the current line.
func (p *parser) skipSpace() {
	for p.off < len(p.src) {
		switch p.src[p.off] {
		case ' ', '\t', '\r':
			p.off++
		default:
			return
		}
	}
}

func (p *parser) name() string {
	start := p.off
	for p.off < len(p.src) && isNameByte(p.src[p.off]) {
		p.off++
	}
	return string(p.src[start:p.off])
}

// describe names the next token for syntax errors.
func (p *parser) describe() string {
	if p.eof() {
		return "end of file"
	}
	c := p.src[p.off]
	switch {
	case c == '\n':
		return "end of line"
	case c == '"':
		return "quoted string"
	case isNameByte(c):
		start := p.off
		end := start
		for end < len(p.src) && isNameByte(p.src[end]) && end-start < 40 {
			end++
		}
		return fmt.Sprintf("name %q", p.src[start:end])
	default:
		return fmt.Sprintf("%q", c)
	}
}

// statements parses the body of sec until '}' (depth > 0) or the end of the
// file (depth 0 of this file). nest counts section depth across includes.
func (p *parser) statements(sec *Section, depth, nest int) error {
	for {
		p.skipBlank()
		if p.eof() {
			if depth > 0 {
				return p.errorf("missing '}' for section %q", sec.Name)
			}
			return nil
		}
		c := p.peek()
		if c == '}' {
			if depth == 0 {
				return p.errorf("unexpected '}'")
			}
			p.off++
			return nil
		}
		if !isNameByte(c) {
			if c == '"' {
				return p.errorf("unexpected quoted string, expected a name")
			}
			return p.errorf("unexpected %q, expected a name", c)
		}
		pos := p.pos()
		name := p.name()
		if name == "include" && p.isInclude() {
			if err := p.include(sec, nest); err != nil {
				return err
			}
			continue
		}
		p.skipBlank()
		switch p.peek() {
		case '=':
			p.off++
			kv, err := p.value(name, pos)
			if err != nil {
				return err
			}
			sec.set(kv)
		case '{':
			p.off++
			if err := p.section(sec, name, pos, nil, depth, nest); err != nil {
				return err
			}
		case ':':
			p.off++
			refs, err := p.references()
			if err != nil {
				return err
			}
			if err := p.section(sec, name, pos, refs, depth, nest); err != nil {
				return err
			}
		default:
			return p.errorf("unexpected %s after %q, expected '=', '{' or ':'", p.describe(), name)
		}
	}
}

func (p *parser) section(parent *Section, name string, pos Pos, refs []Ref, depth, nest int) error {
	if nest+1 > maxNesting {
		return p.errorf("sections nested deeper than %d levels", maxNesting)
	}
	sec := parent.child(name, pos)
	for _, r := range refs {
		sec.addRef(r)
	}
	return p.statements(sec, depth+1, nest+1)
}

// references parses "a.b, c {" after the ':' and consumes the '{'.
func (p *parser) references() ([]Ref, error) {
	var refs []Ref
	for {
		p.skipBlank()
		pos := p.pos()
		start := p.off
		for {
			seg := p.name()
			if seg == "" {
				p.off = start
				return nil, p.errorf("unexpected %s in section reference, expected a section name", p.describe())
			}
			if p.peek() != '.' {
				break
			}
			p.off++
		}
		refs = append(refs, Ref{Path: string(p.src[start:p.off]), Pos: pos})
		p.skipBlank()
		switch p.peek() {
		case ',':
			p.off++
		case '{':
			p.off++
			return refs, nil
		default:
			return nil, p.errorf("unexpected %s after section reference, expected ',' or '{'", p.describe())
		}
	}
}

// value scans the rest of the line after '=': unquoted parts and quoted
// strings, joined by single spaces, up to a newline, '#' or '}'.
func (p *parser) value(key string, pos Pos) (*Setting, error) {
	var parts []string
	for {
		p.skipSpace()
		if p.eof() {
			break
		}
		c := p.src[p.off]
		if c == '\n' || c == '#' || c == '}' {
			break
		}
		if c == '"' {
			p.off++
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			parts = append(parts, s)
			continue
		}
		start := p.off
		for p.off < len(p.src) {
			c := p.src[p.off]
			if c == '#' || c == '}' || c == '"' || c == '\r' || c == '\n' || c == '\t' || c == ' ' {
				break
			}
			p.off++
		}
		parts = append(parts, string(p.src[start:p.off]))
	}
	return &Setting{Key: key, Value: strings.Join(parts, " "), Set: len(parts) > 0, Pos: pos}, nil
}

// quoted scans a string after its opening quote: \n, \r and \t escapes, a
// backslash before a line break joins the lines, any other escaped byte
// stands for itself, bare carriage returns are dropped.
func (p *parser) quoted() (string, error) {
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.errorf("unterminated quoted string")
		}
		c := p.src[p.off]
		switch c {
		case '"':
			p.off++
			return b.String(), nil
		case '\r':
			p.off++
		case '\n':
			b.WriteByte('\n')
			p.off++
			p.line++
		case '\\':
			if p.off+1 >= len(p.src) {
				return "", p.errorf("unterminated quoted string")
			}
			n := p.src[p.off+1]
			switch {
			case n == 'n':
				b.WriteByte('\n')
				p.off += 2
			case n == 'r':
				b.WriteByte('\r')
				p.off += 2
			case n == 't':
				b.WriteByte('\t')
				p.off += 2
			case n == '\n':
				p.off += 2
				p.line++
			case n == '\r' && p.off+2 < len(p.src) && p.src[p.off+2] == '\n':
				p.off += 3
				p.line++
			case n == '\r':
				// flex's "\\." takes the carriage return as the escaped byte
				b.WriteByte('\r')
				p.off += 2
			default:
				b.WriteByte(n)
				p.off += 2
			}
		default:
			b.WriteByte(c)
			p.off++
		}
	}
}

// isInclude decides, right after the word "include", whether this is an
// include statement: strongSwan requires blanks after it and something other
// than '=' next (so "include = x" stays an ordinary setting).
func (p *parser) isInclude() bool {
	i := p.off
	if i >= len(p.src) || (p.src[i] != ' ' && p.src[i] != '\t') {
		return false
	}
	for i < len(p.src) && (p.src[i] == ' ' || p.src[i] == '\t') {
		i++
	}
	return i < len(p.src) && p.src[i] != '=' && p.src[i] != '{'
}

// include scans the pattern after "include" and parses every matching file
// into sec, in sorted order, as if its text stood in place of the statement.
func (p *parser) include(sec *Section, nest int) error {
	pos := p.pos()
	p.skipSpace()
	var b strings.Builder
	quoted := false
scan:
	for !p.eof() {
		c := p.src[p.off]
		switch c {
		case '#', '}', '\n', '\t', ' ':
			break scan
		case '\r':
			p.off++
		case '"':
			p.off++
			s, err := p.quoted()
			if err != nil {
				return err
			}
			b.WriteString(s)
			quoted = true
			break scan
		case '\\':
			if p.off+1 < len(p.src) {
				switch n := p.src[p.off+1]; n {
				case '"', '#', '}', ' ':
					b.WriteByte(n)
					p.off += 2
					continue
				}
			}
			b.WriteByte('\\')
			p.off++
		default:
			b.WriteByte(c)
			p.off++
		}
	}
	pattern := b.String()
	if pattern == "" && !quoted {
		p.ctx.problems.add(pos, "include without a file pattern")
		return nil
	}
	if pattern == "" {
		p.ctx.problems.add(pos, "include with an empty file pattern")
		return nil
	}
	return p.includeFiles(sec, pos, pattern, nest)
}

func (p *parser) includeFiles(sec *Section, pos Pos, pattern string, nest int) error {
	full := pattern
	if !filepath.IsAbs(pattern) {
		full = filepath.Join(filepath.Dir(p.file), pattern)
	}
	matches, err := p.ctx.fs.Glob(full)
	if err != nil {
		p.ctx.problems.add(pos, "include %q: %v", pattern, err)
		return nil
	}
	if len(matches) == 0 {
		if !hasGlobMeta(pattern) {
			p.ctx.problems.add(pos, "include %q: no such file", pattern)
		}
		// a pattern matching nothing is fine (conf.d/*.conf with no files)
		return nil
	}
	for _, m := range matches {
		if len(p.ctx.files) >= maxIncludeFiles {
			p.ctx.problems.add(pos, "include %q: more than %d files read, include loop?", pattern, maxIncludeFiles)
			return errSyntax
		}
		if p.includeDepth() >= maxIncludeDepth {
			p.ctx.problems.add(pos, "include %q: includes nested deeper than %d levels, include loop?", pattern, maxIncludeDepth)
			return errSyntax
		}
		src, err := p.ctx.fs.ReadFile(m)
		if err != nil {
			if hasGlobMeta(pattern) {
				// strongSwan skips matches it cannot open (directories)
				continue
			}
			p.ctx.problems.add(pos, "include %q: %v", m, unwrapPathError(err))
			continue
		}
		p.ctx.files = append(p.ctx.files, m)
		child := &parser{ctx: p.ctx, src: src, file: m, line: 1, parent: p}
		if err := child.statements(sec, 0, nest); err != nil {
			return err
		}
	}
	return nil
}

func hasGlobMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }
