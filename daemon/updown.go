package daemon

import (
	"context"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/updown"
)

// updownTimeout bounds one run of an updown script.
const updownTimeout = 30 * time.Second

// defaultPath is the scripts' PATH when the daemon has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// updowns runs the children's updown scripts (swanctl.conf
// children.<name>.updown) for the event loop, as strongSwan's updown plugin
// does: up when a Child SA is installed, down when it is deleted. It is
// called on the event loop only; the scripts run on the Runner's goroutines.
//
// A run is tied to a policy record: (child name, selectors). The first
// Child SA of a record runs "up", the last one to leave it runs "down"; a
// Child SA that joins a record still up runs nothing. That is what a rekey
// or a make-before-break reauthentication is (the new SA is up before the
// old one goes), whatever events package ike reports it with.
type updowns struct {
	run   *updown.Runner
	log   *slog.Logger
	path  string
	iface func(me, peer netip.Addr) string
	// installed tells whether a Child SA is still in the SAD (tests fake it).
	installed func(*ike.ChildSA) bool

	hostAccess map[*ike.ChildConfig]bool

	records map[updownKey]*updownRecord
	member  map[*ike.ChildSA]*updownRecord
	reqids  map[string]*reqidRef // by selectors, shared as strongSwan's reqids are
	lastReq uint32
}

type updownKey struct {
	child  string
	policy string
}

// updownRecord is one policy whose up script ran: what its down run reuses.
type updownRecord struct {
	key        updownKey
	command    string
	hostAccess bool
	reqid      uint32
	queue      uint64 // runs of the same selectors stay in order
	children   []*ike.ChildSA
	// iface is the interface towards the peer found by the up run (on the
	// runner's goroutine) and reported again by the down run, queued after it.
	iface string
}

type reqidRef struct {
	id   uint32
	refs int
}

func newUpdowns(log *slog.Logger) *updowns {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	return &updowns{
		run:        updown.NewRunner(updown.RunnerConfig{Timeout: updownTimeout, Log: log}),
		log:        log,
		path:       path,
		iface:      interfaceTowards,
		installed:  func(c *ike.ChildSA) bool { return c.State() == "INSTALLED" },
		hostAccess: map[*ike.ChildConfig]bool{},
		records:    map[updownKey]*updownRecord{},
		member:     map[*ike.ChildSA]*updownRecord{},
		reqids:     map[string]*reqidRef{},
	}
}

// configure learns the children's hostaccess options, which ike.ChildConfig
// does not carry, for a newly loaded configuration. Running Child SAs keep
// what their up run recorded.
func (u *updowns) configure(cfg *config.Config, conns []*ike.PeerConfig) {
	m := map[*ike.ChildConfig]bool{}
	for _, pc := range conns {
		for _, c := range cfg.Connections {
			if c.Name != pc.Name {
				continue
			}
			for _, ch := range c.Children {
				if cc := pc.Child(ch.Name); cc != nil && ch.HostAccess {
					m[cc] = true
				}
			}
		}
	}
	// Child SAs queued or rekeyed from the old configuration still use it.
	for cc, v := range u.hostAccess {
		if _, ok := m[cc]; !ok && v {
			m[cc] = v
		}
	}
	u.hostAccess = m
}

// event maps one IKE event to script runs: a Child SA installed or deleted.
// Every other event, a Child SA rekey among them, runs no script.
func (u *updowns) event(ev ike.Event) {
	c := ev.Child
	if c == nil || ev.IKE == nil {
		return
	}
	switch ev.Kind {
	case ike.EventChildUp:
		u.up(ev.IKE, c)
	case ike.EventChildDown:
		u.down(ev.IKE, c)
	case ike.EventChildRekeyed:
		// The new Child SA joins its predecessor's record, so that its
		// deletion later runs "down"; the rekey itself runs nothing.
		if u.installed(c) {
			if r := u.records[keyOf(c)]; r != nil {
				u.join(r, c)
			}
		}
	}
}

func keyOf(c *ike.ChildSA) updownKey {
	return updownKey{child: c.Name, policy: policyString(c)}
}

// policyString names a Child SA's selectors, the identity of its policies.
func policyString(c *ike.ChildSA) string {
	var b strings.Builder
	for _, ts := range c.LocalTS {
		b.WriteString(ike.FormatTS(ts))
		b.WriteByte(' ')
	}
	b.WriteString("===")
	for _, ts := range c.RemoteTS {
		b.WriteByte(' ')
		b.WriteString(ike.FormatTS(ts))
	}
	return b.String()
}

func (u *updowns) join(r *updownRecord, c *ike.ChildSA) {
	if u.member[c] == r {
		return
	}
	r.children = append(r.children, c)
	u.member[c] = r
	u.log.Debug("updown: Child SA takes over a policy already up, no script run", "child", c.Name, "uniqueid", c.UniqueID, "reqid", r.reqid)
}

// prune drops members that were deleted without an event reaching us.
func (u *updowns) prune(r *updownRecord) {
	r.children = slices.DeleteFunc(r.children, func(c *ike.ChildSA) bool {
		if u.installed(c) {
			return false
		}
		delete(u.member, c)
		return true
	})
}

