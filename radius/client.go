package radius

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"
)

// Server is one RADIUS server as strongSwan's eap-radius plugin configures
// it.
type Server struct {
	// Name identifies the server in errors and logs.
	Name string
	// Addr is host:port of the authentication port (default port 1812).
	Addr string
	// AcctAddr is host:port of the accounting port (RFC 2866; default
	// Addr's host, port 1813).
	AcctAddr string
	// Secret is the shared secret.
	Secret []byte
	// NASIdentifier overrides the Client's for this server when set.
	NASIdentifier string
	// Timeout, Base and Tries override the Client's retransmission for
	// this server when set (strongSwan's per-server retransmit_*).
	Timeout time.Duration
	Base    float64
	Tries   int
}

// Client sends requests to a list of servers, retransmitting each request
// and failing over to the next server when one does not answer, as
// strongSwan's eap-radius does (timeout * base^n for try n). It is safe for
// concurrent use; each request uses its own socket, so identifiers never
// collide.
type Client struct {
	Servers []Server
	// Timeout, Base and Tries shape the retransmission per server (defaults
	// 2 s, 1.4 and 4, strongSwan's eap-radius retransmit_timeout,
	// retransmit_base and retransmit_tries).
	Timeout time.Duration
	Base    float64
	Tries   int
	// NASIdentifier is sent in every Access-Request (default "strongSwan",
	// as strongSwan's nas_identifier, so server policies written for it
	// match).
	NASIdentifier string
	// Rand supplies Request Authenticators and identifiers (default
	// crypto/rand).
	Rand io.Reader
	// Dial opens the UDP socket to a server (host:port); nil dials with
	// net.Dialer. The daemon sets it to bind strongSwan's source address,
	// tests to open the socket in a network namespace.
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	mu   sync.Mutex
	good int // index of the server that answered last
}

// ErrTimeout is returned when no server answered.
var ErrTimeout = errors.New("radius: no server answered")

func (c *Client) params(s Server) (time.Duration, float64, int) {
	t, b, n := c.Timeout, c.Base, c.Tries
	if s.Timeout > 0 {
		t = s.Timeout
	}
	if s.Base >= 1 {
		b = s.Base
	}
	if s.Tries > 0 {
		n = s.Tries
	}
	if t <= 0 {
		t = 2 * time.Second
	}
	if b < 1 {
		b = 1.4
	}
	if n <= 0 {
		n = 4
	}
	return t, b, n
}

// Exchange sends req (built by the caller without Authenticator,
// Message-Authenticator and NAS-Identifier: Exchange adds them) and returns the verified
// response with the Request Authenticator it was checked against and the
// server that answered. build is called once per server, because User-
// Password hiding and MPPE keys depend on the server's secret; it may be nil.
func (c *Client) Exchange(ctx context.Context, req *Packet, build func(p *Packet, s Server) error) (*Packet, [16]byte, Server, error) {
	if len(c.Servers) == 0 {
		return nil, [16]byte{}, Server{}, errors.New("radius: no server configured")
	}
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	c.mu.Lock()
	start := c.good
	c.mu.Unlock()
	var errs []error
	for i := range c.Servers {
		idx := (start + i) % len(c.Servers)
		s := c.Servers[idx]
		p := &Packet{Code: req.Code, Attributes: append([]Attribute(nil), req.Attributes...)}
		var idb [17]byte
		if _, err := io.ReadFull(r, idb[:]); err != nil {
			return nil, [16]byte{}, s, fmt.Errorf("radius: random authenticator: %w", err)
		}
		p.Identifier = idb[0]
		copy(p.Authenticator[:], idb[1:])
		if p.Code == CodeAccessRequest || p.Code == CodeAccountingRequest {
			p.Add(TypeNASIdentifier, []byte(c.nasIdentifier(s)))
		}
		if build != nil {
			if err := build(p, s); err != nil {
				return nil, [16]byte{}, s, err
			}
		}
		reqAuth := p.Authenticator
		raw, err := p.Sign(s.Secret)
		if err != nil {
			return nil, [16]byte{}, s, err
		}
		if p.Code == CodeAccountingRequest {
			reqAuth = p.Authenticator
		}
		addr := s.Addr
		if p.Code == CodeAccountingRequest {
			addr = s.acctAddr()
		}
		resp, err := c.try(ctx, s, addr, raw, p.Identifier, reqAuth)
		if err == nil {
			c.mu.Lock()
			c.good = idx
			c.mu.Unlock()
			return resp, reqAuth, s, nil
		}
		if ctx.Err() != nil {
			return nil, [16]byte{}, s, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("server %s (%s): %w", s.Name, s.Addr, err))
	}
	return nil, [16]byte{}, Server{}, errors.Join(append([]error{ErrTimeout}, errs...)...)
}

