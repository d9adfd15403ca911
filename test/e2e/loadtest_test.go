package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/internal/testnet"
	"github.com/cygnet-ipsec/cygnet/loadtest"
)

// loadGatewayConf is a road-warrior gateway for load tests: PSK for every
// client identity, a pool, the gateway's subnet protected.
func loadGatewayConf(pool netip.Prefix) string {
	return fmt.Sprintf(`connections {
  rw {
    local_addrs = %s
    pools = load
    local {
      auth = psk
      id = gw.load.test
    }
    remote {
      auth = psk
    }
    children {
      net {
        local_ts = %s
      }
    }
  }
}
pools {
  load {
    addrs = %s
  }
}
secrets {
  ike-load {
    id = gw.load.test
    secret = load-test-psk-0123456789
  }
}
`, testnet.UnderlayB, testnet.SubnetB, pool)
}

// loadCharonConf raises the DoS thresholds: every client comes from the
// one address of the load generator, as behind a carrier-grade NAT.
const loadCharonConf = `charon {
  cookie_threshold = 100000
  cookie_threshold_ip = 100000
  block_threshold = 100000
  init_limit_half_open = 100000
}
`

// procStat returns a process's CPU time (user+system) and resident memory.
func procStat(t *testing.T, pid int) (cpu time.Duration, rss int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which ends with the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz, pages * int64(os.Getpagesize())
}

// TestLoadTest1000Clients: `cygnet load-test` in one namespace sets up
// 1,000 PSK road warriors against a cygnet gateway with a pool in the
// other: none fails, each gets a distinct address from the pool, the
// gateway's list-pools shows 1,000 online leases, and pings sealed with a
// sample of the tunnels' keys come back through them.
func TestLoadTest1000Clients(t *testing.T) {
	testnet.RequireRoot(t)
	clients, sample := 1000, 20
	pool := netip.MustParsePrefix("10.200.0.0/21")
	// The 10,000-client benchmark (docs/PERFORMANCE.md) runs this test
	// with CYGNET_LOADTEST_CLIENTS=10000.
	if v := os.Getenv("CYGNET_LOADTEST_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 60000 {
			t.Fatalf("CYGNET_LOADTEST_CLIENTS=%q: want 1 to 60000", v)
		}
		clients, pool = n, netip.MustParsePrefix("10.200.0.0/16")
	}
	p := testnet.NewPair(t, testnet.PairOptions{})
	gw := startCygnetFiles(t, p.B, loadGatewayConf(pool), map[string]string{"strongswan.conf": loadCharonConf})
	warmUnderlay(t, p, testnet.UnderlayB)
	cpu0, rss0 := procStat(t, gw.proc.Pid())

	cmd := exec.Command("ip", "netns", "exec", p.A, cygnetBin, "load-test", "--gateway", testnet.UnderlayB.String(),
		"--clients", strconv.Itoa(clients), "--concurrency", "32", "--auth", "psk", "--psk", "load-test-psk-0123456789",
		"--id-pattern", "c%d@load.test", "--remote-id", "gw.load.test",
		"--traffic", strconv.Itoa(sample), "--traffic-target", testnet.HostB.String(), "--timeout", "600s", "--no-delete", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res loadtest.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("load-test: %v, output %q: %v\nstderr:\n%s", runErr, stdout.String(), err, tail(stderr.String(), 40))
	}
	cpu1, rss1 := procStat(t, gw.proc.Pid())
	t.Logf("%d clients: %.1f handshakes/s, latency p50 %.1f ms p99 %.1f ms; gateway CPU %.2f ms per handshake, RSS growth %d KiB per client",
		res.Established, res.PerSecond, res.LatencyP50Ms, res.LatencyP99Ms,
		float64((cpu1-cpu0).Microseconds())/1000/float64(max(res.Established, 1)), (rss1-rss0)/1024/int64(max(res.Established, 1)))
	if runErr != nil || res.Established != clients || res.Failed != 0 {
		t.Fatalf("load-test: %v; established %d failed %d (%v)\nstderr:\n%s", runErr, res.Established, res.Failed, res.FailureReasons, tail(stderr.String(), 40))
	}
	seen := map[string]string{}
	for id, a := range res.VirtualIPs {
		addr, err := netip.ParseAddr(a)
		if err != nil || !pool.Contains(addr) {
			t.Errorf("%s got %q, not from the pool %s", id, a, pool)
		}
		if other, dup := seen[a]; dup {
			t.Errorf("%s and %s both got %s", id, other, a)
		}
		seen[a] = id
	}
	if len(seen) != clients {
		t.Errorf("%d distinct virtual IPs, want %d", len(seen), clients)
	}
	if res.TrafficSent != sample || res.TrafficPassed != sample {
		t.Errorf("traffic sample: %d sent, %d passed, want %d and %d", res.TrafficSent, res.TrafficPassed, sample, sample)
	}
	pools := listPools(t, gw)
	if len(pools) != 1 || pools[0].Online != clients || len(pools[0].Leases) != clients {
		t.Fatalf("list-pools: %d pools, online %d, %d leases; want one with %d online", len(pools), pools[0].Online, len(pools[0].Leases), clients)
	}
	for _, l := range pools[0].Leases {
		if seen[l.Address] != l.Identity || l.Status != "online" {
			t.Errorf("lease %s to %s (%s), but load-test says that address went to %q", l.Address, l.Identity, l.Status, seen[l.Address])
		}
	}
}

