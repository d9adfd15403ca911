package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/vici"
)

// viciFace is the daemon's strongSwan-compatible control socket: VICI
// commands are answered from the same data as cygnet's own control socket
// (ListSAs, ListConns, the pools), so both show the same SPIs and counters.
type viciFace struct {
	// srv is set once the socket is open; the log handler reads it from
	// any goroutine.
	srv atomic.Pointer[vici.Server]
	// loaded is the configuration VICI clients loaded, in force with the
	// file's; the event loop reads and writes it.
	loaded  *config.Config
	started time.Time
}

// viciEvents are the events clients may register for.
var viciEvents = []string{
	"ike-updown", "child-updown", "ike-rekey", "child-rekey", "log", "control-log",
	"list-sa", "list-conn", "list-pol", "list-cert", "list-authority",
}

// startVICI opens the VICI socket (mode 0600) and serves it until ctx ends.
func (d *Daemon) startVICI(ctx context.Context) (func(), error) {
	l, err := control.Listen(d.opts.VICIPath)
	if err != nil {
		return nil, fmt.Errorf("vici: %w", err)
	}
	srv := vici.NewServer(d.netLog)
	srv.AddEvents(viciEvents...)
	for name, h := range map[string]vici.Handler{
		"version":          d.viciVersion,
		"stats":            d.viciStats,
		"list-sas":         d.viciListSAs,
		"list-conns":       d.viciListConns,
		"get-pools":        d.viciGetPools,
		"initiate":         d.viciInitiate,
		"terminate":        d.viciTerminate,
		"rekey":            d.viciRekey,
		"list-certs":       d.viciListCerts,
		"list-authorities": d.viciListAuthorities,
		"list-pols":        func(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message { return nil },
		"reload-settings": func(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
			if err := d.onLoop(func() { _, _ = d.reload() }); err != nil {
				return vici.Failure(err.Error())
			}
			return vici.Success()
		},
	} {
		srv.Handle(name, h)
	}
	store := d.viciLoadHandlers(srv)
	d.vici.srv.Store(srv)
	go srv.Serve(ctx, l)
	d.netLog.Info("vici socket listening", "path", d.opts.VICIPath)
	return func() {
		l.Close()
		store.remove()
	}, nil
}

// onLoop runs f on the event loop and waits for it.
func (d *Daemon) onLoop(f func()) error {
	reply := make(chan control.Response, 1)
	select {
	case d.reqs <- ctlCall{fn: f, reply: reply}:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("daemon busy")
	}
	select {
	case r := <-reply:
		d.flushLog()
		if r.Error != "" {
			return fmt.Errorf("%s", r.Error)
		}
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("no answer from the daemon's event loop")
	}
}

func (d *Daemon) viciVersion(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
	m := vici.NewMessage().Set("daemon", "cygnet").Set("version", d.opts.Version)
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Set("sysname", unix.ByteSliceToString(u.Sysname[:]))
		m.Set("release", unix.ByteSliceToString(u.Release[:]))
		m.Set("machine", unix.ByteSliceToString(u.Machine[:]))
	}
	return m
}

func (d *Daemon) viciStats(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
	var total, halfOpen int
	if err := d.onLoop(func() {
		for _, sa := range d.mgr.SAs() {
			total++
			if sa.State() != "ESTABLISHED" {
				halfOpen++
			}
		}
	}); err != nil {
		return vici.Failure(err.Error())
	}
	now := time.Now()
	m := vici.NewMessage()
	up := m.Section("uptime")
	up.Set("running", now.Sub(d.vici.started).Round(time.Second).String())
	up.Set("since", d.vici.started.Format("Jan 02 15:04:05 2006"))
	// one event loop does all the work: it is the only worker
	w := m.Section("workers")
	w.Set("total", "1").Set("idle", "0")
	act := w.Section("active")
	q := m.Section("queues")
	for _, p := range []string{"critical", "high", "medium", "low"} {
		act.Set(p, "0")
		q.Set(p, "0")
	}
	m.Set("scheduled", "0")
	m.Section("ikesas").SetUint("total", uint64(total)).SetUint("half-open", uint64(halfOpen))
	m.SetList("plugins", []string{"cygnet"})
	return m
}

