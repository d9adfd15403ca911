package ike

import (
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/spd"
)

// PeerConfig is what the state machine needs to know about one connection
// (swanctl.conf connections.<name>). The daemon builds it from the parsed
// configuration; tests build it directly.
type PeerConfig struct {
	Name string
	// LocalAddrs and RemoteAddrs restrict which addresses the connection
	// uses; a responder accepts a peer whose address is in RemoteAddrs (an
	// empty list or an invalid prefix stands for %any).
	LocalAddrs  []netip.Prefix
	RemoteAddrs []netip.Prefix
	// RemoteHosts are the single peers remote_addrs names (addresses and
	// resolved host names, not ranges or subnets), for leak protection.
	RemoteHosts []netip.Addr
	// Remote is where an initiator sends IKE_SA_INIT (port 500 by default).
	Remote netip.AddrPort
	// Proposals are the IKE proposals in our order of preference.
	Proposals []proposal.Proposal
	// LocalID and RemoteID are the identities; RemoteID may be identity.Any.
	LocalID, RemoteID identity.ID
	// LocalAuth and RemoteAuth say how each side authenticates.
	LocalAuth, RemoteAuth AuthMethod
	// LocalEAP and RemoteEAP configure EAP where LocalAuth or RemoteAuth
	// is AuthEAP (eap.go).
	LocalEAP, RemoteEAP EAPConfig
	// LocalRound2 and RemoteRound2 are a second authentication round
	// (RFC 4739, swanctl local-2 / remote-2) after the first; nil for one.
	LocalRound2, RemoteRound2 *AuthRound
	// Encap forces UDP encapsulation of ESP even without a NAT (swanctl
	// encap = yes), by faking the NAT-D hash as RFC 7296 2.23 allows.
	Encap bool
	// MOBIKE offers and accepts RFC 4555 address updates (swanctl mobike,
	// default yes; mobike.go).
	MOBIKE bool
	// RedirectTo, when valid, sends the clients of this connection that
	// support RFC 5685 to that gateway (redirect.go): in IKE_SA_INIT, or
	// in IKE_AUTH after authenticating them when RedirectIn is
	// RedirectInAuth.
	RedirectTo netip.Addr
	// RedirectIn is the exchange in which RedirectTo applies (cygnet's
	// redirect_in).
	RedirectIn RedirectPhase
	// RedirectWhenSAs, when positive, applies RedirectTo only while the
	// gateway already holds at least that many IKE SAs past IKE_SA_INIT
	// ("overloaded", cygnet's redirect_when_sas); zero always.
	RedirectWhenSAs int
	// Fragmentation is the RFC 7383 policy (swanctl fragmentation).
	Fragmentation Fragmentation
	// TCP is the connection's TCP encapsulation (RFC 9329, encap_tcp),
	// for the transport: IKE sends through the Transport either way and
	// does not look at it.
	TCP TCPEncap
	// RekeyTime, ReauthTime, OverTime, RandTime, DPDDelay and DPDTimeout are
	// the IKE SA timers (zero disables).
	RekeyTime, ReauthTime, OverTime, RandTime time.Duration
	DPDDelay, DPDTimeout                      time.Duration
	// SendCertReq sends CERTREQ payloads for the trusted CAs.
	SendCertReq bool
	// SendCert says when our certificate goes to the peer (swanctl send_cert).
	SendCert SendCertPolicy
	// Unique is the policy for several IKE SAs between the same identities
	// (swanctl unique).
	Unique UniquePolicy
	// KeyingTries is how many times an initiator tries to reach an
	// unresponsive peer before giving up (swanctl keyingtries). Zero means
	// one try, strongSwan's default; KeyingTriesForever is swanctl's 0.
	KeyingTries uint32
	// VIPs are the virtual IPs a client asks for (swanctl vips): 0.0.0.0
	// or :: for any address of that family (cp.go).
	VIPs []netip.Addr
	// Pools name the address pools a gateway leases virtual IPs from
	// (swanctl pools).
	Pools []string
	// PPKID is the PPK_ID of the postquantum preshared key (RFC 8784) we
	// use as initiator (swanctl ppk_id, as identity encoding); nil for
	// none. As responder a peer may use any PPK we have, unless PPKID names
	// one.
	PPKID []byte
	// PPKRequired refuses an IKE SA without a PPK (swanctl ppk_required).
	PPKRequired bool
	// Children are the Child SA configurations, by name.
	Children []*ChildConfig
}

