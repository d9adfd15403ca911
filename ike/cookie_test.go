package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// respAddr is where the responder B of the harness listens.
var respAddr = netip.MustParseAddrPort("10.99.0.2:500")

// cookiePair is a harness pair whose responder B accepts IKE_SA_INIT from
// any address, so that requests from other (spoofed) sources reach it.
func cookiePair(t *testing.T) *pair {
	t.Helper()
	cb := siteConfig(t, 2, 1)
	cb.RemoteAddrs = nil
	return newPair(t, siteConfig(t, 1, 2), cb, testPSK, testPSK)
}

// initRequest is an IKE_SA_INIT request as a flooding or a real initiator
// sends it: our proposals, an X25519 public value, a nonce, and the cookie
// first when one is given.
func initRequest(t testing.TB, spi uint64, nonce, cookie []byte) []byte {
	t.Helper()
	props, err := proposal.ParseList(wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519", proposal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var h wire.Header
	binary.BigEndian.PutUint64(h.SPIi[:], spi)
	h.Exchange = wire.IKE_SA_INIT
	h.Flags = wire.FlagInitiator
	var payloads []wire.Payload
	if cookie != nil {
		payloads = append(payloads, &wire.Notify{NotifyType: wire.COOKIE, Data: cookie})
	}
	ke := bytes.Repeat([]byte{9}, 32) // a valid X25519 public value
	payloads = append(payloads, proposal.ToWire(props, nil),
		&wire.KE{Method: wire.KEMethod(31), Data: ke}, &wire.Nonce{Data: nonce})
	b, err := (&wire.Message{Header: h, Payloads: payloads}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testNonce(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 16) }

// spoofed is the i-th address of a flood inside 10.99.0.0/16.
func spoofed(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 99, byte(16 + i>>8), byte(i)}), 500)
}

// answer is what the responder sent back to one request.
type answer struct {
	cookie []byte // N(COOKIE) data, if that was the answer
	sa     bool   // a full IKE_SA_INIT response (state was made)
	none   bool   // nothing at all
}

// ask hands one request to B and reports its answer.
func ask(t *testing.T, p *pair, b []byte, from netip.AddrPort) answer {
	t.Helper()
	p.b.out = nil
	p.b.m.HandleIKE(b, respAddr, from)
	out := p.b.out
	p.b.out = nil
	if len(out) == 0 {
		return answer{none: true}
	}
	if len(out) != 1 || out[0].remote != from {
		t.Fatalf("responder sent %d datagrams, first to %v", len(out), out[0].remote)
	}
	msg, err := wire.ParseMessage(out[0].b)
	if err != nil {
		t.Fatalf("responder's answer does not parse: %v", err)
	}
	if !msg.IsResponse() || msg.Exchange != wire.IKE_SA_INIT || !bytes.Equal(msg.SPIi[:], b[:8]) || msg.MessageID != 0 {
		t.Fatalf("answer header %+v", msg.Header)
	}
	if n := findNotify(msg.Payloads, wire.COOKIE); n != nil {
		if len(msg.Payloads) != 1 || msg.SPIr != [8]byte{} {
			t.Fatalf("COOKIE answer carries %d payloads, SPIr %x", len(msg.Payloads), msg.SPIr)
		}
		return answer{cookie: n.Data}
	}
	if payloadOf[*wire.SA](msg.Payloads) == nil {
		t.Fatalf("answer is neither COOKIE nor a full response: %v", msg)
	}
	return answer{sa: true}
}

