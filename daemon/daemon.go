// Package daemon wires cygnet together: configuration -> IKE -> SAD/SPD ->
// data plane, the control socket, reloads and signals. All IKE work runs on
// one goroutine, the event loop, so the state machine needs no locks. A panic
// in one step of the loop (one IKE message, one control request, one timer
// round) is recovered, logged with its stack and counted in stats: it costs
// that step, not the daemon and every tunnel.
package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/cygnet-ipsec/cygnet/audit"
	"github.com/cygnet-ipsec/cygnet/auth"
	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/dataplane"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/internal/logging"
	"github.com/cygnet-ipsec/cygnet/metrics"
	"github.com/cygnet-ipsec/cygnet/sad"
)

// Options configure a daemon run.
type Options struct {
	ConfigPath string
	SocketPath string
	Log        *slog.Logger
	// TUNName names the data plane's TUN device.
	TUNName string
	// StrongswanConf is the strongswan.conf with the daemon-wide settings
	// (the charon section): empty to look beside ConfigPath and one
	// directory up (FindStrongswanConf), NoStrongswanConf for none.
	StrongswanConf string
	// VICIPath, if set, is where the strongSwan-compatible VICI socket
	// listens (mode 0600); Version is what its version command reports.
	VICIPath string
	Version  string
	// MetricsAddr, if set, is where Prometheus metrics are served
	// (http://MetricsAddr/metrics).
	MetricsAddr string
	// KeylogDir, if set, is where the SAs' keys are written for
	// Wireshark (ikev2_decryption_table, esp_sa).
	KeylogDir string
	// AuditPath, if set, is the audit stream's file (JSON lines, mode
	// 0600): SAs up and down, authentication failures, reloads.
	AuditPath string
	// LogFlush, if set, writes the log lines Log holds back (a batching
	// writer such as logging.Buffered). The daemon calls it before a
	// control or VICI answer leaves, so that whoever reads the log after
	// an answer finds its lines there. It is not called per IKE message:
	// under a handshake storm that was a write per message, 4 % of a
	// responder's CPU; the writer's own delay bounds how late they are.
	LogFlush func()
}

// IKEDatagram is an IKE message the data plane received, without the
// non-ESP marker.
type IKEDatagram struct {
	Data          []byte
	Local, Remote netip.AddrPort
}

