// Package radius is a RADIUS client for EAP pass-through: the packet codec of
// RFC 2865, EAP-Message and Message-Authenticator of RFC 3579, the Microsoft
// MPPE key attributes of RFC 2548 that carry the EAP MSK, and a UDP client
// with retransmission and server failover.
//
// The codec (Parse, Packet.Encode, the authenticator and key functions) is
// pure: no I/O, no clock, no global state, and parsing N bytes allocates
// O(N). Only Client does I/O.
//
// The gateway's EAP pass-through uses Client.EAP: it forwards each EAP
// message from the IKE peer in an Access-Request (with the State attribute
// the server sent last) and gets back the server's next EAP request
// (Access-Challenge), or the final EAP-Success with the MSK (Access-Accept),
// or EAP-Failure (Access-Reject):
//
//	c := &radius.Client{Servers: []radius.Server{{Name: "r1", Addr: "192.0.2.9:1812", Secret: secret}}}
//	res, err := c.EAP(ctx, radius.EAPRequest{UserName: identity, EAP: fromPeer, State: state})
//	switch {
//	case err != nil: // no server answered, or an answer that does not verify
//	case res.Code == radius.CodeAccessChallenge: // send res.EAP to the peer, keep res.State
//	case res.Code == radius.CodeAccessAccept: // EAP-Success; res.MSK keys IKE's AUTH (RFC 7296 2.16)
//	default: // Access-Reject: res.EAP is EAP-Failure
//	}
//
// Accounting (RFC 2866) start and stop records go out with Client.Account.
package radius
