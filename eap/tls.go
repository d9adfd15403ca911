package eap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"
)

// EAP-TLS (RFC 5216) on Go's crypto/tls, in both roles. The gateway (the
// EAP server) is the TLS server and asks for the client's certificate; the
// MSK is the first 64 bytes of the key material. TLS 1.2 is the default, as
// in strongSwan 5.9.8 and 6 (charon.tls.version_max = 1.2); TLS 1.3 (RFC
// 9190: its exporter, and the server's protected success indication that
// the client waits for) when TLSConfig.MaxVersion asks for it.

// TLSConfig is one end's EAP-TLS settings.
type TLSConfig struct {
	// Certificate is our certificate chain and its private key.
	Certificate tls.Certificate
	// VerifyPeer checks the peer's certificates (DER, end entity first)
	// against what we trust and that the end entity carries identity: the
	// client's EAP identity on a gateway, the gateway's IKE identity on a
	// client ("" when the client does not know it).
	VerifyPeer func(identity string, chain [][]byte) error
	// Rand and Time feed crypto/tls; nil takes its defaults.
	Rand io.Reader
	Time func() time.Time
	// FragmentSize is the largest EAP packet we send (default
	// DefaultTLSFragmentSize).
	FragmentSize int
	// MaxVersion is the highest TLS version we negotiate: TLS 1.2 when 0
	// (strongSwan's default), or tls.VersionTLS13 for RFC 9190.
	MaxVersion uint16
}

