package daemon

// directIKE is a packet path that can hand the IKE messages it receives on
// the IKE port (500) to a handler on the goroutine that received them.
// The handler reports whether it took the message; when it did not, the
// message goes to IKE() as before.
type directIKE interface {
	SetIKEHandler(h func(IKEDatagram) bool)
}

// stepIKE handles one IKE message on the calling goroutine (the data plane's
// receiver of the IKE port) as one step of the event loop, when the loop is
// idle: it takes the loop's lock, so the IKE state still has one owner at a
// time. Handing every message to the loop over a channel woke a second
// goroutine per datagram, and the Go scheduler a second thread that found
// nothing to do: unpinned, a third of the responder's CPU per SA.
//
// It returns false, without waiting, when the loop is busy; the message
// then queues for the loop as before. Waiting here instead would block the
// data plane's receiver behind the loop, which may be waiting for the
// data plane itself (shutdown).
func (d *Daemon) stepIKE(dg IKEDatagram) bool {
	if !d.loop.TryLock() {
		return false
	}
	defer d.loop.Unlock()
	// What queued while the loop was busy came first.
	for drained := false; !drained; {
		select {
		case q := <-d.path.IKE():
			d.handleIKE(q)
		default:
			drained = true
		}
	}
	d.handleIKE(dg)
	d.guardIKE("IKE events", d.afterStep)
	// The loop's timer is set for the deadlines it knew of; a step here
	// that brings one forward (a retransmission, a DPD) must re-arm it.
	if dl := d.mgr.NextDeadline(); !dl.IsZero() && dl.Before(d.armed) {
		select {
		case d.rearm <- struct{}{}:
		default:
		}
	}
	return true
}
