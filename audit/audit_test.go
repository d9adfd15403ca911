package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cygnet-ipsec/cygnet/control"
)

// TestLogLinesAndMode: records are whole JSON lines (also when written
// concurrently), appended, and the file is 0600 even if it existed with
// a looser mode.
func TestLogLinesAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.json")
	if err := os.WriteFile(path, []byte(`{"event":"earlier"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Write(Record{Event: IKEUp, Conn: "c", IKE: &control.IKESA{UniqueID: uint32(i), LocalID: "a", RemoteID: "b"}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := l.Write(Record{Event: Reload, Added: []string{"new"}, Removed: []string{"old"}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	f, _ := os.Open(path)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var events []string
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		events = append(events, r.Event)
		if r.Event == IKEUp && (r.IKE == nil || r.IKE.RemoteID != "b" || r.Time.IsZero()) {
			t.Errorf("record %q lost its SA or time", sc.Text())
		}
	}
	if len(events) != 52 || events[0] != "earlier" || events[51] != Reload {
		t.Errorf("events %v", events)
	}
}