// Above the half-open threshold the responder answers with a cookie instead
// of doing a key exchange, and a real initiator that retries with it gets
// its tunnel.
func TestCookieDemandedAboveThreshold(t *testing.T) {
	p := cookiePair(t)
	p.b.m.opts.CookieThreshold = 3
	for i := range 3 {
		if a := ask(t, p, initRequest(t, uint64(100+i), testNonce(i), nil), spoofed(i)); !a.sa {
			t.Fatalf("request %d below the threshold: %+v", i, a)
		}
	}
	if got := p.b.m.HalfOpen(); got != 3 {
		t.Fatalf("%d half-open SAs, want 3", got)
	}
	for i := 3; i < 50; i++ {
		a := ask(t, p, initRequest(t, uint64(100+i), testNonce(i), nil), spoofed(i))
		if a.cookie == nil || len(a.cookie) != cookieLen {
			t.Fatalf("request %d above the threshold: %+v", i, a)
		}
	}
	if got := len(p.b.m.SAs()); got != 3 {
		t.Fatalf("responder holds %d SAs after the flood, want 3", got)
	}
	if err := p.a.m.Initiate("site", "net"); err != nil {
		t.Fatal(err)
	}
	p.pump()
	a, b := onlySA(t, p.a), established(t, p.b)
	if a.State() != "ESTABLISHED" || len(b.Children()) != 1 || b.SPIi != a.SPIi {
		t.Fatalf("real peer: %s, responder SA %016x", a.State(), b.SPIi)
	}
	if !logHas(p.a, "peer demands a cookie") || !logHas(p.b, "demanding cookies for IKE_SA_INIT") {
		t.Fatal("the cookie exchange is not in the logs")
	}
	s := p.b.m.Stats
	if s.CookiesSent != 48 || s.CookiesValid != 1 || s.CookiesInvalid != 0 {
		t.Fatalf("stats %+v", s)
	}
	if p.b.m.HalfOpen() != 3 {
		t.Fatalf("established SA still counted half-open: %d", p.b.m.HalfOpen())
	}
}

// established finds the established SA among half-open ones.
func established(t *testing.T, p *peer) *IKESA {
	t.Helper()
	for _, sa := range p.m.SAs() {
		if sa.State() == "ESTABLISHED" {
			return sa
		}
	}
	t.Fatalf("peer %s has no established SA", p.name)
	return nil
}

func TestCookieValidInvalidStale(t *testing.T) {
	p := cookiePair(t)
	p.b.m.opts.CookieThreshold = 0 // always
	from := spoofed(7)
	nonce := testNonce(7)
	first := ask(t, p, initRequest(t, 42, nonce, nil), from)
	if first.cookie == nil {
		t.Fatalf("no cookie demanded: %+v", first)
	}
	// The same request with the cookie changed in one bit, for another
	// SPI, another nonce or from another address: a new cookie, no state.
	forged := bytes.Clone(first.cookie)
	forged[len(forged)-1] ^= 1
	cases := []struct {
		name string
		b    []byte
		from netip.AddrPort
	}{
		{"forged", initRequest(t, 42, nonce, forged), from},
		{"other SPI", initRequest(t, 43, nonce, first.cookie), from},
		{"other nonce", initRequest(t, 42, testNonce(8), first.cookie), from},
		{"other address", initRequest(t, 42, nonce, first.cookie), spoofed(8)},
		{"truncated", initRequest(t, 42, nonce, first.cookie[:20]), from},
	}
	for _, c := range cases {
		a := ask(t, p, c.b, c.from)
		if a.cookie == nil {
			t.Fatalf("%s cookie: %+v", c.name, a)
		}
	}
	if s := p.b.m.Stats; s.CookiesInvalid != uint64(len(cases)) || s.CookiesValid != 0 || len(p.b.m.SAs()) != 0 {
		t.Fatalf("after invalid cookies: stats %+v, %d SAs", s, len(p.b.m.SAs()))
	}
	// The cookie stays the same for the same request while the secret does.
	if again := ask(t, p, initRequest(t, 42, nonce, nil), from); !bytes.Equal(again.cookie, first.cookie) {
		t.Fatalf("cookie changed without a rotation: %x vs %x", again.cookie, first.cookie)
	}
	if a := ask(t, p, initRequest(t, 42, nonce, first.cookie), from); !a.sa {
		t.Fatalf("valid cookie: %+v", a)
	}
	if p.b.m.Stats.CookiesValid != 1 || p.b.m.HalfOpen() != 1 {
		t.Fatalf("stats %+v, half-open %d", p.b.m.Stats, p.b.m.HalfOpen())
	}
}

