package ike

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// trio is a client a and two gateways b (10.99.0.2) and c (10.99.0.3),
// wired by destination address.
type trio struct {
	*pair
	c *peer
	// inits counts the IKE_SA_INIT requests each gateway received.
	inits map[string]int
	// tap, when set, sees each datagram before it is delivered to, and
	// drops it by returning false.
	tap func(to *peer, b []byte) bool
}

func newTrio(t *testing.T) *trio {
	t.Helper()
	ca, cb := siteConfig(t, 1, 2), siteConfig(t, 2, 1)
	ca.RemoteAddrs = nil // a may be sent anywhere
	p := newPair(t, ca, cb, testPSK, testPSK)
	cc := siteConfig(t, 2, 1) // gateway c: same identity and subnet as b
	cc.LocalAddrs = nil
	c := &peer{name: "c", addr: netip.MustParseAddr("10.99.0.3"), logs: &bytes.Buffer{}, keys: map[uint32][4][]byte{}}
	var seed [32]byte
	seed[0] = 3
	c.m = NewManager(Config{Conns: []*PeerConfig{cc}, Creds: testPSK, Transport: c, Installer: c, Clock: p.clock,
		Rand: rand.NewChaCha8(seed), Log: slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("peer c log:\n%s", c.logs)
		}
	})
	return &trio{pair: p, c: c, inits: map[string]int{}}
}

// pump delivers datagrams by destination address until none are left.
func (tr *trio) pump() {
	peers := []*peer{tr.a, tr.b, tr.c}
	for range 200 {
		idle := true
		for _, from := range peers {
			q := from.out
			from.out = nil
			for _, d := range q {
				idle = false
				for _, to := range peers {
					if to.addr != d.remote.Addr() {
						continue
					}
					if hdr, err := wire.ParseHeader(d.b); err == nil && hdr.Exchange == wire.IKE_SA_INIT && !hdr.IsResponse() {
						tr.inits[to.name]++
					}
					if tr.tap != nil && !tr.tap(to, d.b) {
						continue
					}
					to.m.HandleIKE(d.b, d.remote, d.local)
				}
			}
		}
		if idle {
			return
		}
	}
	tr.t.Fatal("trio pump: peers kept talking")
}

// TestRedirectInInit: gateway b redirects in IKE_SA_INIT, keeping no
// state; the client follows to c with REDIRECTED_FROM and its Child SA.
func TestRedirectInInit(t *testing.T) {
	tr := newTrio(t)
	tr.b.m.conns[0].RedirectTo = tr.c.addr
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	sas := establishedSAs(tr.a)
	if len(sas) != 1 || sas[0].Remote.Addr() != tr.c.addr || len(sas[0].children) != 1 {
		t.Fatalf("client: %d established IKE SAs (want 1 to %v with its Child SA)", len(sas), tr.c.addr)
	}
	if len(tr.b.m.SAs()) != 0 || len(tr.a.m.SAs()) != 1 {
		t.Errorf("IKE SAs left: gateway b %d (want 0: a redirect keeps no state), client %d (want 1)", len(tr.b.m.SAs()), len(tr.a.m.SAs()))
	}
	if !logHas(tr.c, "the client comes redirected (REDIRECTED_FROM)") || !strings.Contains(tr.c.logs.String(), "from=10.99.0.2") {
		t.Errorf("gateway c did not see REDIRECTED_FROM naming b")
	}
	if tr.inits["b"] != 1 || tr.inits["c"] != 1 {
		t.Errorf("IKE_SA_INIT requests: b %d, c %d; want 1 each", tr.inits["b"], tr.inits["c"])
	}
}

// TestRedirectEstablished: gateway b redirects an established client,
// which reauthenticates at c (make before break) and deletes the IKE SA
// with b.
func TestRedirectEstablished(t *testing.T) {
	tr := newTrio(t)
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	if n, err := tr.b.m.Redirect("site", tr.c.addr); err != nil || n != 1 {
		t.Fatalf("Redirect: %d, %v", n, err)
	}
	tr.pump()
	// The replaced Child SA lingers for its grace, then goes.
	tr.clock.now = tr.clock.now.Add(6 * time.Second)
	tr.a.m.Tick()
	tr.pump()
	sas := establishedSAs(tr.a)
	if len(sas) != 1 || sas[0].Remote.Addr() != tr.c.addr || len(sas[0].children) != 1 {
		t.Fatalf("client: %d established IKE SAs (want 1 to %v with its Child SA)", len(sas), tr.c.addr)
	}
	if !logHas(tr.c, "the client comes redirected (REDIRECTED_FROM)") {
		t.Errorf("gateway c did not see REDIRECTED_FROM")
	}
	if len(tr.b.m.SAs()) != 0 {
		t.Errorf("gateway b still has %d IKE SAs", len(tr.b.m.SAs()))
	}
	if len(establishedSAs(tr.c)) != 1 {
		t.Errorf("gateway c has %d established IKE SAs, want 1", len(establishedSAs(tr.c)))
	}
}

