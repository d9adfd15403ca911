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

// FuzzVICISettings: whatever section a client sends, the text made of it
// is refused or parses as that one section, with every value back as sent.
func FuzzVICISettings(f *testing.F) {
	seed := vici.NewMessage().Set("remote_addrs", "192.0.2.1").Set("odd", "a\n}\n{#\"\\")
	seed.Section("children").Section("net").SetList("local_ts", []string{"10.0.0.0/24"})
	b, _ := seed.Encode(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := vici.Decode(b)
		if err != nil {
			return
		}
		var sb strings.Builder
		if err := writeSettings(&sb, "tun", m, "  ", 0); err != nil {
			return
		}
		root, err := config.ParseSettings("vici", []byte("connections {\n"+sb.String()+"}\n"))
		if err != nil {
			t.Fatalf("generated text does not parse: %v\n%s", err, sb.String())
		}
		if len(root.Sections) != 1 || len(root.Settings) != 0 || len(root.Sub("connections").Sections) != 1 {
			t.Fatalf("generated text escapes its section:\n%s", sb.String())
		}
		tun := root.Sub("connections").Sub("tun")
		_ = m.Each(func(key string, value *string, list []string, _ *vici.Message) error {
			if fileListKeys[key] {
				return nil
			}
			kv := tun.Lookup(key)
			if value != nil && (kv == nil || kv.Value != *value) {
				t.Fatalf("%s: sent %q, parsed %v\n%s", key, *value, kv, sb.String())
			}
			if len(list) > 0 {
				if kv == nil || strings.Join(strings.Fields(strings.ReplaceAll(kv.Value, ",", " ")), "|") != strings.Join(list, "|") {
					t.Fatalf("%s: sent %q, parsed %v\n%s", key, list, kv, sb.String())
				}
			}
			return nil
		})
	})
}
