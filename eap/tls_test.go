package eap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/alloctest"
)

// TestTLSPRFKnownAnswer checks the TLS 1.2 PRF that derives the MSK
// against the test vectors circulated for RFC 5246 (also what `openssl kdf
// TLS1-PRF` gives).
func TestTLSPRFKnownAnswer(t *testing.T) {
	secret, _ := hex.DecodeString("9bbe436ba940f017b17652849a71db35")
	seed, _ := hex.DecodeString("a0ba9f936cda311827a6f796ffd5198c")
	want := "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66"
	if got := hex.EncodeToString(prf12(sha256.New, secret, []byte("test label"), seed, 100)); got != want {
		t.Errorf("P_SHA256 = %s\nwant       %s", got, want)
	}
	secret, _ = hex.DecodeString("b80b733d6ceefcdc71566ea48e5567df")
	seed, _ = hex.DecodeString("cd665cf6a8447dd6ff8b27555edb7465")
	want = "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd"
	if got := hex.EncodeToString(prf12(sha512.New384, secret, []byte("test label"), seed, 64)); got != want {
		t.Errorf("P_SHA384 = %s\nwant       %s", got, want)
	}
}

type testPKI struct {
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

func newTestPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &testPKI{ca: ca, caKey: key}
}

// issue makes a certificate for a DNS name, padded with SANs to size bytes
// or so, so that flights need fragments.
func (p *testPKI) issue(t testing.TB, name string, pad int) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{name}
	for i := 0; i*30 < pad; i++ {
		names = append(names, fmt.Sprintf("padding-%04d.example.invalid", i))
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// verifier trusts one CA and wants the identity among the DNS names.
func (p *testPKI) verifier(seen *[]string) func(string, [][]byte) error {
	return func(id string, chain [][]byte) error {
		*seen = append(*seen, id)
		c, err := x509.ParseCertificate(chain[0])
		if err != nil {
			return err
		}
		if err := c.CheckSignatureFrom(p.ca); err != nil {
			return fmt.Errorf("certificate of %s not issued by our CA: %w", c.Subject, err)
		}
		if !slices.Contains(c.DNSNames, id) {
			return fmt.Errorf("certificate does not carry %q", id)
		}
		return nil
	}
}

type tlsRun struct {
	srv         *Authenticator
	peer        *Peer
	outcome     Outcome
	peerOutcome Outcome
	peerErr     error
	maxPacket   int
	fragments   int // packets carrying M
	acks        int
	roundTrips  int
}

// runTLS drives a gateway and a client through EAP-TLS in memory.
func runTLS(t *testing.T, srvCfg, peerCfg *TLSConfig, peerID, askID string) *tlsRun {
	t.Helper()
	r := &tlsRun{}
	srv, err := NewAuthenticator(AuthenticatorConfig{Method: TypeTLS, Identity: askID, TLS: srvCfg, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.peer = &Peer{Identity: peerID, Methods: []uint8{TypeTLS}, TLS: peerCfg, ServerIdentity: "gw.example.org"}
	req, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	count := func(p *Packet) {
		b := p.Marshal()
		r.maxPacket = max(r.maxPacket, len(b))
		if p.Type == TypeTLS && len(p.Data) > 0 {
			if p.Data[0]&TLSFlagMore != 0 {
				r.fragments++
			}
			if len(p.Data) == 1 && p.Data[0] == 0 {
				r.acks++
			}
		}
	}
	for range 100 {
		count(req)
		resp, out, err := r.peer.Handle(mustReparse(t, req))
		if out != Continue {
			r.peerOutcome, r.peerErr = out, err
			return r
		}
		if err != nil {
			t.Fatal(err)
		}
		count(resp)
		r.roundTrips++
		next, sout, err := srv.Step(mustReparse(t, resp))
		if err != nil {
			t.Fatalf("server step: %v", err)
		}
		req = next
		r.outcome = sout
	}
	t.Fatal("EAP-TLS did not end in 100 round trips")
	return nil
}

func mustReparse(t *testing.T, p *Packet) *Packet {
	t.Helper()
	q, err := Parse(p.Marshal())
	if err != nil {
		t.Fatalf("reparse: %v", err)
	}
	return q
}

// TestTLSConversation runs EAP-TLS between our server and peer with
// certificates big enough to need fragments both ways: both end with
// success, derive the same MSK, which is what crypto/tls's own RFC 5705
// exporter gives for the label (it exports here because Go negotiates the
// extended master secret with itself); every EAP packet fits the fragment
// size; each side checked the other's certificate for the right identity.
func TestTLSConversation(t *testing.T) {
	pki := newTestPKI(t, "EAP CA")
	var srvSeen, peerSeen []string
	srvCfg := &TLSConfig{Certificate: pki.issue(t, "gw.example.org", 1500), VerifyPeer: pki.verifier(&srvSeen), FragmentSize: 400,
		MaxVersion: tls.VersionTLS13} // the client's default (1.2) wins
	peerCfg := &TLSConfig{Certificate: pki.issue(t, "alice.example.org", 1500), VerifyPeer: pki.verifier(&peerSeen), FragmentSize: 500}
	r := runTLS(t, srvCfg, peerCfg, "alice.example.org", "")
	if r.outcome != Succeeded || r.peerOutcome != Succeeded || r.peerErr != nil {
		t.Fatalf("server %v (%s), peer %v %v", r.outcome, r.srv.Reason(), r.peerOutcome, r.peerErr)
	}
	if r.srv.Identity() != "alice.example.org" || !slices.Equal(srvSeen, []string{"alice.example.org"}) || !slices.Equal(peerSeen, []string{"gw.example.org"}) {
		t.Errorf("identity %q; server checked %v, peer checked %v", r.srv.Identity(), srvSeen, peerSeen)
	}
	if r.maxPacket > 500 || r.fragments < 4 || r.acks < 4 {
		t.Errorf("largest EAP packet %d bytes (want <= 500), %d fragments, %d acks (want several of each)", r.maxPacket, r.fragments, r.acks)
	}
	msk := r.srv.MSK()
	if len(msk) != 64 || !bytes.Equal(msk, r.peer.MSK()) {
		t.Fatalf("MSK server %x peer %x", msk, r.peer.MSK())
	}
	st := r.srv.tls.engine.conn.ConnectionState()
	if st.Version != tls.VersionTLS12 {
		t.Errorf("negotiated %s, want TLS 1.2", tls.VersionName(st.Version))
	}
	ekm, err := st.ExportKeyingMaterial("client EAP encryption", nil, 128)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ekm[:64], msk) {
		t.Errorf("MSK %x, RFC 5705 exporter %x", msk, ekm[:64])
	}
	t.Logf("%d round trips, %d fragments, %d acks, largest EAP packet %d bytes", r.roundTrips, r.fragments, r.acks, r.maxPacket)
}

// TestTLS13Conversation: with TLS 1.3 on both ends (RFC 9190) the
// client's success waits for the server's protected success indication;
// the MSK is the exporter's "EXPORTER_EAP_TLS_Key_Material" with context
// 0x0D, the same on both ends, and differs from the RFC 5216 label's.
func TestTLS13Conversation(t *testing.T) {
	pki := newTestPKI(t, "EAP CA")
	var seen []string
	srvCfg := &TLSConfig{Certificate: pki.issue(t, "gw.example.org", 1500), VerifyPeer: pki.verifier(&seen), MaxVersion: tls.VersionTLS13}
	peerCfg := &TLSConfig{Certificate: pki.issue(t, "alice.example.org", 1500), VerifyPeer: pki.verifier(&seen), MaxVersion: tls.VersionTLS13}
	r := runTLS(t, srvCfg, peerCfg, "alice.example.org", "")
	if r.outcome != Succeeded || r.peerOutcome != Succeeded || r.peerErr != nil {
		t.Fatalf("server %v (%s), peer %v %v", r.outcome, r.srv.Reason(), r.peerOutcome, r.peerErr)
	}
	st := r.srv.tls.engine.conn.ConnectionState()
	if st.Version != tls.VersionTLS13 {
		t.Fatalf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
	}
	msk := r.srv.MSK()
	ekm, _ := st.ExportKeyingMaterial("EXPORTER_EAP_TLS_Key_Material", []byte{0x0d}, 128)
	other, _ := st.ExportKeyingMaterial("client EAP encryption", nil, 128)
	if len(msk) != 64 || !bytes.Equal(msk, r.peer.MSK()) || !bytes.Equal(msk, ekm[:64]) || bytes.Equal(msk, other[:64]) {
		t.Errorf("MSK server %x peer %x exporter %x", msk, r.peer.MSK(), ekm[:64])
	}
}

// TestTLS13UntrustedClient: with TLS 1.3 the client has finished its
// handshake before the server judged its certificate; it must not count
// that as success: it fails, and derives no MSK.
func TestTLS13UntrustedClient(t *testing.T) {
	pki, other := newTestPKI(t, "EAP CA"), newTestPKI(t, "Other CA")
	var seen []string
	srvCfg := &TLSConfig{Certificate: pki.issue(t, "gw.example.org", 0), VerifyPeer: pki.verifier(&seen), MaxVersion: tls.VersionTLS13}
	peerCfg := &TLSConfig{Certificate: other.issue(t, "mallory.example.org", 0), VerifyPeer: pki.verifier(&seen), MaxVersion: tls.VersionTLS13}
	r := runTLS(t, srvCfg, peerCfg, "mallory.example.org", "")
	if r.outcome != Failed || !strings.Contains(r.srv.Reason(), "not issued by our CA") {
		t.Errorf("server: %v, reason %q", r.outcome, r.srv.Reason())
	}
	if r.peerOutcome != Failed || r.peer.MSK() != nil {
		t.Errorf("peer: %v %v, MSK %x", r.peerOutcome, r.peerErr, r.peer.MSK())
	}
	// A server that sends EAP-Success instead of the indication is refused.
	pki2 := newTestPKI(t, "EAP CA")
	peer := &Peer{Identity: "alice.example.org", Methods: []uint8{TypeTLS}, ServerIdentity: "gw.example.org",
		TLS: &TLSConfig{Certificate: pki2.issue(t, "alice.example.org", 0), VerifyPeer: pki2.verifier(&seen), MaxVersion: tls.VersionTLS13}}
	srv, _ := NewAuthenticator(AuthenticatorConfig{Method: TypeTLS, Identity: "alice.example.org", Rand: rand.Reader,
		TLS: &TLSConfig{Certificate: pki2.issue(t, "gw.example.org", 0), VerifyPeer: pki2.verifier(&seen), MaxVersion: tls.VersionTLS13}})
	req, _ := srv.Start()
	for i := 0; i < 2; i++ { // start, then the server's flight: the client sends its own
		resp, _, err := peer.Handle(mustReparse(t, req))
		if err != nil {
			t.Fatal(err)
		}
		if req, _, err = srv.Step(mustReparse(t, resp)); err != nil {
			t.Fatal(err)
		}
	}
	if _, out, err := peer.Handle(&Packet{Code: CodeSuccess, Identifier: req.Identifier}); out != Failed || err == nil {
		t.Errorf("EAP-Success before the success indication: %v %v", out, err)
	}
	peer.Close()
	srv.Close()
}

// TestTLSUntrustedClient: a client certificate from another CA fails on
// the server with a reason naming the check, and the client reports the
// server's verdict.
func TestTLSUntrustedClient(t *testing.T) {
	pki, other := newTestPKI(t, "EAP CA"), newTestPKI(t, "Other CA")
	var seen []string
	srvCfg := &TLSConfig{Certificate: pki.issue(t, "gw.example.org", 0), VerifyPeer: pki.verifier(&seen)}
	peerCfg := &TLSConfig{Certificate: other.issue(t, "mallory.example.org", 0), VerifyPeer: pki.verifier(&seen)}
	r := runTLS(t, srvCfg, peerCfg, "mallory.example.org", "")
	if r.outcome != Failed || !strings.Contains(r.srv.Reason(), "not issued by our CA") || r.srv.MSK() != nil {
		t.Errorf("server: %v, reason %q", r.outcome, r.srv.Reason())
	}
	if r.peerOutcome != Failed || r.peer.MSK() != nil {
		t.Errorf("peer: %v %v", r.peerOutcome, r.peerErr)
	}
}

// TestTLSIdentityMismatch: the client's certificate must carry its EAP
// identity.
func TestTLSIdentityMismatch(t *testing.T) {
	pki := newTestPKI(t, "EAP CA")
	var seen []string
	srvCfg := &TLSConfig{Certificate: pki.issue(t, "gw.example.org", 0), VerifyPeer: pki.verifier(&seen)}
	peerCfg := &TLSConfig{Certificate: pki.issue(t, "alice.example.org", 0), VerifyPeer: pki.verifier(&seen)}
	r := runTLS(t, srvCfg, peerCfg, "bob.example.org", "")
	if r.outcome != Failed || !strings.Contains(r.srv.Reason(), `does not carry "bob.example.org"`) {
		t.Errorf("server: %v, reason %q", r.outcome, r.srv.Reason())
	}
}

// TestTLSUntrustedServer: the client refuses a gateway certificate it does
// not trust, tells the server with an alert, and reports why on
// EAP-Failure.
func TestTLSUntrustedServer(t *testing.T) {
	pki, other := newTestPKI(t, "EAP CA"), newTestPKI(t, "Other CA")
	var seen []string
	srvCfg := &TLSConfig{Certificate: other.issue(t, "gw.example.org", 0), VerifyPeer: pki.verifier(&seen)}
	peerCfg := &TLSConfig{Certificate: pki.issue(t, "alice.example.org", 0), VerifyPeer: pki.verifier(&seen)}
	r := runTLS(t, srvCfg, peerCfg, "alice.example.org", "alice.example.org")
	if r.outcome != Failed || r.peerOutcome != Failed || r.peerErr == nil || !strings.Contains(r.peerErr.Error(), "not issued by our CA") {
		t.Errorf("server %v (%s); peer %v %v", r.outcome, r.srv.Reason(), r.peerOutcome, r.peerErr)
	}
}

// TestTLSFraming covers the fragment parser's refusals.
func TestTLSFraming(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{nil, "no flags"},
		{[]byte{0x80, 0, 0}, "4-byte length"},
		{[]byte{0x80, 0, 1, 0, 1}, "above"},
		{[]byte{0x80, 0, 0, 0, 1, 1, 2}, "2 bytes of data"},
	} {
		if _, err := ParseTLS(c.in); err == nil || !errors.Is(err, ErrTLSFrame) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseTLS(%x) = %v, want %q", c.in, err, c.want)
		}
	}
	var r tlsReassembler
	if _, _, err := r.add(TLSFragment{Flags: TLSFlagLength | TLSFlagMore, Length: 4, Data: []byte{1, 2}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.add(TLSFragment{Data: []byte{3}}); err == nil || !strings.Contains(err.Error(), "3 bytes reassembled") {
		t.Errorf("short message: %v", err)
	}
	if _, _, err := r.add(TLSFragment{Flags: TLSFlagMore}); err == nil {
		t.Error("empty fragment with M accepted")
	}
}

// TestTLSLengthAllocatesNothing: a fragment announcing the largest TLS
// message we accept costs what it carries, not what it announces; one
// announcing more is refused.
func TestTLSLengthAllocatesNothing(t *testing.T) {
	d := []byte{TLSFlagLength | TLSFlagMore, 0, 1, 0, 0, 22, 3, 3}
	var r tlsReassembler
	n := alloctest.Bytes(func() {
		f, err := ParseTLS(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.add(f); err != nil {
			t.Fatal(err)
		}
	})
	// Far below the announced length: a reassembler that trusted it would
	// allocate all of it. (The race detector's instrumentation adds a few
	// KiB of its own, so the bound is not tighter.)
	if n > MaxTLSMessage/4 {
		t.Errorf("a 3-byte fragment announcing %d bytes allocated %d", MaxTLSMessage, n)
	}
	if _, err := ParseTLS([]byte{TLSFlagLength, 0, 1, 0, 1, 22}); err == nil {
		t.Error("a TLS message length above MaxTLSMessage was accepted")
	}
}

// FuzzTLSFragments feeds fragment sequences to the reassembler and a server
// and peer conversation: neither fails hard, and reassembly buffers no
// more than was received.
func FuzzTLSFragments(f *testing.F) {
	f.Add([]byte{0x20})
	f.Add([]byte{0x00})
	f.Add([]byte{0xc0, 0, 0, 0, 8, 1, 2, 3, 4})
	f.Add([]byte{0x80, 0, 0, 0, 5, 22, 3, 3, 0, 0})
	f.Add([]byte{0x40, 22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Add([]byte{0x80, 0, 0, 0, 9, 22, 3, 1, 0, 4, 1, 0, 0, 0})
	pki := newTestPKI(f, "EAP CA")
	var seen []string
	srvCfg := &TLSConfig{Certificate: pki.issue(f, "gw.example.org", 0), VerifyPeer: pki.verifier(&seen)}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r tlsReassembler
		received := 0
		var frags []TLSFragment
		// Each chunk up to a 0xff byte is one fragment's Type-Data.
		n := alloctest.Approx(func() {
			for chunk := range bytes.SplitSeq(b, []byte{0xff}) {
				fr, err := ParseTLS(chunk)
				if err != nil {
					continue
				}
				frags = append(frags, fr)
				received += len(fr.Data)
				msg, _, _ := r.add(fr)
				if len(msg) > received || cap(r.buf) > 2*received+64 {
					t.Fatalf("reassembled %d bytes (buffer %d) from %d received", len(msg), cap(r.buf), received)
				}
			}
		})
		if n > alloctest.Budget(len(b)) {
			t.Fatalf("parsing and reassembling %d octets allocated %d", len(b), n)
		}
		for _, fr := range frags {
			if again, err := ParseTLS(fr.Marshal()); err != nil || again.Flags != fr.Flags || !bytes.Equal(again.Data, fr.Data) {
				t.Fatalf("round trip of %+v: %+v %v", fr, again, err)
			}
		}
		peer := &Peer{Identity: "u", Methods: []uint8{TypeTLS}}
		_, _, _ = peer.Handle(&Packet{Code: CodeRequest, Identifier: 1, Type: TypeTLS, Data: b})
		peer.Close()
		// A gateway fed the input as the client's answer to its start
		// fails or goes on, and never fails hard.
		srv, err := NewAuthenticator(AuthenticatorConfig{Method: TypeTLS, Identity: "u", TLS: srvCfg, Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		start, err := srv.Start()
		if err != nil {
			t.Fatal(err)
		}
		_, _, _ = srv.Step(&Packet{Code: CodeResponse, Identifier: start.Identifier, Type: TypeTLS, Data: b})
		srv.Close()
	})
}
