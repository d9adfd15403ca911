package daemon

import (
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/audit"
	"github.com/cygnet-ipsec/cygnet/ike"
)

// auditEvent writes an SA event to the audit stream (--audit).
func (d *Daemon) auditEvent(ev ike.Event) {
	if d.audit == nil || ev.IKE == nil {
		return
	}
	now := time.Now()
	sa := ListSAs([]*ike.IKESA{ev.IKE}, d.path, now)[0]
	// the IKE SA's own record has its Child SAs; a Child SA's record the one
	sa.ChildSAs = nil
	r := audit.Record{Conn: ev.IKE.Config().Name, Reason: ev.Reason, IKE: &sa}
	if ev.Child != nil {
		c := childStatus(ev.Child, d.path, now)
		r.Child = &c
	}
	switch ev.Kind {
	case ike.EventIKEUp:
		r.Event = audit.IKEUp
	case ike.EventIKERekeyed:
		r.Event = audit.IKERekeyed
	case ike.EventIKEDown:
		r.Event = audit.IKEDown
	case ike.EventIKEFailed:
		r.Event = audit.IKEFailed
		if strings.Contains(ev.Reason, "AUTHENTICATION_FAILED") {
			r.Event = audit.AuthFailed
		}
	case ike.EventChildUp:
		r.Event = audit.ChildUp
	case ike.EventChildRekeyed:
		r.Event = audit.ChildRekeyed
	case ike.EventChildDown:
		r.Event = audit.ChildDown
	default:
		return
	}
	d.writeAudit(r)
}

// auditReload records a reload: what it changed, or why it was refused.
func (d *Daemon) auditReload(ch connChanges, err error) {
	if d.audit == nil {
		return
	}
	if err != nil {
		d.writeAudit(audit.Record{Event: audit.ReloadFailed, Error: err.Error()})
		return
	}
	d.writeAudit(audit.Record{Event: audit.Reload, Added: ch.Added, Removed: ch.Removed, Changed: ch.Changed})
}

func (d *Daemon) writeAudit(r audit.Record) {
	if err := d.audit.Write(r); err != nil {
		d.log.Error("writing the audit stream failed", "event", r.Event, "err", err)
	}
}
