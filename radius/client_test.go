package radius

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer answers on loopback with handle's reply; a nil reply drops the
// request. It counts the requests it received.
type fakeServer struct {
	conn *net.UDPConn
	n    atomic.Int32
}

func startServer(t *testing.T, handle func(req *Packet, n int) []byte) *fakeServer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{conn: conn}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req, err := Parse(buf[:k])
			if err != nil {
				continue
			}
			if reply := handle(req, int(s.n.Add(1))); reply != nil {
				_, _ = conn.WriteToUDP(reply, from)
			}
		}
	}()
	return s
}

func (s *fakeServer) addr() string { return s.conn.LocalAddr().String() }

func TestClientEAPRounds(t *testing.T) {
	secret := []byte("testing123")
	send, recv := bytes.Repeat([]byte{5}, 32), bytes.Repeat([]byte{6}, 32)
	var seenState atomic.Value
	srv := startServer(t, func(req *Packet, n int) []byte {
		if _, err := VerifyRequestForTest(req, secret); err != nil {
			t.Errorf("request %d: %v", n, err)
			return nil
		}
		if n == 1 {
			attrs := append(SplitEAP([]byte{1, 2, 0, 6, 4, 0}), Attribute{Type: TypeState, Value: []byte("round-1")})
			return serverReply(t, CodeAccessChallenge, req.Identifier, req.Authenticator, secret, attrs, true)
		}
		st, _ := req.Get(TypeState)
		seenState.Store(string(st))
		if nas, _ := req.Get(TypeNASIdentifier); string(nas) != "strongSwan" {
			t.Errorf("NAS-Identifier %q, want strongSwan's default", nas)
		}
		attrs := SplitEAP([]byte{3, 2, 0, 4})
		attrs = append(attrs,
			Attribute{Type: TypeVendorSpecific, Value: EncryptMPPEKey(false, send, secret, req.Authenticator, 7)},
			Attribute{Type: TypeVendorSpecific, Value: EncryptMPPEKey(true, recv, secret, req.Authenticator, 8)})
		return serverReply(t, CodeAccessAccept, req.Identifier, req.Authenticator, secret, attrs, true)
	})
	c := &Client{Servers: []Server{{Name: "a", Addr: srv.addr(), Secret: secret}}, Timeout: time.Second}
	ctx := context.Background()
	r1, err := c.EAP(ctx, EAPRequest{UserName: "alice", EAP: []byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'}})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Code != CodeAccessChallenge || !bytes.Equal(r1.EAP, []byte{1, 2, 0, 6, 4, 0}) || string(r1.State) != "round-1" {
		t.Fatalf("round 1: %+v", r1)
	}
	r2, err := c.EAP(ctx, EAPRequest{UserName: "alice", EAP: []byte{2, 2, 0, 6, 3, 4}, State: r1.State})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Code != CodeAccessAccept || !bytes.Equal(r2.EAP, []byte{3, 2, 0, 4}) || !bytes.Equal(r2.MSK, append(bytes.Clone(recv), send...)) {
		t.Fatalf("round 2: %+v", r2)
	}
	if seenState.Load() != "round-1" {
		t.Fatalf("server saw State %q", seenState)
	}
}

// VerifyRequestForTest checks the Message-Authenticator of a request as a
// server does.
func VerifyRequestForTest(req *Packet, secret []byte) (bool, error) {
	raw, err := req.Encode()
	if err != nil {
		return false, err
	}
	off := maOffset(raw)
	if off < 0 {
		return false, errors.New("no Message-Authenticator")
	}
	want := bytes.Clone(raw[off : off+16])
	q := *req
	q.Attributes = append([]Attribute(nil), req.Attributes...)
	for i := range q.Attributes {
		if q.Attributes[i].Type == TypeMessageAuthenticator {
			q.Attributes[i].Value = nil
		}
	}
	signed, err := q.Sign(secret)
	if err != nil {
		return false, err
	}
	if !bytes.Equal(signed[off:off+16], want) {
		return false, errors.New("Message-Authenticator mismatch")
	}
	return true, nil
}

func TestClientRetransmitAndFailover(t *testing.T) {
	secret := []byte("sec")
	dead := startServer(t, func(*Packet, int) []byte { return nil })
	forged := startServer(t, func(req *Packet, _ int) []byte {
		return serverReply(t, CodeAccessAccept, req.Identifier, req.Authenticator, []byte("not the secret"), nil, true)
	})
	lossy := startServer(t, func(req *Packet, n int) []byte {
		if n == 1 {
			return nil // the first try is lost
		}
		return serverReply(t, CodeAccessReject, req.Identifier, req.Authenticator, secret, SplitEAP([]byte{4, 1, 0, 4}), true)
	})
	c := &Client{Servers: []Server{
		{Name: "dead", Addr: dead.addr(), Secret: secret, Tries: 2}, // per-server override
		{Name: "forged", Addr: forged.addr(), Secret: secret},
		{Name: "lossy", Addr: lossy.addr(), Secret: secret},
	}, Timeout: 100 * time.Millisecond, Base: 1, Tries: 3}
	start := time.Now()
	r, err := c.EAP(context.Background(), EAPRequest{UserName: "bob", EAP: []byte{2, 1, 0, 8, 1, 'b', 'o', 'b'}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != CodeAccessReject || r.Server != "lossy" || !bytes.Equal(r.EAP, []byte{4, 1, 0, 4}) {
		t.Fatalf("result %+v", r)
	}
	if dead.n.Load() != 2 || forged.n.Load() != 3 || lossy.n.Load() != 2 {
		t.Fatalf("tries dead %d forged %d lossy %d, want 2 3 2", dead.n.Load(), forged.n.Load(), lossy.n.Load())
	}
	if el := time.Since(start); el < 6*100*time.Millisecond {
		t.Fatalf("took %v, less than six timeouts", el)
	}
	// the server that answered is tried first next time
	if _, err := c.EAP(context.Background(), EAPRequest{EAP: []byte{2, 1, 0, 4}}); err != nil {
		t.Fatal(err)
	}
	if dead.n.Load() != 2 || lossy.n.Load() < 3 {
		t.Fatalf("second request went to dead (%d tries) instead of lossy (%d)", dead.n.Load(), lossy.n.Load())
	}
	c.Servers = c.Servers[:2]
	c.good = 0
	if _, err := c.EAP(context.Background(), EAPRequest{EAP: []byte{2, 1, 0, 4}}); !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrResponseAuthenticator) {
		t.Fatalf("no good server: %v", err)
	}
}

// An Accounting-Request carries the RFC 2866 3 Request Authenticator and
// goes to the accounting port; the Accounting-Response is verified against
// it.
func TestClientAccounting(t *testing.T) {
	secret := []byte("acct-secret")
	var got atomic.Value
	acct := startServer(t, func(req *Packet, _ int) []byte {
		raw, err := req.Encode()
		if err != nil {
			return nil
		}
		zero := bytes.Clone(raw)
		clear(zero[4:20])
		h := md5.New()
		h.Write(zero)
		h.Write(secret)
		if !bytes.Equal(h.Sum(nil), raw[4:20]) {
			t.Errorf("Accounting-Request authenticator is not RFC 2866's")
			return nil
		}
		got.Store(req)
		return serverReply(t, CodeAccountingResponse, req.Identifier, req.Authenticator, secret, nil, false)
	})
	c := &Client{Servers: []Server{{Name: "a", Addr: "127.0.0.1:9", AcctAddr: acct.addr(), Secret: secret, NASIdentifier: "gw-7"}},
		NASIdentifier: "client-wide", Timeout: time.Second}
	err := c.Account(context.Background(), AccountingRecord{Status: AcctStop, SessionID: "ike-7", UserName: "carol",
		SessionTime: 90 * time.Second, InputOctets: 5<<32 | 7, OutputPackets: 3, TerminateCause: TerminateUserRequest,
		NASPort: 9, NASIP: netip.MustParseAddr("192.0.2.1"), CalledStation: "192.0.2.1[4500]", CallingStation: "198.51.100.7[4500]",
		FramedIP: netip.MustParseAddr("10.3.0.2"), FramedIP6: netip.MustParseAddr("fd00::2")})
	if err != nil {
		t.Fatal(err)
	}
	req := got.Load().(*Packet)
	check := map[Type][]byte{TypeAcctStatusType: {0, 0, 0, 2}, TypeAcctSessionID: []byte("ike-7"), TypeUserName: []byte("carol"),
		TypeAcctSessionTime: {0, 0, 0, 90}, TypeAcctInputOctets: {0, 0, 0, 7}, TypeAcctInputGigawords: {0, 0, 0, 5},
		TypeAcctOutputPackets: {0, 0, 0, 3}, TypeAcctTerminateCause: {0, 0, 0, 1}, TypeNASIdentifier: []byte("gw-7"),
		TypeNASPort: {0, 0, 0, 9}, TypeNASPortType: {0, 0, 0, 5}, TypeServiceType: {0, 0, 0, 2}, TypeNASIPAddress: {192, 0, 2, 1},
		TypeCalledStationID: []byte("192.0.2.1[4500]"), TypeCallingStationID: []byte("198.51.100.7[4500]"),
		TypeFramedIPAddress: {10, 3, 0, 2}, TypeFramedIPv6Address: netip.MustParseAddr("fd00::2").AsSlice()}
	for typ, want := range check {
		if v, _ := req.Get(typ); !bytes.Equal(v, want) {
			t.Errorf("attribute %d = %x, want %x", typ, v, want)
		}
	}
	if _, ok := req.Get(TypeMessageAuthenticator); ok {
		t.Error("Accounting-Request with a Message-Authenticator")
	}
}
