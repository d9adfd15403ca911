package ike

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Redirect (RFC 5685): a gateway sends a client to another gateway.
//
//   - A client announces REDIRECT_SUPPORTED in every IKE_SA_INIT request and,
//     when a redirect brought it there, REDIRECTED_FROM with the gateway
//     that sent it.
//   - A gateway whose connection has redirect_to answers IKE_SA_INIT of a
//     client that supports redirects with nothing but N(REDIRECT) naming
//     the new gateway and echoing the client's nonce (section 4); it keeps
//     no state. An established client is redirected with an INFORMATIONAL
//     request carrying N(REDIRECT) without a nonce (section 5; Manager.Redirect,
//     `cygnet redirect --ike NAME --gateway ADDR`).
//   - The client checks the nonce (constant time) and starts over at the new
//     gateway: during IKE_SA_INIT the attempt moves there with the Child SAs
//     it was to create; an established IKE SA is reauthenticated there, make
//     before break, and the old one deleted.
//   - Loops are bounded as strongSwan bounds them: at most maxRedirects
//     redirects of one connection within redirectLoopPeriod, then the
//     attempt fails.

// RedirectPhase is the exchange in which a connection's RedirectTo sends
// its clients away.
type RedirectPhase uint8

const (
	// RedirectInInit redirects in IKE_SA_INIT, before the client says who
	// it is, keeping no state (RFC 5685 4).
	RedirectInInit RedirectPhase = iota
	// RedirectInAuth redirects in IKE_AUTH (RFC 5685 6): only clients
	// whose identity selects the connection, after authenticating them;
	// the response carries our AUTH and N(REDIRECT) and no Child SA.
	RedirectInAuth
)

// GW identity types of the REDIRECT and REDIRECTED_FROM data (RFC 5685 10).
const (
	gwIdentIPv4 = 1
	gwIdentIPv6 = 2
	gwIdentFQDN = 3
)

const (
	maxRedirects       = 5
	redirectLoopPeriod = 5 * time.Minute
)

// errRedirectFQDN: cygnet resolves no names in the IKE core.
var errRedirectFQDN = errors.New("the new gateway is named by FQDN, which cygnet does not resolve")

// gatewayIdentity encodes an address as GW Ident Type, Len and Identity.
func gatewayIdentity(gw netip.Addr) []byte {
	gw = gw.Unmap()
	t := byte(gwIdentIPv4)
	if gw.Is6() {
		t = gwIdentIPv6
	}
	a := gw.AsSlice()
	return append([]byte{t, byte(len(a))}, a...)
}

// parseRedirect decodes N(REDIRECT) or N(REDIRECTED_FROM) data: the
// gateway's address and what follows (the nonce of a REDIRECT in
// IKE_SA_INIT).
func parseRedirect(data []byte) (netip.Addr, []byte, error) {
	if len(data) < 2 || len(data) < 2+int(data[1]) {
		return netip.Addr{}, nil, fmt.Errorf("REDIRECT data of %d octets is truncated", len(data))
	}
	t, n := data[0], int(data[1])
	id, rest := data[2:2+n], data[2+n:]
	switch {
	case t == gwIdentIPv4 && n == 4, t == gwIdentIPv6 && n == 16:
		a, _ := netip.AddrFromSlice(id)
		return a, rest, nil
	case t == gwIdentFQDN:
		return netip.Addr{}, rest, errRedirectFQDN
	}
	return netip.Addr{}, nil, fmt.Errorf("REDIRECT with gateway identity type %d of %d octets", t, n)
}

// redirectNotifies are what an IKE_SA_INIT request carries for RFC 5685.
func (sa *IKESA) redirectNotifies() []wire.Payload {
	out := []wire.Payload{&wire.Notify{NotifyType: wire.REDIRECT_SUPPORTED}}
	if sa.redirectedFrom.IsValid() {
		out = append(out, &wire.Notify{NotifyType: wire.REDIRECTED_FROM, Data: gatewayIdentity(sa.redirectedFrom)})
	}
	return out
}

// redirectReason says why the clients of cfg are redirected in phase
// now, or "" when they are not: the connection has redirect_to for that
// phase and, with redirect_when_sas, the gateway is that loaded. Half-open
// IKE SAs (the one asking included) do not count.
func (m *Manager) redirectReason(cfg *PeerConfig, phase RedirectPhase) string {
	if !cfg.RedirectTo.IsValid() || cfg.RedirectIn != phase {
		return ""
	}
	reason := "redirect_to = " + cfg.RedirectTo.String()
	if cfg.RedirectWhenSAs <= 0 {
		return reason
	}
	held := len(m.sas) - len(m.halfOpen)
	if held < cfg.RedirectWhenSAs {
		return ""
	}
	return fmt.Sprintf("%s, overloaded: %d IKE SAs held, redirect_when_sas = %d", reason, held, cfg.RedirectWhenSAs)
}