// Child finds a child configuration by name.
func (c *PeerConfig) Child(name string) *ChildConfig {
	for _, ch := range c.Children {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}

// SendCertPolicy is when to send our certificate.
type SendCertPolicy uint8

// send_cert values: ifasked (the default) sends it when the peer sent a
// CERTREQ, always sends it, never does not.
const (
	SendCertIfAsked SendCertPolicy = iota
	SendCertAlways
	SendCertNever
)

// AuthMethod is how one side of an IKE SA authenticates.
type AuthMethod uint8

// Authentication methods.
const (
	AuthPSK AuthMethod = iota + 1
	AuthPubkey
	AuthEAP // RFC 7296 2.16: the client with EAP, then AUTH keyed with the MSK
)

func (a AuthMethod) String() string {
	switch a {
	case AuthPSK:
		return "psk"
	case AuthPubkey:
		return "pubkey"
	case AuthEAP:
		return "eap"
	}
	return "none"
}

// ChildConfig is one Child SA configuration (swanctl.conf children.<name>).
type ChildConfig struct {
	Name string
	Mode ipsec.Mode
	// Protocol is ESP or AH.
	Protocol ipsec.Protocol
	// LocalTS and RemoteTS are our selectors; Dynamic entries stand for the
	// IKE addresses and are resolved when the SA is negotiated.
	LocalTS, RemoteTS []TrafficSelector
	// Proposals are the ESP or AH proposals in our order of preference; the
	// KE transform, when present, is used for PFS in CREATE_CHILD_SA.
	Proposals []proposal.Proposal
	// Lifetimes; zero disables. The Rand values are the jitter taken off
	// the rekey limits, as swanctl's rand_time, rand_bytes, rand_packets.
	RekeyTime, LifeTime, RandTime       time.Duration
	RekeyBytes, LifeBytes, RandBytes    uint64
	RekeyPackets, LifePackets           uint64
	RandPackets                         uint64
	ReplayWindow                        uint32
	TFCPadding                          uint32
	StartAction, CloseAction, DPDAction Action
	// CopyDSCPOut copies the inner DSCP to the outer header on the way
	// out, CopyDSCPIn the outer one to the inner packet on the way in
	// (swanctl's copy_dscp: out, in, yes for both, no for neither).
	CopyDSCPOut, CopyDSCPIn bool
	// CopyECN propagates ECN per RFC 6040; off, the outer header is
	// Not-ECT and the inner ECN field is left alone (copy_ecn = no).
	CopyECN bool
	// CopyDF sets DF on the outer IPv4 header when the inner has it.
	CopyDF bool
	Updown string
}

// Action is a start, close or DPD action (swanctl.conf start_action and friends).
type Action uint8

// Actions as swanctl.conf names them.
const (
	ActionNone Action = iota
	ActionTrap
	ActionStart
	ActionClear
	ActionRestart
)

// TrafficSelector is one side of an IKEv2 traffic selector: addresses, IP
// protocol and ports. Dynamic stands for the IKE address of that side.
type TrafficSelector struct {
	spd.Endpoint
	Dynamic bool
}

// TCPEncap is how the transport reaches a connection's remote host: over
// UDP (the zero value), over TCP, or over TCP once UDP went unanswered for
// Fallback (zero: the transport's default).
type TCPEncap struct {
	Mode     TCPMode
	Fallback time.Duration
}

// TCPMode is encap_tcp's value.
type TCPMode uint8

// TCP modes.
const (
	TCPNo TCPMode = iota
	TCPYes
	TCPFallback
)
