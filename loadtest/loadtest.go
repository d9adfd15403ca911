// Package loadtest opens many remote-access IKEv2 clients from one process
// against a gateway, in the spirit of strongSwan's load-tester plugin: each
// client has its own identity and IKE SA, asks for a virtual IP
// (vips = 0.0.0.0) and sets up one Child SA, at a given rate and with at
// most a given number of handshakes in flight. It measures handshakes per
// second, latency percentiles and failures by reason.
//
// All clients live in one ike.Manager, driven by one goroutine as the
// daemon drives it, over one UDP socket. Because that socket is not on port
// 500, the gateway sees the clients as behind a NAT and both sides move to
// port 4500 and encapsulate ESP in UDP (RFC 3948); the config also forces
// it. There is no TUN per client: the installer keeps each Child SA's keys,
// and the traffic sample builds an ICMP echo request from the client's
// virtual IP, seals it with the Child SA's outbound ESP SA, sends it to the
// gateway's port 4500, and counts a sample as passed only when an ESP
// packet comes back that the inbound SA opens (ICV, replay window) and that
// holds the matching echo reply to the virtual IP.
package loadtest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cygnet-ipsec/cygnet/eap"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
)

// AuthKind is how the clients authenticate. A new kind (EAP-MSCHAPv2)
// adds a case to Config.check, runner.credentials and the auth rounds of
// runner.peerConfigs.
type AuthKind string

// Authentication kinds.
const (
	// AuthPSK: every client and the gateway use Config.PSK.
	AuthPSK AuthKind = "psk"
	// AuthEAPMSCHAPv2: each client authenticates with EAP-MSCHAPv2 as its
	// identity with Config.EAPPassword; the gateway with a certificate
	// whose chain leads to Config.CACert (RFC 7296 2.16, what phones and
	// laptops do).
	AuthEAPMSCHAPv2 AuthKind = "eap-mschapv2"
	// AuthCert: each client gets a certificate for its identity, issued on
	// the fly by the CA of Config.CACert and Config.CAKey; the gateway
	// authenticates with a certificate from the same CA.
	AuthCert AuthKind = "cert"
)

// Config is one load test.
type Config struct {
	Gateway     netip.AddrPort // the gateway's IKE address (port 500 if zero)
	Local       netip.Addr     // the address to send from (any if invalid)
	Clients     int            // how many clients to set up
	Rate        float64        // new handshakes per second (0: as fast as Concurrency allows)
	Concurrency int            // handshakes in flight at most
	Auth        AuthKind
	IDPattern   string // the clients' identities, fmt pattern with one %d (0-based index)
	RemoteID    string // the gateway's identity ("" or "%any": any)
	PSK         []byte
	// CACert and CAKey are PEM files of the CA that issues the clients'
	// certificates and that the gateway's chain must lead to (AuthCert).
	CACert, CAKey string
	// EAPPassword is every client's password (AuthEAPMSCHAPv2).
	EAPPassword                []byte
	IKEProposals, ESPProposals string // "" for cygnet's defaults
	// Traffic is how many tunnels (the first ones up) pass one ping each;
	// TrafficTarget is the address pinged through the tunnel (an address
	// of the gateway inside its protected network).
	Traffic       int
	TrafficTarget netip.Addr
	// Timeout bounds the whole run.
	Timeout time.Duration
	// NoDelete leaves the IKE SAs up at the gateway when the run ends (no
	// DELETE is sent), so the gateway can be inspected holding them; it
	// forgets them by DPD or lifetime. By default every client says goodbye.
	NoDelete bool
	Log      *slog.Logger
}

// Result is what a run measured.
type Result struct {
	Clients        int               `json:"clients"`
	Established    int               `json:"established"`
	Failed         int               `json:"failed"`
	FailureReasons map[string]int    `json:"failures"`
	Seconds        float64           `json:"seconds"`
	PerSecond      float64           `json:"handshakes_per_second"`
	LatencyP50Ms   float64           `json:"latency_p50_ms"`
	LatencyP99Ms   float64           `json:"latency_p99_ms"`
	LatencyMaxMs   float64           `json:"latency_max_ms"`
	VirtualIPs     map[string]string `json:"virtual_ips"` // identity -> address
	TrafficSent    int               `json:"traffic_sent"`
	TrafficPassed  int               `json:"traffic_passed"`
}

// Run performs the load test and returns what it measured; an error means
// the test could not run at all (bad config, no socket), not that clients
// failed.
func Run(cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.Local, 0)))
	if err != nil {
		return nil, fmt.Errorf("load-test socket: %w", err)
	}
	defer conn.Close()
	r := newRunner(cfg, conn)
	return r.run()
}

