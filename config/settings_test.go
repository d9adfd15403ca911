package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dump renders a tree as "path = value @line" lines, for compact asserts.
func dump(sec *Section, prefix string, b *strings.Builder) {
	for _, r := range sec.Refs {
		b.WriteString(prefix + " : " + r.Path + "\n")
	}
	for _, kv := range sec.Settings {
		v := kv.Value
		if !kv.Set {
			v = "<unset>"
		}
		b.WriteString(prefix + kv.Key + " = " + v + " @" + kv.Pos.String() + "\n")
	}
	for _, s := range sec.Sections {
		dump(s, prefix+s.Name+".", b)
	}
}

func parseString(t *testing.T, src string) (*Section, Problems) {
	t.Helper()
	root, ctx := parseSource(noFiles{}, "t.conf", []byte(src))
	return root, ctx.problems
}

func TestParseSyntax(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"sections and values", "a {\n  b = c\n  d { e = f g }\n}\n", "a.b = c @t.conf:2\na.d.e = f g @t.conf:3\n"},
		{"comments", "# top\na { # open\n b = c # trailing\n#x = y\n}\n", "a.b = c @t.conf:3\n"},
		{"value parts joined by one space", "k =   a \t b    c  \n", "k = a b c @t.conf:1\n"},
		{"quoted keeps spaces and #", "k = \"a  # b }\"\n", "k = a  # b } @t.conf:1\n"},
		{"escapes", `k = "x\ty\nz\"q\\w"` + "\n", "k = x\ty\nz\"q\\w @t.conf:1\n"},
		{"escaped newline joins lines", "k = \"ab\\\ncd\"\nm = n\n", "k = abcd @t.conf:1\nm = n @t.conf:3\n"},
		{"quoted newline kept", "k = \"ab\ncd\"\nm = n\n", "k = ab\ncd @t.conf:1\nm = n @t.conf:3\n"},
		{"mixed quoted and bare parts", `k = 'My "home" is my "castle"!'` + "\n", "k = 'My home is my castle !' @t.conf:1\n"},
		{"value ends at closing brace", "a { b = c }\n", "a.b = c @t.conf:1\n"},
		{"equals inside value", "k = a=b c = d\n", "k = a=b c = d @t.conf:1\n"},
		{"empty value is unset", "k =\nl = # nothing\n", "k = <unset> @t.conf:1\nl = <unset> @t.conf:2\n"},
		{"later value wins, first position order kept", "a = 1\nb = 2\na = 3\n", "a = 3 @t.conf:3\nb = 2 @t.conf:2\n"},
		{"repeated sections merge", "s { a = 1 }\nt { }\ns { b = 2\n a = 4 }\n", "s.a = 4 @t.conf:4\ns.b = 2 @t.conf:3\n"},
		{"brace on next line", "s\n{\n a = 1\n}\n", "s.a = 1 @t.conf:3\n"},
		{"CRLF", "s {\r\n a = 1\r\n}\r\n", "s.a = 1 @t.conf:2\n"},
		{"references", "s : a.b, c {\n x = 1 }\n", "s. : a.b\ns. : c\ns.x = 1 @t.conf:2\n"},
		{"include as a key", "include = x\n", "include = x @t.conf:1\n"},
		{"no final newline", "a = b", "a = b @t.conf:1\n"},
		{"names with odd bytes", "a-b_c/d@e { k' = v }", "a-b_c/d@e.k' = v @t.conf:1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, problems := parseString(t, tt.src)
			if len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			var b strings.Builder
			dump(root, "", &b)
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a {\n b = c\n", `t.conf:3: missing '}' for section "a"`},
		{"a = b\n}\n", `t.conf:2: unexpected '}'`},
		{"k = \"abc\n\n", `t.conf:3: unterminated quoted string`},
		{"k = \"abc\\", `t.conf:1: unterminated quoted string`},
		{"a b = c\n", `t.conf:1: unexpected name "b" after "a", expected '=', '{' or ':'`},
		{"\n\n= c\n", `t.conf:3: unexpected '=', expected a name`},
		{"a.b = c\n", `t.conf:1: unexpected '.' after "a", expected '=', '{' or ':'`},
		{"a\n", `t.conf:2: unexpected end of file after "a", expected '=', '{' or ':'`},
		{"a : {\n", `t.conf:1: unexpected '{' in section reference, expected a section name`},
		{"a : b c {\n", `t.conf:1: unexpected name "c" after section reference, expected ',' or '{'`},
		{"\"k\" = v\n", `t.conf:1: unexpected quoted string, expected a name`},
		{strings.Repeat("a {", 100), `t.conf:1: sections nested deeper than 64 levels`},
	}
	for _, tt := range tests {
		_, problems := parseString(t, tt.src)
		if len(problems) != 1 || problems[0].Error() != tt.want {
			t.Errorf("%q: got %v, want %s", tt.src, problems, tt.want)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseInclude(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"swanctl.conf": "a = 1\ninclude conf.d/*.conf\nsec {\n  include \"sub dir/base.conf\"\n  own = yes\n}\ninclude conf.d/none-*.conf\nz = 9\n",
		// sorted order: 10-x before 20-y; the later one wins for "a"
		"conf.d/20-y.conf":   "a = from-y\ny = 2\n",
		"conf.d/10-x.conf":   "a = from-x\nx = 1\n# a comment at the end without newline",
		"conf.d/notes.txt":   "this is not included\n",
		"sub dir/base.conf":  "inherited = 1\ninclude ../nested/deep.conf\n",
		"nested/deep.conf":   "deep = 1\n",
		"conf.d/dir.conf/ok": "",
	})
	root, err := ParseFile(filepath.Join(dir, "swanctl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	dump(root, "", &b)
	got := strings.ReplaceAll(b.String(), dir+"/", "")
	want := "a = from-y @conf.d/20-y.conf:1\nx = 1 @conf.d/10-x.conf:2\ny = 2 @conf.d/20-y.conf:2\nz = 9 @swanctl.conf:8\n" +
		"sec.inherited = 1 @sub dir/base.conf:1\nsec.deep = 1 @nested/deep.conf:1\nsec.own = yes @swanctl.conf:5\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseIncludeProblems(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"missing.conf": "include nothere.conf\na = 1\n",
		"loop.conf":    "include loop.conf\n",
		"broken.conf":  "include inc/bad.conf\n",
		"inc/bad.conf": "x {\n",
		"empty.conf":   "include \"\"\n",
	})
	tests := []struct{ file, want string }{
		{"missing.conf", `missing.conf:1: include "nothere.conf": no such file`},
		{"loop.conf", `loop.conf:1: include "loop.conf": includes nested deeper than 16 levels, include loop?`},
		{"broken.conf", `inc/bad.conf:2: missing '}' for section "x"`},
		{"empty.conf", `empty.conf:1: include with an empty file pattern`},
		{"absent.conf", `absent.conf: cannot read configuration: no such file or directory`},
	}
	for _, tt := range tests {
		_, err := ParseFile(filepath.Join(dir, tt.file))
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 {
			t.Errorf("%s: got %v, want one problem", tt.file, err)
			continue
		}
		if got := strings.ReplaceAll(ps[0].Error(), dir+"/", ""); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.file, got, tt.want)
		}
	}
}

