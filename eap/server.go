package eap

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Server is the authenticator side of one EAP conversation: the part of an
// IKEv2 gateway that checks a road warrior's credentials (RFC 7296 2.16).
// The IKE SA sends what Start returns, passes every EAP response of the
// peer to Step and sends what Step returns, until Step reports Succeeded or
// Failed with the final EAP-Success or EAP-Failure to send. After Succeeded,
// Identity names who authenticated and MSK keys the AUTH payloads.
//
// The interface is the seam for an authentication backend: Authenticator
// implements it with local secrets; a RADIUS client implements it by
// relaying each response in an Access-Request (RFC 3579) and each
// Access-Challenge back as the next request, ending with Access-Accept
// (Succeeded, the MSK from the MS-MPPE keys) or Access-Reject (Failed). The
// IKE state machine calls Step from its event loop, so an implementation
// must answer without blocking on the network for long; a backend with
// network round trips needs the asynchronous variant the IKE manager would
// grow for it.
type Server interface {
	// Start returns the first request.
	Start() (*Packet, error)
	// Step processes the peer's response and returns the next packet to
	// send: a request while Continue, EAP-Success with Succeeded, or
	// EAP-Failure with Failed. An error means the response was not one to
	// process (wrong identifier, malformed); the conversation fails.
	Step(resp *Packet) (*Packet, Outcome, error)
	// Identity is the identity the peer authenticated as: its EAP-Identity
	// response, or the identity the conversation was started with.
	Identity() string
	// Method is the EAP method type used (or tried).
	Method() uint8
	// MSK is the Master Session Key after success; nil for methods that
	// derive none (EAP-MD5).
	MSK() []byte
	// Reason says why the conversation failed, for the log.
	Reason() string
}

// SecretFunc looks up the EAP secret (password) of an identity.
type SecretFunc func(identity string) ([]byte, bool)

// AuthenticatorConfig configures an Authenticator.
type AuthenticatorConfig struct {
	// Method is TypeMSCHAPv2, TypeMD5 or TypeTLS.
	Method uint8
	// Identity is the peer's EAP identity when known; empty asks the peer
	// with EAP-Identity first.
	Identity string
	// Secrets finds the peer's password.
	Secrets SecretFunc
	// Rand supplies challenges and the first identifier.
	Rand io.Reader
	// Name is the authenticator's name sent in MS-CHAPv2 challenges.
	Name string
	// TLS is the EAP-TLS configuration (Method TypeTLS); Secrets are not
	// used then.
	TLS *TLSConfig
}

// Authenticator is a Server that checks passwords it can look up itself.
type Authenticator struct {
	cfg       AuthenticatorConfig
	identity  string
	id        uint8 // identifier of the outstanding request
	stage     authStage
	challenge []byte
	msk       []byte
	reason    string
	tls       *tlsConversation
}

type authStage uint8

const (
	stageIdentity authStage = iota + 1
	stageMethod
	stageMSCHAPSuccess // MS-CHAPv2 Success request sent, waiting for its ack
	stageDone
)

// NewAuthenticator starts a conversation; it fails for a method it does not
// implement.
func NewAuthenticator(cfg AuthenticatorConfig) (*Authenticator, error) {
	switch cfg.Method {
	case TypeMSCHAPv2, TypeMD5:
	case TypeTLS:
		if cfg.TLS == nil || cfg.Rand == nil {
			return nil, errors.New("eap: EAP-TLS authenticator needs a TLS configuration and randomness")
		}
		return &Authenticator{cfg: cfg, identity: cfg.Identity}, nil
	default:
		return nil, fmt.Errorf("eap: server for method %s not implemented", TypeName(cfg.Method))
	}
	if cfg.Secrets == nil || cfg.Rand == nil {
		return nil, errors.New("eap: authenticator needs secrets and randomness")
	}
	return &Authenticator{cfg: cfg, identity: cfg.Identity}, nil
}

// Identity implements Server.
func (a *Authenticator) Identity() string { return a.identity }

// Method implements Server.
func (a *Authenticator) Method() uint8 { return a.cfg.Method }

// MSK implements Server.
func (a *Authenticator) MSK() []byte { return a.msk }

// Reason implements Server.
func (a *Authenticator) Reason() string { return a.reason }

// Start implements Server.
func (a *Authenticator) Start() (*Packet, error) {
	var b [1]byte
	if _, err := io.ReadFull(a.cfg.Rand, b[:]); err != nil {
		return nil, fmt.Errorf("eap: identifier: %w", err)
	}
	a.id = b[0]
	if a.identity == "" {
		a.stage = stageIdentity
		return &Packet{Code: CodeRequest, Identifier: a.id, Type: TypeIdentity}, nil
	}
	return a.methodRequest()
}

func (a *Authenticator) methodRequest() (*Packet, error) {
	a.stage = stageMethod
	if a.cfg.Method == TypeTLS {
		return a.tlsStart(), nil
	}
	n := 16
	a.challenge = make([]byte, n)
	if _, err := io.ReadFull(a.cfg.Rand, a.challenge); err != nil {
		return nil, fmt.Errorf("eap: challenge: %w", err)
	}
	switch a.cfg.Method {
	case TypeMD5:
		// Value-Size, Value, Name (RFC 1994 4.1 as RFC 3748 5.4 uses it).
		data := append([]byte{byte(n)}, a.challenge...)
		return a.request(TypeMD5, append(data, a.cfg.Name...)), nil
	default:
		// OpCode, MS-CHAPv2-ID, MS-Length, Value-Size, Challenge, Name.
		data := []byte{mschapChallenge, a.id + 1, 0, 0, byte(n)}
		data = append(data, a.challenge...)
		data = append(data, a.cfg.Name...)
		binary.BigEndian.PutUint16(data[2:], uint16(len(data)))
		return a.request(TypeMSCHAPv2, data), nil
	}
}