func (c *TLSConfig) maxVersion() uint16 {
	if c.MaxVersion == tls.VersionTLS13 {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

func (c *TLSConfig) fragSize() int {
	if c.FragmentSize > 0 {
		return c.FragmentSize
	}
	return DefaultTLSFragmentSize
}

// goTLS is the crypto/tls configuration for one conversation; identity
// gives the identity the peer's certificate must carry when it is checked.
func (c *TLSConfig) goTLS(server bool, identity func() string) *tls.Config {
	cert := c.Certificate
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if c.VerifyPeer == nil {
			return errors.New("no verifier for the peer's certificate")
		}
		return c.VerifyPeer(identity(), raw)
	}
	cfg := &tls.Config{
		Rand: c.Rand, Time: c.Time,
		MinVersion: tls.VersionTLS12, MaxVersion: c.maxVersion(),
		SessionTicketsDisabled: true,
		// Certificates are checked by VerifyPeer, against the
		// connection's trust and identities, not Go's host names.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: verify,
	}
	if server {
		cfg.Certificates = []tls.Certificate{cert}
		cfg.ClientAuth = tls.RequireAnyClientCert
	} else {
		// Our certificate goes whatever CAs the server names: it is the
		// one the configuration chose.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return cfg
}

// tlsConversation is the state of EAP-TLS on one end.
type tlsConversation struct {
	cfg      *TLSConfig
	engine   *tlsEngine
	in       tlsReassembler
	out      tlsFragmenter
	finished bool // the handshake succeeded and our last flight is out
	// await13: a TLS 1.3 client that finished its handshake and waits for
	// the server's protected success indication.
	await13 bool
	msk     []byte
	err     error
}

// established is called when the handshake completed: the key material.
func (c *tlsConversation) established() error {
	km, err := c.engine.keyMaterial()
	if err != nil {
		return err
	}
	c.msk = km[:64]
	clear(km[64:]) // the EMSK: IKEv2 has no use for it
	return nil
}

// --- server ---

func (a *Authenticator) tlsStart() *Packet {
	c := a.cfg.TLS
	a.tls = &tlsConversation{cfg: c}
	a.tls.engine = newTLSEngine(c.goTLS(true, func() string { return a.identity }), true)
	return a.request(TypeTLS, []byte{TLSFlagStart})
}

// tlsResponse takes one EAP-TLS response of the peer.
func (a *Authenticator) tlsResponse(d []byte) (*Packet, Outcome, error) {
	s := a.tls
	f, err := ParseTLS(d)
	if err != nil {
		return a.tlsFail("%v", err)
	}
	switch {
	case s.out.busy():
		if !f.IsAck() {
			return a.tlsFail("peer sent TLS data instead of acknowledging our fragment")
		}
		return a.request(TypeTLS, s.out.next(s.cfg.fragSize())), Continue, nil
	case s.finished:
		if !f.IsAck() {
			return a.tlsFail("peer sent TLS data after the handshake")
		}
		a.msk = s.msk
		return a.succeed()
	case f.IsAck():
		// strongSwan's peer acknowledges instead of answering when its
		// side of the handshake failed.
		return a.tlsFail("peer ended the TLS handshake (it sent an acknowledgement, not a TLS message)")
	}
	msg, complete, err := s.in.add(f)
	if err != nil {
		return a.tlsFail("%v", err)
	}
	if !complete {
		return a.request(TypeTLS, tlsAck()), Continue, nil
	}
	if s.engine.done {
		return a.tlsFail("TLS message after the handshake")
	}
	out, err := s.engine.feed(msg)
	if err != nil {
		// crypto/tls wrote an alert; the EAP-Failure says it all.
		return a.tlsFail("TLS handshake: %v", err)
	}
	if s.engine.done {
		if err := s.established(); err != nil {
			return a.tlsFail("%v", err)
		}
		if s.engine.version() == tls.VersionTLS13 {
			ind, err := s.engine.writeIndication()
			if err != nil {
				return a.tlsFail("%v", err)
			}
			out = append(out, ind...)
		}
		s.finished = true
	}
	if len(out) == 0 {
		return a.tlsFail("TLS handshake stalled: the peer's message asked for no answer")
	}
	s.out.load(out)
	return a.request(TypeTLS, s.out.next(s.cfg.fragSize())), Continue, nil
}

func (a *Authenticator) tlsFail(format string, args ...any) (*Packet, Outcome, error) {
	return a.fail("EAP-TLS: "+format, args...)
}

// Close ends a conversation that will not be driven to its end; it is a
// no-op for methods without background work.
func (a *Authenticator) Close() {
	if a.tls != nil {
		a.tls.engine.close()
	}
}

// --- peer ---

// tlsHandle takes one EAP-TLS request of the authenticator.
func (p *Peer) tlsHandle(req *Packet, resp func(uint8, []byte) (*Packet, Outcome, error)) (*Packet, Outcome, error) {
	f, err := ParseTLS(req.Data)
	if err != nil {
		return nil, Failed, err
	}
	ack := func() (*Packet, Outcome, error) { return resp(TypeTLS, tlsAck()) }
	if f.Flags&TLSFlagStart != 0 {
		if p.tls != nil {
			return nil, Failed, fmt.Errorf("%w: second EAP-TLS start", ErrUnexpected)
		}
		if p.TLS == nil {
			return nil, Failed, errors.New("eap-tls: no certificate configured")
		}
		c := &tlsConversation{cfg: p.TLS}
		c.engine = newTLSEngine(p.TLS.goTLS(false, func() string { return p.ServerIdentity }), false)
		p.tls = c
		out, err := c.engine.start()
		if err != nil || len(out) == 0 {
			return nil, Failed, fmt.Errorf("eap-tls: starting the TLS handshake: %v", err)
		}
		c.out.load(out)
		return resp(TypeTLS, c.out.next(c.cfg.fragSize()))
	}
	c := p.tls
	if c == nil {
		return nil, Failed, fmt.Errorf("%w: EAP-TLS request before the start", ErrUnexpected)
	}
	if c.out.busy() {
		if !f.IsAck() {
			return nil, Failed, fmt.Errorf("%w: TLS data instead of an acknowledgement of our fragment", ErrUnexpected)
		}
		return resp(TypeTLS, c.out.next(c.cfg.fragSize()))
	}
	if c.err != nil || c.finished {
		// Nothing more to say: the authenticator ends with Success or
		// Failure, which Handle takes.
		return nil, Failed, fmt.Errorf("%w: EAP-TLS request after the handshake ended", ErrUnexpected)
	}
	msg, complete, err := c.in.add(f)
	if err != nil {
		c.engine.close()
		return nil, Failed, err
	}
	if !complete {
		return ack()
	}
	if c.await13 {
		out, err := c.engine.readIndication(msg)
		if err != nil {
			c.err = err
			if len(out) > 0 {
				c.out.load(out)
				return resp(TypeTLS, c.out.next(c.cfg.fragSize()))
			}
			return ack()
		}
		c.await13, c.finished = false, true
		p.done, p.msk = true, c.msk
		return ack()
	}
	out, err := c.engine.feed(msg)
	if err != nil {
		// Tell the server with the alert crypto/tls wrote (or an
		// acknowledgement, as strongSwan does); it answers EAP-Failure,
		// and Handle reports this error then.
		c.err = fmt.Errorf("TLS handshake: %w", err)
		if len(out) > 0 {
			c.out.load(out)
			return resp(TypeTLS, c.out.next(c.cfg.fragSize()))
		}
		return ack()
	}
	if c.engine.done {
		if err := c.established(); err != nil {
			c.err = err
			return ack()
		}
		if c.engine.version() == tls.VersionTLS13 {
			// Done only once the server confirms (RFC 9190 2.1.1): our
			// certificate may still be refused.
			c.await13 = true
		} else {
			c.finished = true
			p.done, p.msk = true, c.msk
		}
	}
	if len(out) == 0 {
		return ack()
	}
	c.out.load(out)
	return resp(TypeTLS, c.out.next(c.cfg.fragSize()))
}

// Close ends a conversation that will not be driven to its end.
func (p *Peer) Close() {
	if p.tls != nil {
		p.tls.engine.close()
	}
}
