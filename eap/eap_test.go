package eap

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func secrets(m map[string]string) SecretFunc {
	return func(id string) ([]byte, bool) {
		s, ok := m[id]
		return []byte(s), ok
	}
}

// run drives a conversation over the wire encoding, as IKE carries it.
func run(t *testing.T, s Server, p *Peer) (Outcome, Outcome, int) {
	t.Helper()
	req, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	for rounds := 1; rounds < 10; rounds++ {
		in, err := Parse(req.Marshal())
		if err != nil {
			t.Fatalf("server sent an unparsable packet: %v", err)
		}
		resp, po, err := p.Handle(in)
		if po != Continue {
			return 0, po, rounds
		}
		if err != nil {
			t.Fatalf("peer: %v", err)
		}
		back, err := Parse(resp.Marshal())
		if err != nil {
			t.Fatalf("peer sent an unparsable packet: %v", err)
		}
		var so Outcome
		req, so, err = s.Step(back)
		if err != nil {
			t.Fatalf("server: %v", err)
		}
		if so != Continue {
			_, po, err := p.Handle(req)
			if err != nil && so == Succeeded {
				t.Fatalf("peer on %d: %v", req.Code, err)
			}
			return so, po, rounds
		}
	}
	t.Fatal("conversation does not end")
	return 0, 0, 0
}