// saFilter selects SAs as list-sas, terminate and rekey do: by IKE name or
// unique id, by child name or unique id.
type saFilter struct {
	ike, child     string
	ikeID, childID uint32
}

func newSAFilter(req *vici.Message) saFilter {
	f := saFilter{ike: req.String("ike"), child: req.String("child")}
	if v, err := strconv.ParseUint(req.String("ike-id"), 10, 32); err == nil {
		f.ikeID = uint32(v)
	}
	if v, err := strconv.ParseUint(req.String("child-id"), 10, 32); err == nil {
		f.childID = uint32(v)
	}
	return f
}

func (f saFilter) matchIKE(s control.IKESA) bool {
	return (f.ike == "" || s.Name == f.ike) && (f.ikeID == 0 || s.UniqueID == f.ikeID)
}

func (f saFilter) matchChild(c control.ChildSA) bool {
	return (f.child == "" || c.Name == f.child) && (f.childID == 0 || c.UniqueID == f.childID)
}

func (d *Daemon) listSAs() ([]control.IKESA, error) {
	var sas []control.IKESA
	err := d.onLoop(func() { sas = ListSAs(d.mgr.SAs(), d.path, time.Now()) })
	return sas, err
}

func (d *Daemon) viciListSAs(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) *vici.Message {
	sas, err := d.listSAs()
	if err != nil {
		return vici.Failure(err.Error())
	}
	f := newSAFilter(req)
	for _, s := range sas {
		if !f.matchIKE(s) {
			continue
		}
		var children []control.ChildSA
		for _, c := range s.ChildSAs {
			if f.matchChild(c) {
				children = append(children, c)
			}
		}
		if (f.child != "" || f.childID != 0) && len(children) == 0 {
			continue
		}
		emit("list-sa", vici.NewMessage().SetSection(s.Name, viciIKE(s, children)))
	}
	return nil
}

// viciIKE renders an IKE SA with the fields and names strongSwan's
// list-sa event uses; values absent in strongSwan's reply are left out.
func viciIKE(s control.IKESA, children []control.ChildSA) *vici.Message {
	m := vici.NewMessage()
	m.SetUint("uniqueid", uint64(s.UniqueID)).SetUint("version", uint64(s.Version)).Set("state", s.State)
	m.Set("local-host", s.LocalHost).SetUint("local-port", uint64(s.LocalPort)).Set("local-id", s.LocalID)
	m.Set("remote-host", s.RemoteHost).SetUint("remote-port", uint64(s.RemotePort)).Set("remote-id", s.RemoteID)
	if s.Initiator {
		m.Set("initiator", "yes")
	}
	m.Set("initiator-spi", s.InitiatorSPI).Set("responder-spi", s.ResponderSPI)
	if s.NATLocal {
		m.Set("nat-local", "yes")
	}
	if s.NATRemote {
		m.Set("nat-remote", "yes")
	}
	if s.NATLocal || s.NATRemote {
		m.Set("nat-any", "yes")
	}
	if s.EncrAlg != "" {
		m.Set("encr-alg", s.EncrAlg)
		if s.EncrKeysize != 0 {
			m.SetUint("encr-keysize", uint64(s.EncrKeysize))
		}
		if s.IntegAlg != "" {
			m.Set("integ-alg", s.IntegAlg)
		}
		m.Set("prf-alg", s.PRFAlg)
		if s.DHGroup != "" {
			m.Set("dh-group", s.DHGroup)
		}
		// RFC 9370 additional key exchanges, named as strongSwan 6 does
		for i, ke := range s.KeyExchanges {
			if i > 0 {
				m.Set("ake"+strconv.Itoa(i), ke)
			}
		}
	}
	if s.State == "ESTABLISHED" {
		m.Set("established", strconv.FormatInt(s.Established, 10))
		if s.RekeyTime > 0 {
			m.Set("rekey-time", strconv.FormatInt(s.RekeyTime, 10))
		}
	}
	if len(s.LocalVIPs) > 0 {
		m.SetList("local-vips", s.LocalVIPs)
	}
	if len(s.RemoteVIPs) > 0 {
		m.SetList("remote-vips", s.RemoteVIPs)
	}
	cs := m.Section("child-sas")
	for _, c := range children {
		cs.SetSection(fmt.Sprintf("%s-%d", c.Name, c.UniqueID), viciChild(c))
	}
	return m
}