func (c *Config) check() error {
	if !c.Gateway.IsValid() {
		return errors.New("no gateway address")
	}
	if c.Gateway.Port() == 0 {
		c.Gateway = netip.AddrPortFrom(c.Gateway.Addr(), 500)
	}
	if c.Clients <= 0 {
		return errors.New("clients must be positive")
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if strings.Count(c.IDPattern, "%") != 1 || !strings.Contains(c.IDPattern, "%d") {
		return fmt.Errorf("id pattern %q needs exactly one %%d", c.IDPattern)
	}
	switch c.Auth {
	case AuthPSK:
		if len(c.PSK) == 0 {
			return errors.New("--auth psk needs --psk")
		}
	case AuthCert:
		if c.CACert == "" || c.CAKey == "" {
			return errors.New("--auth cert needs --ca-cert and --ca-key")
		}
	case AuthEAPMSCHAPv2:
		if c.CACert == "" || len(c.EAPPassword) == 0 {
			return errors.New("--auth eap-mschapv2 needs --ca-cert (the gateway's CA) and --eap-password")
		}
	default:
		return fmt.Errorf("unsupported --auth %q (psk, cert or eap-mschapv2)", c.Auth)
	}
	if c.Traffic > 0 && !c.TrafficTarget.Is4() {
		return errors.New("--traffic needs an IPv4 --traffic-target inside the gateway's protected network")
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// psk answers every client's PSK question with the one key.
type psk []byte

func (k psk) SharedKey(local, remote identity.ID) ([]byte, bool) { return k, true }

type datagram struct {
	b    []byte
	from netip.AddrPort
}

type runner struct {
	cfg   Config
	conn  *net.UDPConn
	local netip.AddrPort // what the Manager believes its source is
	m     *ike.Manager
	in    chan datagram

	names    []string
	started  map[string]time.Time
	done     map[string]bool
	lat      []time.Duration
	res      *Result
	inflight int
	children map[uint32]*tunnel // by inbound SPI
	sample   []*tunnel
}

func newRunner(cfg Config, conn *net.UDPConn) *runner {
	return &runner{cfg: cfg, conn: conn, in: make(chan datagram, 4096), started: map[string]time.Time{}, done: map[string]bool{},
		children: map[uint32]*tunnel{},
		res:      &Result{Clients: cfg.Clients, FailureReasons: map[string]int{}, VirtualIPs: map[string]string{}}}
}

// SendIKE implements ike.Transport over the one socket; it adds the
// non-ESP marker towards port 4500.
func (r *runner) SendIKE(msg []byte, local, remote netip.AddrPort) error {
	if remote.Port() == 4500 {
		msg = append([]byte{0, 0, 0, 0}, msg...)
	}
	_, err := r.conn.WriteToUDPAddrPort(msg, remote)
	return err
}

// Source implements ike.Transport: the Manager believes it sends from port
// 500 (4500 after NAT-T); the gateway sees our real port, so a NAT.
func (r *runner) Source(remote netip.AddrPort) (netip.AddrPort, error) { return r.local, nil }

func (r *runner) run() (*Result, error) {
	src := r.cfg.Local
	if !src.IsValid() || src.IsUnspecified() {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.cfg.Gateway))
		if err != nil {
			return nil, fmt.Errorf("route to the gateway: %w", err)
		}
		src = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
		c.Close()
	}
	r.local = netip.AddrPortFrom(src.Unmap(), 500)
	conns, err := r.peerConfigs()
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	if _, err := io.ReadFull(rand.Reader, seed[:]); err != nil {
		return nil, err
	}
	creds, err := r.credentials()
	if err != nil {
		return nil, err
	}
	r.m = ike.NewManager(ike.Config{Conns: conns, Creds: creds, Transport: r, Installer: r, Clock: wallClock{}, Rand: rand.Reader,
		Log: r.cfg.Log, Options: ike.Options{RetransmitTimeout: 2 * time.Second, RetransmitTries: 3}})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.read() }()
	defer wg.Wait()
	defer r.conn.SetReadDeadline(time.Now())
	return r.loop()
}

