package ike

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// Clock tells the time; tests use a fake one.
type Clock interface {
	Now() time.Time
}

// Transport sends one IKE message. It adds the non-ESP marker when the
// message goes from or to port 4500 (RFC 3948 section 2.2), so the state
// machine never sees it.
type Transport interface {
	SendIKE(msg []byte, local, remote netip.AddrPort) error
	// Source returns the local address and port IKE uses towards remote.
	Source(remote netip.AddrPort) (netip.AddrPort, error)
}

// Installer puts negotiated Child SAs into the SAD and SPD and takes them out.
// It owns the Child SA keys from the moment InstallChildSA is called.
type Installer interface {
	InstallChildSA(c *ChildSA) error
	DeleteChildSA(c *ChildSA)
}

// Credentials answer the questions authentication asks; the auth package
// implements it for the daemon.
type Credentials interface {
	// SharedKey returns the PSK for a pair of identities.
	SharedKey(local, remote identity.ID) ([]byte, bool)
}

// Options are the Manager's tunables, with strongSwan's defaults where it has them.
type Options struct {
	// RetransmitTimeout, RetransmitBase and RetransmitTries shape the
	// exponential back-off of requests: timeout * base^n for try n
	// (strongSwan's charon.retransmit_*; a negative RetransmitTries means
	// none). RetransmitLimit caps one wait (zero: no cap), and
	// RetransmitJitter (percent, at most 20) takes a random part of up to
	// that share off each wait, so that many SAs started together do not
	// retransmit in lockstep.
	RetransmitTimeout time.Duration
	RetransmitBase    float64
	RetransmitTries   int
	RetransmitLimit   time.Duration
	RetransmitJitter  int
	// HalfOpenTimeout drops IKE SAs that never finish IKE_AUTH.
	HalfOpenTimeout time.Duration
	// NATKeepalive is the interval of NAT keep-alive packets.
	NATKeepalive time.Duration
	// RetryInterval, RetryJitter and RetryMax space the keyingtries of an
	// unreachable peer: try n+1 starts RetryInterval*2^(n-1) (at most
	// RetryMax) minus a random part of RetryJitter after try n gave up.
	RetryInterval, RetryJitter, RetryMax time.Duration
	// CookieThreshold is the number of half-open IKE SAs from which
	// IKE_SA_INIT requests must carry a cookie (RFC 7296 2.6; default 10,
	// strongSwan's cookie_threshold); a negative value demands cookies
	// always, math.MaxInt never. CookieThresholdPerSource does the same for
	// the half-open SAs of one source address (default 3,
	// cookie_threshold_ip).
	CookieThreshold          int
	CookieThresholdPerSource int
	// CookieSecretLifetime is how often the cookie secret changes; a cookie
	// stays valid for one to two lifetimes (default 2 minutes).
	CookieSecretLifetime time.Duration
	// HalfOpenPerSource caps the half-open IKE SAs of one source address
	// (default 5, strongSwan's block_threshold) and HalfOpenLimit all of
	// them (default 1000, strongSwan's init_limit_half_open); requests
	// beyond either are dropped unanswered. math.MaxInt disables a limit.
	HalfOpenPerSource int
	HalfOpenLimit     int
	// FragmentSize is the largest IP datagram an IKE fragment (RFC 7383)
	// may fill, headers included (default 1280, strongSwan's
	// fragment_size); encrypted messages that would not fit are fragmented
	// when the peer supports it.
	FragmentSize int
	// EAPTLSMaxVersion is the highest TLS version EAP-TLS negotiates
	// (strongSwan's charon.tls.version_max): tls.VersionTLS13 for RFC
	// 9190; 0 is TLS 1.2, strongSwan's default.
	EAPTLSMaxVersion uint16
	// EAPTLSFragmentSize is the largest EAP-TLS packet we send (0: 1024,
	// strongSwan's charon.plugins.eap-tls.fragment_size default).
	EAPTLSFragmentSize int
}

func (o *Options) setDefaults() {
	if o.RetransmitTimeout == 0 {
		o.RetransmitTimeout = 4 * time.Second
	}
	if o.RetransmitBase == 0 {
		o.RetransmitBase = 1.8
	}
	o.RetransmitTries = orDefault(o.RetransmitTries, 5)
	o.RetransmitJitter = min(max(o.RetransmitJitter, 0), maxRetransmitJitter)
	if o.HalfOpenTimeout == 0 {
		o.HalfOpenTimeout = 30 * time.Second
	}
	if o.NATKeepalive == 0 {
		o.NATKeepalive = 20 * time.Second
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 15 * time.Second // strongSwan's RETRY_INTERVAL
	}
	if o.RetryJitter == 0 {
		o.RetryJitter = 10 * time.Second // strongSwan's RETRY_JITTER
	}
	if o.RetryMax == 0 {
		o.RetryMax = 5 * time.Minute
	}
	o.CookieThreshold = orDefault(o.CookieThreshold, defaultCookieThreshold)
	o.CookieThresholdPerSource = orDefault(o.CookieThresholdPerSource, defaultCookieThresholdPerSource)
	o.HalfOpenPerSource = orDefault(o.HalfOpenPerSource, defaultHalfOpenPerSource)
	o.HalfOpenLimit = orDefault(o.HalfOpenLimit, defaultHalfOpenLimit)
	if o.CookieSecretLifetime == 0 {
		o.CookieSecretLifetime = 2 * time.Minute
	}
	if o.FragmentSize == 0 {
		o.FragmentSize = defaultFragmentSize
	}
}