// TestRedirectLoopBounded: b and c redirect to each other; the client
// gives up after maxRedirects.
func TestRedirectLoopBounded(t *testing.T) {
	tr := newTrio(t)
	tr.b.m.conns[0].RedirectTo = tr.c.addr
	tr.c.m.conns[0].RedirectTo = tr.b.addr
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	if n := tr.inits["b"] + tr.inits["c"]; n != maxRedirects+1 {
		t.Errorf("%d IKE_SA_INIT requests in the loop, want %d", n, maxRedirects+1)
	}
	if len(tr.a.m.SAs()) != 0 || !logHas(tr.a, "redirect loop") {
		t.Errorf("client: %d IKE SAs, log says redirect loop: %v", len(tr.a.m.SAs()), logHas(tr.a, "redirect loop"))
	}
	// After the loop period a redirect is followed again.
	tr.clock.now = tr.clock.now.Add(redirectLoopPeriod + time.Second)
	if !tr.a.m.redirectAllowed("site") {
		t.Errorf("a redirect is refused after the loop period")
	}
}

// TestRedirectNonceChecked: a REDIRECT in IKE_SA_INIT must echo our nonce.
func TestRedirectNonceChecked(t *testing.T) {
	tr := newTrio(t)
	tr.b.m.conns[0].RedirectTo = tr.c.addr
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	sa := onlySA(t, tr.a)
	sa.ni[0] ^= 0xff // b echoes the nonce of the request on the wire
	tr.pump()
	if tr.inits["c"] != 0 || !logHas(tr.a, "does not echo our nonce") {
		t.Errorf("client followed a REDIRECT with a foreign nonce (c got %d IKE_SA_INIT)", tr.inits["c"])
	}
}

func FuzzParseRedirect(f *testing.F) {
	f.Add(append(gatewayIdentity(netip.MustParseAddr("10.0.0.1")), 1, 2, 3))
	f.Add(gatewayIdentity(netip.MustParseAddr("2001:db8::1")))
	f.Add([]byte{3, 3, 'a', '.', 'b'})
	f.Add([]byte{1, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		gw, rest, err := parseRedirect(data)
		if err == nil && (!gw.IsValid() || len(rest) > len(data)) {
			t.Fatalf("parseRedirect(%x) = %v, %x", data, gw, rest)
		}
	})
}

// TestRedirectAfterGatewayRekeysIKESA: the gateway rekeyed the IKE SA (so
// it initiated the new one) and can still redirect its client.
func TestRedirectAfterGatewayRekeysIKESA(t *testing.T) {
	tr := newTrio(t)
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	if err := tr.b.m.RekeyIKE("site", false); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	if n, err := tr.b.m.Redirect("site", tr.c.addr); err != nil || n != 1 {
		t.Fatalf("Redirect after the gateway's IKE rekey: %d, %v", n, err)
	}
	tr.pump()
	if sas := establishedSAs(tr.a); len(sas) != 1 || sas[0].Remote.Addr() != tr.c.addr {
		t.Fatalf("client: %d established IKE SAs, want 1 to %v", len(sas), tr.c.addr)
	}
}

// byIdentityGateway gives gateway b two connections told apart by the
// client's identity: "vip" for redirectID, redirected to c in IKE_AUTH,
// and "rest" for everyone else, which b serves itself.
func byIdentityGateway(t *testing.T, tr *trio, redirectID string) {
	t.Helper()
	vip := siteConfig(t, 2, 1)
	vip.Name = "vip"
	id, err := identity.Parse(redirectID)
	if err != nil {
		t.Fatal(err)
	}
	vip.RemoteID, vip.RedirectTo, vip.RedirectIn = id, tr.c.addr, RedirectInAuth
	rest := siteConfig(t, 2, 1)
	rest.Name, rest.RemoteID = "rest", identity.Any
	tr.b.m.SetConns([]*PeerConfig{vip, rest})
}