func TestMSCHAPv2Conversation(t *testing.T) {
	s, err := NewAuthenticator(AuthenticatorConfig{Method: TypeMSCHAPv2, Secrets: secrets(map[string]string{"alice": "Passw0rd€"}), Rand: rand.Reader, Name: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{Identity: "alice", Secret: []byte("Passw0rd€"), Methods: []uint8{TypeMSCHAPv2}, Rand: rand.Reader}
	so, po, rounds := run(t, s, p)
	if so != Succeeded || po != Succeeded {
		t.Fatalf("outcomes server %d peer %d, reason %q", so, po, s.Reason())
	}
	if rounds != 3 || s.Identity() != "alice" {
		t.Errorf("rounds %d identity %q, want 3 (identity, challenge, success) and alice", rounds, s.Identity())
	}
	if len(s.MSK()) != 64 || !bytes.Equal(s.MSK(), p.MSK()) {
		t.Errorf("MSKs differ or wrong size: %x / %x", s.MSK(), p.MSK())
	}
}

func TestMSCHAPv2WrongPassword(t *testing.T) {
	s, _ := NewAuthenticator(AuthenticatorConfig{Method: TypeMSCHAPv2, Identity: "alice", Secrets: secrets(map[string]string{"alice": "right"}), Rand: rand.Reader})
	p := &Peer{Identity: "alice", Secret: []byte("wrong"), Methods: []uint8{TypeMSCHAPv2}, Rand: rand.Reader}
	so, po, _ := run(t, s, p)
	if so != Failed || po != Failed {
		t.Fatalf("outcomes server %d peer %d, want both failed", so, po)
	}
	if !strings.Contains(s.Reason(), `"alice"`) || s.MSK() != nil {
		t.Errorf("reason %q MSK %x", s.Reason(), s.MSK())
	}
}

// A gateway that does not know the password cannot fake MS-CHAPv2 success.
func TestMSCHAPv2PeerChecksAuthenticator(t *testing.T) {
	p := &Peer{Identity: "alice", Secret: []byte("pw"), Methods: []uint8{TypeMSCHAPv2}, Rand: rand.Reader}
	ch := append([]byte{mschapChallenge, 1, 0, 21, 16}, make([]byte, 16)...)
	if _, o, err := p.Handle(&Packet{Code: CodeRequest, Identifier: 1, Type: TypeMSCHAPv2, Data: ch}); o != Continue || err != nil {
		t.Fatal(o, err)
	}
	fake := append([]byte{mschapSuccess, 1, 0, 46}, "S=0000000000000000000000000000000000000000"...)
	if _, o, err := p.Handle(&Packet{Code: CodeRequest, Identifier: 2, Type: TypeMSCHAPv2, Data: fake}); o != Failed || err == nil {
		t.Fatalf("forged success accepted: %d %v", o, err)
	}
	if _, o, err := p.Handle(&Packet{Code: CodeSuccess, Identifier: 3}); o != Failed || !errors.Is(err, ErrUnexpected) {
		t.Fatalf("EAP-Success without a verified method: %d %v", o, err)
	}
}

func TestMD5Conversation(t *testing.T) {
	for _, pw := range []string{"secret", "wrong"} {
		s, _ := NewAuthenticator(AuthenticatorConfig{Method: TypeMD5, Identity: "bob", Secrets: secrets(map[string]string{"bob": "secret"}), Rand: rand.Reader})
		p := &Peer{Identity: "bob", Secret: []byte(pw), Methods: []uint8{TypeMD5}, Rand: rand.Reader}
		so, po, _ := run(t, s, p)
		want := Succeeded
		if pw == "wrong" {
			want = Failed
		}
		if so != want || po != want || s.MSK() != nil {
			t.Errorf("password %s: server %d peer %d MSK %x, want %d and no MSK", pw, so, po, s.MSK(), want)
		}
	}
}

// A peer that only does MD5 refuses MS-CHAPv2 with a Nak naming MD5.
func TestNak(t *testing.T) {
	s, _ := NewAuthenticator(AuthenticatorConfig{Method: TypeMSCHAPv2, Identity: "bob", Secrets: secrets(nil), Rand: rand.Reader})
	p := &Peer{Identity: "bob", Secret: []byte("x"), Methods: []uint8{TypeMD5}, Rand: rand.Reader}
	so, po, _ := run(t, s, p)
	if so != Failed || po != Failed || !strings.Contains(s.Reason(), "proposes MD5") {
		t.Fatalf("server %d peer %d reason %q", so, po, s.Reason())
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want *Packet
		err  error
	}{
		{[]byte{1, 7, 0, 5, 1}, &Packet{Code: 1, Identifier: 7, Type: 1, Data: []byte{}}, nil},
		{[]byte{2, 7, 0, 8, 1, 'b', 'o', 'b', 0xff}, &Packet{Code: 2, Identifier: 7, Type: 1, Data: []byte("bob")}, nil},
		{[]byte{3, 9, 0, 4}, &Packet{Code: 3, Identifier: 9}, nil},
		{[]byte{3, 9, 0}, nil, ErrTruncated},
		{[]byte{1, 9, 0, 4}, nil, ErrTruncated},
		{[]byte{1, 9, 0, 9, 1}, nil, ErrLength},
		{[]byte{4, 9, 0, 5, 1}, nil, ErrLength},
	} {
		got, err := Parse(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("Parse(%x) error %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got.Code != c.want.Code || got.Identifier != c.want.Identifier || got.Type != c.want.Type || !bytes.Equal(got.Data, c.want.Data) {
			t.Errorf("Parse(%x) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	if _, err := Parse([]byte{5, 1, 0, 4}); err == nil {
		t.Error("unknown code accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{1, 7, 0, 5, 1})
	f.Add([]byte{2, 7, 0, 8, 1, 'b', 'o', 'b'})
	f.Add([]byte{3, 9, 0, 4})
	f.Add(append([]byte{1, 2, 0, 26, 26, 1, 2, 0, 21, 16}, make([]byte, 16)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(p.Marshal())
		if err != nil || again.Code != p.Code || again.Identifier != p.Identifier || again.Type != p.Type || !bytes.Equal(again.Data, p.Data) {
			t.Fatalf("round trip of %x: %+v, %v", b, again, err)
		}
		// Neither side may fail hard on whatever the other sends.
		peer := &Peer{Identity: "u", Secret: []byte("s"), Methods: []uint8{TypeMSCHAPv2, TypeMD5}, Rand: bytes.NewReader(make([]byte, 64))}
		_, _, _ = peer.Handle(p)
		for _, m := range []uint8{TypeMSCHAPv2, TypeMD5} {
			s, _ := NewAuthenticator(AuthenticatorConfig{Method: m, Secrets: secrets(map[string]string{"u": "s"}), Rand: bytes.NewReader(make([]byte, 64))})
			if _, err := s.Start(); err != nil {
				t.Fatal(err)
			}
			p.Identifier = s.id
			_, _, _ = s.Step(p)
		}
	})
}