// request builds the next request with a fresh identifier (RFC 3748 4.1).
func (a *Authenticator) request(t uint8, data []byte) *Packet {
	a.id++
	return &Packet{Code: CodeRequest, Identifier: a.id, Type: t, Data: data}
}

func (a *Authenticator) fail(format string, args ...any) (*Packet, Outcome, error) {
	a.reason = fmt.Sprintf(format, args...)
	a.stage = stageDone
	a.Close()
	a.id++
	return &Packet{Code: CodeFailure, Identifier: a.id}, Failed, nil
}

func (a *Authenticator) succeed() (*Packet, Outcome, error) {
	a.stage = stageDone
	a.id++
	return &Packet{Code: CodeSuccess, Identifier: a.id}, Succeeded, nil
}

// Step implements Server.
func (a *Authenticator) Step(resp *Packet) (*Packet, Outcome, error) {
	if a.stage == stageDone || a.stage == 0 {
		return nil, Failed, errors.New("eap: no conversation in progress")
	}
	if resp.Code != CodeResponse || resp.Identifier != a.id {
		return nil, Failed, fmt.Errorf("eap: expected a response with identifier %d, got code %d identifier %d", a.id, resp.Code, resp.Identifier)
	}
	if resp.Type == TypeNak {
		return a.fail("peer refused EAP method %s and proposes %s", TypeName(a.cfg.Method), nakTypes(resp.Data))
	}
	switch a.stage {
	case stageIdentity:
		if resp.Type != TypeIdentity {
			return a.fail("expected an EAP-Identity response, got %s", TypeName(resp.Type))
		}
		a.identity = string(resp.Data)
		if a.identity == "" {
			return a.fail("peer sent an empty EAP identity")
		}
		p, err := a.methodRequest()
		if err != nil {
			return nil, Failed, err
		}
		return p, Continue, nil
	case stageMethod:
		if resp.Type != a.cfg.Method {
			return a.fail("expected an %s response, got %s", TypeName(a.cfg.Method), TypeName(resp.Type))
		}
		switch a.cfg.Method {
		case TypeMD5:
			return a.md5Response(resp.Data)
		case TypeTLS:
			return a.tlsResponse(resp.Data)
		}
		return a.mschapResponse(resp.Data)
	case stageMSCHAPSuccess:
		if resp.Type != TypeMSCHAPv2 || len(resp.Data) < 1 || resp.Data[0] != mschapSuccess {
			return a.fail("peer did not acknowledge MS-CHAPv2 success")
		}
		return a.succeed()
	}
	return nil, Failed, errors.New("eap: bad state")
}

func nakTypes(d []byte) string {
	var s []string
	for _, t := range d {
		s = append(s, TypeName(t))
	}
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

func (a *Authenticator) secret() ([]byte, bool) {
	return a.cfg.Secrets(a.identity)
}

func (a *Authenticator) md5Response(d []byte) (*Packet, Outcome, error) {
	if len(d) < 1+md5.Size || d[0] != md5.Size {
		return a.fail("malformed MD5 response from %q", a.identity)
	}
	secret, ok := a.secret()
	if !ok {
		return a.fail("no EAP secret for %q", a.identity)
	}
	want := md5Value(a.id, secret, a.challenge)
	if subtle.ConstantTimeCompare(want[:], d[1:1+md5.Size]) != 1 {
		return a.fail("EAP-MD5 response of %q does not match its secret", a.identity)
	}
	return a.succeed()
}

// md5Value is the CHAP response MD5(Identifier | secret | challenge).
func md5Value(id uint8, secret, challenge []byte) [md5.Size]byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write(secret)
	h.Write(challenge)
	var out [md5.Size]byte
	h.Sum(out[:0])
	return out
}

// MS-CHAPv2 OpCodes (draft-kamath-pppext-eap-mschapv2 2).
const (
	mschapChallenge = 1
	mschapResponse  = 2
	mschapSuccess   = 3
	mschapFailure   = 4
)

// mschapResponseValueSize: Peer-Challenge 16, Reserved 8, NT-Response 24, Flags 1.
const mschapResponseValueSize = 49

func (a *Authenticator) mschapResponse(d []byte) (*Packet, Outcome, error) {
	// OpCode, MS-CHAPv2-ID, MS-Length (2), Value-Size, Value, Name.
	if len(d) < 5+mschapResponseValueSize || d[0] != mschapResponse || d[4] != mschapResponseValueSize {
		return a.fail("malformed MS-CHAPv2 response from %q", a.identity)
	}
	v := d[5 : 5+mschapResponseValueSize]
	peerChallenge, ntResponse := v[:16], v[24:48]
	secret, ok := a.secret()
	if !ok {
		return a.fail("no EAP secret for %q", a.identity)
	}
	ph := ntPasswordHash(secret)
	want := challengeResponse(challengeHash(peerChallenge, a.challenge, a.identity), ph)
	if subtle.ConstantTimeCompare(want[:], ntResponse) != 1 {
		return a.fail("MS-CHAPv2 response of %q does not match its secret", a.identity)
	}
	a.msk = mschapv2MSK(ph, ntResponse)
	msg := generateAuthenticatorResponse(ph, ntResponse, peerChallenge, a.challenge, a.identity) + " M=Welcome"
	out := []byte{mschapSuccess, d[1], 0, 0}
	out = append(out, msg...)
	binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
	a.stage = stageMSCHAPSuccess
	return a.request(TypeMSCHAPv2, out), Continue, nil
}
