package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/cygnet-ipsec/cygnet/daemon"
	"github.com/cygnet-ipsec/cygnet/netcfg"
)

// cmdDaemon runs the daemon in the foreground until SIGTERM.
func cmdDaemon(args []string, socket string, stderr io.Writer) error {
	fs := newFlags("daemon")
	conf := fs.String("config", "/etc/swanctl/swanctl.conf", "swanctl.conf to load")
	tunName := fs.String("tun", "cygnet0", "name of the TUN device")
	debug := fs.Bool("debug", false, "log IKE details")
	if err := parse(fs, args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	d, err := daemon.New(daemon.Options{ConfigPath: *conf, SocketPath: socket, Log: log}, func() (daemon.PacketPath, error) {
		routes, err := netcfg.New(netcfg.Config{})
		if err != nil {
			return nil, err
		}
		return daemon.NewPacketPath(*tunName, routes, log)
	})
	if err != nil {
		return err
	}
	return d.Run(context.Background())
}
