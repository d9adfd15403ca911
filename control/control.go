// Package control is the daemon's operator interface: a Unix socket that
// takes one JSON request per connection and answers with one JSON response,
// and the client the cygnet command uses. The JSON shapes name their fields
// as strongSwan's VICI does, so scripts written for swanctl map over easily.
package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/cygnet/cygnet.sock"

// Commands the daemon understands.
const (
	CmdListSAs   = "list-sas"
	CmdListConns = "list-conns"
	CmdInitiate  = "initiate"
	CmdTerminate = "terminate"
	CmdRekey     = "rekey"
	CmdReload    = "reload"
	CmdStats     = "stats"
	CmdListPools = "list-pools"
	CmdRedirect  = "redirect"
)

// Request is one command.
type Request struct {
	Command string `json:"command"`
	IKE     string `json:"ike,omitempty"`
	Child   string `json:"child,omitempty"`
	// Reauth asks rekey to reauthenticate the IKE SA instead.
	Reauth bool `json:"reauth,omitempty"`
	// Gateway is where redirect sends the clients of IKE (RFC 5685).
	Gateway string `json:"gateway,omitempty"`
}

// Response answers a Request. Error is set when the command failed.
type Response struct {
	Error   string          `json:"error,omitempty"`
	Message string          `json:"message,omitempty"`
	IKESAs  []IKESA         `json:"ike_sas,omitempty"`
	Conns   []Conn          `json:"conns,omitempty"`
	Stats   json.RawMessage `json:"stats,omitempty"`
	Pools   []Pool          `json:"pools,omitempty"`
}

// Pool is one address pool as list-pools shows it, with its leases, as
// strongSwan's VICI list-pools does with leases = yes.
type Pool struct {
	Name    string  `json:"name"`
	Base    string  `json:"base"`
	Size    int     `json:"size"`
	Online  int     `json:"online"`
	Offline int     `json:"offline"`
	Leases  []Lease `json:"leases"`
}

// Lease is one address of a pool leased to an identity; Status is online
// while an IKE SA uses it, offline when it is kept for the identity.
type Lease struct {
	Address  string `json:"address"`
	Identity string `json:"identity"`
	Status   string `json:"status"`
}

// IKESA is one IKE SA as list-sas shows it. Every field is always present in
// the JSON, with an empty value where it does not apply: scripts read these
// names as a contract.
type IKESA struct {
	Name         string `json:"name"`
	UniqueID     uint32 `json:"uniqueid"`
	State        string `json:"state"`
	Version      int    `json:"version"`
	LocalHost    string `json:"local_host"`
	LocalPort    uint16 `json:"local_port"`
	LocalID      string `json:"local_id"`
	RemoteHost   string `json:"remote_host"`
	RemotePort   uint16 `json:"remote_port"`
	RemoteID     string `json:"remote_id"`
	RemoteEAPID  string `json:"remote_eap_id"` // "" unless the peer authenticated with EAP
	Initiator    bool   `json:"initiator"`
	InitiatorSPI string `json:"initiator_spi"`
	ResponderSPI string `json:"responder_spi"`
	EncrAlg      string `json:"encr_alg"`
	EncrKeysize  int    `json:"encr_keysize"`
	IntegAlg     string `json:"integ_alg"` // "" with an AEAD
	PRFAlg       string `json:"prf_alg"`
	DHGroup      string `json:"dh_group"`
	// KeyExchanges are every key exchange of the IKE SA: the IKE_SA_INIT
	// group, then the RFC 9370 additional ones in order.
	KeyExchanges []string `json:"key_exchanges"`
	// PPK is true when the keys were derived with a postquantum preshared
	// key (RFC 8784), strongSwan's "ppk" condition.
	PPK       bool `json:"ppk"`
	NATLocal  bool `json:"nat_local"`
	NATRemote bool `json:"nat_remote"`
	// TCP: IKE and ESP go over TCP (RFC 9329, encap_tcp or a client
	// that came over TCP).
	TCP         bool  `json:"tcp"`
	Established int64 `json:"established"`
	RekeyTime   int64 `json:"rekey_time"`
	// LocalVIPs are the virtual IPs the peer assigned us, RemoteVIPs
	// those we leased to the peer, DNS the DNS servers the peer sent us
	// (never written to the system's resolver).
	LocalVIPs  []string  `json:"local_vips"`
	RemoteVIPs []string  `json:"remote_vips"`
	DNS        []string  `json:"dns"`
	ChildSAs   []ChildSA `json:"child_sas"`
}

