package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/radius"
)

// RADIUSClient builds the RADIUS client of strongswan.conf's eap-radius
// servers, tried in the order written, each with its own retransmission, as
// strongSwan's eap-radius plugin uses them; nil when none is configured.
func RADIUSClient(r *config.EAPRadius) *radius.Client {
	if r == nil || len(r.Servers) == 0 {
		return nil
	}
	c := &radius.Client{NASIdentifier: r.NASIdentifier, Timeout: r.RetransmitTimeout, Base: r.RetransmitBase, Tries: r.RetransmitTries}
	for _, s := range r.Servers {
		c.Servers = append(c.Servers, radius.Server{
			Name:     s.Name,
			Addr:     net.JoinHostPort(s.Address, strconv.Itoa(int(s.AuthPort))),
			AcctAddr: net.JoinHostPort(s.Address, strconv.Itoa(int(s.AcctPort))),
			Secret:   s.Secret.Bytes(), NASIdentifier: s.NASIdentifier,
			Timeout: s.RetransmitTimeout, Base: s.RetransmitBase, Tries: s.RetransmitTries,
		})
	}
	return c
}

// radiusBackend relays the EAP conversations of auth = eap-radius
// connections to the RADIUS servers, as strongSwan's eap-radius plugin
// does. Round trips run on their own goroutines; their answers are posted
// into the daemon's event loop, so a slow or dead server never stalls the
// IKE state machine or other clients.
type radiusBackend struct {
	client *radius.Client
	// post runs f on the event loop (the IKE manager's goroutine).
	post func(f func())
	// round bounds one round trip with all retransmissions and failover.
	round time.Duration
	rand  io.Reader
}

func newRADIUSBackend(c *radius.Client, post func(func())) *radiusBackend {
	if c == nil {
		return nil
	}
	// The client's own schedule ends sooner for most settings; this
	// bound only keeps a goroutine from outliving a wedged server.
	return &radiusBackend{client: c, post: post, round: time.Minute, rand: rand.Reader}
}

// newServer starts one conversation; identity is the EAP identity the
// client must use, "" for any.
func (b *radiusBackend) newServer(identity string) *radiusEAP {
	return &radiusEAP{b: b, want: identity}
}

// radiusEAP is one EAP conversation passed through to RADIUS (RFC 3579).
// The gateway asks for the client's identity itself (EAP-Identity); every
// response after that goes to the server in an Access-Request, and every
// Access-Challenge's EAP message back to the client, until Access-Accept
// (EAP-Success, the MSK from the MS-MPPE keys) or Access-Reject.
type radiusEAP struct {
	b        *radiusBackend
	want     string // required identity, "" for any
	identity string
	lastID   uint8 // identifier of the last request sent to the client
	state    []byte
	method   uint8
	msk      []byte
	reason   string
}

var _ ike.AsyncEAPServer = (*radiusEAP)(nil)

// Start asks the client for its identity.
func (s *radiusEAP) Start() (*eap.Packet, error) {
	var id [1]byte
	if _, err := io.ReadFull(s.b.rand, id[:]); err != nil {
		return nil, fmt.Errorf("eap-radius: %w", err)
	}
	s.lastID = id[0]
	return &eap.Packet{Code: eap.CodeRequest, Identifier: s.lastID, Type: eap.TypeIdentity}, nil
}

// Step is not used: the gateway calls StepAsync for an AsyncEAPServer.
func (s *radiusEAP) Step(*eap.Packet) (*eap.Packet, eap.Outcome, error) {
	return nil, eap.Failed, errors.New("eap-radius: steps are asynchronous")
}

