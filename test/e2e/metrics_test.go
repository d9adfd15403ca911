package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// scrape fetches /metrics from addr inside namespace ns.
func scrape(t *testing.T, ns, addr string) string {
	t.Helper()
	var conn net.Conn
	if err := testnet.InNamespace(ns, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("metrics: %v", err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, _, _ string) (net.Conn, error) { return conn, nil },
	}}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %v %s", err, resp.Status)
	}
	return string(b)
}

// metricValue reads one series (name and labels as the exposition format
// writes them) from a scrape.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("scrape lacks %s", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// TestMetrics scrapes cygnet's Prometheus metrics: byte and packet
// counters move with traffic through a tunnel, and an ESP packet captured
// on the wire and sent again from the peer's namespace is counted as a
// replay drop.
func TestMetrics(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	const addr = "127.0.0.1:9107"
	startCygnet(t, p.B, confB.Swanctl(), nil, "")
	a := startCygnetArgs(t, p.A, confA.Swanctl(), "--metrics", addr)
	capture := p.Capture(p.B)
	a.initiate("tun", "net")

	before := scrape(t, p.A, addr)
	if v := metricValue(t, before, `cygnet_ike_sas{state="ESTABLISHED"}`); v != 1 {
		t.Errorf("cygnet_ike_sas ESTABLISHED = %v, want 1", v)
	}
	if v := metricValue(t, before, `cygnet_ike_handshakes_total{role="initiator"}`); v != 1 {
		t.Errorf("initiator handshakes = %v, want 1", v)
	}
	if v := metricValue(t, before, `cygnet_ike_handshake_seconds_count`); v != 1 {
		t.Errorf("handshake latency observations = %v, want 1", v)
	}
	testnet.PingFrom(t, p.A, testnet.HostA, testnet.HostB, 5)
	after := scrape(t, p.A, addr)
	_, child := a.waitChild("net", time.Second)
	for _, s := range []struct {
		series string
		min    float64
		own    uint64
	}{
		{`cygnet_packets_total{direction="in"}`, 5, child.PacketsIn},
		{`cygnet_packets_total{direction="out"}`, 5, child.PacketsOut},
		{`cygnet_bytes_total{direction="in"}`, 5 * 84, child.BytesIn},
		{`cygnet_bytes_total{direction="out"}`, 5 * 84, child.BytesOut},
	} {
		d := metricValue(t, after, s.series) - metricValue(t, before, s.series)
		t.Logf("%s: %v -> %v (Child SA: %d)", s.series, metricValue(t, before, s.series), metricValue(t, after, s.series), s.own)
		if d < s.min {
			t.Errorf("%s grew by %v over 5 pings, want at least %v", s.series, d, s.min)
		}
	}

	// replay: one of B's ESP packets, sent again from B's namespace
	path, err := capture.Stop()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := testnet.ReadPcapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pc.LinkType != testnet.LinkTypeEthernet {
		t.Fatalf("capture: link type %d", pc.LinkType)
	}
	var pkt []byte
	srcB := testnet.UnderlayB.As4()
	for _, f := range pc.Packets {
		d := f.Data
		// Ethernet, IPv4, ESP, from B, captured whole
		if len(d) >= 14+20 && d[12] == 0x08 && d[13] == 0x00 && d[14+9] == unix.IPPROTO_ESP &&
			[4]byte(d[14+12:14+16]) == srcB && f.OrigLen == len(d) {
			pkt = d[14:]
			break
		}
	}
	if pkt == nil {
		t.Fatalf("no ESP packet from B in the capture of %d frames", len(pc.Packets))
	}
	replays := metricValue(t, after, `cygnet_drops_total{reason="replay"}`)
	if err := testnet.InNamespace(p.B, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: testnet.UnderlayA.As4()})
	}); err != nil {
		t.Fatalf("resending the ESP packet: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		now := metricValue(t, scrape(t, p.A, addr), `cygnet_drops_total{reason="replay"}`)
		if now == replays+1 {
			t.Logf("replay drops %v -> %v after resending one captured ESP packet (%d bytes)", replays, now, len(pkt))
			break
		}
		if now > replays+1 || time.Now().After(deadline) {
			t.Fatalf("replay drops %v -> %v after resending one ESP packet, want +1", replays, now)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := metricValue(t, scrape(t, p.A, addr), `cygnet_drops_total{reason="icv"}`); v != 0 {
		t.Errorf("icv drops = %v", v)
	}
}

// TestMetricsHandshakeFailure: a peer with another PSK makes the handshake
// fail, counted under reason authentication, and nothing is established.
func TestMetricsHandshakeFailure(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	confA, confB := pairConfigs("psk")
	confB.PSK = "another-preshared-key-0123456789"
	const addr = "127.0.0.1:9107"
	startCygnet(t, p.B, confB.Swanctl(), nil, "")
	a := startCygnetArgs(t, p.A, confA.Swanctl(), "--metrics", addr)
	if _, err := a.tryInitiate("tun", "net"); err == nil {
		t.Fatal("initiate with mismatched PSKs succeeded")
	}
	text := scrape(t, p.A, addr)
	if v := metricValue(t, text, `cygnet_ike_handshake_failures_total{reason="authentication"}`); v != 1 {
		t.Errorf("authentication failures = %v, want 1", v)
	}
	if v := metricValue(t, text, `cygnet_ike_handshakes_total{role="initiator"}`); v != 0 {
		t.Errorf("initiator handshakes = %v, want 0", v)
	}
}
