package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/daemon"
)

// cmdCheckConfig validates a configuration: exit 0 when cygnet can run it
// (after one "file:line: warning: reason" line per warning), 1 with one
// "file:line: reason" line per problem otherwise.
func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: cygnet check-config FILE")
		return 2
	}
	cfg, err := daemon.LoadConfig(args[0])
	if err == nil {
		_, err = daemon.PeerConfigs(cfg)
	}
	if err == nil {
		for _, w := range daemon.Warnings(cfg) {
			fmt.Fprintf(stdout, "%s: warning: %s\n", w.Pos, w.Text)
		}
		fmt.Fprintf(stdout, "%s: ok (%d connections)\n", args[0], len(cfg.Connections))
		return 0
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintln(stdout, p.Error())
		}
		return 1
	}
	fmt.Fprintln(stdout, err)
	return 1
}