// Manager owns every IKE SA of the daemon. It is not safe for concurrent
// use: the daemon calls it from one goroutine.
type Manager struct {
	conns     []*PeerConfig
	creds     Credentials
	transport Transport
	installer Installer
	clock     Clock
	rand      io.Reader
	log       *slog.Logger
	opts      Options
	pools     AddressPools

	sas      map[uint64]*IKESA   // by our own SPI
	childSPI map[uint32]*ChildSA // inbound Child SA SPIs in use
	// childByID finds a Child SA by UniqueID for SAD lifetime events.
	childByID map[uint32]*ChildSA
	halfOpen  map[initKey]*IKESA
	events    []Event

	// halfOpenBySource counts half-open SAs per source (sourceKey: the IPv4
	// address or the IPv6 /64); cookies
	// holds the cookie secrets and scratch space (halfopen.go, cookie.go).
	halfOpenBySource map[netip.Addr]int
	cookies          cookieJar

	nextIKEUnique   uint32
	nextChildUnique uint32

	// live holds traps and scheduled re-initiations (liveness.go, actions.go).
	live liveness

	// timers orders the SAs by next deadline, dirty lists those to
	// reschedule, byPeer indexes established SAs by peer identity and
	// connByName the configurations (schedule.go): nothing per message or
	// per tick visits every SA.
	timers     timerHeap
	dirty      []*IKESA
	byPeer     map[string][]*IKESA
	connByName map[string]*PeerConfig

	// redirects are the recent RFC 5685 redirects we followed, by
	// connection, to bound loops (redirect.go).
	redirects map[string][]time.Time
	// movers are the established IKE SAs whose addresses this end chooses
	// with MOBIKE (mobike.go): an address change visits only them.
	movers map[*IKESA]struct{}

	// Stats count what the Manager dropped, by reason.
	Stats Stats
}

// Stats are the Manager's drop counters and the counters of its defences.
type Stats struct {
	Malformed    uint64 `json:"malformed"`
	UnknownSPI   uint64 `json:"unknown_spi"`
	BadMessageID uint64 `json:"bad_message_id"`
	Decrypt      uint64 `json:"decrypt"`
	Unsolicited  uint64 `json:"unsolicited"`

	// Cookies (RFC 7296 2.6): answers with N(COOKIE), and requests that
	// came back with a valid, a forged or an outdated one.
	CookiesSent           uint64 `json:"cookies_sent"`
	CookiesValid          uint64 `json:"cookies_valid"`
	CookiesInvalid        uint64 `json:"cookies_invalid"`
	CookiesStale          uint64 `json:"cookies_stale"`
	CookieSecretRotations uint64 `json:"cookie_secret_rotations"`
	// Half-open IKE SAs: requests dropped at the per-source and global
	// caps, and SAs that never finished IKE_AUTH.
	HalfOpenRefusedSource uint64 `json:"half_open_refused_source"`
	HalfOpenRefusedLimit  uint64 `json:"half_open_refused_limit"`
	HalfOpenTimeouts      uint64 `json:"half_open_timeouts"`
	// Fragments (RFC 7383): sent, received (authenticated), messages
	// reassembled, and fragments dropped as duplicates or out of range.
	FragmentsSent        uint64 `json:"fragments_sent"`
	FragmentsReceived    uint64 `json:"fragments_received"`
	FragmentsReassembled uint64 `json:"fragments_reassembled"`
	FragmentsDropped     uint64 `json:"fragments_dropped"`
}

type initKey struct {
	spiI   uint64
	remote netip.AddrPort
}

// Config gathers what NewManager needs.
type Config struct {
	Conns     []*PeerConfig
	Creds     Credentials
	Transport Transport
	Installer Installer
	Clock     Clock
	Rand      io.Reader
	Log       *slog.Logger
	Options   Options
	// Pools leases virtual IPs to peers of connections with pools; nil
	// without any.
	Pools AddressPools
}