func TestResolveRefs(t *testing.T) {
	src := `base {
  version = 2
  local { auth = psk }
  # a value runs to the end of the line: "mode = tunnel" is part of it
  children { net { esp_proposals = aes128gcm16  mode = tunnel } }
}
connections {
  a : base {
    version = 0
    children { net { mode = transport } }
  }
  b : connections.a {
    children { other { } }
  }
  c : missing { }
  d : connections.e { }
  e : connections.d { }
}
`
	root, problems := parseString(t, src)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	var ps Problems
	tree := resolveRefs(root, &ps)
	var b strings.Builder
	dump(tree.Sub("connections"), "", &b)
	for _, want := range []string{
		"a.version = 0 @t.conf:9\n",
		"a.children.net.mode = transport @t.conf:10\n",
		"a.children.net.esp_proposals = aes128gcm16 mode = tunnel @t.conf:5\n",
		"a.local.auth = psk @t.conf:3\n",
		"b.version = 0 @t.conf:9\n",
		"b.local.auth = psk @t.conf:3\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
	if tree.Sub("connections").Sub("b").Sub("children").Sub("other") == nil {
		t.Error("b lost its own child")
	}
	wantProblems := []string{
		`t.conf:15: section "c" references "missing", which does not exist`,
		`t.conf:17: section "e" references "connections.d", which refers back to it`,
	}
	if len(ps) != len(wantProblems) {
		t.Fatalf("got %v", ps)
	}
	for i, w := range wantProblems {
		if ps[i].Error() != w {
			t.Errorf("problem %d: got %q, want %q", i, ps[i].Error(), w)
		}
	}
}

// FuzzParse checks that the settings parser and reference resolution never
// panic and that positions stay inside the input.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.conf")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a : b.c, d { k = \"v\\\n\" }\ninclude x\n"))
	f.Add([]byte("k = \"unterminated\\"))
	f.Fuzz(func(t *testing.T, src []byte) {
		root, ctx := parseSource(noFiles{}, "f.conf", src)
		lines := strings.Count(string(src), "\n") + 1
		for _, p := range ctx.problems {
			if p.Pos.Line < 1 || p.Pos.Line > lines {
				t.Fatalf("problem line %d outside 1..%d: %v", p.Pos.Line, lines, p)
			}
		}
		var ps Problems
		tree := resolveRefs(root, &ps)
		// loading the model from whatever parsed must not panic either
		_ = tree
		_, _ = LoadOptions{SkipCredentials: true}.build("f.conf", root, nil)
	})
}
