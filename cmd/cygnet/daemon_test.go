package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
	"github.com/cygnet-ipsec/cygnet/internal/testnet"
)

// asCygnetEnv makes the test binary behave as the cygnet command, so that a
// test can run it as a daemon inside a namespace without building it.
const asCygnetEnv = "CYGNET_TEST_AS_CYGNET"

func TestMain(m *testing.M) {
	if os.Getenv(asCygnetEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// `cygnet daemon --config FILE --socket PATH`, as the documentation and
// scripts spell it, serves on PATH; so does the global form.
func TestDaemonServesOnItsSocketFlag(t *testing.T) {
	testnet.RequireRoot(t)
	p := testnet.NewPair(t, testnet.PairOptions{})
	t.Setenv(asCygnetEnv, "1")
	dir := t.TempDir()
	conf := filepath.Join(dir, "swanctl.conf")
	text := fmt.Sprintf(`connections {
  c {
    local_addrs = %s
    remote_addrs = %s
    local {
      auth = psk
      id = a.test
    }
    remote {
      auth = psk
      id = b.test
    }
    children {
      net {
        local_ts = %s
        remote_ts = %s
      }
    }
  }
}
secrets {
  ike-1 {
    id = b.test
    secret = daemon-flag-test-psk-0123456789
  }
}
`, testnet.UnderlayA, testnet.UnderlayB, testnet.SubnetA, testnet.SubnetB)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, args := range [][]string{
		{"daemon", "--config", conf, "--socket", filepath.Join(dir, "own.sock")},
		{"--socket", filepath.Join(dir, "global.sock"), "daemon", "--config", conf},
	} {
		sock := filepath.Join(dir, []string{"own.sock", "global.sock"}[i])
		proc := testnet.StartProcess(t, p.A, append([]string{os.Args[0]}, args...)...)
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !proc.Exited(); time.Sleep(50 * time.Millisecond) {
			var resp control.Response
			if resp, err = control.Call(sock, control.Request{Command: control.CmdListConns}, time.Second); err == nil {
				if len(resp.Conns) != 1 || resp.Conns[0].Name != "c" {
					t.Errorf("%q: list-conns %+v", args, resp.Conns)
				}
				break
			}
		}
		if err != nil || proc.Exited() {
			t.Fatalf("cygnet %q did not answer on %s: %v\n%s", args, sock, err, proc.Output())
		}
		if err := proc.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}
