package daemon

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/proposal"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }

// captureTransport keeps what the Manager sends.
type captureTransport struct{ sent [][]byte }

func (c *captureTransport) SendIKE(b []byte, _, _ netip.AddrPort) error {
	c.sent = append(c.sent, bytes.Clone(b))
	return nil
}
func (c *captureTransport) Source(netip.AddrPort) (netip.AddrPort, error) {
	return netip.MustParseAddrPort("192.0.2.1:500"), nil
}

type noInstaller struct{}

func (noInstaller) InstallChildSA(*ike.ChildSA) error { return nil }
func (noInstaller) DeleteChildSA(*ike.ChildSA)        {}

// responder is a gateway Manager built as the daemon builds it, from a
// swanctl.conf and the strongswan.conf beside it.
func responder(t *testing.T, strongswanConf string) (*ike.Manager, *captureTransport) {
	t.Helper()
	dir := t.TempDir()
	swanctl := filepath.Join(dir, "swanctl.conf")
	files := map[string]string{
		"swanctl.conf": `connections { rw {
  local_addrs = 192.0.2.1
  remote_addrs = %any
  proposals = aes128gcm16-prfsha256-x25519
  local { auth = psk
    id = gw }
  remote { auth = psk }
  children { net { local_ts = 10.1.0.0/16 } } } }
secrets { ike { secret = "a shared secret of more than twenty characters" } }
`,
		"strongswan.conf": strongswanConf,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := LoadConfig(swanctl)
	if err != nil {
		t.Fatal(err)
	}
	conns, err := PeerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	charon, err := LoadCharon("", swanctl)
	if err != nil {
		t.Fatal(err)
	}
	tr := &captureTransport{}
	creds, err := newCredentials(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := ike.NewManager(ike.Config{Conns: conns, Creds: creds, Transport: tr, Installer: noInstaller{},
		Clock: fixedClock{}, Rand: rand.Reader, Options: IKEOptions(charon)})
	return m, tr
}

// initAnswer sends an IKE_SA_INIT request from src and tells what came
// back: "sa" (a full response: a half-open SA was made), "cookie" or
// "none".
func initAnswer(t *testing.T, m *ike.Manager, tr *captureTransport, spi uint64, src netip.AddrPort) string {
	t.Helper()
	props, err := proposal.ParseList(wire.ProtocolIKE, "aes128gcm16-prfsha256-x25519", proposal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var h wire.Header
	binary.BigEndian.PutUint64(h.SPIi[:], spi)
	h.Exchange, h.Flags = wire.IKE_SA_INIT, wire.FlagInitiator
	nonce := bytes.Repeat([]byte{byte(spi)}, 32)
	b, err := (&wire.Message{Header: h, Payloads: []wire.Payload{proposal.ToWire(props, nil),
		&wire.KE{Method: wire.KEMethod(31), Data: bytes.Repeat([]byte{9}, 32)}, &wire.Nonce{Data: nonce}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tr.sent = nil
	m.HandleIKE(b, netip.MustParseAddrPort("192.0.2.1:500"), src)
	if len(tr.sent) == 0 {
		return "none"
	}
	msg, err := wire.ParseMessage(tr.sent[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range msg.Payloads {
		switch p := p.(type) {
		case *wire.Notify:
			if p.NotifyType == wire.COOKIE {
				return "cookie"
			}
		case *wire.SA:
			return "sa"
		}
	}
	t.Fatalf("answer %v", msg)
	return ""
}

// Each DoS setting of strongswan.conf changes what the gateway answers to
// IKE_SA_INIT requests: a half-open SA, a cookie demand, or nothing.
func TestStrongswanConfDoSSettingsTakeEffect(t *testing.T) {
	src := func(host, port int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(host)}), uint16(port))
	}
	tests := []struct {
		name, conf string
		from       func(i int) netip.AddrPort
		want       []string
	}{
		{"cookie_threshold", "charon {\n cookie_threshold = 2\n}\n",
			func(i int) netip.AddrPort { return src(i, 500) }, []string{"sa", "sa", "cookie", "cookie"}},
		{"default thresholds", "charon {\n}\n",
			func(i int) netip.AddrPort { return src(i, 500) }, []string{"sa", "sa", "sa", "sa", "sa"}},
		{"block_threshold", "charon {\n cookie_threshold_ip = 0\n block_threshold = 2\n}\n",
			func(i int) netip.AddrPort { return src(1, 1000+i) }, []string{"sa", "sa", "none", "none"}},
		{"cookie_threshold_ip", "charon {\n cookie_threshold_ip = 1\n}\n",
			func(i int) netip.AddrPort { return src(1, 1000+i) }, []string{"sa", "cookie"}},
		{"init_limit_half_open", "charon {\n init_limit_half_open = 3\n}\n",
			func(i int) netip.AddrPort { return src(i, 500) }, []string{"sa", "sa", "sa", "none"}},
		{"dos_protection = no", "charon {\n dos_protection = no\n cookie_threshold = 1\n}\n",
			func(i int) netip.AddrPort { return src(1, 1000+i) }, []string{"sa", "sa", "sa", "sa", "sa", "sa", "sa", "sa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, tr := responder(t, tt.conf)
			for i, want := range tt.want {
				if got := initAnswer(t, m, tr, uint64(100+i), tt.from(i)); got != want {
					t.Fatalf("request %d: %s, want %s (answers so far should be %v)", i, got, want, tt.want[:i+1])
				}
			}
		})
	}
}
