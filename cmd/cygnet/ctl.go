package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cygnet-ipsec/cygnet/control"
)

// callTimeout bounds a control command; initiate waits for the tunnel.
const callTimeout = 30 * time.Second

func simple(socket string, req control.Request, out io.Writer) error {
	resp, err := control.Call(socket, req, callTimeout)
	if err != nil {
		return err
	}
	if resp.Message != "" {
		fmt.Fprintln(out, resp.Message)
	}
	return nil
}

func cmdInitiate(args []string, socket string, out io.Writer) error {
	fs := newFlags("initiate")
	child := fs.String("child", "", "Child SA to initiate")
	ikeName := fs.String("ike", "", "IKE SA (connection) to initiate")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *child == "" && *ikeName == "" {
		return usageError{"need --child NAME or --ike NAME"}
	}
	return simple(socket, control.Request{Command: control.CmdInitiate, IKE: *ikeName, Child: *child}, out)
}

func cmdTerminate(args []string, socket string, out io.Writer) error {
	fs := newFlags("terminate")
	child := fs.String("child", "", "Child SA to delete")
	ikeName := fs.String("ike", "", "IKE SA (connection) to delete")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*child == "") == (*ikeName == "") {
		return usageError{"need exactly one of --child NAME or --ike NAME"}
	}
	return simple(socket, control.Request{Command: control.CmdTerminate, IKE: *ikeName, Child: *child}, out)
}

func cmdRekey(args []string, socket string, out io.Writer) error {
	fs := newFlags("rekey")
	child := fs.String("child", "", "Child SA to rekey")
	ikeName := fs.String("ike", "", "IKE SA (connection) to rekey")
	reauth := fs.Bool("reauth", false, "reauthenticate the IKE SA instead of rekeying it")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*child == "") == (*ikeName == "") {
		return usageError{"need exactly one of --child NAME or --ike NAME"}
	}
	if *reauth && *ikeName == "" {
		return usageError{"--reauth needs --ike NAME"}
	}
	return simple(socket, control.Request{Command: control.CmdRekey, IKE: *ikeName, Child: *child, Reauth: *reauth}, out)
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdListSAs(args []string, socket string, out io.Writer) error {
	fs := newFlags("list-sas")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	resp, err := control.Call(socket, control.Request{Command: control.CmdListSAs}, callTimeout)
	if err != nil {
		return err
	}
	sas := resp.IKESAs
	if sas == nil {
		sas = []control.IKESA{}
	}
	if *asJSON {
		return printJSON(out, sas)
	}
	for _, sa := range sas {
		fmt.Fprintf(out, "%s: #%d, %s, IKEv2, %s_i%s %s_r%s\n", sa.Name, sa.UniqueID, sa.State,
			sa.InitiatorSPI, star(sa.Initiator), sa.ResponderSPI, star(!sa.Initiator))
		fmt.Fprintf(out, "  local  '%s' @ %s[%d]%s\n", sa.LocalID, sa.LocalHost, sa.LocalPort, natMark(sa.NATLocal))
		fmt.Fprintf(out, "  remote '%s' @ %s[%d]%s%s\n", sa.RemoteID, sa.RemoteHost, sa.RemotePort, natMark(sa.NATRemote), tcpMark(sa.TCP))
		alg := fmt.Sprintf("%s-%d", sa.EncrAlg, sa.EncrKeysize)
		if sa.IntegAlg != "" {
			alg += "/" + sa.IntegAlg
		}
		fmt.Fprintf(out, "  %s/%s/%s%s\n", alg, sa.PRFAlg, sa.DHGroup, additionalKEs(sa.KeyExchanges))
		fmt.Fprintf(out, "  established %ds ago, rekeying in %ds\n", sa.Established, sa.RekeyTime)
		if len(sa.LocalVIPs) > 0 {
			fmt.Fprintf(out, "  local  vips %s\n", strings.Join(sa.LocalVIPs, " "))
		}
		if len(sa.RemoteVIPs) > 0 {
			fmt.Fprintf(out, "  remote vips %s\n", strings.Join(sa.RemoteVIPs, " "))
		}
		if len(sa.DNS) > 0 {
			fmt.Fprintf(out, "  dns %s\n", strings.Join(sa.DNS, " "))
		}
		for _, c := range sa.ChildSAs {
			encap := ""
			if c.Encap {
				encap = "-in-UDP"
			}
			fmt.Fprintf(out, "  %s: #%d, reqid %d, %s, %s%s, %s:\n", c.Name, c.UniqueID, c.UniqueID, c.State, c.Mode, encap, c.Protocol)
			calg := fmt.Sprintf("%s-%d", c.EncrAlg, c.EncrKeysize)
			if c.IntegAlg != "" {
				calg += "/" + c.IntegAlg
			}
			if c.DHGroup != "" {
				calg += "/" + c.DHGroup + additionalKEs(c.KeyExchanges)
			}
			fmt.Fprintf(out, "    %s\n", calg)
			fmt.Fprintf(out, "    installed %ds ago, rekeying in %ds, expires in %ds\n", c.InstallTime, c.RekeyTime, c.LifeTime)
			fmt.Fprintf(out, "    in  %s, %7d bytes, %5d packets\n", c.SPIIn, c.BytesIn, c.PacketsIn)
			fmt.Fprintf(out, "    out %s, %7d bytes, %5d packets\n", c.SPIOut, c.BytesOut, c.PacketsOut)
			fmt.Fprintf(out, "    local  %s\n", strings.Join(c.LocalTS, " "))
			fmt.Fprintf(out, "    remote %s\n", strings.Join(c.RemoteTS, " "))
		}
	}
	return nil
}

