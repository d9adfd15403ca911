package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/cygnet-ipsec/cygnet/control"
)

// helpPage is one command's manual page: what `cygnet help COMMAND` prints.
type helpPage struct {
	// name is the one-line summary of the NAME section.
	name                  string
	synopsis, description string
	// options are the command's flags, or nil; the daemon's are listed
	// from its flag set so the page never lags behind the code.
	options func() *flag.FlagSet
	exit    string
	files   string
	example string
}

const ctlExit = "0 on success, 1 if the daemon reports an error or cannot be reached, 2 on a usage error."

var helpPages = map[string]helpPage{
	"daemon": {
		name: "run the IKE daemon and the data plane",
		synopsis: "cygnet daemon [--config FILE] [--strongswan-conf FILE] [--socket PATH] [--tun NAME] [--vici PATH] [--metrics ADDR]\n" +
			"              [--tcp-port N] [--esp-link-socket] [--esp-xdp]\n" +
			"              [--keylog DIR] [--audit FILE] [--log-format text|json] [--log-level SPEC] [--debug]",
		description: `Runs the IKEv2 daemon and the ESP/AH data plane in the foreground until SIGTERM or SIGINT, when it
deletes every SA (telling the peers) and removes its TUN device and routes. Connections, secrets, pools
and certificates come from a swanctl.conf (strongSwan's syntax); daemon-wide settings from the charon
section of a strongswan.conf.

SIGHUP, like "cygnet reload", reads the configuration again and reconciles: added connections load and
run their start_action, removed ones are torn down (the peer is told), changed ones are torn down and
started again, and the SAs of unchanged connections keep running untouched (same SPIs, no packet lost).
Credentials and pools reload too; pools keep their leases. An invalid file is refused with
file:line: reason and the running configuration stays in force.

Logs go to standard error through log/slog, as key=value text or JSON lines. Every line about an IKE SA
names the connection (conn), the IKE SA's unique id (ike) and the peer (peer). Each line belongs to a
subsystem (subsys): ike (IKE negotiation), esp (data plane: SAs, packets, TUN, routes), cfg
(configuration, warnings, reloads), net (control, VICI and metrics sockets). --log-level sets a default
level and per-subsystem levels: "warn,ike=debug,cfg=info". --debug makes the default debug.

The audit stream (--audit) is one JSON object a line, appended to a file kept at mode 0600, for a SIEM:
ike_sa_established, ike_sa_rekeyed, ike_sa_deleted, ike_sa_failed, authentication_failed,
child_sa_established, child_sa_rekeyed, child_sa_deleted (with identities, addresses, SPIs, algorithms
and the reason), config_reloaded (added, removed, changed) and config_reload_refused (error).

Memory: the daemon runs Go's garbage collector with a target of 50 (GOGC=50) rather than Go's default
100, since its heap is mostly long-lived SA state: about a third less resident memory for a little more
CPU during bursts of handshakes. Set GOGC in the environment to choose another target.`,
		options: func() *flag.FlagSet { return daemonFlags(&daemonArgs{}, control.DefaultSocket) },
		exit:    "0 after a clean stop; 1 if the configuration is invalid or the data plane cannot start.",
		files: `/etc/swanctl/swanctl.conf   connections, secrets, pools (--config)
/etc/strongswan.conf         daemon-wide settings (charon section)
` + control.DefaultSocket + `          control socket (--socket)
contrib/systemd/cygnet.service in the source tree: a systemd unit`,
		example: "cygnet daemon --config /etc/swanctl/swanctl.conf --log-format json --log-level info,ike=debug --audit /var/log/cygnet-audit.json",
	},
	"reload": {
		name:        "re-read the configuration and reconcile",
		synopsis:    "cygnet [--socket PATH] reload",
		description: "Asks the daemon to read its configuration again, as SIGHUP does (see cygnet help daemon): added\nconnections start, removed ones are torn down, changed ones renegotiated, unchanged ones keep their\nSAs. An invalid file is refused with file:line: reason and nothing changes.",
		exit:        ctlExit,
		example:     "cygnet reload",
	},
	"list-sas": {
		name:        "show the IKE and Child SAs",
		synopsis:    "cygnet [--socket PATH] list-sas [--json]",
		description: "Shows the IKE SAs and their Child SAs: identities, addresses, SPIs, algorithms, traffic\nselectors, byte and packet counters. --json prints them as JSON for programs (the field names are\na stable contract).",
		exit:        ctlExit,
	},
	"list-conns": {
		name:        "show the loaded connections",
		synopsis:    "cygnet [--socket PATH] list-conns [--json]",
		description: "Shows the loaded connections and their children, with proposals and start actions.",
		exit:        ctlExit,
	},
	"list-pools": {
		name:        "show the address pools and their leases",
		synopsis:    "cygnet [--socket PATH] list-pools [--json]",
		description: "Shows the virtual IP address pools, their size and the leases handed out.",
		exit:        ctlExit,
	},
	"initiate": {
		name:        "set up a Child SA or an IKE SA",
		synopsis:    "cygnet [--socket PATH] initiate --child NAME [--ike NAME] | --ike NAME",
		description: "Sets up a Child SA (and the IKE SA it needs), or only an IKE SA, and waits until it is\nestablished or has failed.",
		exit:        ctlExit,
		example:     "cygnet initiate --child net",
	},
	"terminate": {
		name:        "delete an IKE SA or a Child SA",
		synopsis:    "cygnet [--socket PATH] terminate --ike NAME | --child NAME",
		description: "Deletes the IKE SAs of a connection (with their Child SAs) or the Child SAs of that name,\ntelling the peer.",
		exit:        ctlExit,
	},
	"rekey": {
		name:        "rekey or reauthenticate an SA",
		synopsis:    "cygnet [--socket PATH] rekey --child NAME | --ike NAME [--reauth]",
		description: "Rekeys a Child SA or an IKE SA, or reauthenticates the IKE SA (--reauth). Traffic keeps\nflowing during the rekey.",
		exit:        ctlExit,
	},
	"redirect": {
		name:        "send established clients to another gateway (RFC 5685)",
		synopsis:    "cygnet [--socket PATH] redirect --ike NAME --gateway ADDR",
		description: "Sends every established client of connection NAME that announced REDIRECT_SUPPORTED an\nINFORMATIONAL request with REDIRECT naming ADDR; each reauthenticates at that gateway and deletes\nits IKE SA here. A connection's redirect_to does the same for new clients in IKE_SA_INIT.",
		exit:        ctlExit,
		example:     "cygnet redirect --ike rw --gateway 192.0.2.20",
	},
	"stats": {
		name:        "IKE and data plane counters",
		synopsis:    "cygnet [--socket PATH] stats [--json]",
		description: "IKE and data plane counters: SAs, packets and bytes in and out, drops by reason.",
		exit:        ctlExit,
	},
	"check-config": {
		name:        "validate a configuration without a daemon",
		synopsis:    "cygnet check-config [--strongswan-conf FILE] FILE",
		description: "Validates a swanctl.conf (and the strongswan.conf the daemon would read) without a daemon.\nEvery problem is reported as file:line: reason; options cygnet accepts but treats differently\nfrom strongSwan are warned about.",
		exit:        "0 if the configuration is valid, 1 if not, 2 on a usage error.",
		example:     "cygnet check-config /etc/swanctl/swanctl.conf",
	},
	"demo": {
		name:        "a tunnel between two namespaces, to try cygnet",
		synopsis:    "cygnet demo",
		description: "Builds two network namespaces joined by a veth pair, runs a daemon in each, brings up a\ntunnel, pings across it, pushes a short bulk transfer through it and shows list-sas from both\nends. It needs root (network namespaces); on Ctrl-C or failure it removes everything it made.",
		exit:        "0 if the tunnel carried the traffic, 1 otherwise.",
	},
	"load-test": {
		name:        "many remote-access clients from one process, against a gateway",
		synopsis:    "cygnet load-test --gateway ADDR[:PORT] --clients N [--rate R] [--concurrency C]\n       --auth psk --psk KEY | --auth cert --ca-cert F --ca-key F | --auth eap-mschapv2 --ca-cert F --eap-password PW\n       [--id-pattern 'c%d@load.test'] [--remote-id ID] [--traffic K --traffic-target ADDR] [--no-delete] [--json]",
		description: "Opens N road-warrior clients, each with its own identity and asking for a virtual IP, at the given\nrate and concurrency, and reports handshakes per second, latency percentiles (p50, p99) and failures\nby reason. With --traffic, the first K tunnels each pass one ping sealed with the Child SA's keys.\nWith --auth cert each client gets a certificate for its identity issued on the fly by the CA; with\n--auth eap-mschapv2 every client uses the one EAP password and the gateway's chain must lead to --ca-cert.",
		exit:        "0 if every client came up (and every sampled ping passed), 1 otherwise, 2 on a usage error.",
		example:     "cygnet load-test --gateway 192.0.2.1 --clients 1000 --concurrency 32 --auth psk --psk \"...\" --json",
	},
	"selftest": {
		name:        "check every algorithm and mode",
		synopsis:    "cygnet selftest",
		description: "Seals and opens traffic with every supported algorithm and mode, without a network.",
		exit:        "0 if every case passed, 1 otherwise.",
	},
	"version": {
		name:        "print the version",
		synopsis:    "cygnet version",
		description: "Prints the version.",
		exit:        "0.",
	},
	"help": {
		name:        "the manual pages",
		synopsis:    "cygnet help [COMMAND]",
		description: "Without COMMAND, lists the commands; with one, prints its manual page.",
		exit:        "0, or 2 for an unknown command.",
	},
}

