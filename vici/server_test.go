package vici

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func dialTest(t *testing.T) (net.Conn, *Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vici")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := NewServer(nil)
	s.AddEvents("list-item", "ike-updown")
	s.Handle("list", func(_ context.Context, req *Message, emit func(string, *Message)) *Message {
		for _, n := range []string{"one", "two"} {
			emit("list-item", NewMessage().Set("name", n))
		}
		return NewMessage().Set("asked", req.String("q"))
	})
	s.Handle("boom", func(context.Context, *Message, func(string, *Message)) *Message { panic("boom") })
	go s.Serve(ctx, l)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, s
}

func exchange(t *testing.T, c net.Conn, p Packet) Packet {
	t.Helper()
	if err := WritePacket(c, p); err != nil {
		t.Fatal(err)
	}
	r, err := ReadPacket(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServerSpeaksTheProtocol(t *testing.T) {
	c, s := dialTest(t)
	if r := exchange(t, c, Packet{Type: CmdRequest, Name: "nope"}); r.Type != CmdUnknown {
		t.Errorf("unknown command answered with %v", r.Type)
	}
	if r := exchange(t, c, Packet{Type: EventRegister, Name: "nope"}); r.Type != EventUnknown {
		t.Errorf("unknown event answered with %v", r.Type)
	}
	// without registration the streamed events stay away
	r := exchange(t, c, Packet{Type: CmdRequest, Name: "list", Msg: NewMessage().Set("q", "x")})
	if r.Type != CmdResponse || r.Msg.String("asked") != "x" {
		t.Fatalf("list answered %v %v", r.Type, r.Msg.Keys())
	}
	if r := exchange(t, c, Packet{Type: EventRegister, Name: "list-item"}); r.Type != EventConfirm {
		t.Fatalf("registration answered with %v", r.Type)
	}
	// registered: the events come first, then the response
	r = exchange(t, c, Packet{Type: CmdRequest, Name: "list"})
	for _, want := range []string{"one", "two"} {
		if r.Type != Event || r.Name != "list-item" || r.Msg.String("name") != want {
			t.Fatalf("got %v %q %v, want event list-item %s", r.Type, r.Name, r.Msg, want)
		}
		var err error
		if r, err = ReadPacket(c); err != nil {
			t.Fatal(err)
		}
	}
	if r.Type != CmdResponse {
		t.Fatalf("after the events: %v", r.Type)
	}
	// published events reach registered clients only
	if r := exchange(t, c, Packet{Type: EventRegister, Name: "ike-updown"}); r.Type != EventConfirm {
		t.Fatal(r.Type)
	}
	s.Publish("ike-updown", NewMessage().Set("up", "yes"))
	if r, err := ReadPacket(c); err != nil || r.Type != Event || r.Name != "ike-updown" || r.Msg.String("up") != "yes" {
		t.Fatalf("published event: %v %v", r, err)
	}
	if r := exchange(t, c, Packet{Type: EventUnregister, Name: "ike-updown"}); r.Type != EventConfirm {
		t.Fatal(r.Type)
	}
	// a panicking command answers with an error and the server goes on
	r = exchange(t, c, Packet{Type: CmdRequest, Name: "boom"})
	if r.Type != CmdResponse || r.Msg.String("success") != "no" || r.Msg.String("errmsg") == "" {
		t.Fatalf("panicking command: %v %v", r.Type, r.Msg)
	}
	if r := exchange(t, c, Packet{Type: CmdRequest, Name: "list"}); r.Type != Event {
		t.Fatalf("after a panic: %v", r.Type)
	}
}

// A client sending garbage is dropped; the server keeps serving others.
func TestServerDropsBadClients(t *testing.T) {
	c, _ := dialTest(t)
	if _, err := c.Write([]byte{0, 0, 0, 3, 9, 9, 9}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPacket(c); err == nil {
		t.Fatal("the server answered a packet of unknown type")
	}
}