// TestRedirectInAuthByIdentity: the client's identity selects b's
// connection with redirect_in = auth; b authenticates it and answers
// IKE_AUTH with its AUTH and N(REDIRECT) but no Child SA, keeping nothing;
// the client checks b's AUTH, follows to c and is up there with its Child
// SA.
func TestRedirectInAuthByIdentity(t *testing.T) {
	tr := newTrio(t)
	byIdentityGateway(t, tr, "a.cygnet.test")
	var authResp *wire.Message
	tr.tap = func(to *peer, b []byte) bool {
		msg, err := wire.ParseMessage(b)
		if to != tr.a || err != nil || msg.Exchange != wire.IKE_AUTH || !msg.IsResponse() || authResp != nil {
			return true
		}
		for _, sa := range tr.a.m.SAs() {
			if sa.SPIi == binary.BigEndian.Uint64(msg.SPIi[:]) {
				if msg.Payloads, err = sa.open(msg); err == nil {
					authResp = msg
				}
			}
		}
		return true
	}
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	sas := establishedSAs(tr.a)
	if len(sas) != 1 || sas[0].Remote.Addr() != tr.c.addr || len(sas[0].children) != 1 {
		t.Fatalf("client: %d established IKE SAs (want 1 to %v with its Child SA)", len(sas), tr.c.addr)
	}
	if authResp == nil {
		t.Fatal("no IKE_AUTH response from b seen")
	}
	n := findNotify(authResp.Payloads, wire.REDIRECT)
	if n == nil || payloadOf[*wire.Auth](authResp.Payloads) == nil || payloadOf[*wire.SA](authResp.Payloads) != nil {
		t.Fatalf("b's IKE_AUTH response %v: want AUTH and REDIRECT, no SA", authResp.Payloads)
	}
	if gw, rest, err := parseRedirect(n.Data); err != nil || gw != tr.c.addr || len(rest) != 0 {
		t.Errorf("REDIRECT in IKE_AUTH names %v with %d octets of nonce (%v); want %v without nonce", gw, len(rest), err, tr.c.addr)
	}
	if len(tr.b.m.SAs()) != 0 || len(tr.b.childUp) != 0 || !logHas(tr.b, "the client redirected in IKE_AUTH deleted its IKE SA") {
		t.Errorf("gateway b keeps %d IKE SAs and installed %d Child SAs, want none: the client deletes the IKE SA", len(tr.b.m.SAs()), len(tr.b.childUp))
	}
	if !logHas(tr.b, "redirecting the client in IKE_AUTH") || !logHas(tr.b, "identity a.cygnet.test selects connection vip (redirect_in = auth, redirect_to = 10.99.0.3)") {
		t.Errorf("gateway b's log does not give the reason")
	}
	if !logHas(tr.a, "gateway authenticated and redirects us in IKE_AUTH") || !logHas(tr.c, "the client comes redirected (REDIRECTED_FROM)") {
		t.Errorf("client or c did not log the redirect")
	}
	if tr.inits["b"] != 1 || tr.inits["c"] != 1 {
		t.Errorf("IKE_SA_INIT requests: b %d, c %d; want 1 each", tr.inits["b"], tr.inits["c"])
	}
}

// TestRedirectInAuthClientSilent: a client that does not delete the IKE
// SA it was redirected from leaves it half-open at the gateway, not
// counted as held, until the half-open timeout.
func TestRedirectInAuthClientSilent(t *testing.T) {
	tr := newTrio(t)
	byIdentityGateway(t, tr, "a.cygnet.test")
	tr.tap = func(to *peer, b []byte) bool {
		hdr, err := wire.ParseHeader(b)
		return to != tr.b || err != nil || hdr.Exchange != wire.INFORMATIONAL
	}
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	if sas := establishedSAs(tr.a); len(sas) != 1 || sas[0].Remote.Addr() != tr.c.addr {
		t.Fatalf("client: %d established IKE SAs, want 1 to %v", len(sas), tr.c.addr)
	}
	if n, held := len(tr.b.m.SAs()), len(tr.b.m.sas)-len(tr.b.m.halfOpen); n != 1 || held != 0 || len(establishedSAs(tr.b)) != 0 {
		t.Fatalf("gateway b: %d IKE SAs, %d held, %d established; want 1 half-open", n, held, len(establishedSAs(tr.b)))
	}
	tr.clock.now = tr.clock.now.Add(tr.b.m.opts.HalfOpenTimeout + time.Second)
	tr.b.m.Tick()
	if n := len(tr.b.m.SAs()); n != 0 {
		t.Errorf("gateway b keeps %d IKE SAs after the half-open timeout", n)
	}
}

