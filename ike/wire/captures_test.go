package wire

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func readCaptures(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in testdata: %v", err)
	}
	out := make(map[string][]byte)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// TestCapturesRoundTrip parses every message strongSwan 5.9.8 sent in the captures and marshals it back to the
// identical bytes.
func TestCapturesRoundTrip(t *testing.T) {
	for name, b := range readCaptures(t) {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMessage(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			t.Log(m)
			out, err := m.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if !bytes.Equal(out, b) {
				t.Fatalf("round trip differs:\n got %x\nwant %x", out, b)
			}
		})
	}
}
