package ike

import (
	"runtime"
	"testing"
)

// maxGatewayHeapPerClient bounds the heap a gateway keeps per connected
// remote-access client in the IKE layer: the IKE SA, its Child SA, keys,
// lease and indexes. It was 6.5 KiB before the IKE SA dropped its
// handshake state and idle cipher state after IKE_AUTH (and no longer
// pinned the client's IKE_SA_INIT datagram through the chosen proposal's
// SPI); it is about 3.4 KiB now.
const maxGatewayHeapPerClient = 4096

// TestGatewayHeapPerClient: a gateway holding 1,000 more road warriors
// (each with a virtual IP and one Child SA, set up through the same
// messages as on the wire) keeps at most maxGatewayHeapPerClient octets of
// live heap per client. The clients' own Managers are garbage once they
// are connected, so what stays is the gateway's.
func TestGatewayHeapPerClient(t *testing.T) {
	s := newScaleGateway(t)
	s.batch(100) // maps and the timer heap past their first growth steps
	live := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := live()
	const clients = 1000
	s.batch(clients)
	after := live()
	if got := len(s.gw.m.SAs()); got != 100+clients {
		t.Fatalf("gateway holds %d IKE SAs, want %d", got, 100+clients)
	}
	per := (int64(after) - int64(before)) / clients
	t.Logf("gateway heap per connected client: %d octets", per)
	if per > maxGatewayHeapPerClient {
		t.Errorf("gateway keeps %d octets of heap per client, more than %d", per, maxGatewayHeapPerClient)
	}
	runtime.KeepAlive(s)
}