// The secret changes every CookieSecretLifetime; a cookie of the previous
// secret is still good, one of the secret before is stale and gets a new one.
func TestCookieSecretRotation(t *testing.T) {
	p := cookiePair(t)
	p.b.m.opts.CookieThreshold = 0
	life := p.b.m.opts.CookieSecretLifetime
	get := func(spi uint64, i int) []byte {
		t.Helper()
		a := ask(t, p, initRequest(t, spi, testNonce(i), nil), spoofed(i))
		if a.cookie == nil {
			t.Fatalf("no cookie: %+v", a)
		}
		return a.cookie
	}
	c1 := get(1, 1)
	c2 := get(2, 2)
	p.clock.now = p.clock.now.Add(life)
	// Rotated at the next use: a new version, and c1 still good.
	c3 := get(3, 3)
	if binary.BigEndian.Uint32(c3) != binary.BigEndian.Uint32(c1)+1 {
		t.Fatalf("cookie versions %x then %x", c1[:4], c3[:4])
	}
	if a := ask(t, p, initRequest(t, 1, testNonce(1), c1), spoofed(1)); !a.sa {
		t.Fatalf("cookie of the previous secret refused: %+v", a)
	}
	p.clock.now = p.clock.now.Add(life)
	get(4, 4) // rotates again: c2 was made two secrets ago
	a := ask(t, p, initRequest(t, 2, testNonce(2), c2), spoofed(2))
	if a.cookie == nil || bytes.Equal(a.cookie, c2) {
		t.Fatalf("stale cookie: %+v", a)
	}
	if a := ask(t, p, initRequest(t, 2, testNonce(2), a.cookie), spoofed(2)); !a.sa {
		t.Fatalf("fresh cookie after a stale one: %+v", a)
	}
	// Long silence: both secrets replaced, the old current one is stale too.
	p.clock.now = p.clock.now.Add(3 * life)
	get(5, 5)
	if a := ask(t, p, initRequest(t, 3, testNonce(3), c3), spoofed(3)); a.cookie == nil {
		t.Fatalf("cookie from three lifetimes ago accepted: %+v", a)
	}
	s := p.b.m.Stats
	if s.CookieSecretRotations != 3 || s.CookiesStale != 2 || s.CookiesValid != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// One source address gets a cookie after CookieThresholdPerSource half-open
// SAs and is refused, unanswered, after HalfOpenPerSource; others are not
// affected. The global cap refuses everyone; half-open SAs time out and
// free their slots.
func TestHalfOpenLimits(t *testing.T) {
	p := cookiePair(t)
	o := &p.b.m.opts
	o.CookieThreshold, o.CookieThresholdPerSource, o.HalfOpenPerSource, o.HalfOpenLimit = 100, 2, 3, 6
	busy := spoofed(1)
	// Two without a cookie, then cookies; with one, up to the cap of 3.
	for i := range 2 {
		if a := ask(t, p, initRequest(t, uint64(10+i), testNonce(i), nil), netip.AddrPortFrom(busy.Addr(), uint16(1000+i))); !a.sa {
			t.Fatalf("request %d: %+v", i, a)
		}
	}
	withCookie := func(spi uint64, i int, from netip.AddrPort) answer {
		t.Helper()
		a := ask(t, p, initRequest(t, spi, testNonce(i), nil), from)
		if a.cookie == nil {
			return a
		}
		return ask(t, p, initRequest(t, spi, testNonce(i), a.cookie), from)
	}
	if a := withCookie(12, 2, netip.AddrPortFrom(busy.Addr(), 1002)); !a.sa {
		t.Fatalf("third from one source, with a cookie: %+v", a)
	}
	if a := withCookie(13, 3, netip.AddrPortFrom(busy.Addr(), 1003)); !a.none {
		t.Fatalf("fourth from one source: %+v", a)
	}
	if p.b.m.Stats.HalfOpenRefusedSource != 1 || p.b.m.Stats.CookiesValid != 2 {
		t.Fatalf("stats %+v", p.b.m.Stats)
	}
	// Other sources: no cookie needed, until the global cap of 6.
	for i := 2; i < 5; i++ {
		if a := ask(t, p, initRequest(t, uint64(20+i), testNonce(i), nil), spoofed(i)); !a.sa {
			t.Fatalf("source %d: %+v", i, a)
		}
	}
	if a := ask(t, p, initRequest(t, 30, testNonce(30), nil), spoofed(30)); !a.none {
		t.Fatalf("beyond the global cap: %+v", a)
	}
	if p.b.m.Stats.HalfOpenRefusedLimit != 1 || p.b.m.HalfOpen() != 6 {
		t.Fatalf("stats %+v, half-open %d", p.b.m.Stats, p.b.m.HalfOpen())
	}
	p.advance(p.b.m.opts.HalfOpenTimeout + time.Second)
	if p.b.m.HalfOpen() != 0 || len(p.b.m.SAs()) != 0 || len(p.b.m.halfOpenBySource) != 0 {
		t.Fatalf("after the timeout: %d half-open, %d SAs, %d sources", p.b.m.HalfOpen(), len(p.b.m.SAs()), len(p.b.m.halfOpenBySource))
	}
	if p.b.m.Stats.HalfOpenTimeouts != 6 {
		t.Fatalf("stats %+v", p.b.m.Stats)
	}
	if a := ask(t, p, initRequest(t, 40, testNonce(40), nil), netip.AddrPortFrom(busy.Addr(), 1004)); !a.sa {
		t.Fatalf("after the timeout: %+v", a)
	}
}

// A retransmitted IKE_SA_INIT of a half-open SA is answered from its cache,
// even when cookies are demanded meanwhile: it costs no cookie round trip.
func TestHalfOpenRetransmitNoCookie(t *testing.T) {
	p := cookiePair(t)
	p.b.m.opts.CookieThreshold = 1
	req := initRequest(t, 77, testNonce(77), nil)
	if a := ask(t, p, req, spoofed(77)); !a.sa {
		t.Fatalf("first: %+v", a)
	}
	if a := ask(t, p, req, spoofed(77)); !a.sa {
		t.Fatalf("retransmission: %+v", a)
	}
	if a := ask(t, p, initRequest(t, 78, testNonce(78), nil), spoofed(78)); a.cookie == nil {
		t.Fatalf("new request: %+v", a)
	}
}

func TestScanInit(t *testing.T) {
	nonce := testNonce(1)
	b := initRequest(t, 1, nonce, []byte("cookie-data"))
	ni, cookie, ok := scanInit(b)
	if !ok || !bytes.Equal(ni, nonce) || string(cookie) != "cookie-data" {
		t.Fatalf("scan: ok %v ni %x cookie %q", ok, ni, cookie)
	}
	if _, cookie, ok := scanInit(initRequest(t, 1, nonce, nil)); !ok || cookie != nil {
		t.Fatalf("without cookie: ok %v cookie %q", ok, cookie)
	}
	for n := range len(b) {
		scanInit(b[:n]) // must not panic
	}
	bad := bytes.Clone(b)
	binary.BigEndian.PutUint16(bad[wire.HeaderLen+2:], 3) // payload length below 4
	if _, _, ok := scanInit(bad); ok {
		t.Fatal("payload length 3 accepted")
	}
}

// FuzzScanInit: the allocation-free scanner agrees with the full parser on
// the nonce and the cookie of every message the parser accepts.
func FuzzScanInit(f *testing.F) {
	f.Add(initRequest(f, 1, testNonce(1), []byte("cookie")))
	f.Add(initRequest(f, 2, testNonce(2), nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ni, cookie, ok := scanInit(b)
		msg, err := wire.ParseMessage(b)
		if err != nil {
			return
		}
		n := payloadOf[*wire.Nonce](msg.Payloads)
		if ok != (n != nil) || (n != nil && !bytes.Equal(ni, n.Data)) {
			t.Fatalf("scan found nonce %x (ok %v), parser %v", ni, ok, n)
		}
		if c := findNotify(msg.Payloads, wire.COOKIE); ok && ((c == nil) != (cookie == nil) || (c != nil && !bytes.Equal(c.Data, cookie))) {
			t.Fatalf("scan found cookie %x, parser %v", cookie, c)
		}
	})
}

// nopTransport drops what it is given, for benchmarks.
type nopTransport struct{ sent int }

func (n *nopTransport) SendIKE(b []byte, local, remote netip.AddrPort) error {
	n.sent++
	return nil
}

func (n *nopTransport) Source(remote netip.AddrPort) (netip.AddrPort, error) {
	return respAddr, nil
}

// floodManager is a responder that demands cookies, with pre-built
// spoofed requests.
func floodManager(tb testing.TB, halfOpen int) (*Manager, *nopTransport, [][]byte) {
	p := newPair(tb, siteConfig(tb, 1, 2), siteConfig(tb, 2, 1), testPSK, testPSK)
	m := p.b.m
	m.conns[0].RemoteAddrs = nil
	m.opts.HalfOpenLimit = halfOpen + 1
	m.opts.CookieThreshold = halfOpen
	for i := range halfOpen {
		m.HandleIKE(initRequest(tb, uint64(1<<32+i), testNonce(i), nil), respAddr, spoofed(i))
	}
	if m.HalfOpen() != halfOpen {
		tb.Fatalf("%d half-open, want %d", m.HalfOpen(), halfOpen)
	}
	tr := &nopTransport{}
	m.transport = tr
	reqs := make([][]byte, 256)
	for i := range reqs {
		reqs[i] = initRequest(tb, uint64(i+1), testNonce(i), nil)
	}
	return m, tr, reqs
}

// A spoofed IKE_SA_INIT answered with a cookie allocates nothing.
func TestCookieFloodAllocations(t *testing.T) {
	m, tr, reqs := floodManager(t, 10)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		m.HandleIKE(reqs[i%len(reqs)], respAddr, spoofed(i%4000))
		i++
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per spoofed request", allocs)
	}
	if tr.sent < 1000 || len(m.SAs()) != 10 {
		t.Fatalf("%d cookies sent, %d SAs", tr.sent, len(m.SAs()))
	}
}

