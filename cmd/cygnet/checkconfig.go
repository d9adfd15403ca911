package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/daemon"
)

// cmdCheckConfig validates a configuration, the swanctl.conf and the
// strongswan.conf the daemon would read with it: exit 0 when cygnet can run
// them (after one "file:line: warning: reason" line per warning), 1 with one
// "file:line: reason" line per problem otherwise.
func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check-config")
	strongswanConf := fs.String("strongswan-conf", "", "strongswan.conf to check (default: the one the daemon finds)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: cygnet check-config [--strongswan-conf FILE] FILE")
		return 2
	}
	path := fs.Arg(0)
	cfg, err := daemon.LoadConfig(path)
	if err == nil {
		_, err = daemon.PeerConfigs(cfg)
	}
	charon, cerr := daemon.LoadCharon(*strongswanConf, path)
	if err == nil && cerr == nil {
		err = daemon.CheckRADIUS(cfg, charon)
	}
	if err == nil && cerr == nil {
		for _, w := range append(daemon.Warnings(cfg), daemon.CharonWarnings(charon, cfg)...) {
			fmt.Fprintf(stdout, "%s: warning: %s\n", w.Pos, w.Text)
		}
		fmt.Fprintf(stdout, "%s: ok (%d connections)\n", path, len(cfg.Connections))
		return 0
	}
	for _, e := range []error{err, cerr} {
		if e == nil {
			continue
		}
		var ps config.Problems
		if errors.As(e, &ps) {
			for _, p := range ps {
				fmt.Fprintln(stdout, p.Error())
			}
			continue
		}
		fmt.Fprintln(stdout, e)
	}
	return 1
}