// additionalKEs names the RFC 9370 additional key exchanges after the
// first as swanctl --list-sas does: "/KE1_ML_KEM_768/KE2_...".
func additionalKEs(kes []string) string {
	var b strings.Builder
	for i, ke := range kes {
		if i > 0 {
			fmt.Fprintf(&b, "/KE%d_%s", i, ke)
		}
	}
	return b.String()
}

func star(b bool) string {
	if b {
		return "*"
	}
	return ""
}

func tcpMark(b bool) string {
	if b {
		return " [TCP]"
	}
	return ""
}

func natMark(b bool) string {
	if b {
		return " [NAT]"
	}
	return ""
}

func cmdListConns(args []string, socket string, out io.Writer) error {
	fs := newFlags("list-conns")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	resp, err := control.Call(socket, control.Request{Command: control.CmdListConns}, callTimeout)
	if err != nil {
		return err
	}
	conns := resp.Conns
	if conns == nil {
		conns = []control.Conn{}
	}
	if *asJSON {
		return printJSON(out, conns)
	}
	for _, c := range conns {
		fmt.Fprintf(out, "%s: %s...%s  %s\n", c.Name, strings.Join(c.LocalAddrs, ","), strings.Join(c.RemoteAddrs, ","), c.Version)
		fmt.Fprintf(out, "  local:  %s, id %s\n", c.LocalAuth, c.LocalID)
		fmt.Fprintf(out, "  remote: %s, id %s\n", c.RemoteAuth, c.RemoteID)
		for _, ch := range c.Children {
			fmt.Fprintf(out, "  %s: %s, start_action %s\n", ch.Name, ch.Mode, ch.StartAction)
			fmt.Fprintf(out, "    local:  %s\n", strings.Join(ch.LocalTS, " "))
			fmt.Fprintf(out, "    remote: %s\n", strings.Join(ch.RemoteTS, " "))
		}
	}
	return nil
}

// cmdStats prints the daemon's counters. They are JSON either way; --json is
// accepted so that scripts can ask for it as they do of list-sas.
func cmdStats(args []string, socket string, out io.Writer) error {
	fs := newFlags("stats")
	fs.Bool("json", true, "print JSON (the only format)")
	if err := parse(fs, args); err != nil {
		return err
	}
	resp, err := control.Call(socket, control.Request{Command: control.CmdStats}, callTimeout)
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(resp.Stats, &v); err != nil {
		return fmt.Errorf("daemon's stats: %w", err)
	}
	return printJSON(out, v)
}

// cmdListPools prints the address pools and their leases, as swanctl
// --list-pools --leases does.
func cmdListPools(args []string, socket string, out io.Writer) error {
	fs := newFlags("list-pools")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	resp, err := control.Call(socket, control.Request{Command: control.CmdListPools}, callTimeout)
	if err != nil {
		return err
	}
	pools := resp.Pools
	if pools == nil {
		pools = []control.Pool{}
	}
	if *asJSON {
		return printJSON(out, pools)
	}
	for _, p := range pools {
		fmt.Fprintf(out, "%-20s %-39s %d / %d / %d\n", p.Name, p.Base, p.Online, p.Offline, p.Size)
		for _, l := range p.Leases {
			fmt.Fprintf(out, "  %-39s %-7s '%s'\n", l.Address, l.Status, l.Identity)
		}
	}
	return nil
}

func cmdRedirect(args []string, socket string, out io.Writer) error {
	fs := newFlags("redirect")
	ikeName := fs.String("ike", "", "connection whose established clients to redirect")
	gw := fs.String("gateway", "", "IP address of the gateway to send them to")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ikeName == "" || *gw == "" {
		return usageError{"need --ike NAME and --gateway ADDR"}
	}
	return simple(socket, control.Request{Command: control.CmdRedirect, IKE: *ikeName, Gateway: *gw}, out)
}