// TestRedirectInAuthOtherIdentityStays: b's redirecting connection is for
// another identity; this client selects "rest" and is served by b.
func TestRedirectInAuthOtherIdentityStays(t *testing.T) {
	tr := newTrio(t)
	byIdentityGateway(t, tr, "z.cygnet.test")
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	sas := establishedSAs(tr.a)
	if len(sas) != 1 || sas[0].Remote.Addr() != tr.b.addr || len(sas[0].children) != 1 {
		t.Fatalf("client: %d established IKE SAs (want 1 to %v with its Child SA)", len(sas), tr.b.addr)
	}
	if got := onlySA(t, tr.b).cfg.Name; got != "rest" {
		t.Errorf("b serves the client on connection %q, want rest", got)
	}
	if tr.inits["c"] != 0 || logHas(tr.b, "redirecting") {
		t.Errorf("client redirected though its identity selects no redirecting connection")
	}
}

// TestRedirectInAuthForgedGateway: a REDIRECT in IKE_AUTH whose AUTH does
// not verify is not followed (RFC 5685 6: authenticate the gateway first).
func TestRedirectInAuthForgedGateway(t *testing.T) {
	tr := newTrio(t)
	byIdentityGateway(t, tr, "a.cygnet.test")
	tr.tap = func(to *peer, b []byte) bool {
		hdr, err := wire.ParseHeader(b)
		if to != tr.a || err != nil || hdr.Exchange != wire.IKE_AUTH || !hdr.IsResponse() {
			return true
		}
		// What b's AUTH signs (its IKE_SA_INIT response) differs at a.
		for _, sa := range tr.a.m.SAs() {
			sa.hsState().initResp[len(sa.hsState().initResp)-1] ^= 1
		}
		return true
	}
	if err := tr.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	tr.pump()
	if !logHas(tr.b, "redirecting the client in IKE_AUTH") {
		t.Fatal("b did not redirect")
	}
	if tr.inits["c"] != 0 || logHas(tr.a, "redirects us in IKE_AUTH") {
		t.Errorf("client followed REDIRECT from a gateway it did not authenticate")
	}
	if len(tr.a.m.SAs()) != 0 || !logHas(tr.a, "AUTHENTICATION_FAILED") {
		t.Errorf("client: %d IKE SAs left, AUTHENTICATION_FAILED logged %v", len(tr.a.m.SAs()), logHas(tr.a, "AUTHENTICATION_FAILED"))
	}
}

// TestRedirectWhenOverloaded: with redirect_when_sas = 2, b serves its
// first two clients and redirects the third in IKE_SA_INIT.
func TestRedirectWhenOverloaded(t *testing.T) {
	tr := newTrio(t)
	tr.b.m.conns[0].RedirectTo, tr.b.m.conns[0].RedirectWhenSAs = tr.c.addr, 2
	cfg, cc := tr.a.m.conns[0], tr.a.m.conns[0].Children[0]
	for i := range 3 {
		if err := tr.a.m.initiate(cfg, cc); err != nil {
			t.Fatal(err)
		}
		tr.pump()
		if i < 2 && (len(establishedSAs(tr.b)) != i+1 || tr.inits["c"] != 0) {
			t.Fatalf("client %d: b holds %d established IKE SAs (want %d), c got %d IKE_SA_INIT", i+1, len(establishedSAs(tr.b)), i+1, tr.inits["c"])
		}
	}
	if len(establishedSAs(tr.b)) != 2 || len(establishedSAs(tr.c)) != 1 || tr.inits["c"] != 1 {
		t.Errorf("after the third client: b %d, c %d established IKE SAs (want 2 and 1)", len(establishedSAs(tr.b)), len(establishedSAs(tr.c)))
	}
	if !logHas(tr.b, "overloaded: 2 IKE SAs held, redirect_when_sas = 2") {
		t.Errorf("b's log does not give the reason")
	}
}
