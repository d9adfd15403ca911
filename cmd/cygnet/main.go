// Command cygnet is the cygnet IPsec daemon and its control tool.
//
//	cygnet daemon --config FILE [--strongswan-conf FILE] [--socket PATH]
//	cygnet [--socket PATH] stats [--json]
//	cygnet [--socket PATH] list-sas [--json] | list-conns [--json] | list-pools [--json]
//	cygnet [--socket PATH] initiate --child NAME | --ike NAME
//	cygnet [--socket PATH] terminate --ike NAME | --child NAME
//	cygnet [--socket PATH] rekey --child NAME | --ike NAME [--reauth]
//	cygnet [--socket PATH] redirect --ike NAME --gateway ADDR
//	cygnet check-config [--strongswan-conf FILE] FILE
//	cygnet demo
//	cygnet load-test --gateway ADDR --clients N [--rate R] [--concurrency C] --auth psk --psk KEY | --auth cert --ca-cert F --ca-key F [--traffic K --traffic-target ADDR] [--no-delete] [--json]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cygnet-ipsec/cygnet/control"
)

const usage = `usage: cygnet [--socket PATH] COMMAND [ARGS]

commands:
  daemon --config FILE [--strongswan-conf FILE] [--socket PATH] [--tun NAME] [--debug]
                            run the IKE daemon and data plane in the foreground;
                            daemon-wide settings come from strongswan.conf's charon
                            section (default: beside --config or one directory up,
                            /etc/strongswan.conf; "none" reads none)
  list-sas [--json]         show the IKE and Child SAs
  list-conns [--json]       show the loaded connections
  list-pools [--json]       show the address pools and their leases
  initiate --child NAME [--ike NAME] | --ike NAME
                            set up a Child SA (and its IKE SA), or only an IKE SA
  terminate --ike NAME | --child NAME
                            delete an IKE SA (with its Child SAs) or a Child SA
  rekey --child NAME | --ike NAME [--reauth]
                            rekey a Child SA or an IKE SA (or reauthenticate it)
  redirect --ike NAME --gateway ADDR
                            send the established clients of a connection to another gateway
  reload                    re-read the configuration (as SIGHUP does)
  stats [--json]            IKE and data plane counters (drops by reason), as JSON
  check-config [--strongswan-conf FILE] FILE
                            validate a swanctl.conf (and the strongswan.conf the
                            daemon would read) without a daemon
  load-test --gateway ADDR --clients N [--rate R] [--concurrency C]
            [--auth psk --psk KEY | --auth cert --ca-cert FILE --ca-key FILE]
            [--id-pattern PATTERN] [--remote-id ID] [--traffic K --traffic-target ADDR] [--no-delete] [--json]
                            open N remote-access clients (each asking for a virtual IP)
                            from this process against a gateway; report handshakes/s,
                            latency p50/p99 and failures by reason; exit 1 on any failure
  demo                      two namespaces, two daemons, a tunnel, a ping
  selftest                  seal and open traffic with every algorithm and mode
  version                   print the version
  help [COMMAND]            a command's manual page

The control socket defaults to ` + control.DefaultSocket + `.
`

// version is set by the build.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	socket := control.DefaultSocket
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "--socket" || args[0] == "-socket":
			if len(args) < 2 {
				fmt.Fprint(stderr, usage)
				return 2
			}
			socket, args = args[1], args[2:]
		case strings.HasPrefix(args[0], "--socket="):
			socket, args = strings.TrimPrefix(args[0], "--socket="), args[1:]
		case args[0] == "-h" || args[0] == "--help":
			fmt.Fprint(stdout, usage)
			return 0
		default:
			fmt.Fprintf(stderr, "cygnet: unknown option %s\n%s", args[0], usage)
			return 2
		}
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "daemon":
		err = cmdDaemon(rest, socket, stderr)
	case "list-sas":
		err = cmdListSAs(rest, socket, stdout)
	case "list-conns":
		err = cmdListConns(rest, socket, stdout)
	case "list-pools":
		err = cmdListPools(rest, socket, stdout)
	case "initiate":
		err = cmdInitiate(rest, socket, stdout)
	case "terminate":
		err = cmdTerminate(rest, socket, stdout)
	case "rekey":
		err = cmdRekey(rest, socket, stdout)
	case "redirect":
		err = cmdRedirect(rest, socket, stdout)
	case "stats":
		err = cmdStats(rest, socket, stdout)
	case "reload":
		err = simple(socket, control.Request{Command: control.CmdReload}, stdout)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr)
	case "load-test":
		err = cmdLoadTest(rest, stdout, stderr)
	case "demo":
		err = cmdDemo(rest, stdout, stderr)
	case "selftest":
		err = cmdSelftest(rest, stdout)
	case "version":
		fmt.Fprintln(stdout, "cygnet", version)
	case "help":
		err = cmdHelp(rest, stdout)
	default:
		fmt.Fprintf(stderr, "cygnet: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "cygnet %s: %v\n", cmd, err)
			return 2
		}
		fmt.Fprintf(stderr, "cygnet %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