func viciChild(c control.ChildSA) *vici.Message {
	m := vici.NewMessage()
	m.Set("name", c.Name).SetUint("uniqueid", uint64(c.UniqueID)).SetUint("reqid", uint64(c.UniqueID))
	m.Set("state", c.State).Set("mode", c.Mode).Set("protocol", c.Protocol)
	if c.Encap {
		m.Set("encap", "yes")
	}
	m.Set("spi-in", c.SPIIn).Set("spi-out", c.SPIOut)
	if c.EncrAlg != "" {
		m.Set("encr-alg", c.EncrAlg)
		if c.EncrKeysize != 0 {
			m.SetUint("encr-keysize", uint64(c.EncrKeysize))
		}
	}
	if c.IntegAlg != "" {
		m.Set("integ-alg", c.IntegAlg)
	}
	if c.DHGroup != "" {
		m.Set("dh-group", c.DHGroup)
	}
	// RFC 9370 additional key exchanges, named as strongSwan 6 does
	for i, ke := range c.KeyExchanges {
		if i > 0 {
			m.Set("ake"+strconv.Itoa(i), ke)
		}
	}
	if c.ESN {
		m.Set("esn", "1")
	}
	m.SetUint("bytes-in", c.BytesIn).SetUint("packets-in", c.PacketsIn)
	m.SetUint("bytes-out", c.BytesOut).SetUint("packets-out", c.PacketsOut)
	if c.RekeyTime > 0 {
		m.Set("rekey-time", strconv.FormatInt(c.RekeyTime, 10))
	}
	if c.LifeTime > 0 {
		m.Set("life-time", strconv.FormatInt(c.LifeTime, 10))
	}
	m.Set("install-time", strconv.FormatInt(c.InstallTime, 10))
	m.SetList("local-ts", c.LocalTS)
	m.SetList("remote-ts", c.RemoteTS)
	return m
}

func (d *Daemon) viciListConns(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) *vici.Message {
	var conns []*ike.PeerConfig
	if err := d.onLoop(func() { conns = d.mgr.Conns() }); err != nil {
		return vici.Failure(err.Error())
	}
	want := req.String("ike")
	for _, c := range conns {
		if want != "" && c.Name != want {
			continue
		}
		emit("list-conn", vici.NewMessage().SetSection(c.Name, viciConn(c)))
	}
	return nil
}

func authClass(a ike.AuthMethod) string {
	switch a {
	case ike.AuthPSK:
		return "pre-shared key"
	case ike.AuthPubkey:
		return "public key"
	}
	return "any"
}

func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// viciConn renders a connection as strongSwan's list-conn event does.
func viciConn(c *ike.PeerConfig) *vici.Message {
	m := vici.NewMessage()
	m.SetList("local_addrs", prefixes(c.LocalAddrs))
	m.SetList("remote_addrs", prefixes(c.RemoteAddrs))
	m.Set("local_port", "500")
	rport := c.Remote.Port()
	if rport == 0 {
		rport = 500
	}
	m.SetUint("remote_port", uint64(rport))
	m.Set("version", "IKEv2")
	m.Set("reauth_time", secs(c.ReauthTime)).Set("rekey_time", secs(c.RekeyTime))
	m.Set("unique", uniqueName(c.Unique))
	if c.DPDDelay > 0 {
		m.Set("dpd_delay", secs(c.DPDDelay))
	}
	if c.DPDTimeout > 0 {
		m.Set("dpd_timeout", secs(c.DPDTimeout))
	}
	m.Section("local-1").Set("class", authClass(c.LocalAuth)).Set("id", c.LocalID.String())
	m.Section("remote-1").Set("class", authClass(c.RemoteAuth)).Set("id", c.RemoteID.String())
	ch := m.Section("children")
	for _, cc := range c.Children {
		s := ch.Section(cc.Name)
		s.Set("mode", strings.ToUpper(cc.Mode.String()))
		s.Set("rekey_time", secs(cc.RekeyTime)).SetUint("rekey_bytes", cc.RekeyBytes).SetUint("rekey_packets", cc.RekeyPackets)
		s.Set("dpd_action", actionVICI(cc.DPDAction)).Set("close_action", actionVICI(cc.CloseAction))
		s.SetList("local-ts", confTS(cc.LocalTS))
		s.SetList("remote-ts", confTS(cc.RemoteTS))
	}
	return m
}