func (r *runner) credentials() (ike.Credentials, error) {
	switch r.cfg.Auth {
	case AuthCert:
		ca, key, err := loadCA(r.cfg.CACert, r.cfg.CAKey)
		if err != nil {
			return nil, err
		}
		return newCertCreds(ca, key)
	case AuthEAPMSCHAPv2:
		ca, err := loadCACert(r.cfg.CACert)
		if err != nil {
			return nil, err
		}
		c, err := newCertCreds(ca, nil)
		if err != nil {
			return nil, err
		}
		return eapClientCreds{c, r.cfg.EAPPassword}, nil
	}
	return psk(r.cfg.PSK), nil
}

func (r *runner) peerConfigs() ([]*ike.PeerConfig, error) {
	method, remoteMethod := ike.AuthPSK, ike.AuthPSK
	switch r.cfg.Auth {
	case AuthCert:
		method, remoteMethod = ike.AuthPubkey, ike.AuthPubkey
	case AuthEAPMSCHAPv2:
		method, remoteMethod = ike.AuthEAP, ike.AuthPubkey
	}
	ikeProps := proposal.Default(wire.ProtocolIKE)
	espProps := proposal.Default(wire.ProtocolESP)
	var err error
	if r.cfg.IKEProposals != "" {
		if ikeProps, err = proposal.ParseList(wire.ProtocolIKE, r.cfg.IKEProposals, proposal.Options{}); err != nil {
			return nil, fmt.Errorf("--ike-proposals: %w", err)
		}
	}
	if r.cfg.ESPProposals != "" {
		if espProps, err = proposal.ParseList(wire.ProtocolESP, r.cfg.ESPProposals, proposal.Options{}); err != nil {
			return nil, fmt.Errorf("--esp-proposals: %w", err)
		}
	}
	rid := identity.Any
	if r.cfg.RemoteID != "" && r.cfg.RemoteID != "%any" {
		if rid, err = identity.Parse(r.cfg.RemoteID); err != nil {
			return nil, fmt.Errorf("--remote-id: %w", err)
		}
	}
	conns := make([]*ike.PeerConfig, r.cfg.Clients)
	r.names = make([]string, r.cfg.Clients)
	for i := range conns {
		lid, err := identity.Parse(fmt.Sprintf(r.cfg.IDPattern, i))
		if err != nil {
			return nil, fmt.Errorf("client %d identity: %w", i, err)
		}
		name := fmt.Sprintf("c%d", i)
		r.names[i] = name
		conns[i] = &ike.PeerConfig{
			Name:        name,
			RemoteAddrs: []netip.Prefix{netip.PrefixFrom(r.cfg.Gateway.Addr(), r.cfg.Gateway.Addr().BitLen())},
			Remote:      r.cfg.Gateway,
			Proposals:   ikeProps,
			Encap:       true,
			LocalID:     lid, RemoteID: rid,
			LocalAuth: method, RemoteAuth: remoteMethod,
			LocalEAP:    ike.EAPConfig{Method: eap.TypeMSCHAPv2, Identity: lid.String()},
			SendCertReq: remoteMethod == ike.AuthPubkey, // the gateway sends its chain when asked (send_cert = ifasked)
			Unique:      ike.UniqueNever,                // each client is new; no INITIAL_CONTACT games
			VIPs:        []netip.Addr{netip.IPv4Unspecified()},
			Children: []*ike.ChildConfig{{
				Name: name, Mode: ipsec.ModeTunnel, Protocol: ipsec.ProtoESP,
				LocalTS:   []ike.TrafficSelector{{Dynamic: true}},
				RemoteTS:  []ike.TrafficSelector{ike.PrefixSelector(netip.MustParsePrefix("0.0.0.0/0"))},
				Proposals: espProps, ReplayWindow: 128, CopyDF: true, CopyECN: true,
			}},
		}
	}
	return conns, nil
}

// read feeds datagrams to the loop until the socket closes.
func (r *runner) read() {
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			close(r.in)
			return
		}
		r.in <- datagram{slices.Clone(buf[:n]), from}
	}
}

