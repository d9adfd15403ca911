package ike

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"
)

// scaleGateway is a gateway Manager driven as the daemon drives it: after
// every datagram it asks NextDeadline and runs Tick, which is where a scan
// over all SAs would show.
type scaleGateway struct {
	t     testing.TB
	clock *fakeClock
	gw    *peer
	pools *leasePools
	n     int // clients connected so far
}

func newScaleGateway(t *testing.T) *scaleGateway {
	clock := &fakeClock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	pools := newPools(t, "10.128.0.0/16")
	gw := newPeer("gw", "10.99.0.1", gatewayConfig(t, "pool0"), clock, pools, 1)
	gw.logs = nil
	gw.m.log = discardLogger()
	return &scaleGateway{t: t, clock: clock, gw: gw, pools: pools}
}

// connect sets up one more client (its own Manager, identity and address)
// and returns the time the gateway spent on it.
func (s *scaleGateway) connect() time.Duration {
	t := s.t
	i := s.n
	s.n++
	cfg := clientConfig(t.(*testing.T), i, "0.0.0.0")
	c := newPeer("client", fmt.Sprintf("10.%d.%d.%d", 100+i>>16, i>>8&255, i&255), cfg, s.clock, nil, byte(i))
	c.m.log = discardLogger()
	if err := c.m.Initiate("home", "net"); err != nil {
		t.Fatal(err)
	}
	var spent time.Duration
	for range 20 {
		if len(c.out) == 0 {
			break
		}
		q := c.out
		c.out = nil
		for _, d := range q {
			start := time.Now()
			s.gw.m.HandleIKE(d.b, d.remote, d.local)
			s.gw.m.NextDeadline()
			s.gw.m.Tick()
			spent += time.Since(start)
		}
		q = s.gw.out
		s.gw.out = nil
		for _, d := range q {
			c.m.HandleIKE(d.b, d.remote, d.local)
		}
	}
	s.gw.childUp, s.gw.keys = nil, map[uint32][4][]byte{}
	sa := onlySA(t, c)
	if sa.State() != "ESTABLISHED" || len(sa.Children()) != 1 || len(sa.LocalVIPs()) != 1 {
		t.Fatalf("client %d: IKE SA %s, %d Child SAs, virtual IPs %v", i, sa.State(), len(sa.Children()), sa.LocalVIPs())
	}
	return spent
}

// batch connects n clients and returns the gateway's median time per
// client: on a shared machine a few handshakes preempted by other work
// would move a mean, while a cost that grows with the SAs held moves every
// handshake.
func (s *scaleGateway) batch(n int) time.Duration {
	spent := make([]time.Duration, n)
	for i := range spent {
		spent[i] = s.connect()
	}
	slices.Sort(spent)
	return spent[n/2]
}

// TestGatewayCostFlatWithManySAs: the gateway's work to set up client
// number 10,000 is no more than for client number 100 (with generous
// slack for a shared machine). Before the timer heap and the peer index,
// every datagram cost a pass over all SAs (NextDeadline, Tick, the
// uniqueness check, the adoption of replaced Child SAs), and client 10,000
// took several times as long as client 100.
func TestGatewayCostFlatWithManySAs(t *testing.T) {
	if testing.Short() {
		t.Skip("sets up 10,000 IKE SAs")
	}
	total := 10000
	if v := os.Getenv("CYGNET_SCALE_CLIENTS"); v != "" {
		fmt.Sscan(v, &total)
	}
	s := newScaleGateway(t)
	const sample = 100
	s.batch(100)
	at100 := s.batch(sample)
	for s.n < total {
		s.connect()
	}
	atN := s.batch(sample)
	if got := len(s.gw.m.SAs()); got != total+sample {
		t.Fatalf("gateway holds %d IKE SAs, want %d", got, total+sample)
	}
	if p := s.pools.set.Pool("pool0"); p.Online() != total+sample {
		t.Fatalf("pool has %d online leases, want %d", p.Online(), total+sample)
	}
	t.Logf("gateway time per handshake (median): %v at 100 SAs, %v at %d SAs (ratio %.2f)", at100, atN, total, float64(atN)/float64(at100))
	if atN > 2*at100 {
		t.Errorf("handshake at %d SAs took %v, at 100 SAs %v: more than twice as long", total, atN, at100)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