// PacketPath is what the daemon needs from the data plane: IKE transport,
// received IKE messages, Child SA installation and counters.
type PacketPath interface {
	ike.Transport
	ike.Installer
	CounterSource
	// IKE delivers received IKE messages.
	IKE() <-chan IKEDatagram
	// Lifetimes delivers the SAD's soft and hard expiry events; Expire
	// advances the SAD's clock; ChildOf names the Child SA of an entry.
	Lifetimes() <-chan sad.Event
	Expire(now time.Time)
	ChildOf(id sad.ID) (uint32, bool)
	// Stats returns the data plane's packet counters.
	Stats() dataplane.Stats
	// Protect keeps the connections' remote subnets unreachable unless a
	// Child SA carries them.
	Protect(conns []*ike.PeerConfig) error
	// Close stops the data plane and removes its TUN and routes; the
	// drop routes for protected traffic stay.
	Close() error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// childHooker is a packet path that tells observers about Child SAs
// entering and leaving it (packetPath.addChildHooks).
type childHooker interface {
	addChildHooks(installing, deleting func(*ike.ChildSA))
}

// credentials answers the IKE state machine's questions from the loaded
// secrets (PSKs) and certificates.
type credentials struct {
	secrets *auth.Secrets
	eap     *auth.Secrets // secrets.eap<suffix>
	ppks    *auth.PPKs    // secrets.ppk<suffix>
}

// PPK implements ike.PPKCredentials.
func (c *credentials) PPK(id []byte) ([]byte, bool) { return c.ppks.Lookup(id) }

// HasPPK implements ike.PPKCredentials.
func (c *credentials) HasPPK() bool { return c.ppks.Len() > 0 }

func (c *credentials) SharedKey(local, remote identity.ID) ([]byte, bool) {
	return c.secrets.SharedKey(local, remote)
}

func newCredentials(cfg *config.Config) (*credentials, error) {
	s, err := auth.NewSecrets(cfg.Secrets.IKE)
	if err != nil {
		return nil, err
	}
	e, err := auth.NewSecrets(cfg.Secrets.EAP)
	if err != nil {
		return nil, err
	}
	p, err := auth.NewPPKs(cfg.Secrets.PPK)
	if err != nil {
		return nil, err
	}
	return &credentials{secrets: s, eap: e, ppks: p}, nil
}

// Daemon is a running cygnet.
type Daemon struct {
	opts Options
	log  *slog.Logger
	// cfgLog and netLog are the cfg (configuration, reloads) and net
	// (control, VICI and metrics sockets) subsystems' loggers.
	cfgLog, netLog *slog.Logger
	path           PacketPath
	mgr            *ike.Manager
	creds          *reloadableCreds
	updown         *updowns
	pools          *poolManager
	reqs           chan ctlCall
	// stopped is closed when the event loop ends, so that nobody waits
	// to hand work to a loop that is gone.
	stopped chan struct{}
	waiters []*waiter
	panics  panicCounters
	vici    *viciFace         // nil without --vici
	metrics *metrics.Metrics  // nil without --metrics
	keylog  *keylog           // nil without --keylog
	audit   *audit.Log        // nil without --audit
	acct    *radiusAccounting // nil without eap-radius accounting = yes

	// loop is held by whoever runs a step of the event loop: the loop
	// itself, or the data plane's IKE receiver (stepIKE). armed is when
	// the loop's timer fires next; rearm asks the loop to set it again.
	loop  sync.Mutex
	armed time.Time
	rearm chan struct{}
}

type ctlCall struct {
	req   control.Request
	reply chan control.Response
	// fn, if set, runs on the event loop instead of req (VICI's queries).
	fn func()
}

// waiter is an initiate command waiting for its tunnel.
type waiter struct {
	conn, child string
	deadline    time.Time
	reply       chan control.Response
	start       time.Time
}

// New loads the configuration and, once it is known to be good, builds the
// daemon on the packet path newPath makes.
func New(opts Options, newPath func() (PacketPath, error)) (*Daemon, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	var face *viciFace
	if opts.VICIPath != "" {
		face = &viciFace{started: time.Now()}
		opts.Log = slog.New(viciLogHandler{Handler: opts.Log.Handler(), face: face})
	}
	if opts.SocketPath == "" {
		opts.SocketPath = control.DefaultSocket
	}
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	conns, err := PeerConfigs(cfg)
	if err != nil {
		return nil, err
	}
	cfgLog := logging.Subsystem(opts.Log, "cfg")
	logWarnings(cfgLog, cfg)
	charon, err := LoadCharon(opts.StrongswanConf, opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	if err := CheckRADIUS(cfg, charon); err != nil {
		return nil, err
	}
	logCharonWarnings(cfgLog, charon, cfg)
	ikeOpts := IKEOptions(charon)
	if charon != nil {
		// zero is the Manager's default; math.MaxInt a disabled limit
		cfgLog.Info("IKE retransmission settings", "path", charon.Path, "timeout", ikeOpts.RetransmitTimeout,
			"base", ikeOpts.RetransmitBase, "tries", ikeOpts.RetransmitTries, "limit", ikeOpts.RetransmitLimit, "jitter", ikeOpts.RetransmitJitter)
		cfgLog.Info("IKE DoS settings", "path", charon.Path, "cookie_threshold", ikeOpts.CookieThreshold,
			"cookie_threshold_ip", ikeOpts.CookieThresholdPerSource, "block_threshold", ikeOpts.HalfOpenPerSource, "init_limit_half_open", ikeOpts.HalfOpenLimit)
	}
	base, err := newCredentials(cfg)
	if err != nil {
		return nil, err
	}
	pc, err := newPubkeyCredentials(cfg, base)
	if err != nil {
		return nil, err
	}
	path, err := newPath()
	if err != nil {
		return nil, err
	}
	if err := path.Protect(conns); err != nil {
		path.Close()
		return nil, err
	}
	d := &Daemon{opts: opts, log: opts.Log, cfgLog: cfgLog, netLog: logging.Subsystem(opts.Log, "net"), path: path, reqs: make(chan ctlCall), rearm: make(chan struct{}, 1), creds: &reloadableCreds{cur: pc}, pools: newPoolManager(),
		stopped: make(chan struct{}), vici: face}
	d.creds.radius = newRADIUSBackend(RADIUSClient(charonRADIUS(charon)), d.post)
	if err := d.pools.configure(cfg); err != nil {
		path.Close()
		return nil, err
	}
	if opts.AuditPath != "" {
		if d.audit, err = audit.Open(opts.AuditPath); err != nil {
			path.Close()
			return nil, err
		}
	}
	if opts.KeylogDir != "" {
		if d.keylog, err = newKeylog(opts.KeylogDir, opts.Log); err != nil {
			path.Close()
			return nil, err
		}
	}
	if r := charonRADIUS(charon); r != nil && r.Accounting && len(r.Servers) > 0 {
		d.acct = newRADIUSAccounting(RADIUSClient(r), path, logging.Subsystem(opts.Log, "ike"), time.Now())
	}
	if d.keylog != nil || d.acct != nil {
		hp, ok := path.(childHooker)
		if !ok {
			path.Close()
			return nil, errors.New("this packet path cannot report Child SAs to the key log or RADIUS accounting")
		}
		if d.keylog != nil {
			hp.addChildHooks(d.keylog.installChild, d.keylog.deleteChild)
		}
		if d.acct != nil {
			hp.addChildHooks(nil, d.acct.childGone)
		}
	}
	d.mgr = ike.NewManager(ike.Config{
		Conns: conns, Creds: d.creds, Transport: path, Installer: path,
		Clock: realClock{}, Rand: rand.Reader, Log: logging.Subsystem(opts.Log, "ike"),
		Options: ikeOpts,
		Pools:   d.pools,
	})
	d.updown = newUpdowns(opts.Log)
	d.updown.configure(cfg, conns)
	return d, nil
}

// post runs f on the event loop without waiting for it; it is how
// goroutines that wait on the network (RADIUS round trips) hand their
// results to the IKE manager. onLoop is the waiting kind.
func (d *Daemon) post(f func()) {
	select {
	case d.reqs <- ctlCall{fn: f, reply: make(chan control.Response, 1)}:
	case <-d.stopped:
	}
}

// Run serves until ctx ends or SIGTERM/SIGINT arrives, then deletes every SA
// (telling the peers) and stops. SIGHUP reloads the configuration.
func (d *Daemon) Run(ctx context.Context) error {
	l, err := control.Listen(d.opts.SocketPath)
	if err != nil {
		return err
	}
	defer os.Remove(d.opts.SocketPath)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer close(d.stopped)
	go control.Serve(ctx, l, d.handle)
	if d.opts.MetricsAddr != "" {
		if err := d.startMetrics(ctx); err != nil {
			return err
		}
	}
	if d.vici != nil {
		stop, err := d.startVICI(ctx)
		if err != nil {
			return err
		}
		defer stop()
		defer os.Remove(d.opts.VICIPath)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	d.log.Info("cygnet daemon started", "config", d.opts.ConfigPath, "socket", d.opts.SocketPath, "connections", len(d.mgr.Conns()))
	// Every step runs under d.loop; the loop lets go of it only while it
	// waits. Once it returns (shutdown) it keeps it: nothing else steps.
	d.loop.Lock()
	if p, ok := d.path.(directIKE); ok {
		p.SetIKEHandler(d.stepIKE)
		defer p.SetIKEHandler(nil)
	}
	d.startActions()
	dpEvents := dataplaneEvents(d.path)
	addrChanges := watchAddresses(ctx, d.log)
	timer := time.NewTimer(time.Second)
	d.armed = time.Now().Add(time.Second)
	defer timer.Stop()
	// The periodic tick (the SAD's clock, lifetimes, IKE timers) comes at
	// most a second after the last one, however often other events wake
	// the loop: measured from now instead, a stream of address-change
	// events kept postponing it, the SAD's clock went stale, and DPD took
	// a busy tunnel for an idle one.
	lastTick := time.Now()
	for {
		d.loop.Unlock()
		select {
		case <-ctx.Done():
			d.loop.Lock()
			return d.shutdown("stopped")
		case s := <-sigs:
			d.loop.Lock()
			if s == syscall.SIGHUP {
				_, _ = d.reload() // logged and audited
				break
			}
			return d.shutdown("signal " + s.String())
		case dg := <-d.path.IKE():
			d.loop.Lock()
			d.handleIKE(dg)
		case call := <-d.reqs:
			d.loop.Lock()
			d.dispatchGuarded(call)
		case ev := <-d.path.Lifetimes():
			d.loop.Lock()
			d.guardIKE("an SA lifetime event", func() { d.lifetimeEvent(ev) })
		case ev := <-dpEvents:
			d.loop.Lock()
			d.guardIKE("a data plane event", func() { d.dataplaneEvent(ev) })
		case <-addrChanges:
			d.loop.Lock()
			d.guardIKE("an address change", d.mgr.AddressesChanged)
		case <-d.rearm:
			d.loop.Lock()
		case <-timer.C:
			d.loop.Lock()
			lastTick = time.Now()
			d.guardIKE("the IKE timers", func() {
				d.path.Expire(lastTick)
				d.mgr.Tick()
			})
		}
		d.guardIKE("IKE events", d.afterStep)
		next := time.Second - time.Since(lastTick)
		if dl := d.mgr.NextDeadline(); !dl.IsZero() {
			next = min(next, time.Until(dl))
		}
		next = max(next, time.Millisecond)
		d.armed = time.Now().Add(next)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

func (d *Daemon) shutdown(why string) error {
	d.log.Info("cygnet daemon stopping", "reason", why)
	d.mgr.Shutdown()
	for _, ev := range d.mgr.TakeEvents() {
		d.updown.event(ev)
		d.auditEvent(ev)
		if d.acct != nil {
			d.acct.event(ev, time.Now())
		}
	}
	if d.acct != nil {
		d.acct.step()
		// the Stop records of the sessions just ended, before the process goes
		d.acct.close(5 * time.Second)
	}
	if d.audit != nil {
		defer d.audit.Close()
	}
	// Down scripts clean up after the tunnels before the TUN goes away.
	d.updown.wait(updownTimeout + 5*time.Second)
	// Give the DELETE messages a moment on the wire; nothing waits for answers.
	for _, w := range d.waiters {
		w.reply <- control.Response{Error: "daemon stopping"}
	}
	return d.path.Close()
}

// startActions initiates the children with start_action = start.
func (d *Daemon) startActions() {
	for _, c := range d.mgr.Conns() {
		for _, ch := range c.Children {
			if ch.StartAction == ike.ActionStart {
				if err := d.mgr.Initiate(c.Name, ch.Name); err != nil {
					d.log.Warn("start_action failed", "conn", c.Name, "child", ch.Name, "err", err)
				}
			}
			if ch.StartAction == ike.ActionTrap {
				if err := d.mgr.InstallTrap(c.Name, ch.Name); err != nil {
					d.log.Warn("start_action trap failed", "conn", c.Name, "child", ch.Name, "err", err)
				}
			}
		}
	}
}

// reload re-reads the configuration; a bad one is refused and the running
// configuration stays in force.
func (d *Daemon) reload() (connChanges, error) {
	ch, err := d.reloadConfig()
	d.auditReload(ch, err)
	return ch, err
}

// reloadConfig is reload without the audit record.
func (d *Daemon) reloadConfig() (connChanges, error) {
	cfg, err := LoadConfig(d.opts.ConfigPath)
	var conns []*ike.PeerConfig
	var creds *pubkeyCredentials
	if err == nil {
		cfg = d.withVICI(cfg) // what VICI clients loaded stays loaded
		conns, err = PeerConfigs(cfg)
	}
	if err == nil {
		// Secrets and certificates are part of the configuration too:
		// a corrected PSK or a renewed certificate takes effect now.
		var base *credentials
		if base, err = newCredentials(cfg); err == nil {
			creds, err = newPubkeyCredentials(cfg, base)
		}
	}
	if err != nil {
		d.cfgLog.Error("reload refused, keeping the running configuration", "err", err)
		return connChanges{}, err
	}
	// Pools keep their leases: clients keep their addresses (PeerConfigs
	// checked the pools, so this does not fail).
	if err := d.pools.configure(cfg); err != nil {
		d.cfgLog.Error("reload refused, keeping the running configuration", "err", err)
		return connChanges{}, err
	}
	logWarnings(d.cfgLog, cfg)
	d.creds.cur = creds
	ch := d.applyConns(conns)
	d.updown.configure(cfg, d.mgr.Conns())
	d.cfgLog.Info("configuration reloaded", "connections", len(conns),
		"added", ch.Added, "removed", ch.Removed, "changed", ch.Changed, "unchanged", ch.Unchanged)
	return ch, nil
}

// lifetimeEvent hands an SA's expiry to IKE: a hard expiry deletes the Child
// SA (telling the peer); a soft one asks for a rekey.
func (d *Daemon) lifetimeEvent(ev sad.Event) {
	u, ok := d.path.ChildOf(ev.ID)
	if !ok {
		return
	}
	d.mgr.ChildExpired(u, ev.Kind == sad.HardExpire, ev.Reason.String())
}

// afterStep logs events and answers waiting initiate commands.
func (d *Daemon) afterStep() {
	flush := false
	for _, ev := range d.mgr.TakeEvents() {
		flush = flush || operatorDown(ev)
		d.updown.event(ev)
		d.viciEvent(ev)
		d.metricsEvent(ev)
		d.auditEvent(ev)
		if d.acct != nil {
			d.acct.event(ev, time.Now())
		}
		for i := 0; i < len(d.waiters); i++ {
			w := d.waiters[i]
			if ev.IKE == nil || ev.IKE.Config().Name != w.conn {
				continue
			}
			var resp *control.Response
			switch {
			case ev.Kind == ike.EventChildUp && (w.child == "" || ev.Child.Name == w.child):
				resp = &control.Response{Message: fmt.Sprintf("CHILD_SA %s{%d} established in %v", ev.Child.Name, ev.Child.UniqueID, time.Since(w.start).Round(time.Millisecond))}
			case ev.Kind == ike.EventIKEUp && w.child == "":
				resp = &control.Response{Message: fmt.Sprintf("IKE_SA %s[%d] established in %v", w.conn, ev.IKE.UniqueID, time.Since(w.start).Round(time.Millisecond))}
			case ev.Kind == ike.EventIKEFailed || ev.Kind == ike.EventIKEDown:
				resp = &control.Response{Error: fmt.Sprintf("initiating %s failed: %s", w.conn, ev.Reason)}
			}
			if resp != nil {
				w.reply <- *resp
				d.waiters = append(d.waiters[:i], d.waiters[i+1:]...)
				i--
			}
		}
	}
	if flush {
		d.flushRoutes()
	}
	if d.acct != nil {
		d.acct.step()
	}
	if d.keylog != nil {
		d.keylog.syncIKE(d.mgr.SAs())
	}
	now := time.Now()
	for i := 0; i < len(d.waiters); i++ {
		if w := d.waiters[i]; now.After(w.deadline) {
			w.reply <- control.Response{Error: fmt.Sprintf("initiating %s: no answer within %v", w.conn, w.deadline.Sub(w.start).Round(time.Second))}
			d.waiters = append(d.waiters[:i], d.waiters[i+1:]...)
			i--
		}
	}
}

// handle runs on the control socket's goroutines and hands the request to
// the event loop.
func (d *Daemon) handle(req control.Request) (resp control.Response) {
	defer func() {
		if d.recovered(recover(), &d.panics.control, "a control request", "command", req.Command) {
			resp = control.Response{Error: fmt.Sprintf("internal error handling %q (logged)", req.Command)}
		}
	}()
	reply := make(chan control.Response, 1)
	select {
	case d.reqs <- ctlCall{req: req, reply: reply}:
	case <-time.After(10 * time.Second):
		return control.Response{Error: "daemon busy"}
	}
	select {
	case r := <-reply:
		d.flushLog()
		return r
	case <-time.After(60 * time.Second):
		return control.Response{Error: "no answer from the daemon's event loop"}
	}
}

// flushLog writes the log lines held back (Options.LogFlush).
func (d *Daemon) flushLog() {
	if d.opts.LogFlush != nil {
		d.opts.LogFlush()
	}
}

func (d *Daemon) dispatch(call ctlCall) {
	if call.fn != nil {
		call.fn()
		call.reply <- control.Response{}
		return
	}
	req := call.req
	switch req.Command {
	case control.CmdListSAs:
		call.reply <- control.Response{IKESAs: ListSAs(d.mgr.SAs(), d.path, time.Now())}
	case control.CmdListPools:
		call.reply <- control.Response{Pools: d.pools.list()}
	case control.CmdListConns:
		call.reply <- control.Response{Conns: ListConns(d.mgr.Conns())}
	case control.CmdInitiate:
		conn := req.IKE
		if conn == "" {
			conn = d.connOfChild(req.Child)
		}
		if conn == "" {
			call.reply <- control.Response{Error: fmt.Sprintf("no connection has a child named %q", req.Child)}
			return
		}
		if d.childUp(conn, req.Child) {
			call.reply <- control.Response{Message: "already established"}
			return
		}
		if err := d.mgr.Initiate(conn, req.Child); err != nil {
			call.reply <- control.Response{Error: err.Error()}
			return
		}
		now := time.Now()
		d.waiters = append(d.waiters, &waiter{conn: conn, child: req.Child, reply: call.reply, start: now, deadline: now.Add(25 * time.Second)})
	case control.CmdTerminate:
		var err error
		if req.IKE != "" {
			err = d.mgr.TerminateIKE(req.IKE)
		} else {
			err = d.mgr.TerminateChild(req.Child)
		}
		if err != nil {
			call.reply <- control.Response{Error: err.Error()}
			return
		}
		call.reply <- control.Response{Message: "terminated"}
	case control.CmdRekey:
		var err error
		if req.IKE != "" {
			err = d.mgr.RekeyIKE(req.IKE, req.Reauth)
		} else {
			err = d.mgr.RekeyChild(req.Child)
		}
		if err != nil {
			call.reply <- control.Response{Error: err.Error()}
			return
		}
		call.reply <- control.Response{Message: "rekey started"}
	case control.CmdRedirect:
		call.reply <- d.redirect(req)
	case control.CmdStats:
		b, err := d.stats()
		if err != nil {
			call.reply <- control.Response{Error: err.Error()}
			return
		}
		call.reply <- control.Response{Stats: b}
	case control.CmdReload:
		ch, err := d.reload()
		if err != nil {
			call.reply <- control.Response{Error: err.Error()}
			return
		}
		call.reply <- control.Response{Message: "configuration reloaded: " + ch.String()}
	default:
		call.reply <- control.Response{Error: fmt.Sprintf("unknown command %q", req.Command)}
	}
}

func (d *Daemon) connOfChild(child string) string {
	for _, c := range d.mgr.Conns() {
		if c.Child(child) != nil {
			return c.Name
		}
	}
	return ""
}

func (d *Daemon) childUp(conn, child string) bool {
	for _, sa := range d.mgr.SAs() {
		if sa.Config().Name != conn || sa.State() != "ESTABLISHED" {
			continue
		}
		if child == "" {
			return true
		}
		for _, c := range sa.Children() {
			if c.Name == child && c.State() == "INSTALLED" {
				return true
			}
		}
	}
	return false
}