func uniqueName(u ike.UniquePolicy) string {
	s := strings.ToUpper(fmt.Sprint(u))
	if !strings.HasPrefix(s, "UNIQUE_") {
		s = "UNIQUE_" + s
	}
	return s
}

func actionVICI(a ike.Action) string {
	switch a {
	case ike.ActionStart:
		return "restart"
	case ike.ActionTrap:
		return "trap"
	}
	return "clear"
}

func (d *Daemon) viciGetPools(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
	var pools []control.Pool
	if err := d.onLoop(func() { pools = d.pools.list() }); err != nil {
		return vici.Failure(err.Error())
	}
	leases := req.String("leases") == "yes"
	name := req.String("name")
	m := vici.NewMessage()
	for _, p := range pools {
		if name != "" && p.Name != name {
			continue
		}
		s := m.Section(p.Name)
		s.Set("base", p.Base).SetUint("size", uint64(p.Size)).SetUint("online", uint64(p.Online)).SetUint("offline", uint64(p.Offline))
		if leases {
			ls := s.Section("leases")
			for i, l := range p.Leases {
				ls.Section(strconv.Itoa(i)).Set("address", l.Address).Set("identity", l.Identity).Set("status", l.Status)
			}
		}
	}
	return m
}

// controlLog streams a line of an initiate/terminate as strongSwan's
// control-log event, which swanctl prints.
func controlLog(emit func(string, *vici.Message), ikeName, msg string) {
	emit("control-log", vici.NewMessage().Set("group", "CFG").Set("level", "1").Set("ikesa-name", ikeName).Set("msg", msg))
}

func (d *Daemon) viciInitiate(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) *vici.Message {
	ikeName, child := req.String("ike"), req.String("child")
	if ikeName == "" && child == "" {
		return vici.Failure("missing configuration name")
	}
	controlLog(emit, ikeName, fmt.Sprintf("initiating %s", strings.Trim(ikeName+"/"+child, "/")))
	resp := d.handle(control.Request{Command: control.CmdInitiate, IKE: ikeName, Child: child})
	if resp.Error != "" {
		controlLog(emit, ikeName, resp.Error)
		return vici.Failure(resp.Error)
	}
	controlLog(emit, ikeName, resp.Message)
	return vici.Success()
}

// resolveFilter turns unique ids into names, the terms cygnet's own
// terminate and rekey take.
func (d *Daemon) resolveFilter(req *vici.Message) (ikeName, child string, matches int, err error) {
	f := newSAFilter(req)
	if f.ike == "" && f.child == "" && f.ikeID == 0 && f.childID == 0 {
		return "", "", 0, fmt.Errorf("missing terminate selector")
	}
	sas, err := d.listSAs()
	if err != nil {
		return "", "", 0, err
	}
	for _, s := range sas {
		if !f.matchIKE(s) {
			continue
		}
		if f.child == "" && f.childID == 0 {
			ikeName = s.Name
			matches++
			continue
		}
		for _, c := range s.ChildSAs {
			if f.matchChild(c) {
				child = c.Name
				matches++
			}
		}
	}
	if matches == 0 {
		return "", "", 0, fmt.Errorf("no matching SAs found")
	}
	return ikeName, child, matches, nil
}

