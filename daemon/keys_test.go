package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/ike/wire"
	"github.com/cygnet-ipsec/cygnet/ipsec"
	"github.com/cygnet-ipsec/cygnet/lease"
)

// keysBase is the configuration every case of TestEveryKey starts from: one
// PSK connection with one child, one authority and one pool. Each case
// writes its option at the "@kind@" line of its section kind.
const keysBase = `connections {
    gw {
        remote_addrs = 192.0.2.2
@connection@
        local {
            auth = psk
            id = gw1
@local@
        }
        remote {
            auth = psk
            id = gw2
@remote@
        }
        children {
            net {
                local_ts = 10.1.0.0/16
                remote_ts = 10.2.0.0/16
@child@
            }
        }
    }
}
authorities {
    ca {
@authority@
    }
}
pools {
    p {
@pool@
    }
}
secrets {
    ike-1 {
        secret = "a shared secret of more than twenty characters"
@secret@
    }
    ppk-1 {
        secret = 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
        id = ppk
    }
    private-1 {
@private@
    }
}
`

// writeKey puts an unencrypted private key into dir/private/name.
func writeKey(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "private", name), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// keyResult is what the daemon makes of a configuration: its translation
// (when accepted), the refusal and the warnings.
type keyResult struct {
	pc       *ike.PeerConfig
	cc       *ike.ChildConfig
	err      error
	warnings config.Problems
}

// fate is what happens to an option cygnet's parser accepts.
type fate int

const (
	effect  fate = iota // it changes what the daemon runs (check says how)
	refused             // check-config refuses it with its line
	warned              // accepted with a warning at its line
	same                // the value asks for what cygnet does anyway
	trust               // identity and trust keys, tested by issue 8's trust part
)

// keyCase is one option with a value and its fate; effect checks are in
// TestEveryKey's effects map.
type keyCase struct {
	kind, key, value string
	fate             fate
	// refused, warned: text in the message; same, trust: why
	want string
}

func loadKeyCase(t *testing.T, dir string, c keyCase) (keyResult, int) {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.Split(keysBase, "\n") {
		switch {
		case l == "@"+c.kind+"@":
			fmt.Fprintf(&b, "%s = %s\n", c.key, c.value)
		case strings.HasPrefix(l, "@"):
			b.WriteString("\n")
		default:
			b.WriteString(l + "\n")
		}
	}
	text := b.String()
	if c.kind != "authority" || (c.key != "cacert" && c.key != "file") {
		text = strings.Replace(text, "    ca {\n", "    ca {\n        cacert = ca.pem\n", 1)
	}
	if c.kind != "pool" || c.key != "addrs" {
		text = strings.Replace(text, "    p {\n", "    p {\n        addrs = 10.3.0.0/24\n", 1)
	}
	if c.kind != "private" || c.key != "file" {
		text = strings.Replace(text, "    private-1 {\n", "    private-1 {\n        file = key.pem\n", 1)
	}
	if c.kind != "private" || c.key != "secret" {
		text = strings.Replace(text, "    private-1 {\n", "    private-1 {\n        secret = passphrase\n", 1)
	}
	// The option is the one line without indentation; a warning about a
	// whole section (pools, key passphrases) names the section's line.
	line := 0
	for i, l := range strings.Split(text, "\n") {
		if l != "" && l[0] != ' ' && strings.Contains(l, " = ") {
			line = i + 1
		}
		if c.kind == "pool" && c.key == "nbns" && l == "    p {" || c.kind == "private" && l == "    private-1 {" {
			line = i + 1
			break
		}
	}
	path := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var r keyResult
	cfg, err := LoadConfig(path)
	if err == nil {
		var pcs []*ike.PeerConfig
		if pcs, err = PeerConfigs(cfg); err == nil {
			r.pc, r.cc = pcs[0], pcs[0].Children[0]
		}
		r.warnings = Warnings(cfg)
	}
	r.err = err
	return r, line
}