// try sends raw to one server with retransmissions and waits for a response
// that verifies. Responses that fail verification are dropped (they may be
// forged) and waiting goes on until the try's deadline.
func (c *Client) try(ctx context.Context, s Server, addr string, raw []byte, id uint8, reqAuth [16]byte) (*Packet, error) {
	conn, err := c.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	timeout, base, tries := c.params(s)
	buf := make([]byte, MaxPacketLen)
	var lastBad error
	for n := range tries {
		if _, err := conn.Write(raw); err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		deadline := time.Now().Add(time.Duration(float64(timeout) * math.Pow(base, float64(n))))
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if err := conn.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		for {
			k, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // retransmit
				}
				return nil, fmt.Errorf("receive: %w", err)
			}
			p, err := VerifyResponse(append([]byte(nil), buf[:k]...), id, reqAuth, s.Secret)
			if err != nil {
				lastBad = err
				continue
			}
			return p, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if lastBad != nil {
		return nil, fmt.Errorf("%d tries, only invalid responses: %w", tries, lastBad)
	}
	return nil, fmt.Errorf("no answer after %d tries", tries)
}

// nasIdentifier is the NAS-Identifier sent to s: its own, the Client's, or
// "strongSwan".
func (c *Client) nasIdentifier(s Server) string {
	switch {
	case s.NASIdentifier != "":
		return s.NASIdentifier
	case c.NASIdentifier != "":
		return c.NASIdentifier
	}
	return "strongSwan"
}

// acctAddr is AcctAddr, or Addr's host at port 1813.
func (s Server) acctAddr() string {
	if s.AcctAddr != "" {
		return s.AcctAddr
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		host = s.Addr
	}
	return net.JoinHostPort(host, "1813")
}

func (c *Client) dial(ctx context.Context, addr string) (net.Conn, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "1812")
	}
	var conn net.Conn
	var err error
	if c.Dial != nil {
		conn, err = c.Dial(ctx, addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "udp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return conn, nil
}

// EAPRequest is one round of EAP pass-through.
type EAPRequest struct {
	// UserName is the EAP identity (from the peer's EAP-Response/Identity).
	UserName string
	// EAP is the EAP message from the peer, as received in IKE.
	EAP []byte
	// State is the State attribute of the last Access-Challenge, nil in the
	// first round.
	State []byte
}

// EAPResult is the server's answer to one round.
type EAPResult struct {
	// Code is Access-Challenge (send EAP to the peer and go on), Access-
	// Accept (EAP-Success; MSK is set) or Access-Reject (EAP-Failure).
	Code Code
	// EAP is the EAP message for the peer (EAP-Request, Success or Failure).
	EAP []byte
	// State goes into the next EAPRequest.
	State []byte
	// MSK is the Master Session Key from the MPPE keys of an Access-Accept;
	// nil when the server sent none because the EAP method makes no key
	// (EAP-MD5). IKE then has no MSK for AUTH, which the caller must refuse
	// or handle as RFC 7296 2.16 says.
	MSK []byte
	// ReplyMessage is the server's Reply-Message, if any (for the log).
	ReplyMessage string
	// Server names the server that answered.
	Server string
}

// EAP forwards one EAP message to the RADIUS server (RFC 3579) and returns
// its answer. A transport failure, a response that does not verify, or MPPE
// keys that do not decrypt are errors; Access-Reject is a result.
func (c *Client) EAP(ctx context.Context, r EAPRequest) (*EAPResult, error) {
	if len(r.EAP) == 0 {
		return nil, errors.New("radius: empty EAP message")
	}
	req := &Packet{Code: CodeAccessRequest}
	if r.UserName != "" {
		if len(r.UserName) > MaxValueLen {
			return nil, errors.New("radius: EAP identity longer than 253 octets")
		}
		req.Add(TypeUserName, []byte(r.UserName))
	}
	req.Add(TypeServiceType, []byte{0, 0, 0, 2}) // Framed
	req.Add(TypeNASPortType, []byte{0, 0, 0, 5}) // Virtual
	req.Attributes = append(req.Attributes, SplitEAP(r.EAP)...)
	if r.State != nil {
		req.Add(TypeState, r.State)
	}
	resp, reqAuth, s, err := c.Exchange(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	res := &EAPResult{Code: resp.Code, Server: s.Name}
	if st, ok := resp.Get(TypeState); ok {
		res.State = append([]byte(nil), st...)
	}
	if rm, ok := resp.Get(TypeReplyMessage); ok {
		res.ReplyMessage = string(rm)
	}
	msg, has, err := resp.EAPMessage()
	if err != nil {
		return nil, err
	}
	switch resp.Code {
	case CodeAccessChallenge:
		if !has {
			return nil, errors.New("radius: Access-Challenge without EAP-Message")
		}
	case CodeAccessAccept:
		msk, err := MSK(resp, reqAuth, s.Secret)
		if err != nil && !errors.Is(err, ErrNoMSK) {
			return nil, err
		}
		res.MSK = msk
	case CodeAccessReject:
	default:
		return nil, fmt.Errorf("radius: unexpected %v in answer to Access-Request", resp.Code)
	}
	res.EAP = msg
	return res, nil
}

// PAP sends a plain Access-Request with User-Name and User-Password and
// returns the server's answer (Access-Accept or Access-Reject).
func (c *Client) PAP(ctx context.Context, user string, password []byte) (Code, error) {
	req := &Packet{Code: CodeAccessRequest}
	req.Add(TypeUserName, []byte(user))
	resp, _, _, err := c.Exchange(ctx, req, func(p *Packet, s Server) error {
		h, err := HidePassword(password, s.Secret, p.Authenticator)
		if err != nil {
			return err
		}
		p.Add(TypeUserPassword, h)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return resp.Code, nil
}