func (u *updowns) up(sa *ike.IKESA, c *ike.ChildSA) {
	if c.Config == nil || c.Config.Updown == "" {
		return
	}
	key := keyOf(c)
	if r := u.records[key]; r != nil && len(r.children) > 0 {
		last := r.children[len(r.children)-1]
		u.prune(r)
		if len(r.children) > 0 {
			u.join(r, c)
			return
		}
		// Every Child SA of the record went without a delete event: its
		// down run is still owed, before this up run.
		u.log.Warn("updown: Child SA went away without a delete event, running its down script now", "child", last.Name, "uniqueid", last.UniqueID)
		u.finish(r, last.IKE, last)
	}
	r := &updownRecord{key: key, command: c.Config.Updown, hostAccess: u.hostAccess[c.Config], children: []*ike.ChildSA{c}}
	ref := u.reqids[key.policy]
	if ref == nil {
		u.lastReq++
		ref = &reqidRef{id: u.lastReq}
		u.reqids[key.policy] = ref
	}
	ref.refs++
	r.reqid = ref.id
	h := fnv.New64a()
	h.Write([]byte(key.policy))
	r.queue = h.Sum64()
	u.records[key] = r
	u.member[c] = r

	ev := u.snapshot(sa, c, r, true)
	u.run.Do(r.queue, func() {
		r.iface = u.iface(ev.Me.Addr(), ev.Peer.Addr())
		ev.Interface = r.iface
		u.exec(r.command, ev, c.UniqueID)
	})
}

func (u *updowns) down(sa *ike.IKESA, c *ike.ChildSA) {
	r := u.member[c]
	if r == nil {
		return
	}
	delete(u.member, c)
	r.children = slices.DeleteFunc(r.children, func(x *ike.ChildSA) bool { return x == c })
	u.prune(r)
	if len(r.children) > 0 {
		u.log.Debug("updown: Child SA deleted, its policy stays up with another, no script run", "child", c.Name, "uniqueid", c.UniqueID)
		return
	}
	u.finish(r, sa, c)
}

// finish retires a record whose last Child SA, c, is gone: its reqid is
// released and the down run queued after the up run.
func (u *updowns) finish(r *updownRecord, sa *ike.IKESA, c *ike.ChildSA) {
	if u.records[r.key] == r {
		delete(u.records, r.key)
	}
	if ref := u.reqids[r.key.policy]; ref != nil && ref.id == r.reqid {
		if ref.refs--; ref.refs <= 0 {
			delete(u.reqids, r.key.policy)
		}
	}
	ev := u.snapshot(sa, c, r, false)
	u.run.Do(r.queue, func() {
		ev.Interface = r.iface
		u.exec(r.command, ev, c.UniqueID)
	})
}

// snapshot copies what the script reports, on the event loop, so that the
// runs never read IKE state.
func (u *updowns) snapshot(sa *ike.IKESA, c *ike.ChildSA, r *updownRecord, up bool) *updown.Event {
	return &updown.Event{
		Up: up, Name: c.Name, ReqID: r.reqid, Protocol: c.Protocol, IKEUniqueID: sa.UniqueID,
		Me: sa.Local, Peer: sa.Remote, MyID: sa.LocalID.String(), PeerID: sa.RemoteID.String(),
		LocalTS: slices.Clone(c.LocalTS), RemoteTS: slices.Clone(c.RemoteTS),
		Encap: c.Encap, HostAccess: r.hostAccess,
	}
}

// exec runs the script once per selector pair, as strongSwan does.
func (u *updowns) exec(command string, ev *updown.Event, uniqueID uint32) {
	for _, p := range ev.Pairs() {
		env := ev.Env(p, u.path)
		verb := updown.Verb(ev.Up, p.Local, ev.Me.Addr())
		u.run.Exec(command, env, "child", ev.Name, "uniqueid", uniqueID, "verb", verb)
	}
}

// wait lets queued runs finish, at most until timeout; the daemon calls it
// on the way out so that down scripts clean up after the last Child SAs.
func (u *updowns) wait(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := u.run.Wait(ctx); err != nil {
		u.log.Warn("updown scripts still running at exit, not waiting for them", "waited", timeout)
	}
}

// interfaceTowards names the interface of the route to peer, which
// strongSwan reports as PLUTO_INTERFACE; "" when there is none.
func interfaceTowards(me, peer netip.Addr) string {
	if !peer.IsValid() {
		return ""
	}
	routes, err := netlink.RouteGetWithOptions(net.IP(peer.Unmap().AsSlice()), &netlink.RouteGetOptions{SrcAddr: srcIP(me)})
	if err != nil || len(routes) == 0 {
		routes, err = netlink.RouteGet(net.IP(peer.Unmap().AsSlice()))
		if err != nil || len(routes) == 0 {
			return ""
		}
	}
	link, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return ""
	}
	return link.Attrs().Name
}

func srcIP(a netip.Addr) net.IP {
	if !a.IsValid() || a.IsUnspecified() {
		return nil
	}
	return net.IP(a.Unmap().AsSlice())
}
