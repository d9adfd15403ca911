package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/loadtest"
)

// cmdLoadTest runs `cygnet load-test`: many remote-access clients from one
// process against a gateway (see package loadtest).
func cmdLoadTest(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("load-test")
	gw := fs.String("gateway", "", "gateway address[:port]")
	local := fs.String("local", "", "source address (default: the route's)")
	clients := fs.Int("clients", 1, "clients to set up")
	rate := fs.Float64("rate", 0, "new handshakes per second (0: no limit beyond --concurrency)")
	conc := fs.Int("concurrency", 10, "handshakes in flight at most")
	auth := fs.String("auth", "psk", "client authentication: psk, cert or eap-mschapv2")
	caCert := fs.String("ca-cert", "", "CA certificate (PEM) that issues the clients' certificates (with --auth cert), or that the gateway's chain leads to (with --auth eap-mschapv2)")
	caKey := fs.String("ca-key", "", "that CA's private key (PEM; with --auth cert)")
	eapPassword := fs.String("eap-password", "", "every client's EAP password (with --auth eap-mschapv2; the EAP identity is the client's identity)")
	idPattern := fs.String("id-pattern", "c%d@load.test", "client identities, one %d")
	remoteID := fs.String("remote-id", "%any", "the gateway's identity")
	pskFlag := fs.String("psk", "", "pre-shared key (with --auth psk)")
	ikeProps := fs.String("ike-proposals", "", "IKE proposals (default: cygnet's)")
	espProps := fs.String("esp-proposals", "", "ESP proposals (default: cygnet's)")
	traffic := fs.Int("traffic", 0, "tunnels that pass one ping each")
	target := fs.String("traffic-target", "", "IPv4 address to ping through the tunnels")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on the whole run")
	noDelete := fs.Bool("no-delete", false, "leave the IKE SAs up at the gateway when done (no DELETE)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	debug := fs.Bool("debug", false, "log IKE to stderr")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	cfg := loadtest.Config{Clients: *clients, Rate: *rate, Concurrency: *conc, Auth: loadtest.AuthKind(*auth),
		IDPattern: *idPattern, RemoteID: *remoteID, PSK: []byte(*pskFlag), CACert: *caCert, CAKey: *caKey, EAPPassword: []byte(*eapPassword), IKEProposals: *ikeProps, ESPProposals: *espProps,
		Traffic: *traffic, Timeout: *timeout, NoDelete: *noDelete}
	var err error
	if cfg.Gateway, err = parseHostPort(*gw); err != nil {
		return usageError{fmt.Sprintf("--gateway: %v", err)}
	}
	if *local != "" {
		if cfg.Local, err = netip.ParseAddr(*local); err != nil {
			return usageError{fmt.Sprintf("--local: %v", err)}
		}
	}
	if *target != "" {
		if cfg.TrafficTarget, err = netip.ParseAddr(*target); err != nil {
			return usageError{fmt.Sprintf("--traffic-target: %v", err)}
		}
	}
	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	res, err := loadtest.Run(cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("load-test result: %w", err)
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintf(stdout, "clients %d: established %d, failed %d in %.2f s (%.1f handshakes/s)\n",
			res.Clients, res.Established, res.Failed, res.Seconds, res.PerSecond)
		fmt.Fprintf(stdout, "latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyMaxMs)
		if cfg.Traffic > 0 {
			fmt.Fprintf(stdout, "traffic: %d of %d sampled tunnels passed a ping\n", res.TrafficPassed, res.TrafficSent)
		}
		reasons := make([]string, 0, len(res.FailureReasons))
		for r := range res.FailureReasons {
			reasons = append(reasons, r)
		}
		slices.Sort(reasons)
		for _, r := range reasons {
			fmt.Fprintf(stdout, "failed %d: %s\n", res.FailureReasons[r], r)
		}
	}
	if res.Failed > 0 || res.TrafficPassed < res.TrafficSent {
		// The figures are out; the exit status says the run failed.
		return fmt.Errorf("%d of %d clients failed, %d of %d sampled tunnels passed traffic", res.Failed, res.Clients, res.TrafficPassed, res.TrafficSent)
	}
	return nil
}

func parseHostPort(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, 500), nil
}
