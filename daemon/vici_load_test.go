package daemon

import (
	"strings"
	"testing"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/vici"
)

// What a VICI client sends becomes swanctl.conf text that parses back to
// the same settings: values cannot break out of their line or section.
func TestVICISectionToSettings(t *testing.T) {
	hostile := "x\n}\nsecrets {\n  ike-evil {\n    secret = stolen\n  }\n}\n#"
	m := vici.NewMessage().Set("remote_addrs", "192.0.2.1").Set("version", "2").Set("odd", hostile)
	m.Section("local").Set("auth", "psk").Set("id", `"quoted" \ back`)
	m.Section("children").Section("net").SetList("local_ts", []string{"10.0.0.0/24", "10.0.1.0/24"})
	m.SetList("certs", []string{"\x30\x82binary,\n"})
	var b strings.Builder
	if err := writeSettings(&b, "tun", m, "  ", 0); err != nil {
		t.Fatal(err)
	}
	text := "connections {\n" + b.String() + "}\n"
	root, err := config.ParseSettings("vici", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if len(root.Sections) != 1 {
		t.Fatalf("the text has %d top sections, want 1 (connections):\n%s", len(root.Sections), text)
	}
	tun := root.Sub("connections").Sub("tun")
	if got := tun.Lookup("odd").Value; got != hostile {
		t.Errorf("odd = %q, want %q", got, hostile)
	}
	if got := tun.Sub("local").Lookup("id").Value; got != `"quoted" \ back` {
		t.Errorf("id = %q", got)
	}
	if got := tun.Sub("children").Sub("net").Lookup("local_ts").Value; !strings.Contains(got, "10.0.0.0/24") || !strings.Contains(got, "10.0.1.0/24") {
		t.Errorf("local_ts = %q", got)
	}
	if got := tun.Lookup("certs").Value; !strings.HasPrefix(got, "0s") || strings.ContainsAny(got, "\n,") {
		t.Errorf("certs = %q, want one inline 0s blob", got)
	}

	for name, bad := range map[string]*vici.Message{
		"section name": vici.NewMessage().SetSection("a b", vici.NewMessage()),
		"option name":  vici.NewMessage().Set("a=b", "x"),
		"list item":    vici.NewMessage().SetList("local_ts", []string{"10.0.0.0/24, 0.0.0.0/0"}),
	} {
		if err := writeSettings(&strings.Builder{}, "tun", bad, "", 0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