// initRedirect answers an IKE_SA_INIT request with N(REDIRECT) when the
// connection sends its clients elsewhere now and the client supports it.
func (m *Manager) initRedirect(cfg *PeerConfig, payloads []wire.Payload, ni []byte, remote netip.AddrPort) (*wire.Notify, bool) {
	reason := m.redirectReason(cfg, RedirectInInit)
	if reason == "" || findNotify(payloads, wire.REDIRECT_SUPPORTED) == nil {
		return nil, false
	}
	m.log.Info("redirecting the client in IKE_SA_INIT", "conn", cfg.Name, "remote", remote, "to", cfg.RedirectTo, "reason", reason)
	return &wire.Notify{NotifyType: wire.REDIRECT, Data: append(gatewayIdentity(cfg.RedirectTo), ni...)}, true
}

// authRedirect answers IKE_AUTH request id of an authenticated client
// whose identity selected a connection with redirect_in = auth (RFC 5685
// 6): our IDr and AUTH (out) with N(REDIRECT) and no nonce, no Child SA.
// The IKE SA is never established: it waits, half-open, for the client to
// delete it (strongSwan's client retransmits its DELETE until answered),
// and the half-open timeout removes it if none comes. It reports false
// when the client is not to be redirected.
func (sa *IKESA) authRedirect(id uint32, out []wire.Payload) bool {
	reason := sa.m.redirectReason(sa.cfg, RedirectInAuth)
	if reason == "" {
		return false
	}
	if !sa.peerRedirect {
		sa.log.Info("not redirecting in IKE_AUTH: the client did not announce REDIRECT_SUPPORTED", "to", sa.cfg.RedirectTo)
		return false
	}
	gw := sa.cfg.RedirectTo
	sa.redirectedTo = gw
	sa.respond(wire.IKE_AUTH, id, append(out, &wire.Notify{NotifyType: wire.REDIRECT, Data: gatewayIdentity(gw)}))
	sa.log.Info("redirecting the client in IKE_AUTH", "remote", sa.Remote, "remote_id", sa.RemoteID.String(), "to", gw,
		"reason", fmt.Sprintf("identity %s selects connection %s (redirect_in = auth, %s)", sa.RemoteID, sa.cfg.Name, reason))
	return true
}

// redirectedRequest answers a request on an IKE SA whose client we
// redirected in IKE_AUTH: its INFORMATIONAL (the DELETE) is answered and
// the IKE SA goes without an event; anything else is refused.
func (sa *IKESA) redirectedRequest(hdr wire.Header) {
	if hdr.Exchange != wire.INFORMATIONAL {
		sa.log.Info("refusing a request of a client redirected in IKE_AUTH", "exchange", hdr.Exchange, "to", sa.redirectedTo)
		sa.respond(hdr.Exchange, hdr.MessageID, []wire.Payload{&wire.Notify{NotifyType: wire.INVALID_SYNTAX}})
		return
	}
	sa.respond(wire.INFORMATIONAL, hdr.MessageID, nil)
	sa.log.Info("the client redirected in IKE_AUTH deleted its IKE SA", "to", sa.redirectedTo)
	sa.redundant = true // not an IKE SA that failed: no event
	sa.destroy("redirected to " + sa.redirectedTo.String() + " in IKE_AUTH")
}

// followAuthRedirect handles N(REDIRECT) in the gateway's IKE_AUTH
// response, whose AUTH the caller verified (RFC 5685 6: the client
// authenticates the gateway before it follows): the attempt, with its
// Child SAs, starts over at the new gateway; the gateway is told the IKE
// SA is gone and it goes quietly here.
func (sa *IKESA) followAuthRedirect(child *ChildSA, n *wire.Notify) error {
	if child != nil {
		sa.releaseChild(child)
	}
	gw, _, err := parseRedirect(n.Data)
	if err != nil {
		sa.tellDeleted()
		return sa.fail("REDIRECT in IKE_AUTH from %s: %v", sa.Remote, err)
	}
	if !sa.m.redirectAllowed(sa.cfg.Name) {
		sa.tellDeleted()
		return sa.fail("redirect loop: %d redirects of %s within %v, the last from %s to %s", maxRedirects, sa.cfg.Name, redirectLoopPeriod, sa.Remote, gw)
	}
	sa.log.Info("gateway authenticated and redirects us in IKE_AUTH", "from", sa.Remote, "remote_id", sa.RemoteID.String(), "to", gw)
	sa.tellDeleted()
	return sa.moveAttempt(gw)
}