// NewManager builds a Manager.
func NewManager(c Config) *Manager {
	c.Options.setDefaults()
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		conns: c.Conns, creds: c.Creds, transport: c.Transport, installer: c.Installer,
		clock: c.Clock, rand: c.Rand, log: c.Log, opts: c.Options, pools: c.Pools,
		sas: map[uint64]*IKESA{}, childSPI: map[uint32]*ChildSA{}, childByID: map[uint32]*ChildSA{}, halfOpen: map[initKey]*IKESA{},
		halfOpenBySource: map[netip.Addr]int{}, byPeer: map[string][]*IKESA{},
		redirects: map[string][]time.Time{}, movers: map[*IKESA]struct{}{},
		connByName: connIndex(c.Conns),
	}
}

func connIndex(conns []*PeerConfig) map[string]*PeerConfig {
	idx := make(map[string]*PeerConfig, len(conns))
	for _, c := range conns {
		if _, dup := idx[c.Name]; !dup { // the first of a name wins, as the scan did
			idx[c.Name] = c
		}
	}
	return idx
}

// SetConns replaces the connection configurations (reload); running SAs keep
// the configuration they were made with.
func (m *Manager) SetConns(conns []*PeerConfig) {
	m.conns = conns
	m.connByName = connIndex(conns)
}

// Conns returns the current connection configurations.
func (m *Manager) Conns() []*PeerConfig { return m.conns }

// Conn finds a connection by name.
func (m *Manager) Conn(name string) *PeerConfig {
	return m.connByName[name]
}

// EventKind says what happened to an SA.
type EventKind uint8

// Event kinds.
const (
	EventIKEUp EventKind = iota + 1
	EventIKEDown
	EventChildUp
	EventChildDown
	EventIKEFailed
	// EventChildRekeyed: Child is the new Child SA that took over from
	// Child.Rekeys (a rekey or reauthentication); the tunnel never went down.
	EventChildRekeyed
	// EventIKERekeyed: IKE is the new IKE SA that replaced a rekeyed one and
	// carries its Child SAs.
	EventIKERekeyed
)

// Event is something the operator face reports (logs, updown, metrics).
type Event struct {
	Kind  EventKind
	IKE   *IKESA
	Child *ChildSA
	// Old is the IKE SA that IKE replaced (EventIKERekeyed), so that an
	// observer can show both, as strongSwan's ike-rekey event does.
	Old    *IKESA
	Reason string
}

// TakeEvents returns and clears the events raised since the last call.
func (m *Manager) TakeEvents() []Event {
	ev := m.events
	m.events = nil
	return ev
}

func (m *Manager) emit(e Event) {
	if (e.Kind == EventIKEUp || e.Kind == EventIKERekeyed) && e.IKE != nil && e.IKE.state != stateDead {
		m.indexPeer(e.IKE) // its identities are settled now
		if e.IKE.mobike != nil && e.IKE.origInitiator {
			m.movers[e.IKE] = struct{}{}
		}
	}
	m.events = append(m.events, e)
}

// newSPI returns a fresh, unused, non-zero IKE SPI.
func (m *Manager) newSPI() (uint64, error) {
	var b [8]byte
	for range 16 {
		if _, err := io.ReadFull(m.rand, b[:]); err != nil {
			return 0, fmt.Errorf("read random SPI: %w", err)
		}
		spi := binary.BigEndian.Uint64(b[:])
		if spi != 0 && m.sas[spi] == nil {
			return spi, nil
		}
	}
	return 0, errors.New("no free IKE SPI")
}

func (m *Manager) nonce() ([]byte, error) {
	n := make([]byte, 32)
	if _, err := io.ReadFull(m.rand, n); err != nil {
		return nil, fmt.Errorf("read nonce: %w", err)
	}
	return n, nil
}

// HandleIKE processes one IKE datagram (without the non-ESP marker) that
// arrived at local from remote. Malformed and unexpected messages are
// counted and dropped; nothing a peer sends can stop the Manager.
func (m *Manager) HandleIKE(b []byte, local, remote netip.AddrPort) {
	defer m.flush()
	hdr, err := wire.ParseHeader(b)
	if err != nil {
		m.Stats.Malformed++
		m.log.Debug("dropping malformed IKE message", "remote", remote, "err", err)
		return
	}
	spiI := binary.BigEndian.Uint64(hdr.SPIi[:])
	spiR := binary.BigEndian.Uint64(hdr.SPIr[:])
	if hdr.Exchange == wire.IKE_SA_INIT && !hdr.IsResponse() && spiR == 0 {
		// A retransmission is the same message again (RFC 7296 2.1); a
		// different request that reuses an SPI, e.g. a spoofed one sent
		// first, must not capture the real initiator's exchange.
		if sa := m.halfOpen[initKey{spiI, remote}]; sa != nil && bytes.Equal(sa.hsState().initReq, b) {
			m.touch(sa)
			sa.handle(b, hdr, local, remote)
			return
		}
		if m.admitInit(b, hdr, local, remote) {
			m.respondInit(b, local, remote)
		}
		return
	}
	ours := spiI
	if hdr.IsInitiator() {
		ours = spiR
	}
	sa := m.sas[ours]
	if sa == nil {
		m.Stats.UnknownSPI++
		m.log.Debug("dropping IKE message for unknown SPI", "remote", remote, "spi", fmt.Sprintf("%016x", ours), "exchange", hdr.Exchange)
		return
	}
	m.touch(sa)
	sa.handle(b, hdr, local, remote)
	sa.releaseCiphers()
}