// ChildSA is one Child SA as list-sas shows it.
type ChildSA struct {
	Name        string `json:"name"`
	UniqueID    uint32 `json:"uniqueid"`
	State       string `json:"state"`
	Mode        string `json:"mode"`
	Protocol    string `json:"protocol"`
	Encap       bool   `json:"encap"`
	SPIIn       string `json:"spi_in"`
	SPIOut      string `json:"spi_out"`
	EncrAlg     string `json:"encr_alg"`
	EncrKeysize int    `json:"encr_keysize"`
	IntegAlg    string `json:"integ_alg"` // "" with an AEAD
	DHGroup     string `json:"dh_group"`  // "" without PFS
	// KeyExchanges are the Child SA's key exchanges: the PFS one, then
	// the RFC 9370 additional ones in order; none without PFS (a Child SA
	// made in IKE_AUTH has none).
	KeyExchanges []string `json:"key_exchanges"`
	ESN          bool     `json:"esn"`
	BytesIn      uint64   `json:"bytes_in"`
	PacketsIn    uint64   `json:"packets_in"`
	BytesOut     uint64   `json:"bytes_out"`
	PacketsOut   uint64   `json:"packets_out"`
	InstallTime  int64    `json:"install_time"`
	RekeyTime    int64    `json:"rekey_time"`
	LifeTime     int64    `json:"life_time"`
	LocalTS      []string `json:"local_ts"`
	RemoteTS     []string `json:"remote_ts"`
}

// Conn is one loaded connection as list-conns shows it.
type Conn struct {
	Name        string      `json:"name"`
	LocalAddrs  []string    `json:"local_addrs"`
	RemoteAddrs []string    `json:"remote_addrs"`
	Version     string      `json:"version"`
	LocalAuth   string      `json:"local_auth"`
	LocalID     string      `json:"local_id"`
	RemoteAuth  string      `json:"remote_auth"`
	RemoteID    string      `json:"remote_id"`
	Proposals   []string    `json:"proposals"`
	Children    []ConnChild `json:"children"`
}

// ConnChild is one child of a loaded connection.
type ConnChild struct {
	Name        string   `json:"name"`
	Mode        string   `json:"mode"`
	LocalTS     []string `json:"local_ts"`
	RemoteTS    []string `json:"remote_ts"`
	Proposals   []string `json:"esp_proposals"`
	StartAction string   `json:"start_action"`
}

// Handler answers requests; the daemon runs it on its event loop.
type Handler func(Request) Response

// Listen opens the control socket: its folder is created, a stale socket
// from an earlier run is removed, and the socket is made mode 0600 so only
// root talks to the daemon.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket folder: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another daemon is listening", path)
		}
		os.Remove(path)
	}
	old := umask(0o177)
	l, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

// Serve answers connections on l until ctx ends.
func Serve(ctx context.Context, l net.Listener, h Handler) {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go serveConn(c, h)
	}
}

func serveConn(c net.Conn, h Handler) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	var req Request
	line, err := bufio.NewReader(io.LimitReader(c, 1<<16)).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return
	}
	var resp Response
	if err := json.Unmarshal(line, &req); err != nil {
		resp = Response{Error: fmt.Sprintf("bad request: %v", err)}
	} else {
		resp = h(req)
	}
	_ = json.NewEncoder(c).Encode(resp)
}

// Call sends one request to the daemon and returns its response; a failed
// command comes back as an error with the daemon's text.
func Call(path string, req Request, timeout time.Duration) (Response, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return Response{}, fmt.Errorf("cannot reach the cygnet daemon at %s: %w", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return Response{}, fmt.Errorf("send to daemon: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("read daemon's answer: %w", err)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}
