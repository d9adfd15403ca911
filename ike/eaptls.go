package ike

import (
	"crypto/tls"
	"fmt"

	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
)

// EAP-TLS (RFC 5216) needs certificates inside EAP: the gateway's for the
// TLS server, the client's for the TLS client, and each end checks the
// other's chain against the connection's trust. The daemon's credentials
// provide them through EAPTLSCredentials.

// EAPTLSCredentials gives EAP-TLS its certificates; the daemon implements
// it with the connection's certificates and trust (auth.ConnTrust).
type EAPTLSCredentials interface {
	// EAPTLSCertificate returns our certificate for the connection and
	// identity, with its intermediates and private key.
	EAPTLSCertificate(conn string, local identity.ID) (tls.Certificate, error)
	// VerifyEAPTLSPeer checks the peer's TLS certificates (DER, end entity
	// first) against what the connection trusts, and that the end entity
	// carries the identity.
	VerifyEAPTLSPeer(conn string, peer identity.ID, chain [][]byte) error
}

// eapTLSConfig is the EAP-TLS configuration of a connection for our
// identity local.
func (sa *IKESA) eapTLSConfig(local identity.ID) (*eap.TLSConfig, error) {
	tc, ok := sa.m.creds.(EAPTLSCredentials)
	if !ok {
		return nil, fmt.Errorf("no certificates for EAP-TLS")
	}
	cert, err := tc.EAPTLSCertificate(sa.cfg.Name, local)
	if err != nil {
		return nil, fmt.Errorf("EAP-TLS certificate: %w", err)
	}
	conn := sa.cfg.Name
	return &eap.TLSConfig{
		Certificate: cert,
		VerifyPeer: func(id string, chain [][]byte) error {
			who := identity.Any
			if id != "" {
				var err error
				if who, err = identity.Parse(id); err != nil {
					return fmt.Errorf("identity %q: %w", id, err)
				}
			}
			return tc.VerifyEAPTLSPeer(conn, who, chain)
		},
		Rand:         sa.m.rand,
		Time:         sa.m.clock.Now,
		MaxVersion:   sa.m.opts.EAPTLSMaxVersion,
		FragmentSize: sa.m.opts.EAPTLSFragmentSize,
	}, nil
}

// closeEAP ends an EAP conversation that will not finish (a TLS handshake
// waiting for its next message).
func (x *eapExchange) close() {
	if x == nil {
		return
	}
	if c, ok := x.server.(interface{ Close() }); ok {
		c.Close()
	}
	if x.peer != nil {
		x.peer.Close()
	}
}
