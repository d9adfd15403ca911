package config

import (
	"net/netip"
	"time"
)

// Config is a loaded swanctl.conf: connections, secrets, certification
// authorities, address pools and the credentials found beside the file.
// Defaults are filled in exactly as swanctl.conf(5) documents them.
type Config struct {
	// Path is the file Load was given; Files every file read (includes).
	Path  string
	Files []string

	Connections []*Connection
	Secrets     Secrets
	Authorities []*Authority
	Pools       []*Pool
	// Credentials is what swanctl --load-creds would load from the folders
	// beside the configuration file.
	Credentials Credentials
}

// Connection finds a connection by name.
func (c *Config) Connection(name string) *Connection {
	for _, conn := range c.Connections {
		if conn.Name == name {
			return conn
		}
	}
	return nil
}

// Pool finds a pool by name.
func (c *Config) Pool(name string) *Pool {
	for _, p := range c.Pools {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Value is a string option as written, with its position.
type Value struct {
	Text string
	Pos  Pos
}

// Proposal is one algorithm proposal string ("aes128gcm16-prfsha256-x25519"
// or "default"), kept as text for the ike/proposal package.
type Proposal struct {
	Text string
	Pos  Pos
	// Implicit is true for the "default" added when the option is absent.
	Implicit bool
}

// Fragmentation is IKEv2 message fragmentation (RFC 7383).
type Fragmentation int

// EncapTCP is a connection's encap_tcp setting (cygnet's own; strongSwan
// has no TCP transport).
type EncapTCP int

// encap_tcp values.
const (
	EncapTCPNo       EncapTCP = iota // UDP only (default)
	EncapTCPYes                      // always over TCP
	EncapTCPFallback                 // UDP first, TCP when it goes unanswered
)

// RedirectIn is the exchange in which a connection's redirect_to applies.
type RedirectIn uint8

// RedirectIn values.
const (
	RedirectInInit RedirectIn = iota // IKE_SA_INIT, before the client is known
	RedirectInAuth                   // IKE_AUTH, by the client's identity
)

// Fragmentation values (connections.<conn>.fragmentation).
const (
	FragmentationYes    Fragmentation = iota // use if the peer supports it (default)
	FragmentationAccept                      // announce support, do not fragment
	FragmentationNo                          // neither
	FragmentationForce                       // fragment even the first message
)

// Childless is the policy for IKE_SAs without a first CHILD_SA (RFC 6023).
type Childless int

// Childless values (connections.<conn>.childless).
const (
	ChildlessAllow  Childless = iota // as the peer wants (default)
	ChildlessPrefer                  // initiate childless if the peer supports it
	ChildlessNever                   // refuse childless IKE_SAs
	ChildlessForce                   // always initiate childless
)

// SendCert is when to send the own certificate.
type SendCert int

// SendCert values (connections.<conn>.send_cert).
const (
	SendCertIfAsked SendCert = iota // when the peer sends CERTREQ (default)
	SendCertAlways
	SendCertNever
)

// Unique is the uniqueness policy for IKE_SAs with the same identities.
type Unique int

// Unique values (connections.<conn>.unique).
const (
	UniqueNo      Unique = iota // allow duplicates, replace on INITIAL_CONTACT (default)
	UniqueNever                 // allow duplicates, ignore INITIAL_CONTACT
	UniqueReplace               // replace the existing IKE_SA
	UniqueKeep                  // keep the existing IKE_SA, reject the new one
)

// OCSP is the policy for OCSP status in IKE (connections.<conn>.ocsp).
type OCSP int

// OCSP values; cygnet only supports sending nothing.
const (
	OCSPReply OCSP = iota // answer OCSP requests (default; cygnet has nothing to send)
	OCSPNever
)

// Connection is connections.<name>: one IKE_SA configuration.
type Connection struct {
	Name string
	Pos  Pos

	// Version is the IKE version: 0 (any, which cygnet runs as IKEv2) or 2.
	Version int
	// LocalAddrs and RemoteAddrs are addresses, subnets, ranges, host names
	// or %any / %any4 / %any6 (the default "%any").
	LocalAddrs  []Value
	RemoteAddrs []Value
	LocalPort   uint16 // default 500
	RemotePort  uint16 // default 500
	// Proposals are the IKE proposals; "default" when not configured.
	Proposals []Proposal
	// VIPs are virtual IPs to request (0.0.0.0 or :: for any).
	VIPs []netip.Addr
	// Pools are the names of the pools to assign virtual IPs from.
	Pools []Value
	// DSCP is the 6-bit DSCP value for IKE packets.
	DSCP  uint8
	Encap bool
	// EncapTCP is cygnet's encap_tcp: IKE and ESP over TCP (RFC 9329) to
	// the remote host, at once or as a fallback when UDP goes unanswered
	// for TCPFallbackTimeout (zero: the data plane's default).
	EncapTCP           EncapTCP
	TCPFallbackTimeout time.Duration
	MOBIKE             bool // default yes
	// RedirectTo is a cygnet extension (no strongSwan option): the gateway
	// every client of this connection that supports RFC 5685 is
	// redirected to.
	RedirectTo Value
	// RedirectIn (cygnet's redirect_in = init|auth) is the exchange in
	// which RedirectTo applies: IKE_SA_INIT (the default) or IKE_AUTH,
	// where the client's identity has chosen the connection.
	RedirectIn RedirectIn
	// RedirectWhenSAs (cygnet's redirect_when_sas) applies RedirectTo only
	// while the gateway holds at least that many IKE SAs; 0 always.
	RedirectWhenSAs uint32
	Fragmentation   Fragmentation
	Childless       Childless
	SendCertReq     bool // default yes
	SendCert        SendCert
	OCSP            OCSP
	// Keyingtries is how often to try to establish; 0 means forever.
	Keyingtries uint32
	// PPKID names the postquantum preshared key (RFC 8784) this end uses
	// (secrets.ppk<suffix> id); empty for none.
	PPKID Value
	// PPKRequired refuses an IKE SA that does not use a PPK.
	PPKRequired bool
	Unique      Unique
	// ReauthTime, RekeyTime, OverTime and RandTime follow swanctl.conf(5):
	// rekey 4h unless reauth is set, over_time 10% of the larger of both,
	// rand_time = min(over_time, half the (smaller non-zero) interval).
	ReauthTime time.Duration
	RekeyTime  time.Duration
	OverTime   time.Duration
	RandTime   time.Duration
	DPDDelay   time.Duration
	DPDTimeout time.Duration
	IfIDIn     IfID
	IfIDOut    IfID
	// Pull is the IKEv1 mode config pull mode; it has no effect in IKEv2.
	Pull bool

	// Local and Remote are the authentication rounds, ordered by round
	// (then by order of appearance). Each has at least one entry.
	Local  []*Auth
	Remote []*Auth

	Children []*Child

	// Set maps each option written in this section to its position.
	Set map[string]Pos
}

// Child finds a child by name.
func (c *Connection) Child(name string) *Child {
	for _, ch := range c.Children {
		if ch.Name == name {
			return ch
		}
	}
	return nil
}

// AuthMethod is how one authentication round authenticates.
type AuthMethod int

// Authentication methods (auth = ...).
const (
	AuthPubkey AuthMethod = iota // public key signatures (default)
	AuthPSK                      // pre-shared key
	AuthEAP                      // EAP (IKEv2)
)

// String names the method as in swanctl.conf.
func (m AuthMethod) String() string {
	switch m {
	case AuthPubkey:
		return "pubkey"
	case AuthPSK:
		return "psk"
	case AuthEAP:
		return "eap"
	}
	return "unknown"
}

// Revocation is the certificate revocation checking policy.
type Revocation int

// Revocation values (remote<suffix>.revocation).
const (
	RevocationRelaxed Revocation = iota // fail only on a revoked certificate (default)
	RevocationStrict                    // fail unless the status is known good
	RevocationIfURI                     // strict if the certificate has a CRL/OCSP URI
)

// Auth is one authentication round, local<suffix> or remote<suffix>.
type Auth struct {
	// Name is the section name ("local", "remote-eap"), Pos its line.
	Name  string
	Pos   Pos
	Round uint32

	Method AuthMethod
	// AuthText is the auth value as written ("pubkey", "ike:rsa/pss-sha256",
	// "eap-mschapv2"); Constraints its signature scheme constraint tokens
	// ("rsa/pss", "sha256", "ike:ecdsa", "384"), empty for psk.
	AuthText    string
	Constraints []string
	// EAPType is the EAP method after "eap-" ("mschapv2", "tls"); empty for
	// any method.
	EAPType string

	// ID is the IKE identity. Empty for local means the certificate subject
	// or, without one, the IP address; remote defaults to "%any".
	ID    Value
	EAPID Value // defaults to ID
	AAAID Value
	CAID  Value

	Certs   []*Cert
	CACerts []*Cert
	Pubkeys []*PublicKey

	Revocation Revocation

	// Set maps each option written in this section to its position.
	Set map[string]Pos
}

// Mode is a CHILD_SA's IPsec mode.
type Mode int

// Modes supported by cygnet (children.<child>.mode).
const (
	ModeTunnel    Mode = iota // default
	ModeTransport             // host to host
	ModePass                  // bypass policy, no SA
	ModeDrop                  // drop policy, no SA
)

// String names the mode as in swanctl.conf.
func (m Mode) String() string {
	switch m {
	case ModeTunnel:
		return "tunnel"
	case ModeTransport:
		return "transport"
	case ModePass:
		return "pass"
	case ModeDrop:
		return "drop"
	}
	return "unknown"
}

// Action is what to do at load time, on peer loss or on close: a set of
// flags, empty for none.
type Action uint8

// Action flags (start_action, close_action, dpd_action).
const (
	ActionNone  Action = 0
	ActionTrap  Action = 1 // install a trap policy, negotiate on traffic
	ActionStart Action = 2 // initiate (again)
)

// String formats the action as swanctl accepts it ("none", "trap|start").
func (a Action) String() string {
	switch a {
	case ActionNone:
		return "none"
	case ActionTrap:
		return "trap"
	case ActionStart:
		return "start"
	case ActionTrap | ActionStart:
		return "trap|start"
	}
	return "unknown"
}

// CopyDSCP is which way the DSCP field is copied between inner and outer
// headers in tunnel mode.
type CopyDSCP int

// CopyDSCP values (children.<child>.copy_dscp).
const (
	CopyDSCPOut CopyDSCP = iota // inner to outer only (default)
	CopyDSCPNo
	CopyDSCPIn
	CopyDSCPYes
)

// HWOffload is the hardware offload policy; cygnet has none, so only "no"
// and "auto" (which then means no) are accepted.
type HWOffload int

// HWOffload values.
const (
	HWOffloadNo HWOffload = iota
	HWOffloadAuto
)

// TFCPaddingMTU in Child.TFCPadding pads to the path MTU.
const TFCPaddingMTU = ^uint32(0)

// Child is connections.<conn>.children.<name>: one CHILD_SA configuration.
type Child struct {
	Name string
	Pos  Pos

	Mode Mode
	// LocalTS and RemoteTS default to a single dynamic selector.
	LocalTS  []TrafficSelector
	RemoteTS []TrafficSelector
	// ESPProposals defaults to "default" unless AH proposals are given.
	ESPProposals []Proposal
	AHProposals  []Proposal

	// Lifetimes follow swanctl.conf(5): rekey_time 1h (or life_time/1.1),
	// life_time rekey_time*1.1, rand_time life_time-rekey_time; the same
	// for bytes and packets with rekey default 0 (off).
	RekeyTime    time.Duration
	LifeTime     time.Duration
	RandTime     time.Duration
	RekeyBytes   uint64
	LifeBytes    uint64
	RandBytes    uint64
	RekeyPackets uint64
	LifePackets  uint64
	RandPackets  uint64

	StartAction Action
	CloseAction Action
	DPDAction   Action

	Updown     Value
	HostAccess bool
	Inactivity time.Duration
	Reqid      uint32
	Priority   uint32
	Interface  Value
	MarkIn     Mark
	MarkInSA   bool
	MarkOut    Mark
	SetMarkIn  Mark
	SetMarkOut Mark
	IfIDIn     IfID
	IfIDOut    IfID
	// TFCPadding is the ESP TFC padding length, TFCPaddingMTU for the MTU.
	TFCPadding     uint32
	ReplayWindow   uint32 // default 32
	CopyDF         bool   // default yes
	CopyECN        bool   // default yes
	CopyDSCP       CopyDSCP
	Policies       bool // default yes
	PoliciesFwdOut bool
	SHA256_96      bool
	ForwardICMP    bool // icmp = yes
	HWOffload      HWOffload

	// Set maps each option written in this section to its position.
	Set map[string]Pos
}

// Authority is authorities.<name>: a CA with its revocation sources.
type Authority struct {
	Name        string
	Pos         Pos
	CACert      *Cert
	CRLURIs     []Value
	OCSPURIs    []Value
	CertURIBase Value
}

// AddrRange is an inclusive address range of a pool.
type AddrRange struct {
	Start, End netip.Addr
	// Prefix is set when the range was written as a subnet, whose network
	// (and IPv4 broadcast) address a pool does not hand out.
	Prefix netip.Prefix
}

// Pool is pools.<name>: virtual IPs and attributes for remote access.
type Pool struct {
	Name  string
	Pos   Pos
	Addrs []AddrRange
	// AddrsPos is where addrs is written.
	AddrsPos Pos
	DNS      []netip.Addr
	NBNS     []netip.Addr
	// Attrs holds the other attributes (dhcp, netmask, server, subnet,
	// p_cscf, split_include, split_exclude or numeric types) as written.
	Attrs map[string][]Value
}

// SharedSecret is a secrets.ike<suffix>, eap<suffix> or xauth<suffix>
// section: a secret and the identities that own it (none means any).
type SharedSecret struct {
	Name   string
	Pos    Pos
	Owners []Value
	Secret Secret
	// SecretPos is where the secret was written.
	SecretPos Pos
}

// KeyPassphrase is a secrets.private<suffix> (rsa, ecdsa, pkcs8) section:
// the passphrase of an encrypted key file.
type KeyPassphrase struct {
	Name   string
	Pos    Pos
	File   string // resolved path
	Secret Secret
}

// Secrets is the secrets section.
type Secrets struct {
	IKE []*SharedSecret
	// PPK are the postquantum preshared keys (RFC 8784), owners = PPK IDs.
	PPK   []*SharedSecret
	EAP   []*SharedSecret
	XAuth []*SharedSecret
	Keys  []*KeyPassphrase
}
