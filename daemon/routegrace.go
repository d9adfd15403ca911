package daemon

import "github.com/cygnet-ipsec/cygnet/ike"

// routeFlusher is a packet path that keeps a route for a while after the
// last Child SA that needed it went (packetPath.routeGrace).
type routeFlusher interface{ FlushRoutes() }

// operatorDown reports whether ev is a Child or IKE SA that the operator
// (terminate, a connection unloaded or removed by a reload) or the
// daemon's shutdown took down. Their routes go at once: the grace is for
// Child SAs that peers set up and delete, not for tunnels a user takes
// down and then expects gone from `ip route`. The reasons are the IKE
// manager's (ike/delete.go, ike/manager.go).
func operatorDown(ev ike.Event) bool {
	if ev.Kind != ike.EventChildDown && ev.Kind != ike.EventIKEDown {
		return false
	}
	return ev.Reason == "terminated by operator" || ev.Reason == "daemon shutting down"
}

// flushRoutes takes the kept routes out of the kernel now.
func (d *Daemon) flushRoutes() {
	if f, ok := d.path.(routeFlusher); ok {
		f.FlushRoutes()
	}
}