func (r *runner) loop() (*Result, error) {
	start := time.Now()
	deadline := start.Add(r.cfg.Timeout)
	next := 0
	var interval time.Duration
	if r.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / r.cfg.Rate)
	}
	nextStart := start
	timer := time.NewTimer(time.Millisecond)
	defer timer.Stop()
	finished := func() bool { return r.res.Established+r.res.Failed >= r.cfg.Clients }
	trafficDone := func() bool { return r.res.TrafficSent >= len(r.sample) && r.samplesAnswered() }
	var handshakesEnd time.Time
	for {
		now := time.Now()
		for next < r.cfg.Clients && r.inflight < r.cfg.Concurrency && !now.Before(nextStart) {
			name := r.names[next]
			next++
			r.started[name] = now
			r.inflight++
			if err := r.m.Initiate(name, name); err != nil {
				r.fail(name, "initiate: "+err.Error())
			}
			r.events()
			if interval > 0 {
				nextStart = nextStart.Add(interval)
			}
		}
		if finished() && handshakesEnd.IsZero() {
			handshakesEnd = time.Now()
			r.sendTraffic()
		}
		if finished() && (r.cfg.Traffic == 0 || trafficDone()) {
			break
		}
		if now.After(deadline) {
			break
		}
		wait := 50 * time.Millisecond
		if d := r.m.NextDeadline(); !d.IsZero() {
			wait = min(wait, time.Until(d))
		}
		if next < r.cfg.Clients && r.inflight < r.cfg.Concurrency {
			wait = min(wait, time.Until(nextStart))
		}
		timer.Reset(max(wait, 0))
		select {
		case d, ok := <-r.in:
			if !ok {
				return nil, errors.New("load-test socket closed")
			}
			r.handle(d)
			// Drain what else arrived before ticking.
			for more := true; more; {
				select {
				case d, ok := <-r.in:
					if !ok {
						return nil, errors.New("load-test socket closed")
					}
					r.handle(d)
				default:
					more = false
				}
			}
		case <-timer.C:
		}
		r.m.Tick()
		r.events()
	}
	if handshakesEnd.IsZero() {
		handshakesEnd = time.Now()
		for _, n := range r.names {
			if !r.done[n] {
				r.res.Failed++
				r.res.FailureReasons["timeout"]++
			}
		}
	}
	r.res.Seconds = handshakesEnd.Sub(start).Seconds()
	if r.res.Seconds > 0 {
		r.res.PerSecond = float64(r.res.Established) / r.res.Seconds
	}
	slices.Sort(r.lat)
	if n := len(r.lat); n > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		r.res.LatencyP50Ms = ms(r.lat[(n-1)*50/100])
		r.res.LatencyP99Ms = ms(r.lat[(n-1)*99/100])
		r.res.LatencyMaxMs = ms(r.lat[n-1])
	}
	for _, t := range r.sample {
		if t.passed {
			r.res.TrafficPassed++
		}
	}
	if !r.cfg.NoDelete {
		r.m.Shutdown()
	}
	return r.res, nil
}

func (r *runner) handle(d datagram) {
	b := d.b
	if d.from.Port() == 4500 {
		if len(b) >= 4 && binary.BigEndian.Uint32(b) != 0 {
			r.espIn(b)
			return
		}
		if len(b) <= 4 {
			return // NAT keepalive or junk
		}
		b = b[4:]
	}
	local := r.local
	if d.from.Port() == 4500 {
		local = netip.AddrPortFrom(r.local.Addr(), 4500)
	}
	r.m.HandleIKE(b, local, d.from)
	r.events()
}

// events turns the Manager's events into results.
func (r *runner) events() {
	for _, ev := range r.m.TakeEvents() {
		if ev.IKE == nil || ev.IKE.Config() == nil {
			continue
		}
		name := ev.IKE.Config().Name
		switch ev.Kind {
		case ike.EventChildUp:
			if r.done[name] {
				continue
			}
			r.done[name] = true
			r.inflight--
			r.res.Established++
			r.lat = append(r.lat, time.Since(r.started[name]))
			for _, v := range ev.IKE.LocalVIPs() {
				r.res.VirtualIPs[ev.IKE.LocalID.String()] = v.String()
				if t := r.children[ev.Child.SPIIn]; t != nil {
					t.vip = v
					if len(r.sample) < r.cfg.Traffic {
						r.sample = append(r.sample, t)
					}
				}
			}
		case ike.EventIKEFailed, ike.EventIKEDown:
			r.fail(name, ev.Reason)
		}
	}
}

func (r *runner) fail(name, reason string) {
	if r.done[name] {
		return
	}
	r.done[name] = true
	r.inflight--
	r.res.Failed++
	r.res.FailureReasons[reasonClass(reason)]++
	r.cfg.Log.Warn("client failed", "client", name, "reason", reason)
}

// reasonClass strips the numbers out of a reason, so failures group.
func reasonClass(s string) string {
	f := strings.FieldsFunc(s, func(c rune) bool { return c == ' ' })
	for i, w := range f {
		if strings.IndexFunc(w, func(c rune) bool { return c >= '0' && c <= '9' }) >= 0 {
			f[i] = "N"
		}
	}
	return strings.Join(f, " ")
}
