package ike

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Half-open IKE SAs are the responder's SAs that answered IKE_SA_INIT and
// wait for IKE_AUTH: each cost a key exchange and holds keys, so they are
// what a flood of IKE_SA_INIT requests (often from spoofed addresses) tries
// to pile up. admitInit decides, before any of that work, whether a new
// request may have one: cookies above a threshold, then a per-source and a
// global cap. It is O(1) and allocation-free per request.

// Defaults of the half-open limits, strongSwan's where it has them
// (charon.cookie_threshold, cookie_threshold_ip, block_threshold).
const (
	defaultCookieThreshold          = 10
	defaultCookieThresholdPerSource = 3
	defaultHalfOpenPerSource        = 5
	defaultHalfOpenLimit            = 1000
)

// HalfOpen returns how many IKE SAs we answered as responder that have not
// finished IKE_AUTH yet.
func (m *Manager) HalfOpen() int { return len(m.halfOpen) }

// admitInit decides whether an IKE_SA_INIT request that starts a new IKE SA
// may proceed to respondInit. It answers with N(COOKIE) when cookies are
// demanded and the request lacks a valid one, and silently drops requests
// beyond the half-open limits; neither leaves state behind.
func (m *Manager) admitInit(b []byte, hdr wire.Header, local, remote netip.AddrPort) bool {
	src := remote.Addr().Unmap()
	perSource := m.halfOpenBySource[sourceKey(src)]
	demand := len(m.halfOpen) >= m.opts.CookieThreshold || perSource >= m.opts.CookieThresholdPerSource
	m.noteCookieDemand(demand)
	if demand {
		ni, cookie, ok := scanInit(b)
		if !ok {
			m.Stats.Malformed++
			return false
		}
		spiI := binary.BigEndian.Uint64(hdr.SPIi[:])
		if cookie == nil {
			m.sendCookie(b, ni, local, remote, spiI)
			return false
		}
		if err := m.cookieSecrets(); err != nil {
			m.log.Error("cannot make a cookie secret", "err", err)
			return false
		}
		switch m.checkCookie(cookie, ni, src, spiI) {
		case cookieValid:
			m.Stats.CookiesValid++
		case cookieStale:
			// RFC 7296 2.6: ignore the cookie, which means a new one.
			m.Stats.CookiesStale++
			m.sendCookie(b, ni, local, remote, spiI)
			return false
		default:
			m.Stats.CookiesInvalid++
			m.sendCookie(b, ni, local, remote, spiI)
			return false
		}
	}
	if perSource >= m.opts.HalfOpenPerSource {
		m.Stats.HalfOpenRefusedSource++
		return false
	}
	if len(m.halfOpen) >= m.opts.HalfOpenLimit {
		m.Stats.HalfOpenRefusedLimit++
		return false
	}
	return true
}

// sourceKey is the source a request is counted against in the per-source
// limits: the IPv4 address, or the IPv6 /64. A single IPv6 subscriber or
// host usually owns a whole /64 and can send from any of its 2^64
// addresses, so counting addresses would let one attacker escape the
// per-source limits entirely.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().Addr()
	}
	return a
}

// noteCookieDemand logs when cookies start and stop being demanded, rather
// than one line per request.
func (m *Manager) noteCookieDemand(demand bool) {
	if demand == m.cookies.demanding {
		return
	}
	m.cookies.demanding = demand
	if demand {
		m.log.Warn("demanding cookies for IKE_SA_INIT: too many half-open IKE SAs",
			"half_open", len(m.halfOpen), "threshold", m.opts.CookieThreshold)
	} else {
		m.log.Info("no longer demanding cookies", "half_open", len(m.halfOpen),
			"cookies_sent", m.Stats.CookiesSent, "refused_per_source", m.Stats.HalfOpenRefusedSource, "refused_limit", m.Stats.HalfOpenRefusedLimit)
	}
}

// addHalfOpen records a responder SA that answered IKE_SA_INIT.
func (m *Manager) addHalfOpen(k initKey, sa *IKESA) {
	m.halfOpen[k] = sa
	m.halfOpenBySource[sourceKey(k.remote.Addr())]++
	hs := sa.hsState()
	hs.halfOpenKey, hs.isHalfOpen = k, true
}

// removeHalfOpen forgets a half-open SA: it finished IKE_AUTH or died.
func (m *Manager) removeHalfOpen(sa *IKESA) {
	if !sa.halfOpen() {
		return
	}
	sa.hs.isHalfOpen = false
	k := sa.hs.halfOpenKey
	if m.halfOpen[k] == sa {
		delete(m.halfOpen, k)
	}
	src := sourceKey(k.remote.Addr())
	if n := m.halfOpenBySource[src]; n > 1 {
		m.halfOpenBySource[src] = n - 1
	} else {
		delete(m.halfOpenBySource, src)
	}
}

// orDefault is v, or d when v is zero; a negative v means zero.
func orDefault(v, d int) int {
	switch {
	case v == 0:
		return d
	case v < 0:
		return 0
	}
	return v
}

// StatsJSON is Stats with the current number of IKE SAs and half-open SAs,
// as JSON for the control socket's stats command.
func (m *Manager) StatsJSON() []byte {
	b, err := json.Marshal(struct {
		Stats
		IKESAs   int `json:"ike_sas"`
		HalfOpen int `json:"half_open"`
	}{m.Stats, len(m.sas), len(m.halfOpen)})
	if err != nil {
		return nil // a struct of integers always marshals
	}
	return b
}