// StepAsync relays the client's response to the RADIUS servers.
func (s *radiusEAP) StepAsync(resp *eap.Packet, done func(*eap.Packet, eap.Outcome, error)) {
	if resp.Code != eap.CodeResponse || resp.Identifier != s.lastID {
		done(nil, eap.Failed, fmt.Errorf("EAP code %d identifier %d, want a response to request %d", resp.Code, resp.Identifier, s.lastID))
		return
	}
	if s.identity == "" {
		if resp.Type != eap.TypeIdentity || len(resp.Data) == 0 {
			done(nil, eap.Failed, fmt.Errorf("EAP type %s in answer to EAP-Identity", eap.TypeName(resp.Type)))
			return
		}
		s.identity = string(resp.Data)
		if s.want != "" && s.identity != s.want {
			s.reason = fmt.Sprintf("EAP identity %q, the connection requires %q", s.identity, s.want)
			done(&eap.Packet{Code: eap.CodeFailure, Identifier: s.lastID}, eap.Failed, nil)
			return
		}
	}
	req := radius.EAPRequest{UserName: s.identity, EAP: resp.Marshal(), State: s.state}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.b.round)
		defer cancel()
		res, err := s.b.client.EAP(ctx, req)
		s.b.post(func() { s.answer(res, err, done) })
	}()
}

// answer turns the server's answer into the next EAP packet for the client;
// it runs on the event loop.
func (s *radiusEAP) answer(res *radius.EAPResult, err error, done func(*eap.Packet, eap.Outcome, error)) {
	if err != nil {
		done(nil, eap.Failed, fmt.Errorf("RADIUS: %w", err))
		return
	}
	var p *eap.Packet
	if len(res.EAP) > 0 {
		if p, err = eap.Parse(res.EAP); err != nil {
			done(nil, eap.Failed, fmt.Errorf("RADIUS server %s sent a bad EAP message: %w", res.Server, err))
			return
		}
	}
	s.state = res.State
	switch res.Code {
	case radius.CodeAccessChallenge:
		if p == nil || p.Code != eap.CodeRequest {
			done(nil, eap.Failed, fmt.Errorf("RADIUS server %s challenged without an EAP request", res.Server))
			return
		}
		s.lastID = p.Identifier
		if p.Type != eap.TypeIdentity && p.Type != eap.TypeNotification && p.Type != eap.TypeNak {
			s.method = p.Type
		}
		done(p, eap.Continue, nil)
	case radius.CodeAccessAccept:
		s.msk = res.MSK
		if p == nil || p.Code != eap.CodeSuccess {
			p = &eap.Packet{Code: eap.CodeSuccess, Identifier: s.lastID}
		}
		done(p, eap.Succeeded, nil)
	default:
		s.reason = "RADIUS server " + res.Server + " rejected the client"
		if res.ReplyMessage != "" {
			s.reason += ": " + res.ReplyMessage
		}
		if p == nil || p.Code != eap.CodeFailure {
			p = &eap.Packet{Code: eap.CodeFailure, Identifier: s.lastID}
		}
		done(p, eap.Failed, nil)
	}
}

func (s *radiusEAP) Identity() string { return s.identity }
func (s *radiusEAP) Method() uint8    { return s.method }
func (s *radiusEAP) MSK() []byte      { return s.msk }
func (s *radiusEAP) Reason() string   { return s.reason }

// charonRADIUS is strongswan.conf's eap-radius section, nil without one.
func charonRADIUS(c *config.Charon) *config.EAPRadius {
	if c == nil {
		return nil
	}
	return c.EAPRadius
}

// usesRADIUS returns where the configuration asks for auth = eap-radius.
func usesRADIUS(cfg *config.Config) []config.Pos {
	var at []config.Pos
	for _, c := range cfg.Connections {
		for _, a := range c.Remote {
			if a.Method == config.AuthEAP && a.EAPType == "radius" {
				pos := a.Pos
				if p, ok := a.Set["auth"]; ok {
					pos = p
				}
				at = append(at, pos)
			}
		}
	}
	return at
}

// CheckRADIUS refuses auth = eap-radius when strongswan.conf names no
// RADIUS server to relay the conversations to.
func CheckRADIUS(cfg *config.Config, charon *config.Charon) error {
	at := usesRADIUS(cfg)
	if len(at) == 0 || RADIUSClient(charonRADIUS(charon)) != nil {
		return nil
	}
	where := "no strongswan.conf was read"
	if charon != nil {
		where = charon.Path + " has none"
	}
	var ps config.Problems
	for _, pos := range at {
		ps = append(ps, config.Problem{Pos: pos, Text: "auth = eap-radius needs RADIUS servers in strongswan.conf's charon.plugins.eap-radius (" + where + ")"})
	}
	return ps
}