func BenchmarkCookieFlood(b *testing.B) {
	for _, halfOpen := range []int{10, 1000} {
		b.Run(fmt.Sprintf("halfopen=%d", halfOpen), func(b *testing.B) {
			m, _, reqs := floodManager(b, halfOpen)
			b.SetBytes(int64(len(reqs[0])))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m.HandleIKE(reqs[i%len(reqs)], respAddr, spoofed(i%4000))
				i++
			}
		})
	}
}

// An IPv6 attacker owns a whole /64 and can send from any of its addresses:
// the per-source cookie threshold and half-open cap count the /64, not the
// address, while a neighbouring /64 is a source of its own.
func TestHalfOpenPerSourceIPv6Prefix(t *testing.T) {
	p := cookiePair(t)
	o := &p.b.m.opts
	o.CookieThreshold, o.CookieThresholdPerSource, o.HalfOpenPerSource, o.HalfOpenLimit = 100, 2, 3, 100
	from := func(prefix string, host int) netip.AddrPort {
		a := netip.MustParseAddr(prefix).As16()
		a[14], a[15] = byte(host>>8), byte(host)
		return netip.AddrPortFrom(netip.AddrFrom16(a), 500)
	}
	const attacker, neighbour = "2001:db8:0:1::", "2001:db8:0:2::"
	for i := range 2 {
		if a := ask(t, p, initRequest(t, uint64(10+i), testNonce(i), nil), from(attacker, i+1)); !a.sa {
			t.Fatalf("request %d from the /64: %+v", i, a)
		}
	}
	// A third address of the same /64 is the same source: a cookie, and
	// with it the last of its 3 half-open slots.
	a := ask(t, p, initRequest(t, 12, testNonce(2), nil), from(attacker, 3))
	if a.cookie == nil {
		t.Fatalf("third address of the /64 without a cookie: %+v", a)
	}
	if a := ask(t, p, initRequest(t, 12, testNonce(2), a.cookie), from(attacker, 3)); !a.sa {
		t.Fatalf("third address of the /64 with its cookie: %+v", a)
	}
	a = ask(t, p, initRequest(t, 13, testNonce(3), nil), from(attacker, 4))
	if a.cookie == nil {
		t.Fatalf("fourth address of the /64 without a cookie: %+v", a)
	}
	if a := ask(t, p, initRequest(t, 13, testNonce(3), a.cookie), from(attacker, 4)); !a.none {
		t.Fatalf("fourth address of the /64, beyond its cap: %+v", a)
	}
	if p.b.m.Stats.HalfOpenRefusedSource != 1 {
		t.Fatalf("stats %+v", p.b.m.Stats)
	}
	if a := ask(t, p, initRequest(t, 20, testNonce(20), nil), from(neighbour, 1)); !a.sa {
		t.Fatalf("another /64: %+v", a)
	}
	if got, want := len(p.b.m.halfOpenBySource), 2; got != want {
		t.Fatalf("%d sources counted, want %d: %v", got, want, p.b.m.halfOpenBySource)
	}
}