// TestLoadTestCertificates: `cygnet load-test --auth cert` issues each
// client a certificate for its identity from the given CA, and 200 clients
// authenticate with them against a cygnet gateway that trusts the CA and
// proves itself with its own certificate; each gets its own pool address.
func TestLoadTestCertificates(t *testing.T) {
	testnet.RequireRoot(t)
	const clients = 200
	pki, err := testnet.GeneratePKI(testnet.KeyECDSAP256, "b")
	if err != nil {
		t.Fatal(err)
	}
	caDir := t.TempDir()
	caKey, err := x509.MarshalPKCS8PrivateKey(pki.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(caDir, "ca.crt"), pki.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(caDir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: caKey}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := netip.MustParsePrefix("10.200.0.0/24")
	conf := strings.Replace(loadGatewayConf(pool), `    local {
      auth = psk
      id = gw.load.test
    }
    remote {
      auth = psk
    }`, `    local {
      auth = pubkey
      certs = b.crt
      id = b.`+testnet.CertDomain+`
    }
    remote {
      auth = pubkey
    }`, 1)
	p := testnet.NewPair(t, testnet.PairOptions{})
	gw := startCygnetFiles(t, p.B, conf, map[string]string{"strongswan.conf": loadCharonConf,
		"x509ca/ca.crt": string(pki.CAPEM), "x509/b.crt": string(pki.Hosts["b"].CertPEM), "private/b.key": string(pki.Hosts["b"].KeyPEM)})
	warmUnderlay(t, p, testnet.UnderlayB)
	cmd := exec.Command("ip", "netns", "exec", p.A, cygnetBin, "load-test", "--gateway", testnet.UnderlayB.String(),
		"--clients", strconv.Itoa(clients), "--concurrency", "16", "--auth", "cert",
		"--ca-cert", filepath.Join(caDir, "ca.crt"), "--ca-key", filepath.Join(caDir, "ca.key"),
		"--id-pattern", "c%d.load."+testnet.CertDomain, "--remote-id", "b."+testnet.CertDomain,
		"--traffic", "5", "--traffic-target", testnet.HostB.String(), "--timeout", "60s", "--no-delete", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res loadtest.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("load-test: %v, output %q: %v\nstderr:\n%s", runErr, stdout.String(), err, tail(stderr.String(), 40))
	}
	t.Logf("%d certificate clients: %.1f handshakes/s, latency p50 %.1f ms p99 %.1f ms", res.Established, res.PerSecond, res.LatencyP50Ms, res.LatencyP99Ms)
	if runErr != nil || res.Established != clients || res.Failed != 0 || res.TrafficPassed != 5 {
		t.Fatalf("load-test: %v; established %d failed %d (%v), traffic %d/%d\nstderr:\n%s", runErr, res.Established, res.Failed,
			res.FailureReasons, res.TrafficPassed, res.TrafficSent, tail(stderr.String(), 40))
	}
	if n := len(res.VirtualIPs); n != clients {
		t.Errorf("%d clients reported a virtual IP, want %d", n, clients)
	}
	if pools := listPools(t, gw); len(pools) != 1 || pools[0].Online != clients {
		t.Errorf("list-pools: %+v, want %d online", pools, clients)
	}
	// The gateway saw each client's own identity.
	sas := gw.listSAs()
	ids := map[string]bool{}
	for _, sa := range sas {
		ids[sa.RemoteID] = true
	}
	if len(ids) != clients || !ids["c7.load."+testnet.CertDomain] {
		t.Errorf("gateway holds %d IKE SAs with %d distinct peer identities, want %d", len(sas), len(ids), clients)
	}
}

// TestLoadTestStrongSwanGateway is the benchmark's comparison, not part of
// the suite: the same load-test run against a strongSwan 5.9.8 gateway
// (charon with kernel-libipsec, ESP in user space as cygnet) holding the
// same clients, measured the same way (CPU time and RSS growth of the
// gateway process). Run it with CYGNET_LOADTEST_STRONGSWAN=1 (and
// CYGNET_LOADTEST_CLIENTS for the count, default 1,000).
func TestLoadTestStrongSwanGateway(t *testing.T) {
	if os.Getenv("CYGNET_LOADTEST_STRONGSWAN") == "" {
		t.Skip("benchmark: set CYGNET_LOADTEST_STRONGSWAN=1")
	}
	testnet.RequireStrongSwan(t)
	clients := 1000
	if v := os.Getenv("CYGNET_LOADTEST_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 60000 {
			t.Fatalf("CYGNET_LOADTEST_CLIENTS=%q: want 1 to 60000", v)
		}
		clients = n
	}
	pool := netip.MustParsePrefix("10.200.0.0/16")
	p := testnet.NewPair(t, testnet.PairOptions{})
	sw := testnet.StartStrongSwan(t, p.B, &testnet.StrongSwanOptions{LogLevel: -1, ExtraConf: loadCharonConf})
	if err := sw.Load(loadGatewayConf(pool)); err != nil {
		t.Fatal(err)
	}
	warmUnderlay(t, p, testnet.UnderlayB)
	cpu0, rss0 := procStat(t, sw.Pid())
	cmd := exec.Command("ip", "netns", "exec", p.A, cygnetBin, "load-test", "--gateway", testnet.UnderlayB.String(),
		"--clients", strconv.Itoa(clients), "--concurrency", "32", "--auth", "psk", "--psk", "load-test-psk-0123456789",
		"--id-pattern", "c%d@load.test", "--remote-id", "gw.load.test",
		"--traffic", "20", "--traffic-target", testnet.HostB.String(), "--timeout", "600s", "--no-delete", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res loadtest.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("load-test: %v, output %q: %v\nstderr:\n%s", runErr, stdout.String(), err, tail(stderr.String(), 40))
	}
	cpu1, rss1 := procStat(t, sw.Pid())
	t.Logf("strongSwan gateway, %d clients (%d failed, traffic %d/%d): %.1f handshakes/s, latency p50 %.1f ms p99 %.1f ms; gateway CPU %.2f ms per handshake, RSS growth %d KiB per client",
		res.Established, res.Failed, res.TrafficPassed, res.TrafficSent, res.PerSecond, res.LatencyP50Ms, res.LatencyP99Ms,
		float64((cpu1-cpu0).Microseconds())/1000/float64(max(res.Established, 1)), (rss1-rss0)/1024/int64(max(res.Established, 1)))
	if res.Established != clients {
		t.Errorf("established %d of %d (%v)\nstderr:\n%s", res.Established, clients, res.FailureReasons, tail(stderr.String(), 20))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestLoadTestEAP: load-test's clients authenticate as phones and laptops
// do, with EAP-MSCHAPv2 against a gateway that proves itself with its
// certificate; each gets a virtual IP leased to its EAP identity, and a
// sample passes traffic.
func TestLoadTestEAP(t *testing.T) {
	testnet.RequireRoot(t)
	const clients = 200
	pki, err := testnet.GeneratePKI(testnet.KeyECDSAP256, "b")
	if err != nil {
		t.Fatal(err)
	}
	caDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(caDir, "ca.crt"), pki.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	pool := netip.MustParsePrefix("10.200.0.0/24")
	conf := strings.Replace(loadGatewayConf(pool), `    local {
      auth = psk
      id = gw.load.test
    }
    remote {
      auth = psk
    }`, `    local {
      auth = pubkey
      certs = b.crt
      id = b.`+testnet.CertDomain+`
    }
    remote {
      auth = eap-mschapv2
    }`, 1)
	conf = strings.Replace(conf, `secrets {`, `secrets {
  eap-users {
    secret = "load-test-eap-password"
  }`, 1)
	p := testnet.NewPair(t, testnet.PairOptions{})
	gw := startCygnetFiles(t, p.B, conf, map[string]string{"strongswan.conf": loadCharonConf,
		"x509ca/ca.crt": string(pki.CAPEM), "x509/b.crt": string(pki.Hosts["b"].CertPEM), "private/b.key": string(pki.Hosts["b"].KeyPEM)})
	warmUnderlay(t, p, testnet.UnderlayB)
	cmd := exec.Command("ip", "netns", "exec", p.A, cygnetBin, "load-test", "--gateway", testnet.UnderlayB.String(),
		"--clients", strconv.Itoa(clients), "--concurrency", "16", "--auth", "eap-mschapv2",
		"--ca-cert", filepath.Join(caDir, "ca.crt"), "--eap-password", "load-test-eap-password",
		"--id-pattern", "user%d@load.test", "--remote-id", "b."+testnet.CertDomain,
		"--traffic", "5", "--traffic-target", testnet.HostB.String(), "--timeout", "60s", "--no-delete", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res loadtest.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("load-test: %v, output %q: %v\nstderr:\n%s", runErr, stdout.String(), err, tail(stderr.String(), 40))
	}
	t.Logf("%d EAP-MSCHAPv2 clients: %.1f handshakes/s, latency p50 %.1f ms p99 %.1f ms", res.Established, res.PerSecond, res.LatencyP50Ms, res.LatencyP99Ms)
	if runErr != nil || res.Established != clients || res.Failed != 0 || res.TrafficPassed != 5 {
		t.Fatalf("load-test: %v; established %d failed %d (%v), traffic %d/%d\nstderr:\n%s\ngateway log:\n%s", runErr, res.Established, res.Failed,
			res.FailureReasons, res.TrafficPassed, res.TrafficSent, tail(stderr.String(), 40), tail(gw.logText(), 30))
	}
	pools := listPools(t, gw)
	if len(pools) != 1 || pools[0].Online != clients {
		t.Fatalf("list-pools: %+v, want %d online", pools, clients)
	}
	for _, l := range pools[0].Leases {
		if !strings.HasPrefix(l.Identity, "user") || !strings.HasSuffix(l.Identity, "@load.test") {
			t.Fatalf("lease %+v is not held by an EAP identity", l)
		}
	}
}