// redirectAllowed counts a redirect of the connection and refuses the
// sixth within redirectLoopPeriod.
func (m *Manager) redirectAllowed(conn string) bool {
	now := m.clock.Now()
	kept := m.redirects[conn][:0]
	for _, t := range m.redirects[conn] {
		if now.Sub(t) < redirectLoopPeriod {
			kept = append(kept, t)
		}
	}
	if len(kept) >= maxRedirects {
		m.redirects[conn] = kept
		return false
	}
	m.redirects[conn] = append(kept, now)
	return true
}

// followInitRedirect handles N(REDIRECT) in our IKE_SA_INIT response: the
// attempt, with the Child SAs it was to create, starts over at the new
// gateway and this SA goes quietly.
func (sa *IKESA) followInitRedirect(n *wire.Notify) error {
	gw, nonce, err := parseRedirect(n.Data)
	if err != nil {
		return sa.fail("REDIRECT from %s: %v", sa.Remote, err)
	}
	if subtle.ConstantTimeCompare(nonce, sa.ni) != 1 {
		// RFC 5685 4: not an answer to our request.
		return sa.fail("REDIRECT from %s does not echo our nonce", sa.Remote)
	}
	if !sa.m.redirectAllowed(sa.cfg.Name) {
		return sa.fail("redirect loop: %d redirects of %s within %v, the last from %s to %s", maxRedirects, sa.cfg.Name, redirectLoopPeriod, sa.Remote, gw)
	}
	sa.log.Info("gateway redirects us in IKE_SA_INIT", "from", sa.Remote, "to", gw)
	return sa.moveAttempt(gw)
}

// moveAttempt starts this IKE SA's attempt over at gateway gw, with the
// Child SAs it was to create (and the IKE SA it reauthenticates), and
// removes this one without an event: the attempt goes on.
func (sa *IKESA) moveAttempt(gw netip.Addr) error {
	n2, err := sa.m.initiateFrom(sa.cfg, netip.AddrPortFrom(gw, 500), sa.firstChild, sa.Remote.Addr())
	if err != nil {
		return sa.fail("following REDIRECT to %s: %v", gw, err)
	}
	n2.pendingChildren = sa.pendingChildren
	if old := sa.reauthOf; old != nil && old.reauthing == sa {
		n2.reauthOf, old.reauthing, sa.reauthOf = old, n2, nil
	}
	sa.firstChild, sa.pendingChildren = nil, nil
	sa.redundant = true // removed without an event: the attempt goes on
	sa.destroy("redirected to " + gw.String())
	return nil
}

// Redirect sends the established clients of a connection to gateway gw
// (RFC 5685 5): each that announced REDIRECT_SUPPORTED gets an
// INFORMATIONAL request with N(REDIRECT). It returns how many.
func (m *Manager) Redirect(connName string, gw netip.Addr) (int, error) {
	if !gw.IsValid() {
		return 0, errors.New("redirect: no gateway address")
	}
	n := 0
	for _, sa := range m.sas {
		if sa.cfg.Name != connName || sa.state != stateEstablished || sa.origInitiator {
			continue
		}
		if !sa.peerRedirect {
			sa.log.Info("not redirecting: the client did not announce REDIRECT_SUPPORTED", "to", gw)
			continue
		}
		payloads := []wire.Payload{&wire.Notify{NotifyType: wire.REDIRECT, Data: gatewayIdentity(gw)}}
		if err := sa.sendRequest(wire.INFORMATIONAL, payloads, func(*wire.Message, []wire.Payload) error { return nil }, nil); err != nil {
			return n, fmt.Errorf("redirect %s: %w", connName, err)
		}
		sa.log.Info("redirecting the established client", "to", gw)
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("redirect: no established IKE SA of %q whose client supports redirects", connName)
	}
	return n, nil
}

// followRedirect handles N(REDIRECT) in an INFORMATIONAL request to an
// established client: the IKE SA is reauthenticated at the new gateway.
func (sa *IKESA) followRedirect(n *wire.Notify) {
	gw, _, err := parseRedirect(n.Data)
	if err != nil {
		sa.log.Warn("ignoring REDIRECT", "from", sa.Remote, "err", err)
		return
	}
	if !sa.origInitiator {
		sa.log.Warn("ignoring REDIRECT from the client", "from", sa.Remote)
		return
	}
	if !sa.m.redirectAllowed(sa.cfg.Name) {
		sa.log.Warn(fmt.Sprintf("redirect loop: %d redirects of %s within %v; staying at %s", maxRedirects, sa.cfg.Name, redirectLoopPeriod, sa.Remote), "to", gw)
		return
	}
	sa.log.Info("gateway redirects the established IKE SA", "from", sa.Remote, "to", gw)
	if err := sa.reauthenticateAt(netip.AddrPortFrom(gw, 500), sa.Remote.Addr()); err != nil {
		sa.log.Warn("following REDIRECT failed", "to", gw, "err", err)
	}
}