func (d *Daemon) viciTerminate(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) *vici.Message {
	ikeName, child, n, err := d.resolveFilter(req)
	if err != nil {
		return vici.Failure(err.Error())
	}
	resp := d.handle(control.Request{Command: control.CmdTerminate, IKE: ikeName, Child: child})
	if resp.Error != "" {
		return vici.Failure(resp.Error)
	}
	controlLog(emit, ikeName, "deleting "+strings.Trim(ikeName+"/"+child, "/"))
	return vici.Success().SetUint("matches", uint64(n)).SetUint("terminated", uint64(n))
}

func (d *Daemon) viciRekey(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
	ikeName, child, n, err := d.resolveFilter(req)
	if err != nil {
		return vici.Failure(err.Error())
	}
	resp := d.handle(control.Request{Command: control.CmdRekey, IKE: ikeName, Child: child, Reauth: req.String("reauth") == "yes"})
	if resp.Error != "" {
		return vici.Failure(resp.Error)
	}
	return vici.Success().SetUint("matches", uint64(n))
}

// viciEvent streams an IKE event as strongSwan's vici plugin does. It runs
// on the event loop (afterStep); Publish never blocks.
func (d *Daemon) viciEvent(ev ike.Event) {
	if d.vici == nil || ev.IKE == nil {
		return
	}
	srv := d.vici.srv.Load()
	if srv == nil {
		return
	}
	now := time.Now()
	st := ListSAs([]*ike.IKESA{ev.IKE}, d.path, now)[0]
	name := ev.IKE.Config().Name
	switch ev.Kind {
	case ike.EventIKEUp, ike.EventIKEDown:
		m := vici.NewMessage()
		if ev.Kind == ike.EventIKEUp {
			m.Set("up", "yes")
		}
		m.SetSection(name, viciIKE(st, st.ChildSAs))
		srv.Publish("ike-updown", m)
	case ike.EventChildUp, ike.EventChildDown:
		if ev.Child == nil {
			return
		}
		m := vici.NewMessage()
		if ev.Kind == ike.EventChildUp {
			m.Set("up", "yes")
		}
		m.SetSection(name, viciIKE(st, []control.ChildSA{childStatus(ev.Child, d.path, now)}))
		srv.Publish("child-updown", m)
	case ike.EventIKERekeyed:
		m := vici.NewMessage()
		if ev.Old != nil {
			old := ListSAs([]*ike.IKESA{ev.Old}, d.path, now)[0]
			m.Section(name).SetSection("old", viciIKE(old, old.ChildSAs))
		}
		m.Section(name).SetSection("new", viciIKE(st, st.ChildSAs))
		srv.Publish("ike-rekey", m)
	case ike.EventChildRekeyed:
		if ev.Child == nil {
			return
		}
		m := vici.NewMessage()
		im := viciIKE(st, nil)
		cs := im.Sub("child-sas").Section(ev.Child.Name)
		if old := ev.Child.Rekeys; old != nil {
			cs.SetSection("old", viciChild(childStatus(old, d.path, now)))
		}
		cs.SetSection("new", viciChild(childStatus(ev.Child, d.path, now)))
		m.SetSection(name, im)
		srv.Publish("child-rekey", m)
	}
}

// viciLogHandler streams the daemon's log lines as VICI log events to the
// clients registered for them, as well as passing them on.
type viciLogHandler struct {
	slog.Handler
	face  *viciFace
	attrs []slog.Attr // from WithAttrs: the connection and IKE SA of a logger
}

func (h viciLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if s := h.face.srv.Load(); s != nil {
		m := vici.NewMessage().Set("group", "IKE").Set("level", strconv.Itoa(logLevel(r.Level))).Set("thread", "0")
		msg := r.Message
		each := func(a slog.Attr) bool {
			switch a.Key {
			case "conn":
				m.Set("ikesa-name", a.Value.String())
			case "ike":
				m.Set("ikesa-uniqueid", a.Value.String())
			}
			msg += " " + a.String()
			return true
		}
		for _, a := range h.attrs {
			each(a)
		}
		r.Attrs(each)
		m.Set("msg", msg)
		s.Publish("log", m)
	}
	return h.Handler.Handle(ctx, r)
}