// TestEveryKey walks every option config accepts (config.Options) and
// shows, per option, that it takes effect in what the daemon runs, is
// refused by check-config with its line, or is warned about with its line.
// Options with deeper tests elsewhere name them: TestChildOptionsTakeEffect
// (packet bytes), TestAddrsRangesAndNames, TestWarnings.
func TestEveryKey(t *testing.T) {
	dir := t.TempDir()
	writeCA(t, dir, "ca.pem")
	writeKey(t, dir, "key.pem")
	want := func(ok bool, format string, args ...any) string {
		if ok {
			return ""
		}
		return fmt.Sprintf(format, args...)
	}
	pcs := func(f func(pc *ike.PeerConfig) string) func(keyResult) string {
		return func(r keyResult) string { return f(r.pc) }
	}
	ccs := func(f func(cc *ike.ChildConfig) string) func(keyResult) string {
		return func(r keyResult) string { return f(r.cc) }
	}
	notImpl := "not implemented by cygnet yet"
	notSup := "is not supported by cygnet"
	cases := []keyCase{
		// connections.<conn>
		{"connection", "aggressive", "yes", refused, notSup},
		{"connection", "childless", "prefer", refused, notImpl + " (childless IKE SAs)"},
		{"connection", "dpd_delay", "30s", effect, ""},
		{"connection", "dpd_timeout", "150s", effect, ""},
		{"connection", "dscp", "101110", refused, notImpl + " (DSCP of IKE packets)"},
		{"connection", "encap", "yes", effect, ""},
		{"connection", "encap_tcp", "fallback", effect, ""},
		{"connection", "tcp_fallback_timeout", "3s", refused, "only used with encap_tcp = fallback"},
		{"connection", "fragmentation", "no", effect, ""},
		{"connection", "if_id_in", "42", refused, notImpl + " (XFRM interfaces)"},
		{"connection", "if_id_out", "42", refused, notImpl + " (XFRM interfaces)"},
		{"connection", "keyingtries", "0", effect, ""},
		{"connection", "local_addrs", "192.0.2.1", effect, ""},
		{"connection", "local_port", "4500", refused, notImpl + " (IKE on another port than 500"},
		{"connection", "mediated_by", "med", refused, notSup + " (IKEv2 mediation extension)"},
		{"connection", "mediation", "yes", refused, notSup + " (IKEv2 mediation extension)"},
		{"connection", "mediation_peer", "peer", refused, notSup + " (IKEv2 mediation extension)"},
		{"connection", "mobike", "no", effect, ""},
		{"connection", "redirect_to", "192.0.2.9", effect, ""},
		// Their effect: TestRedirectConfig.
		{"connection", "redirect_in", "auth", refused, "only used with redirect_to"},
		{"connection", "redirect_when_sas", "10", refused, "only used with redirect_to"},
		{"connection", "ocsp", "request", refused, notSup + " (no OCSP)"},
		{"connection", "over_time", "1h", effect, ""},
		{"connection", "pools", "p", effect, ""},
		{"connection", "ppk_id", "ppk", effect, ""},
		{"connection", "ppk_required", "yes", effect, ""},
		{"connection", "proposals", "aes256gcm16-prfsha384-ecp384-ke1_mlkem768", effect, ""},
		{"connection", "pull", "no", same, "IKEv1 mode config pull; IKEv2 has no pull mode, strongSwan ignores it there too"},
		{"connection", "rand_time", "5m", effect, ""},
		{"connection", "reauth_time", "2h", effect, ""},
		{"connection", "rekey_time", "2h", effect, ""},
		{"connection", "remote_addrs", "192.0.2.10-192.0.2.20", effect, ""},
		{"connection", "remote_port", "4501", effect, ""},
		{"connection", "send_cert", "always", effect, ""},
		{"connection", "send_certreq", "no", effect, ""},
		{"connection", "unique", "replace", effect, ""},
		{"connection", "version", "1", refused, notSup + " (IKEv1 is not implemented"},
		{"connection", "vips", "0.0.0.0, ::", effect, ""},

		// local<suffix> and remote<suffix>
		{"local", "aaa_id", "aaa", refused, notImpl + " (AAA identities"},
		{"local", "auth", "", trust, "eap-mschapv2, eap-md5, eap-tls: TestEAPConfig, TestEAPTLSConfig"},
		{"local", "ca_id", "", trust, ""},
		{"local", "cacerts", "", trust, ""},
		{"local", "cert_policy", "1.2.3", refused, notSup + " (certificate policy rules)"},
		{"local", "certs", "", trust, ""},
		{"local", "eap_id", "me", refused, "only used with auth = eap-<method>, this round has auth = psk"},
		{"local", "groups", "g", refused, notSup + " (group membership rules)"},
		{"local", "id", "", trust, ""},
		{"local", "pubkeys", "", trust, ""},
		{"local", "revocation", "strict", warned, "it has no effect in a local round"},
		{"local", "round", "5", same, "the number only orders the rounds (TestEAPSecondRoundConfig)"},
		{"local", "xauth_id", "x", refused, notSup + " (XAuth is IKEv1)"},
		{"remote", "aaa_id", "aaa", refused, notImpl + " (AAA identities"},
		{"remote", "auth", "", trust, "eap-mschapv2, eap-md5, eap-tls, eap-radius: TestEAPConfig, TestEAPTLSConfig"},
		{"remote", "ca_id", "", trust, ""},
		{"remote", "cacerts", "", trust, ""},
		{"remote", "cert_policy", "1.2.3", refused, notSup + " (certificate policy rules)"},
		{"remote", "certs", "", trust, ""},
		{"remote", "eap_id", "you", refused, "only used with auth = eap-<method>, this round has auth = psk"},
		{"remote", "groups", "g", refused, notSup + " (group membership rules)"},
		{"remote", "id", "", trust, ""},
		{"remote", "pubkeys", "", trust, ""},
		{"remote", "revocation", "relaxed", warned, "cygnet does not check certificate revocation yet"},
		{"remote", "round", "5", same, "the number only orders the rounds (TestEAPSecondRoundConfig)"},
		{"remote", "xauth_id", "x", refused, notSup + " (XAuth is IKEv1)"},

		// children.<child>
		{"child", "ah_proposals", "sha256-esn", effect, ""},
		{"child", "close_action", "trap", effect, ""},
		{"child", "copy_df", "no", effect, ""},
		{"child", "copy_dscp", "in", effect, ""},
		{"child", "copy_ecn", "no", effect, ""},
		{"child", "dpd_action", "restart", effect, ""},
		{"child", "esp_proposals", "aes256gcm16-ecp384-ke1_mlkem768", effect, ""},
		{"child", "hostaccess", "yes", effect, ""},
		{"child", "hw_offload", "yes", refused, notSup + " (no hardware offload"},
		{"child", "icmp", "yes", refused, notImpl + " (ICMP forwarding)"},
		{"child", "if_id_in", "42", refused, notImpl + " (XFRM interfaces)"},
		{"child", "if_id_out", "42", refused, notImpl + " (XFRM interfaces)"},
		{"child", "inactivity", "5m", refused, notImpl + " (inactivity timeouts)"},
		{"child", "interface", "eth0", refused, notImpl + " (interface-bound policies)"},
		{"child", "ipcomp", "yes", refused, notSup + " (IPComp)"},
		{"child", "label", "system_u:object_r:ipsec_spd_t:s0", refused, notSup + " (security labels)"},
		{"child", "label_mode", "selinux", refused, notSup + " (security labels)"},
		{"child", "life_bytes", "1G", effect, ""},
		{"child", "life_packets", "1000000", effect, ""},
		{"child", "life_time", "2h", effect, ""},
		{"child", "local_ts", "10.9.0.0/16", effect, ""},
		{"child", "mark_in", "42", refused, notImpl + " (marks)"},
		{"child", "mark_in_sa", "yes", refused, notImpl + " (marks)"},
		{"child", "mark_out", "42", refused, notImpl + " (marks)"},
		{"child", "mode", "transport", effect, ""},
		{"child", "per_cpu_sas", "yes", refused, notSup + " (per-CPU SAs"},
		{"child", "policies", "no", refused, notImpl + " (policy-less SAs)"},
		{"child", "policies_fwd_out", "yes", refused, notImpl + " (forward policies)"},
		{"child", "priority", "10", refused, notImpl + " (fixed policy priorities)"},
		{"child", "rand_bytes", "1M", effect, ""},
		{"child", "rand_packets", "100", effect, ""},
		{"child", "rand_time", "1m", effect, ""},
		{"child", "rekey_bytes", "512M", effect, ""},
		{"child", "rekey_packets", "500000", effect, ""},
		{"child", "rekey_time", "30m", effect, ""},
		{"child", "remote_ts", "10.8.0.0/16", effect, ""},
		{"child", "replay_window", "0", effect, ""},
		{"child", "reqid", "7", refused, notImpl + " (fixed reqids)"},
		{"child", "set_mark_in", "42", refused, notImpl + " (marks)"},
		{"child", "set_mark_out", "42", refused, notImpl + " (marks)"},
		{"child", "sha256_96", "yes", refused, notImpl + " (truncated SHA-256)"},
		{"child", "start_action", "trap", effect, ""},
		{"child", "tfc_padding", "100", effect, ""},
		{"child", "updown", "/bin/true", effect, ""},

		// authorities.<name>
		{"authority", "cacert", "", trust, ""},
		{"authority", "cert_uri_base", "http://certs.example/", refused, notImpl + " (hash-and-URL certificates"},
		{"authority", "crl_uris", "http://crl.example/ca.crl", warned, "cygnet does not check certificate revocation yet"},
		{"authority", "file", "", trust, ""},
		{"authority", "handle", "01", refused, notSup + " (PKCS#11 tokens)"},
		{"authority", "module", "m", refused, notSup + " (PKCS#11 tokens)"},
		{"authority", "ocsp_uris", "http://ocsp.example", warned, "cygnet does not check certificate revocation yet"},
		{"authority", "slot", "1", refused, notSup + " (PKCS#11 tokens)"},
	}
	// pools.<name>: addresses, DNS servers, split-tunnel subnets and the
	// netmask go to clients; the other attributes are refused.
	cases = append(cases,
		keyCase{"pool", "addrs", "10.4.0.0/28", effect, ""},
		keyCase{"pool", "dns", "10.3.0.1, fd00::53", effect, ""},
		keyCase{"pool", "subnet", "10.1.0.0/16, fd01::/64", effect, ""},
		keyCase{"pool", "netmask", "255.255.255.0", effect, ""},
		keyCase{"pool", "nbns", "10.3.0.1", refused, notImpl + " (NetBIOS name servers)"},
		keyCase{"pool", "dhcp", "10.3.0.1", refused, notImpl + " (INTERNAL_IP4_DHCP)"},
		keyCase{"pool", "server", "10.3.0.1", refused, notImpl + " (INTERNAL_IP4_SERVER)"},
		keyCase{"pool", "p_cscf", "10.3.0.1", refused, notImpl + " (P-CSCF"},
		keyCase{"pool", "split_include", "10.3.0.0/24", refused, notImpl + " (Cisco Unity split-include)"},
		keyCase{"pool", "split_exclude", "10.3.0.0/24", refused, notImpl + " (Cisco Unity split-exclude)"},
	)
	cases = append(cases,
		keyCase{"secret", "id", "gw2", trust, ""},
		keyCase{"secret", "secret", "short", warned, "the pre-shared key has 5 characters"},
		keyCase{"private", "file", "key.pem", warned, "cygnet reads only unencrypted private keys, so this passphrase is not used"},
		keyCase{"private", "secret", "pass", warned, "cygnet reads only unencrypted private keys, so this passphrase is not used"},
	)

	pools := func(f func(p *lease.Pool, at poolAttrs) string) func(keyResult) string {
		return func(keyResult) string {
			cfg, err := LoadConfig(filepath.Join(dir, "swanctl.conf"))
			if err != nil {
				return err.Error()
			}
			ps, attrs, err := buildPools(cfg)
			if err != nil || len(ps) != 1 {
				return fmt.Sprintf("pools %v: %v", ps, err)
			}
			return f(ps[0], attrs["p"])
		}
	}
	effects := map[string]func(keyResult) string{
		"connection.pools": pcs(func(pc *ike.PeerConfig) string {
			return want(slices.Equal(pc.Pools, []string{"p"}), "Pools %v", pc.Pools)
		}),
		"connection.vips": pcs(func(pc *ike.PeerConfig) string {
			return want(len(pc.VIPs) == 2 && pc.VIPs[0].String() == "0.0.0.0" && pc.VIPs[1].String() == "::", "VIPs %v", pc.VIPs)
		}),
		"pool.addrs": pools(func(p *lease.Pool, _ poolAttrs) string {
			return want(p.Base().String() == "10.4.0.1" && p.Size() == 14, "pool %v size %d", p.Base(), p.Size())
		}),
		"pool.dns": pools(func(_ *lease.Pool, at poolAttrs) string {
			return want(fmt.Sprint(at.dns) == "[10.3.0.1 fd00::53]", "DNS %v", at.dns)
		}),
		"pool.subnet": pools(func(_ *lease.Pool, at poolAttrs) string {
			return want(fmt.Sprint(at.subnets) == "[10.1.0.0/16 fd01::/64]", "subnets %v", at.subnets)
		}),
		"pool.netmask": pools(func(_ *lease.Pool, at poolAttrs) string {
			return want(at.netmask.String() == "255.255.255.0", "netmask %v", at.netmask)
		}),
		"connection.dpd_delay": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.DPDDelay == 30*time.Second, "DPDDelay %v", pc.DPDDelay)
		}),
		"connection.dpd_timeout": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.DPDTimeout == 150*time.Second, "DPDTimeout %v", pc.DPDTimeout)
		}),
		"connection.encap_tcp": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.TCP.Mode == ike.TCPFallback, "TCP %+v", pc.TCP)
		}),
		"connection.encap": pcs(func(pc *ike.PeerConfig) string { return want(pc.Encap, "Encap %v", pc.Encap) }),
		"connection.redirect_to": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.RedirectTo.String() == "192.0.2.9", "RedirectTo %v", pc.RedirectTo)
		}),
		"connection.mobike": pcs(func(pc *ike.PeerConfig) string { return want(!pc.MOBIKE, "MOBIKE %v", pc.MOBIKE) }),
		"connection.fragmentation": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.Fragmentation == ike.FragmentationNo, "Fragmentation %v", pc.Fragmentation)
		}),
		"connection.keyingtries": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.KeyingTries == ike.KeyingTriesForever, "KeyingTries %v", pc.KeyingTries)
		}),
		"connection.local_addrs": pcs(func(pc *ike.PeerConfig) string {
			return want(len(pc.LocalAddrs) == 1 && pc.LocalAddrs[0].String() == "192.0.2.1/32", "LocalAddrs %v", pc.LocalAddrs)
		}),
		"connection.ppk_id": pcs(func(pc *ike.PeerConfig) string {
			return want(string(pc.PPKID) == "ppk", "PPKID %q", pc.PPKID)
		}),
		"connection.ppk_required": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.PPKRequired, "PPKRequired %v", pc.PPKRequired)
		}),
		"connection.over_time": pcs(func(pc *ike.PeerConfig) string { return want(pc.OverTime == time.Hour, "OverTime %v", pc.OverTime) }),
		"connection.proposals": pcs(func(pc *ike.PeerConfig) string {
			return want(len(pc.Proposals) == 1 && pc.Proposals[0].String() == "aes256gcm16-prfsha384-ecp384-ke1_mlkem768", "Proposals %v", pc.Proposals)
		}),
		"connection.rand_time": pcs(func(pc *ike.PeerConfig) string { return want(pc.RandTime == 5*time.Minute, "RandTime %v", pc.RandTime) }),
		"connection.reauth_time": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.ReauthTime == 2*time.Hour, "ReauthTime %v", pc.ReauthTime)
		}),
		"connection.rekey_time": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.RekeyTime == 2*time.Hour, "RekeyTime %v", pc.RekeyTime)
		}),
		"connection.remote_addrs": pcs(func(pc *ike.PeerConfig) string {
			return want(len(pc.RemoteAddrs) == 4 && !pc.Remote.IsValid(), "RemoteAddrs %v (want the 4 prefixes of the range), Remote %v", pc.RemoteAddrs, pc.Remote)
		}),
		"connection.remote_port": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.Remote.String() == "192.0.2.2:4501", "Remote %v", pc.Remote)
		}),
		"connection.send_cert": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.SendCert == ike.SendCertAlways, "SendCert %v", pc.SendCert)
		}),
		"connection.send_certreq": pcs(func(pc *ike.PeerConfig) string { return want(!pc.SendCertReq, "SendCertReq %v", pc.SendCertReq) }),
		"connection.unique": pcs(func(pc *ike.PeerConfig) string {
			return want(pc.Unique == uniquePolicy(config.UniqueReplace), "Unique %v", pc.Unique)
		}),
		"child.close_action": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.CloseAction == ike.ActionTrap, "CloseAction %v", cc.CloseAction)
		}),
		"child.copy_df": ccs(func(cc *ike.ChildConfig) string { return want(!cc.CopyDF, "CopyDF %v", cc.CopyDF) }),
		"child.copy_dscp": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.CopyDSCPIn && !cc.CopyDSCPOut, "CopyDSCP in %v out %v", cc.CopyDSCPIn, cc.CopyDSCPOut)
		}),
		"child.copy_ecn": ccs(func(cc *ike.ChildConfig) string { return want(!cc.CopyECN, "CopyECN %v", cc.CopyECN) }),
		"child.dpd_action": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.DPDAction == ike.ActionStart, "DPDAction %v", cc.DPDAction)
		}),
		"child.ah_proposals": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.Protocol == ipsec.ProtoAH && len(cc.Proposals) == 1 && cc.Proposals[0].Protocol == wire.ProtocolAH &&
				cc.Proposals[0].String() == "sha256-esn", "Protocol %v Proposals %v", cc.Protocol, cc.Proposals)
		}),
		"child.esp_proposals": ccs(func(cc *ike.ChildConfig) string {
			return want(len(cc.Proposals) == 1 && cc.Proposals[0].String() == "aes256gcm16-ecp384-ke1_mlkem768", "Proposals %v", cc.Proposals)
		}),
		"child.hostaccess": func(r keyResult) string {
			u := &updowns{}
			cfg, _ := LoadConfig(filepath.Join(dir, "swanctl.conf"))
			u.configure(cfg, []*ike.PeerConfig{r.pc})
			return want(u.hostAccess[r.cc], "hostaccess not recorded for the child")
		},
		"child.life_bytes": ccs(func(cc *ike.ChildConfig) string { return want(cc.LifeBytes == 1<<30, "LifeBytes %v", cc.LifeBytes) }),
		"child.life_packets": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.LifePackets == 1000000, "LifePackets %v", cc.LifePackets)
		}),
		"child.life_time": ccs(func(cc *ike.ChildConfig) string { return want(cc.LifeTime == 2*time.Hour, "LifeTime %v", cc.LifeTime) }),
		"child.local_ts": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.LocalTS[0].Endpoint.Addrs.From.String() == "10.9.0.0", "LocalTS %v", cc.LocalTS)
		}),
		"child.mode":         ccs(func(cc *ike.ChildConfig) string { return want(cc.Mode == ipsec.ModeTransport, "Mode %v", cc.Mode) }),
		"child.rand_bytes":   ccs(func(cc *ike.ChildConfig) string { return want(cc.RandBytes == 1<<20, "RandBytes %v", cc.RandBytes) }),
		"child.rand_packets": ccs(func(cc *ike.ChildConfig) string { return want(cc.RandPackets == 100, "RandPackets %v", cc.RandPackets) }),
		"child.rand_time":    ccs(func(cc *ike.ChildConfig) string { return want(cc.RandTime == time.Minute, "RandTime %v", cc.RandTime) }),
		"child.rekey_bytes": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.RekeyBytes == 512<<20, "RekeyBytes %v", cc.RekeyBytes)
		}),
		"child.rekey_packets": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.RekeyPackets == 500000, "RekeyPackets %v", cc.RekeyPackets)
		}),
		"child.rekey_time": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.RekeyTime == 30*time.Minute, "RekeyTime %v", cc.RekeyTime)
		}),
		"child.remote_ts": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.RemoteTS[0].Endpoint.Addrs.From.String() == "10.8.0.0", "RemoteTS %v", cc.RemoteTS)
		}),
		"child.replay_window": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.ReplayWindow == 0, "ReplayWindow %v", cc.ReplayWindow)
		}),
		"child.start_action": ccs(func(cc *ike.ChildConfig) string {
			return want(cc.StartAction == ike.ActionTrap, "StartAction %v", cc.StartAction)
		}),
		"child.tfc_padding": ccs(func(cc *ike.ChildConfig) string { return want(cc.TFCPadding == 100, "TFCPadding %v", cc.TFCPadding) }),
		"child.updown":      ccs(func(cc *ike.ChildConfig) string { return want(cc.Updown == "/bin/true", "Updown %q", cc.Updown) }),
	}

	// Every option the parser accepts has exactly one case.
	seen := map[string]bool{}
	for _, c := range cases {
		id := c.kind + "." + c.key
		if seen[id] {
			t.Errorf("two cases for %s", id)
		}
		seen[id] = true
	}
	kinds := config.Options()
	for kind, keys := range kinds {
		for _, k := range keys {
			if !seen[kind+"."+k] {
				t.Errorf("option %s.%s is accepted by config but has no case here: show it takes effect or refuse it", kind, k)
			}
		}
	}
	for id := range seen {
		kind, key, _ := strings.Cut(id, ".")
		if !slices.Contains(kinds[kind], key) {
			t.Errorf("case %s: config does not accept this option", id)
		}
	}

	for _, c := range cases {
		id := c.kind + "." + c.key
		if c.fate == trust {
			continue // issue 8's trust part owns and tests these
		}
		t.Run(id, func(t *testing.T) {
			r, line := loadKeyCase(t, dir, c)
			at := fmt.Sprintf("swanctl.conf:%d: ", line)
			switch c.fate {
			case same:
				if r.err != nil {
					t.Errorf("%s = %s (%s): refused: %v", c.key, c.value, c.want, r.err)
				}
				for _, w := range r.warnings {
					if w.Pos.Line == line {
						t.Errorf("%s = %s (%s): warned: %v", c.key, c.value, c.want, w)
					}
				}
			case effect:
				if r.err != nil {
					t.Fatalf("%s = %s refused: %v", c.key, c.value, r.err)
				}
				check := effects[id]
				if check == nil {
					t.Fatalf("no effect check for %s", id)
				}
				if msg := check(r); msg != "" {
					t.Errorf("%s = %s did not take effect: %s", c.key, c.value, msg)
				}
			case refused:
				if r.err == nil {
					t.Fatalf("%s = %s accepted, want it refused with %q", c.key, c.value, c.want)
				}
				found := false
				for _, l := range strings.Split(r.err.Error(), "\n") {
					found = found || (strings.Contains(l, at) && strings.Contains(l, c.want))
				}
				var ps config.Problems
				if !found && errors.As(r.err, &ps) {
					for _, p := range ps {
						found = found || (p.Pos.Line == line && strings.Contains(p.Text, c.want))
					}
				}
				if !found {
					t.Errorf("%s = %s: refusal lacks %q at line %d:\n%v", c.key, c.value, c.want, line, r.err)
				}
			case warned:
				if r.err != nil {
					t.Fatalf("%s = %s refused: %v", c.key, c.value, r.err)
				}
				wantLine := line
				found := false
				for _, w := range r.warnings {
					found = found || (w.Pos.Line == wantLine && strings.Contains(w.Text, c.want))
				}
				if !found {
					t.Errorf("%s = %s: no warning %q at line %d in %v", c.key, c.value, c.want, wantLine, r.warnings)
				}
			}
		})
	}
}