// cmdHelp prints the command list, or one command's page.
func cmdHelp(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout, "\n\"cygnet help COMMAND\" shows a command's manual page.")
		return nil
	}
	page, ok := helpPages[args[0]]
	if !ok {
		names := make([]string, 0, len(helpPages))
		for n := range helpPages {
			names = append(names, n)
		}
		sort.Strings(names)
		return usageError{fmt.Sprintf("no help for %q; commands: %s", args[0], strings.Join(names, ", "))}
	}
	section := func(name, text string) {
		if text == "" {
			return
		}
		fmt.Fprintf(stdout, "%s\n", name)
		for _, l := range strings.Split(text, "\n") {
			fmt.Fprintf(stdout, "       %s\n", l)
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "CYGNET-%s(8)\n\n", strings.ToUpper(args[0]))
	section("NAME", "cygnet "+args[0]+" - "+page.name)
	section("SYNOPSIS", page.synopsis)
	section("DESCRIPTION", page.description)
	if page.options != nil {
		var b strings.Builder
		fs := page.options()
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		slices.Sort(names)
		for _, n := range names {
			f := fs.Lookup(n)
			arg, use := flag.UnquoteUsage(f)
			fmt.Fprintf(&b, "--%s %s\n       %s", n, arg, use)
			if f.DefValue != "" && f.DefValue != "false" {
				fmt.Fprintf(&b, " (default %s)", f.DefValue)
			}
			b.WriteString("\n")
		}
		section("OPTIONS", strings.TrimSuffix(b.String(), "\n"))
	}
	section("EXIT STATUS", page.exit)
	section("FILES", page.files)
	section("EXAMPLE", page.example)
	section("SEE ALSO", "cygnet help, swanctl.conf(5), strongswan.conf(5)")
	return nil
}