func (h viciLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return viciLogHandler{h.Handler.WithAttrs(as), h.face, append(h.attrs[:len(h.attrs):len(h.attrs)], as...)}
}

func (h viciLogHandler) WithGroup(g string) slog.Handler {
	return viciLogHandler{h.Handler.WithGroup(g), h.face, h.attrs}
}

// logLevel maps slog levels onto strongSwan's 0 (basic) .. 4 (raw).
func logLevel(l slog.Level) int {
	switch {
	case l >= slog.LevelWarn:
		return 0
	case l >= slog.LevelInfo:
		return 1
	}
	return 2
}

// viciListCerts streams the loaded X.509 certificates as list-cert events,
// end-entity ones (flag NONE) and CAs (flag CA), as strongSwan does.
// viciListAuthorities streams one list-authority event per swanctl.conf
// authorities section in force, as strongSwan's vici plugin does: the CA
// certificate's subject and the URIs configured for it.
func (d *Daemon) viciListAuthorities(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) *vici.Message {
	want := req.String("name")
	var out []*vici.Message
	if err := d.onLoop(func() {
		cur := d.creds.cur
		if cur == nil {
			return
		}
		for _, a := range cur.authorities {
			if want != "" && want != a.Name {
				continue
			}
			sec := vici.NewMessage()
			if a.CACert != nil && a.CACert.X509 != nil {
				sec.Set("cacert", identity.DNString(a.CACert.X509.RawSubject))
			}
			crl, ocsp := make([]string, 0, len(a.CRLURIs)), make([]string, 0, len(a.OCSPURIs))
			for _, u := range a.CRLURIs {
				crl = append(crl, u.Text)
			}
			for _, u := range a.OCSPURIs {
				ocsp = append(ocsp, u.Text)
			}
			sec.SetList("crl_uris", crl).SetList("ocsp_uris", ocsp)
			if a.CertURIBase.Text != "" {
				sec.Set("cert_uri_base", a.CertURIBase.Text)
			}
			out = append(out, vici.NewMessage().SetSection(a.Name, sec))
		}
	}); err != nil {
		return vici.Failure(err.Error())
	}
	for _, m := range out {
		emit("list-authority", m)
	}
	return nil
}

func (d *Daemon) viciListCerts(_ context.Context, req *vici.Message, emit func(string, *vici.Message)) *vici.Message {
	if t := req.String("type"); t != "" && t != "X509" && t != "ANY" {
		return nil // cygnet holds X.509 certificates only
	}
	flagWant := req.String("flag")
	type cert struct {
		der      []byte
		flag     string
		hasPrivK bool
	}
	var certs []cert
	if err := d.onLoop(func() {
		cur := d.creds.cur
		if cur == nil || cur.creds == nil {
			return
		}
		seen := map[string]bool{}
		add := func(list []*config.Cert, flag string) {
			for _, c := range list {
				if c.X509 == nil || seen[string(c.X509.Raw)] {
					continue
				}
				seen[string(c.X509.Raw)] = true
				certs = append(certs, cert{der: c.X509.Raw, flag: flag, hasPrivK: cur.creds.PrivateKeyFor(c.X509.PublicKey) != nil})
			}
		}
		add(cur.creds.Certs, "NONE")
		add(cur.creds.CACerts, "CA")
	}); err != nil {
		return vici.Failure(err.Error())
	}
	for _, c := range certs {
		if flagWant != "" && flagWant != "ANY" && flagWant != c.flag {
			continue
		}
		m := vici.NewMessage().Set("type", "X509").Set("flag", c.flag)
		if c.hasPrivK {
			m.Set("has_privkey", "yes")
		}
		m.Set("data", string(c.der))
		emit("list-cert", m)
	}
	return nil
}
