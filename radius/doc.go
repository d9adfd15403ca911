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
// or EAP-Failure (Access-Reject).
package radius
