package daemon

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/dataplane"
)

// panicCounters count the panics the daemon recovered from, by what it was
// handling: an IKE message or timer (ike), a control request (control).
type panicCounters struct {
	ike, control atomic.Uint64
}

// recovered logs a recovered panic with its stack and counts it. It is
// called from a deferred function with recover's value; r == nil means no
// panic happened.
func (d *Daemon) recovered(r any, ctr *atomic.Uint64, what string, attrs ...any) bool {
	if r == nil {
		return false
	}
	ctr.Add(1)
	attrs = append(attrs, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	d.log.Error("recovered from a panic while handling "+what+"; the daemon keeps running", attrs...)
	return true
}

// handleIKE hands one received IKE message to the state machine. A panic
// there costs that message, not the daemon and every other tunnel.
func (d *Daemon) handleIKE(dg IKEDatagram) {
	defer func() {
		d.recovered(recover(), &d.panics.ike, "an IKE message", "remote", dg.Remote.String(), "local", dg.Local.String(), "len", len(dg.Data))
	}()
	d.mgr.HandleIKE(dg.Data, dg.Local, dg.Remote)
}

// guardIKE runs one of the event loop's other IKE steps (timers, lifetime
// and data plane events) with the same protection as handleIKE.
func (d *Daemon) guardIKE(what string, f func()) {
	defer func() { d.recovered(recover(), &d.panics.ike, what) }()
	f()
}

// dispatchGuarded answers one control request on the event loop; a panic
// answers it with an error instead of leaving the caller waiting.
func (d *Daemon) dispatchGuarded(call ctlCall) {
	defer func() {
		if d.recovered(recover(), &d.panics.control, "a control request", "command", call.req.Command) {
			// reply has room for one answer; if the panic came after
			// it was given, the caller has it already.
			select {
			case call.reply <- control.Response{Error: fmt.Sprintf("internal error handling %q (logged)", call.req.Command)}:
			default:
			}
		}
	}()
	d.dispatch(call)
}

// statsReport is what the stats command prints: a summary under the names
// scripts use (counts of SAs, traffic, drops by reason, recovered panics),
// then every IKE and data plane counter.
type statsReport struct {
	IKESAs     int             `json:"ike_sas"`
	ChildSAs   int             `json:"child_sas"`
	PacketsIn  uint64          `json:"packets_in"`
	PacketsOut uint64          `json:"packets_out"`
	BytesIn    uint64          `json:"bytes_in"`
	BytesOut   uint64          `json:"bytes_out"`
	Drops      statsDrops      `json:"drops"`
	Panics     statsPanics     `json:"panics"`
	IKE        json.RawMessage `json:"ike"`
	Dataplane  dataplane.Stats `json:"dataplane"`
	Runtime    runtimeStats    `json:"runtime"`
}

// statsDrops are the data plane's drops by reason; other is every reason
// not named (sequence or lifetime exhausted, too big, send errors, ...).
type statsDrops struct {
	Replay    uint64 `json:"replay"`
	ICV       uint64 `json:"icv"`
	NoSA      uint64 `json:"no_sa"`
	Policy    uint64 `json:"policy"`
	Malformed uint64 `json:"malformed"`
	Other     uint64 `json:"other"`
}

type statsPanics struct {
	IKE     uint64 `json:"ike"`
	Control uint64 `json:"control"`
}

// stats builds the stats command's answer.
func (d *Daemon) stats() ([]byte, error) {
	dp := d.path.Stats()
	r := statsReport{
		PacketsIn: dp.InPackets, PacketsOut: dp.OutPackets, BytesIn: dp.InBytes, BytesOut: dp.OutBytes,
		Drops: statsDrops{
			Replay: dp.Replay, ICV: dp.AuthFailed, NoSA: dp.NoSA, Policy: dp.PolicyMismatch + dp.Discarded,
			Malformed: dp.Malformed,
			Other:     dp.OtherDrops(),
		},
		Panics:    statsPanics{IKE: d.panics.ike.Load(), Control: d.panics.control.Load()},
		IKE:       d.mgr.StatsJSON(),
		Dataplane: dp,
		Runtime:   readRuntimeStats(),
	}
	for _, sa := range d.mgr.SAs() {
		r.IKESAs++
		r.ChildSAs += len(sa.Children())
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return b, nil
}

// runtimeStats is the daemon's own memory, for stats: what a spoofed message
// costs shows in total_alloc_bytes (everything ever allocated, so its growth
// per message is the honest measure) and in heap_alloc_bytes (live now).
type runtimeStats struct {
	HeapAllocBytes  uint64 `json:"heap_alloc_bytes"`
	TotalAllocBytes uint64 `json:"total_alloc_bytes"`
	Goroutines      int    `json:"goroutines"`
}

func readRuntimeStats() runtimeStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtimeStats{HeapAllocBytes: ms.HeapAlloc, TotalAllocBytes: ms.TotalAlloc, Goroutines: runtime.NumGoroutine()}
}
