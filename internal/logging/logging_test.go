package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestLevelsPerSubsystem: debug lines of the subsystem set to debug are
// written, those of the others are not; JSON lines carry the subsystem.
func TestLevelsPerSubsystem(t *testing.T) {
	lv, err := ParseLevels("warn,ike=debug,cfg=info")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	l, err := New(&b, "json", lv)
	if err != nil {
		t.Fatal(err)
	}
	Subsystem(l, "ike").With("conn", "c").Debug("ike debug")
	Subsystem(l, "esp").Info("esp info")
	Subsystem(l, "esp").Warn("esp warn")
	Subsystem(l, "cfg").Info("cfg info")
	Subsystem(l, "cfg").Debug("cfg debug")
	l.Info("default info")
	l.Error("default error")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		got = append(got, m["msg"].(string)+"/"+strOr(m[Key]))
	}
	want := "ike debug/ike,esp warn/esp,cfg info/cfg,default error/"
	if strings.Join(got, ",") != want {
		t.Errorf("lines = %q, want %q", strings.Join(got, ","), want)
	}
}

func strOr(v any) string {
	s, _ := v.(string)
	return s
}

func TestParseLevelsErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"loud":      `log level "loud"`,
		"dns=debug": `unknown subsystem "dns"`,
		"ike=much":  `log level "much"`,
	} {
		if _, err := ParseLevels(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLevels(%q) = %v, want %s", spec, err, want)
		}
	}
	if _, err := New(nil, "xml", Levels{}); err == nil {
		t.Error(`format "xml" accepted`)
	}
	lv, err := ParseLevels("")
	if err != nil || lv.Default.String() != "INFO" {
		t.Errorf(`ParseLevels("") = %v, %v`, lv, err)
	}
}
