package vici

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
)

// A message as strongSwan's documentation shows it encoded, byte for byte.
func TestEncodeMatchesTheWireFormat(t *testing.T) {
	m := NewMessage().Set("key1", "value1")
	m.Section("section1").Section("sub-section").Set("key2", "value2")
	m.Section("section1").SetList("list1", []string{"item1", "item2"})
	got, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = append(want, 3, 4)
	want = append(want, "key1"...)
	want = append(want, 0, 6)
	want = append(want, "value1"...)
	want = append(want, 1, 8)
	want = append(want, "section1"...)
	want = append(want, 1, 11)
	want = append(want, "sub-section"...)
	want = append(want, 3, 4)
	want = append(want, "key2"...)
	want = append(want, 0, 6)
	want = append(want, "value2"...)
	want = append(want, 2, 4, 5)
	want = append(want, "list1"...)
	want = append(want, 5, 0, 5)
	want = append(want, "item1"...)
	want = append(want, 5, 0, 5)
	want = append(want, "item2"...)
	want = append(want, 6, 2)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding\n got %x\nwant %x", got, want)
	}
	back, err := Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	if v := back.String("key1"); v != "value1" {
		t.Errorf("key1 = %q", v)
	}
	if v := back.Sub("section1").Sub("sub-section").String("key2"); v != "value2" {
		t.Errorf("key2 = %q", v)
	}
	if l, _ := back.Sub("section1").List("list1"); strings.Join(l, ",") != "item1,item2" {
		t.Errorf("list1 = %q", l)
	}
}

func TestDecodeRefusesBadMessages(t *testing.T) {
	for name, b := range map[string][]byte{
		"truncated name":    {3, 9, 'a'},
		"truncated value":   {3, 1, 'a', 0, 9, 'x'},
		"unclosed section":  {1, 1, 's'},
		"stray section end": {2},
		"unclosed list":     {4, 1, 'l', 5, 0, 0},
		"item outside list": {5, 0, 0},
		"key/value in list": {4, 1, 'l', 3, 1, 'a', 0, 0, 6},
		"unknown element":   {9},
		"list end outside":  {6},
		"section in a list": {4, 1, 'l', 1, 1, 's', 2, 6},
		"deeply nested":     bytes.Repeat([]byte{1, 0}, MaxNesting+2),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded", name)
		} else if !strings.HasPrefix(err.Error(), "vici: ") {
			t.Errorf("%s: error %q lacks context", name, err)
		}
	}
}

func TestPacketsRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := []Packet{
		{Type: CmdRequest, Name: "list-sas", Msg: NewMessage().Set("ike", "gw")},
		{Type: CmdResponse, Msg: Success()},
		{Type: CmdUnknown},
		{Type: EventRegister, Name: "ike-updown"},
		{Type: EventUnregister, Name: "ike-updown"},
		{Type: EventConfirm},
		{Type: EventUnknown},
		{Type: Event, Name: "log", Msg: NewMessage().Set("msg", "hello")},
	}
	for _, p := range in {
		if err := WritePacket(&buf, p); err != nil {
			t.Fatal(err)
		}
	}
	// a request on the wire: length, type 0, name length, name, message
	if b := buf.Bytes(); !bytes.HasPrefix(b, append([]byte{0, 0, 0, 0x13, 0, 8}, "list-sas"...)) {
		t.Fatalf("request framing %x", b[:16])
	}
	for _, want := range in {
		p, err := ReadPacket(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if p.Type != want.Type || p.Name != want.Name {
			t.Fatalf("got %v %q, want %v %q", p.Type, p.Name, want.Type, want.Name)
		}
		if want.Msg != nil && strings.Join(p.Msg.Keys(), ",") != strings.Join(want.Msg.Keys(), ",") {
			t.Fatalf("%v: keys %v", p.Type, p.Msg.Keys())
		}
	}
	if _, err := ReadPacket(bytes.NewReader([]byte{0, 0x10, 0, 0})); err == nil {
		t.Error("a 1 MiB length was accepted")
	}
	if _, err := UnmarshalPacket([]byte{5, 1}); err == nil {
		t.Error("trailing bytes after EVENT_CONFIRM accepted")
	}
}

// Decoding is linear: a maximal packet of the most expensive elements
// costs time and memory in proportion to its size.
func TestDecodeIsLinear(t *testing.T) {
	for name, unit := range map[string][]byte{
		"empty sections": {1, 0, 2},
		"empty items":    {5, 0, 0},
		"empty values":   {3, 0, 0, 0},
	} {
		pre, post := []byte{}, []byte{}
		if unit[0] == 5 {
			pre, post = []byte{4, 0}, []byte{6}
		}
		n := (MaxPacket - 8) / len(unit)
		b := append(append(pre, bytes.Repeat(unit, n)...), post...)
		start := time.Now()
		alloc := alloctest.Bytes(func() {
			if _, err := Decode(b); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		})
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: %v to decode %d bytes", name, el, len(b))
		}
		if budget := 256 * uint64(len(b)); alloc > budget {
			t.Errorf("%s: %d bytes allocated for a %d byte message (budget %d)", name, alloc, len(b), budget)
		}
	}
}

func FuzzDecode(f *testing.F) {
	m := NewMessage().Set("a", "b").SetList("l", []string{"x", ""})
	m.Section("s").Set("k", "v")
	seed, _ := m.Encode(nil)
	f.Add(seed)
	f.Add([]byte{1, 0, 2})
	f.Add([]byte{4, 1, 'l', 5, 0, 1, 'x', 6})
	f.Add([]byte{3, 1, 'a', 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// what decodes encodes back to the same bytes
		out, err := m.Encode(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip\n in %x\nout %x", b, out)
		}
	})
}

func FuzzPacket(f *testing.F) {
	f.Add([]byte{0, 3, 'a', 'b', 'c', 3, 1, 'k', 0, 1, 'v'})
	f.Add([]byte{7, 1, 'e'})
	f.Add([]byte{5})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := UnmarshalPacket(b)
		if err != nil {
			return
		}
		if _, err := MarshalPacket(p); err != nil && len(b) <= MaxPacket {
			t.Fatalf("re-marshal: %v", err)
		}
	})
}
