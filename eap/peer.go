package eap

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Peer is the peer side of one EAP conversation: the road warrior that
// proves its identity to a gateway. Feed it every EAP packet the
// authenticator sends; send back the responses it returns.
type Peer struct {
	// Identity is what the peer answers EAP-Identity with and the user name
	// of MS-CHAPv2.
	Identity string
	// Secret is the password.
	Secret []byte
	// Methods are the methods the peer accepts, in order of preference;
	// anything else is answered with a Nak proposing them.
	Methods []uint8
	// Rand supplies the MS-CHAPv2 peer challenge.
	Rand io.Reader
	// TLS is the EAP-TLS configuration, nil without a certificate.
	TLS *TLSConfig
	// ServerIdentity is the identity the server's EAP-TLS certificate must
	// carry (the gateway's IKE identity); read when the certificate
	// arrives.
	ServerIdentity string

	method     uint8 // the method that ran
	done       bool  // the method completed successfully on our side
	authResp   string
	msk        []byte
	mschapSeen bool
	tls        *tlsConversation
}

// Method is the EAP method the authenticator used (0 before one started).
func (p *Peer) Method() uint8 { return p.method }

// MSK is the Master Session Key after EAP-Success; nil for methods that
// derive none.
func (p *Peer) MSK() []byte { return p.msk }

// ErrUnexpected marks a packet that does not fit the conversation.
var ErrUnexpected = errors.New("eap: unexpected packet")

// Handle processes one packet from the authenticator. It returns the
// response to send while Continue; Succeeded or Failed (with no response)
// when the authenticator ended the conversation. A Succeeded outcome means
// the method also proved the authenticator to us where it can (MS-CHAPv2's
// authenticator response).
func (p *Peer) Handle(req *Packet) (*Packet, Outcome, error) {
	switch req.Code {
	case CodeSuccess:
		if !p.done {
			return nil, Failed, fmt.Errorf("%w: EAP-Success before the %s method completed", ErrUnexpected, TypeName(p.method))
		}
		return nil, Succeeded, nil
	case CodeFailure:
		if p.tls != nil {
			p.tls.engine.close()
			if p.tls.err != nil {
				return nil, Failed, p.tls.err
			}
		}
		return nil, Failed, nil
	case CodeRequest:
	default:
		return nil, Failed, fmt.Errorf("%w: EAP code %d from the authenticator", ErrUnexpected, req.Code)
	}
	resp := func(t uint8, data []byte) (*Packet, Outcome, error) {
		return &Packet{Code: CodeResponse, Identifier: req.Identifier, Type: t, Data: data}, Continue, nil
	}
	switch req.Type {
	case TypeIdentity:
		return resp(TypeIdentity, []byte(p.Identity))
	case TypeNotification:
		return resp(TypeNotification, nil)
	}
	if !slices.Contains(p.Methods, req.Type) {
		if p.method != 0 {
			return nil, Failed, fmt.Errorf("%w: %s request during %s", ErrUnexpected, TypeName(req.Type), TypeName(p.method))
		}
		return resp(TypeNak, p.Methods)
	}
	p.method = req.Type
	switch req.Type {
	case TypeMD5:
		d := req.Data
		if len(d) < 1 || int(d[0]) > len(d)-1 || d[0] == 0 {
			return nil, Failed, fmt.Errorf("%w: malformed MD5 challenge", ErrUnexpected)
		}
		v := md5Value(req.Identifier, p.Secret, d[1:1+int(d[0])])
		p.done = true
		return resp(TypeMD5, append([]byte{byte(len(v))}, v[:]...))
	case TypeMSCHAPv2:
		return p.mschap(req, resp)
	case TypeTLS:
		return p.tlsHandle(req, resp)
	}
	return nil, Failed, fmt.Errorf("eap: peer for method %s not implemented", TypeName(req.Type))
}

func (p *Peer) mschap(req *Packet, resp func(uint8, []byte) (*Packet, Outcome, error)) (*Packet, Outcome, error) {
	d := req.Data
	if len(d) < 4 {
		return nil, Failed, fmt.Errorf("%w: MS-CHAPv2 packet of %d bytes", ErrUnexpected, len(d))
	}
	switch d[0] {
	case mschapChallenge:
		if p.mschapSeen {
			return nil, Failed, fmt.Errorf("%w: second MS-CHAPv2 challenge", ErrUnexpected)
		}
		if len(d) < 5+16 || d[4] != 16 {
			return nil, Failed, fmt.Errorf("%w: malformed MS-CHAPv2 challenge", ErrUnexpected)
		}
		p.mschapSeen = true
		authChallenge := d[5 : 5+16]
		value := make([]byte, mschapResponseValueSize)
		if _, err := io.ReadFull(p.Rand, value[:16]); err != nil {
			return nil, Failed, fmt.Errorf("eap: peer challenge: %w", err)
		}
		nt := generateNTResponse(authChallenge, value[:16], p.Identity, p.Secret)
		copy(value[24:], nt[:])
		ph := ntPasswordHash(p.Secret)
		p.authResp = generateAuthenticatorResponse(ph, nt[:], value[:16], authChallenge, p.Identity)
		p.msk = mschapv2MSK(ph, nt[:])
		out := []byte{mschapResponse, d[1], 0, 0, mschapResponseValueSize}
		out = append(out, value...)
		out = append(out, p.Identity...)
		binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
		return resp(TypeMSCHAPv2, out)
	case mschapSuccess:
		if p.authResp == "" {
			return nil, Failed, fmt.Errorf("%w: MS-CHAPv2 success before a challenge", ErrUnexpected)
		}
		msg := string(d[4:])
		got, _, _ := strings.Cut(msg, " ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(p.authResp)) != 1 {
			p.msk = nil
			return nil, Failed, errors.New("eap: MS-CHAPv2 authenticator response does not match: the gateway does not know our password")
		}
		p.done = true
		return resp(TypeMSCHAPv2, []byte{mschapSuccess})
	case mschapFailure:
		p.msk = nil
		return resp(TypeMSCHAPv2, []byte{mschapFailure})
	}
	return nil, Failed, fmt.Errorf("%w: MS-CHAPv2 OpCode %d", ErrUnexpected, d[0])
}
