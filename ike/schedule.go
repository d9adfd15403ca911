package ike

import (
	"container/heap"
	"slices"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike/identity"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

// A gateway holds thousands of IKE SAs, so nothing the Manager does per
// message or per timer may visit all of them: Tick and NextDeadline use a
// min-heap of the SAs' next deadlines, and the uniqueness checks, the
// INITIAL_CONTACT decision and the adoption of replaced Child SAs find the
// SAs of one peer through an index by identity.
//
// The heap's key for an SA may be earlier than its real next deadline (a
// spurious tick does nothing and reschedules it), never later. Whatever can
// bring a deadline forward marks the SA dirty: registering it, sending a
// request, handling a message, or ticking it. HandleIKE, Tick and
// NextDeadline put the marked SAs back into the heap (Tick before it looks
// at it), so NextDeadline is always exact, also after an operator command.

// schedEntry is an IKE SA's place in the Manager's timer heap.
type schedEntry struct {
	at    time.Time // heap key; zero when the SA is not in the heap
	idx   int       // index in the heap, -1 when absent
	dirty bool      // waiting in Manager.dirty for a reschedule
	peer  string    // key in Manager.byPeer, "" when not indexed
}

// timerHeap orders IKE SAs by their next deadline.
type timerHeap []*IKESA

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].sched.at.Before(h[j].sched.at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].sched.idx, h[j].sched.idx = i, j
}
func (h *timerHeap) Push(x any) {
	sa := x.(*IKESA)
	sa.sched.idx = len(*h)
	*h = append(*h, sa)
}
func (h *timerHeap) Pop() any {
	old := *h
	sa := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	sa.sched.idx = -1
	return sa
}

// touch marks sa for rescheduling at the end of the current entry point.
func (m *Manager) touch(sa *IKESA) {
	if sa.sched.dirty || sa.state == stateDead {
		return
	}
	sa.sched.dirty = true
	m.dirty = append(m.dirty, sa)
}

// flush puts the dirty SAs back into the heap at their next deadlines.
func (m *Manager) flush() {
	for i := 0; i < len(m.dirty); i++ { // reschedule may not add, but be safe
		sa := m.dirty[i]
		sa.sched.dirty = false
		m.reschedule(sa)
	}
	clear(m.dirty)
	m.dirty = m.dirty[:0]
}

func (m *Manager) reschedule(sa *IKESA) {
	var d time.Time
	if sa.state != stateDead {
		d = sa.nextDeadline()
	}
	switch {
	case d.IsZero():
		m.unschedule(sa)
	case sa.sched.idx >= 0 && sa.sched.idx < len(m.timers) && m.timers[sa.sched.idx] == sa:
		sa.sched.at = d
		heap.Fix(&m.timers, sa.sched.idx)
	default:
		sa.sched.at = d
		heap.Push(&m.timers, sa)
	}
}

func (m *Manager) unschedule(sa *IKESA) {
	if i := sa.sched.idx; i >= 0 && i < len(m.timers) && m.timers[i] == sa {
		heap.Remove(&m.timers, i)
	}
	sa.sched.idx, sa.sched.at = -1, time.Time{}
}

// tickDue ticks the SAs whose deadline has come, earliest first.
func (m *Manager) tickDue(now time.Time) {
	for len(m.timers) > 0 && !m.timers[0].sched.at.After(now) {
		sa := heap.Pop(&m.timers).(*IKESA)
		sa.sched.at = time.Time{}
		sa.tick(now)
		m.touch(sa)
	}
}

// timersDeadline is the earliest deadline in the heap (zero: none).
func (m *Manager) timersDeadline() time.Time {
	if len(m.timers) == 0 {
		return time.Time{}
	}
	return m.timers[0].sched.at
}

// peerKey maps an identity to a bucket key that every identity Equal to it
// shares (Equal ignores case for FQDNs and e-mail addresses, and DNs
// compare by attribute); distinct identities may share one, so users of
// the index still compare with Equal or Matches.
func peerKey(id identity.ID) string {
	var s string
	switch id.Type {
	case wire.ID_DER_ASN1_DN:
		s = strings.ToLower(identity.DNString(id.Data))
	case wire.ID_FQDN, wire.ID_RFC822_ADDR:
		s = strings.ToLower(string(id.Data))
	default:
		s = string(id.Data)
	}
	return string(rune('0'+int(id.Type))) + ":" + s
}

// indexPeer files an IKE SA that came up under its peer's identity. Each
// identity keeps a slice, not a set: on a gateway almost every identity
// has one IKE SA, and a Go map per client would cost several hundred
// octets where a one-element slice costs eight.
func (m *Manager) indexPeer(sa *IKESA) {
	if sa.sched.peer != "" {
		return
	}
	k := peerKey(sa.RemoteID)
	m.byPeer[k] = append(m.byPeer[k], sa)
	sa.sched.peer = k
}

func (m *Manager) unindexPeer(sa *IKESA) {
	if sa.sched.peer == "" {
		return
	}
	if list := m.byPeer[sa.sched.peer]; list != nil {
		if i := slices.Index(list, sa); i >= 0 {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(m.byPeer, sa.sched.peer)
		} else {
			m.byPeer[sa.sched.peer] = list
		}
	}
	sa.sched.peer = ""
}

// peerSAs returns the established (or once established) IKE SAs whose peer
// identity may equal id, in the order they came up: a copy, which the
// caller may hold while SAs come and go.
func (m *Manager) peerSAs(id identity.ID) []*IKESA {
	return slices.Clone(m.byPeer[peerKey(id)])
}
