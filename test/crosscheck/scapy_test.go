package crosscheck

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// python is the interpreter that has Debian's python3-scapy; the python3
// first on PATH may be another installation without it.
const python = "/usr/bin/python3"

// callTimeout bounds one request to the scapy process.
const callTimeout = 30 * time.Second

var (
	scapyOnce sync.Once
	scapyErr  error
)

// requireScapy skips the test when python3-scapy (with its cryptography
// backend) cannot be imported; CYGNET_REQUIRE_SCAPY=1 makes that a failure
// (for CI).
func requireScapy(t *testing.T) {
	t.Helper()
	scapyOnce.Do(func() {
		out, err := exec.Command(python, "-c", "import scapy.layers.ipsec as i, cryptography; assert i.conf.crypto_valid").CombinedOutput()
		if err != nil {
			scapyErr = fmt.Errorf("%s cannot import scapy.layers.ipsec: %v: %s", python, err, strings.TrimSpace(string(out)))
		}
	})
	if scapyErr != nil {
		if os.Getenv("CYGNET_REQUIRE_SCAPY") == "1" {
			t.Fatal(scapyErr)
		}
		t.Skip(scapyErr)
	}
}

// hexBytes is a byte slice that travels as a hex string in JSON.
type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// tunnelSpec is the tunnel endpoint pair of a scapy SA.
type tunnelSpec struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// nattSpec is the RFC 3948 UDP header of a scapy SA.
type nattSpec struct {
	Sport uint16 `json:"sport"`
	Dport uint16 `json:"dport"`
}

// saSpec is the scapy side of an SA, in the names of scapy's ipsec.py.
type saSpec struct {
	SPI    uint32   `json:"spi"`
	Crypt  string   `json:"crypt,omitempty"`
	CKey   hexBytes `json:"ckey,omitempty"`
	Auth   string   `json:"auth,omitempty"`
	AKey   hexBytes `json:"akey,omitempty"`
	ESN    bool     `json:"esn"`
	ESNFix bool     `json:"esn_fix"`
	// NATTFix corrects the UDP length scapy 2.5 writes (see
	// scapy_ipsec.py).
	NATTFix bool        `json:"natt_fix"`
	Tunnel  *tunnelSpec `json:"tunnel"`
	NATT    *nattSpec   `json:"natt"`
}

// request is one line to scapy_ipsec.py.
type request struct {
	Op string `json:"op"`
	saSpec
	Pkt   hexBytes `json:"pkt,omitempty"`
	Seq   uint64   `json:"seq"`
	IV    hexBytes `json:"iv,omitempty"`
	Again bool     `json:"again,omitempty"`
}

// response is one line from scapy_ipsec.py.
type response struct {
	OK      bool     `json:"ok"`
	Err     string   `json:"err"`
	Trace   string   `json:"trace"`
	Out     hexBytes `json:"out"`
	Inner   hexBytes `json:"inner"`
	Again   hexBytes `json:"again"`
	Version string   `json:"version"`
}

// lockedBuffer collects the helper's stderr, written by exec's copying
// goroutine and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// scapyPeer is a running scapy_ipsec.py.
type scapyPeer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr lockedBuffer
	calls  int
}

// startScapy starts the helper for one test and stops it at cleanup.
func startScapy(t *testing.T) *scapyPeer {
	t.Helper()
	requireScapy(t)
	p := &scapyPeer{cmd: exec.Command(python, "-u", "scapy_ipsec.py")}
	p.cmd.Stderr = &p.stderr
	p.cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdout = bufio.NewReaderSize(out, 1<<16)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s scapy_ipsec.py: %v", python, err)
	}
	t.Cleanup(func() {
		p.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("scapy_ipsec.py exited: %v; stderr: %s", err, p.stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
			t.Errorf("scapy_ipsec.py did not exit on EOF; killed")
		}
		t.Logf("scapy_ipsec.py served %d requests", p.calls)
	})
	r := p.call(t, request{Op: "probe"})
	if !r.OK {
		t.Fatalf("scapy probe: %s", r.Err)
	}
	t.Logf("scapy %s", r.Version)
	return p
}

// call sends one request and waits for its response; a failure of the
// process itself (not of the request) ends the test.
func (p *scapyPeer) call(t *testing.T, req request) response {
	t.Helper()
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		if _, err := p.stdin.Write(append(line, '\n')); err != nil {
			ch <- result{nil, err}
			return
		}
		b, err := p.stdout.ReadBytes('\n')
		ch <- result{b, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-time.After(callTimeout):
		_ = p.cmd.Process.Kill()
		t.Fatalf("scapy_ipsec.py: no answer to %s within %v; stderr: %s", req.Op, callTimeout, p.stderr.String())
	}
	if res.err != nil {
		t.Fatalf("scapy_ipsec.py %s: %v; stderr: %s", req.Op, res.err, p.stderr.String())
	}
	p.calls++
	var resp response
	if err := json.Unmarshal(res.b, &resp); err != nil {
		t.Fatalf("scapy_ipsec.py %s: bad answer %q: %v", req.Op, res.b, err)
	}
	return resp
}
