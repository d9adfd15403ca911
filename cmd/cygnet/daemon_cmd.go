package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cygnet-ipsec/cygnet/daemon"
	"github.com/cygnet-ipsec/cygnet/internal/logging"
	"github.com/cygnet-ipsec/cygnet/netcfg"
)

// daemonArgs are the daemon command's settings.
type daemonArgs struct {
	config, strongswanConf, socket, tun string
	vici, metrics, keylog               string
	logFormat, logLevel, audit          string
	debug, espLinkSocket, espXDP        bool
	tcpPort                             uint
}

// parseDaemonArgs reads the daemon command's flags. The control socket may
// be given before the command (`cygnet --socket PATH daemon`), arriving here
// as socket, or as the daemon's own flag (`cygnet daemon --config FILE
// --socket PATH`, the form the documentation and scripts use); the daemon's
// own flag wins.
func parseDaemonArgs(args []string, socket string) (daemonArgs, error) {
	a := daemonArgs{socket: socket}
	fs := daemonFlags(&a, socket)
	if err := parse(fs, args); err != nil {
		return daemonArgs{}, err
	}
	return a, nil
}

// daemonFlags are the daemon command's flags, stored into a (the help page
// lists them from here too).
func daemonFlags(a *daemonArgs, socket string) *flag.FlagSet {
	fs := newFlags("daemon")
	fs.StringVar(&a.config, "config", "/etc/swanctl/swanctl.conf", "swanctl.conf to load")
	fs.StringVar(&a.strongswanConf, "strongswan-conf", "", "strongswan.conf with the daemon-wide settings (charon section); "+
		"default: strongswan.conf beside --config or one directory up (/etc/strongswan.conf), none to read none")
	fs.StringVar(&a.socket, "socket", socket, "control socket to listen on")
	fs.StringVar(&a.tun, "tun", "cygnet0", "name of the TUN device")
	fs.UintVar(&a.tcpPort, "tcp-port", 4500, "accept IKE and ESP over TCP (RFC 9329) on this port; 0 for no TCP listener")
	fs.BoolVar(&a.espLinkSocket, "esp-link-socket", false, "send raw ESP (encap = no) through an AF_PACKET socket straight to the next hop's MAC: "+
		"a third more throughput, but those packets skip netfilter's OUTPUT and POSTROUTING chains")
	fs.BoolVar(&a.espXDP, "esp-xdp", false, "receive raw ESP (encap = no) through AF_XDP sockets: an XDP program on every Ethernet link that holds a local address "+
		"takes ESP for those addresses off the link before the IP stack; those packets skip netfilter's INPUT chain")
	fs.StringVar(&a.vici, "vici", "", "also listen for strongSwan's VICI protocol (swanctl --uri unix://PATH, govici) on this Unix socket")
	fs.StringVar(&a.metrics, "metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9107), at /metrics")
	fs.StringVar(&a.keylog, "keylog", "", "write the SAs' keys for Wireshark into this folder (ikev2_decryption_table, esp_sa; debugging only)")
	fs.BoolVar(&a.debug, "debug", false, "log details: the default level becomes debug (--log-level can still raise subsystems)")
	fs.StringVar(&a.audit, "audit", "", "append an audit stream (JSON lines, mode 0600) to this file: SAs established and deleted, authentication failures, reloads")
	fs.StringVar(&a.logFormat, "log-format", "text", "log format: text (key=value lines) or json (one JSON object a line)")
	fs.StringVar(&a.logLevel, "log-level", "", "log levels: LEVEL and SUBSYSTEM=LEVEL, comma-separated, e.g. warn,ike=debug,cfg=info; "+
		"subsystems ike (IKE), esp (data plane), cfg (configuration, reload), net (control, VICI, metrics sockets); levels debug, info, warn, error")
	return fs
}

// cmdDaemon runs the daemon in the foreground until SIGTERM.
// logFlushDelay is how late the daemon's log lines may reach stderr.
const logFlushDelay = 10 * time.Millisecond

func cmdDaemon(args []string, socket string, stderr io.Writer) error {
	a, err := parseDaemonArgs(args, socket)
	if err != nil {
		return err
	}
	if a.tcpPort > 65535 {
		return fmt.Errorf("daemon: --tcp-port %d: not a port", a.tcpPort)
	}
	setDaemonGC(os.Getenv)
	spec := a.logLevel
	if a.debug {
		// --debug is the default level; --log-level entries come after it
		spec = "debug," + spec
	}
	levels, err := logging.ParseLevels(spec)
	if err != nil {
		return err
	}
	// Lines reach stderr in batches: at most logFlushDelay late
	// (logging.Buffered), and at once before each control answer
	// (Options.LogFlush); the deferred Flush writes the last ones, also
	// when a panic unwinds.
	out := logging.NewBuffered(logging.Direct(stderr), logFlushDelay)
	defer func() { _ = out.Flush() }()
	log, err := logging.New(out, a.logFormat, levels)
	if err != nil {
		return err
	}
	d, err := daemon.New(daemon.Options{ConfigPath: a.config, StrongswanConf: a.strongswanConf, SocketPath: a.socket, Log: log,
		VICIPath: a.vici, Version: version, MetricsAddr: a.metrics, KeylogDir: a.keylog, AuditPath: a.audit, LogFlush: func() { _ = out.Flush() }}, func() (daemon.PacketPath, error) {
		routes, err := netcfg.New(netcfg.Config{})
		if err != nil {
			return nil, err
		}
		return daemon.NewPacketPath(a.tun, routes, logging.Subsystem(log, "esp"),
			daemon.PacketPathOptions{TCPPort: uint16(a.tcpPort), ESPLinkSocket: a.espLinkSocket, ESPXDP: a.espXDP})
	})
	if err != nil {
		return err
	}
	return d.Run(context.Background())
}
