package ike

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Stateless cookies (RFC 7296 2.6). Under load the responder answers an
// IKE_SA_INIT with N(COOKIE) instead of doing a key exchange; only a peer
// that can receive at its source address comes back with the cookie and
// gets state. A cookie is
//
//	<version of the secret, 4 octets> | HMAC-SHA256(secret, Ni | IPi | SPIi)
//
// so checking one needs no state beyond two secrets: the current one and the
// one before it, which keeps cookies handed out just before a rotation valid
// for at least one more secret lifetime.

// cookieLen is the length of our cookies; RFC 7296 allows 1 to 64 octets.
const cookieLen = 4 + sha256.Size

// cookieVerdict is what checkCookie found.
type cookieVerdict uint8

const (
	cookieValid   cookieVerdict = iota + 1
	cookieInvalid               // wrong length or MAC: forged, or for another request
	cookieStale                 // made with a secret we no longer keep
)

// cookieSecret is one generation of the cookie secret, with its MAC state.
type cookieSecret struct {
	version uint32
	mac     hash.Hash // HMAC-SHA256 keyed with the secret; Reset before use
}

// cookieJar holds the secrets and the scratch space cookies are computed in,
// so that answering a flood allocates nothing.
type cookieJar struct {
	cur, prev cookieSecret
	rotated   time.Time // when cur was made
	scratch   [cookieLen]byte
	reply     [wire.HeaderLen + 8 + cookieLen]byte
	addr      [16]byte
	spi       [8]byte
	demanding bool // cookies were demanded for the last IKE_SA_INIT (for logging transitions)
}

// rotate makes a fresh current secret, keeping the old one as previous.
func (j *cookieJar) rotate(r io.Reader, now time.Time) error {
	var key [32]byte
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return err
	}
	j.prev = j.cur
	j.cur = cookieSecret{version: j.cur.version + 1, mac: hmac.New(sha256.New, key[:])}
	clear(key[:])
	j.rotated = now
	return nil
}

// cookieSecrets brings the secrets up to date with the clock: rotated once per
// lifetime, and both replaced when more than two lifetimes passed.
func (m *Manager) cookieSecrets() error {
	j := &m.cookies
	now := m.clock.Now()
	life := m.opts.CookieSecretLifetime
	switch {
	case j.cur.mac == nil:
		return j.rotate(m.rand, now)
	case now.Sub(j.rotated) >= 2*life:
		if err := j.rotate(m.rand, now); err != nil {
			return err
		}
		m.Stats.CookieSecretRotations++
		j.prev = cookieSecret{} // too old to have made a cookie still in use
		return nil
	case now.Sub(j.rotated) >= life:
		m.Stats.CookieSecretRotations++
		return j.rotate(m.rand, now)
	}
	return nil
}

// computeCookie writes the cookie of a request into the jar's scratch space
// and returns it (valid until the next call).
func (m *Manager) computeCookie(s *cookieSecret, ni []byte, src netip.Addr, spiI uint64) []byte {
	j := &m.cookies
	binary.BigEndian.PutUint32(j.scratch[:4], s.version)
	binary.BigEndian.PutUint64(j.spi[:], spiI)
	s.mac.Reset()
	s.mac.Write(ni)
	if src.Is4() {
		a := src.As4()
		copy(j.addr[:4], a[:])
		s.mac.Write(j.addr[:4])
	} else {
		j.addr = src.As16()
		s.mac.Write(j.addr[:])
	}
	s.mac.Write(j.spi[:])
	return s.mac.Sum(j.scratch[:4])
}

// checkCookie tells whether a cookie is one we made for this request.
func (m *Manager) checkCookie(cookie, ni []byte, src netip.Addr, spiI uint64) cookieVerdict {
	if len(cookie) != cookieLen {
		return cookieInvalid
	}
	j := &m.cookies
	var s *cookieSecret
	switch v := binary.BigEndian.Uint32(cookie); {
	case j.cur.mac != nil && v == j.cur.version:
		s = &j.cur
	case j.prev.mac != nil && v == j.prev.version:
		s = &j.prev
	default:
		return cookieStale
	}
	if !hmac.Equal(m.computeCookie(s, ni, src, spiI), cookie) {
		return cookieInvalid
	}
	return cookieValid
}

// sendCookie answers an IKE_SA_INIT request with N(COOKIE), built in place
// from the request's header.
func (m *Manager) sendCookie(b []byte, ni []byte, local, remote netip.AddrPort, spiI uint64) {
	if err := m.cookieSecrets(); err != nil {
		m.log.Error("cannot make a cookie secret", "err", err)
		return
	}
	j := &m.cookies
	c := m.computeCookie(&j.cur, ni, remote.Addr().Unmap(), spiI)
	r := j.reply[:]
	copy(r[:8], b[:8]) // SPIi
	clear(r[8:16])     // SPIr
	r[16] = byte(wire.PayloadN)
	r[17] = 0x20 // IKEv2.0
	r[18] = byte(wire.IKE_SA_INIT)
	r[19] = byte(wire.FlagResponse)
	copy(r[20:24], b[20:24]) // message ID
	binary.BigEndian.PutUint32(r[24:28], uint32(len(r)))
	n := r[wire.HeaderLen:]
	n[0], n[1] = 0, 0 // last payload, not critical
	binary.BigEndian.PutUint16(n[2:4], uint16(8+cookieLen))
	n[4], n[5] = 0, 0 // protocol ID, SPI size
	binary.BigEndian.PutUint16(n[6:8], uint16(wire.COOKIE))
	copy(n[8:], c)
	m.Stats.CookiesSent++
	_ = m.transport.SendIKE(r, local, remote) // a spoofed source is not worth a log line
}

// scanInit finds the nonce and the COOKIE notification of an IKE_SA_INIT
// request without parsing (and allocating) the message: what the responder
// needs before it decides to spend anything on the request. It walks the
// payload chain with wire.Chain, the walker wire.ParseMessage uses, and
// checks the Nonce and Notify payloads with the parser's own rules, so the
// cookie is computed over the nonce the exchange then proceeds with: the
// first Nonce payload and the first COOKIE notification, as respondInit
// reads them. ok is false when the chain is malformed or has no nonce.
func scanInit(b []byte) (ni, cookie []byte, ok bool) {
	c := wire.MessageChain(b)
	for c.Next() {
		p := c.Payload()
		switch p.Type {
		case wire.PayloadNonce:
			n, err := p.Nonce()
			if err != nil {
				return nil, nil, false
			}
			if ni == nil {
				ni = n
			}
		case wire.PayloadN:
			f, err := p.Notify()
			if err != nil {
				return nil, nil, false
			}
			if f.NotifyType == wire.COOKIE && cookie == nil {
				cookie = f.Data
			}
		}
	}
	if c.Err() != nil {
		return nil, nil, false
	}
	return ni, cookie, ni != nil
}