// Tick runs timers: retransmissions, DPD, lifetimes, half-open timeouts.
func (m *Manager) Tick() {
	defer m.flush()
	now := m.clock.Now()
	m.flush() // deadlines changed outside an entry point (tests, callbacks)
	m.tickDue(now)
	m.tickLiveness(now)
}

// NextDeadline returns when Tick next has work to do, so the daemon can
// sleep until then.
func (m *Manager) NextDeadline() time.Time {
	m.flush()
	return earliest(m.livenessDeadline(), m.timersDeadline())
}

// SAs returns the IKE SAs, in no particular order.
func (m *Manager) SAs() []*IKESA {
	out := make([]*IKESA, 0, len(m.sas))
	for _, sa := range m.sas {
		out = append(out, sa)
	}
	return out
}

func (m *Manager) register(sa *IKESA) {
	m.sas[sa.ourSPI()] = sa
	sa.sched.idx = -1
	m.touch(sa)
}

func (m *Manager) unregister(sa *IKESA) {
	delete(m.sas, sa.ourSPI())
	m.removeHalfOpen(sa)
	m.unschedule(sa)
	m.unindexPeer(sa)
	delete(m.movers, sa)
}

// Initiate starts the named Child SA of a connection, creating the IKE SA if
// none is up; with child == "" only the IKE SA is set up.
func (m *Manager) Initiate(connName, child string) error {
	cfg := m.Conn(connName)
	if cfg == nil {
		return fmt.Errorf("initiate: no connection named %q", connName)
	}
	var cc *ChildConfig
	if child != "" {
		if cc = cfg.Child(child); cc == nil {
			return fmt.Errorf("initiate: connection %q has no child %q", connName, child)
		}
	}
	for _, sa := range m.sas {
		if sa.cfg == cfg && sa.state != stateDeleting && sa.state != stateDead {
			if cc == nil {
				return nil
			}
			if sa.state == stateEstablished {
				return sa.createChild(cc)
			}
			sa.queueChild(cc)
			return nil
		}
	}
	return m.initiate(cfg, cc)
}

// TerminateIKE deletes every IKE SA of a connection (and its Child SAs).
func (m *Manager) TerminateIKE(connName string) error {
	n := 0
	for _, sa := range m.sas {
		if sa.cfg.Name == connName && sa.state != stateDead {
			sa.deleteIKE("terminated by operator")
			n++
		}
	}
	n += m.cancelRetries(connName)
	if n == 0 {
		return fmt.Errorf("terminate: no IKE SA of connection %q", connName)
	}
	return nil
}

// TerminateChild deletes every Child SA with that configuration name.
func (m *Manager) TerminateChild(childName string) error {
	n := 0
	for _, sa := range m.sas {
		for _, c := range sa.children {
			if c.Name == childName && c.state == childInstalled {
				sa.deleteChild(c, "terminated by operator")
				n++
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("terminate: no Child SA named %q", childName)
	}
	return nil
}

// ChildExpired handles a Child SA whose SA reached a lifetime in the SAD, or
// whose outbound sequence numbers run low: a hard limit deletes it (and
// tells the peer); a soft one rekeys it.
func (m *Manager) ChildExpired(uniqueID uint32, hard bool, reason string) {
	c := m.childByID[uniqueID]
	if c == nil || c.state != childInstalled || c.IKE == nil {
		return
	}
	sa := c.IKE
	m.touch(sa)
	if hard {
		sa.deleteChild(c, "hard "+reason+" lifetime reached")
		return
	}
	if err := sa.rekeyChild(c, "soft lifetime reached ("+reason+")"); err != nil {
		sa.log.Warn("starting Child SA rekey failed", "child", c.Name, "err", err)
	}
}

// forgetChild drops a Child SA that is going from the index by UniqueID.
func (m *Manager) forgetChild(c *ChildSA) {
	if m.childByID[c.UniqueID] == c {
		delete(m.childByID, c.UniqueID)
	}
}

// Shutdown deletes every SA, telling the peers, as a daemon does on SIGTERM.
func (m *Manager) Shutdown() {
	for _, sa := range m.sas {
		if sa.state == stateEstablished {
			sa.deleteIKE("daemon shutting down")
		}
		sa.destroy("daemon shutting down")
	}
}
