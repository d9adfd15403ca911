package config

import (
	"math"
	"strings"
	"time"
)

// connections.<conn>.children.<name>: the CHILD_SA options, lifetimes,
// actions and traffic selectors.

func (d *decoder) child(sec *Section, path string) *Child {
	ch := &Child{
		Name:         sec.Name,
		Pos:          sec.Pos,
		ReplayWindow: 32,
		CopyDF:       true,
		CopyECN:      true,
		Policies:     true,
	}
	var rekeyT, lifeT, randT time.Duration
	var rekeyTSet, lifeTSet, randTSet bool
	var rekeyB, lifeB, randB, rekeyP, lifeP, randP uint64
	var rekeyBSet, lifeBSet, randBSet, rekeyPSet, lifePSet, randPSet bool
	action := func(out *Action) func(*Setting) {
		return func(kv *Setting) {
			a, ok := parseAction(kv.Value)
			if !ok {
				d.invalid(path, kv, "want none, trap, start or trap|start")
				return
			}
			*out = a
		}
	}
	mark := func(out *Mark, unique, same bool) func(*Setting) {
		return func(kv *Setting) {
			m, ok := parseMark(kv.Value, unique, same)
			if !ok {
				want := "want value[/mask]"
				if unique {
					want += ", %unique or %unique-dir"
				}
				if same {
					want += " or %same"
				}
				d.invalid(path, kv, want)
				return
			}
			*out = m
		}
	}
	h := handlers{
		"mode": func(kv *Setting) {
			switch strings.ToLower(kv.Value) {
			case "tunnel":
				ch.Mode = ModeTunnel
			case "transport":
				ch.Mode = ModeTransport
			case "pass":
				ch.Mode = ModePass
			case "drop":
				ch.Mode = ModeDrop
			case "transport_proxy":
				d.unsupportedValue(path, kv, "Mobile IPv6 transport proxy mode")
			case "beet":
				d.unsupportedValue(path, kv, "BEET mode")
			case "iptfs":
				d.unsupportedValue(path, kv, "IP-TFS, RFC 9347")
			default:
				d.invalid(path, kv, "want tunnel, transport, pass or drop")
			}
		},
		"local_ts":      func(kv *Setting) { ch.LocalTS = d.selectors(path, kv) },
		"remote_ts":     func(kv *Setting) { ch.RemoteTS = d.selectors(path, kv) },
		"esp_proposals": func(kv *Setting) { ch.ESPProposals = d.proposals("esp", kv) },
		"ah_proposals":  func(kv *Setting) { ch.AHProposals = d.proposals("ah", kv) },
		"rekey_time":    d.durationOpt(path, &rekeyT, &rekeyTSet),
		"life_time":     d.durationOpt(path, &lifeT, &lifeTSet),
		"rand_time":     d.durationOpt(path, &randT, &randTSet),
		"rekey_bytes":   d.bytesOpt(path, &rekeyB, &rekeyBSet),
		"life_bytes":    d.bytesOpt(path, &lifeB, &lifeBSet),
		"rand_bytes":    d.bytesOpt(path, &randB, &randBSet),
		"rekey_packets": d.uint64Opt(path, &rekeyP, &rekeyPSet),
		"life_packets":  d.uint64Opt(path, &lifeP, &lifePSet),
		"rand_packets":  d.uint64Opt(path, &randP, &randPSet),
		"start_action":  action(&ch.StartAction),
		"close_action":  action(&ch.CloseAction),
		"dpd_action":    action(&ch.DPDAction),
		"updown":        d.stringOpt(&ch.Updown),
		"hostaccess":    d.boolOpt(path, &ch.HostAccess),
		"ipcomp":        d.boolNotSupported(path, false, "IPComp"),
		"inactivity": func(kv *Setting) {
			v, ok := parseDuration(kv.Value)
			if !ok || v > math.MaxUint32*time.Second {
				d.invalid(path, kv, "want a duration in seconds or with a unit, like 30s, 10m, 4h or 1d")
				return
			}
			ch.Inactivity = v
		},
		"reqid":        d.uint32Opt(path, &ch.Reqid),
		"priority":     d.uint32Opt(path, &ch.Priority),
		"interface":    d.stringOpt(&ch.Interface),
		"mark_in":      mark(&ch.MarkIn, true, false),
		"mark_in_sa":   d.boolOpt(path, &ch.MarkInSA),
		"mark_out":     mark(&ch.MarkOut, true, false),
		"set_mark_in":  mark(&ch.SetMarkIn, false, true),
		"set_mark_out": mark(&ch.SetMarkOut, false, true),
		"if_id_in":     d.ifIDOpt(path, &ch.IfIDIn),
		"if_id_out":    d.ifIDOpt(path, &ch.IfIDOut),
		"tfc_padding": func(kv *Setting) {
			if kv.Value == "mtu" {
				ch.TFCPadding = TFCPaddingMTU
				return
			}
			v, ok := parseUint(kv.Value, math.MaxUint32)
			if !ok {
				d.invalid(path, kv, "want a number of bytes or mtu")
				return
			}
			ch.TFCPadding = uint32(v)
		},
		"replay_window":    d.uint32Opt(path, &ch.ReplayWindow),
		"copy_df":          d.boolOpt(path, &ch.CopyDF),
		"copy_ecn":         d.boolOpt(path, &ch.CopyECN),
		"copy_dscp":        enumOpt(d, path, &ch.CopyDSCP, map[string]CopyDSCP{"out": CopyDSCPOut, "no": CopyDSCPNo, "in": CopyDSCPIn, "yes": CopyDSCPYes}),
		"policies":         d.boolOpt(path, &ch.Policies),
		"policies_fwd_out": d.boolOpt(path, &ch.PoliciesFwdOut),
		"sha256_96":        d.boolOpt(path, &ch.SHA256_96),
		"icmp":             d.boolOpt(path, &ch.ForwardICMP),
		"hw_offload": func(kv *Setting) {
			switch strings.ToLower(kv.Value) {
			case "no":
				ch.HWOffload = HWOffloadNo
			case "auto":
				ch.HWOffload = HWOffloadAuto
			case "yes", "crypto", "packet":
				d.unsupportedValue(path, kv, "no hardware offload in a user-space data plane")
			default:
				d.invalid(path, kv, "want no, auto, yes, crypto or packet")
			}
		},
		"per_cpu_sas": func(kv *Setting) {
			v, ok := parseBool(kv.Value)
			switch {
			case ok && !v:
			case ok || strings.EqualFold(kv.Value, "encap"):
				d.unsupportedValue(path, kv, "per-CPU SAs, RFC 9611")
			default:
				d.invalid(path, kv, "want yes, no or encap")
			}
		},
		"label":      d.notSupported(path, "security labels"),
		"label_mode": d.notSupported(path, "security labels"),
	}
	ch.Set = d.settings(sec, path, h)
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	if ch.LocalTS == nil {
		ch.LocalTS = []TrafficSelector{{Text: "dynamic", Pos: sec.Pos, Dynamic: true, ToPort: math.MaxUint16}}
	}
	if ch.RemoteTS == nil {
		ch.RemoteTS = []TrafficSelector{{Text: "dynamic", Pos: sec.Pos, Dynamic: true, ToPort: math.MaxUint16}}
	}
	if ch.ESPProposals == nil && ch.AHProposals == nil {
		ch.ESPProposals = []Proposal{{Text: "default", Pos: sec.Pos, Implicit: true}}
	}

	// CHILD_SA lifetimes as check_lifetimes() in vici_config.c derives them.
	secs := func(d time.Duration) uint64 { return uint64(d / time.Second) }
	rt, lt, jt := lifetimes(secs(rekeyT), rekeyTSet, secs(lifeT), lifeTSet, secs(randT), randTSet, 3600)
	ch.RekeyTime, ch.LifeTime, ch.RandTime = time.Duration(rt)*time.Second, time.Duration(lt)*time.Second, time.Duration(jt)*time.Second
	ch.RekeyBytes, ch.LifeBytes, ch.RandBytes = lifetimes(rekeyB, rekeyBSet, lifeB, lifeBSet, randB, randBSet, 0)
	ch.RekeyPackets, ch.LifePackets, ch.RandPackets = lifetimes(rekeyP, rekeyPSet, lifeP, lifePSet, randP, randPSet, 0)
	return ch
}

// lifetimes fills unset soft/hard/jitter values: rekey = life/1.1 or the
// default, life = rekey*1.1, jitter = life - rekey (computed in floating
// point like strongSwan, then truncated).
func lifetimes(rekey uint64, rekeySet bool, life uint64, lifeSet bool, jitter uint64, jitterSet bool, def uint64) (uint64, uint64, uint64) {
	if !rekeySet {
		if lifeSet {
			rekey = floatToUint(float64(life) / 1.1)
		} else {
			rekey = def
		}
	}
	if !lifeSet {
		life = floatToUint(float64(rekey) * 1.1)
	}
	if !jitterSet {
		jitter = life - min(life, rekey)
	}
	return rekey, life, jitter
}

func floatToUint(f float64) uint64 {
	if f >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(f)
}

// parseAction parses start_action, close_action and dpd_action: none/clear,
// trap/route, start/restart, or flags joined with '|' ("trap|start").
func parseAction(s string) (Action, bool) {
	var a Action
	for _, tok := range strings.Split(strings.ToLower(s), "|") {
		switch strings.TrimSpace(tok) {
		case "none", "clear":
		case "trap", "route":
			a |= ActionTrap
		case "start", "restart":
			a |= ActionStart
		default:
			return 0, false
		}
	}
	return a, true
}

func (d *decoder) selectors(path string, kv *Setting) []TrafficSelector {
	out := []TrafficSelector{}
	for _, item := range splitList(kv.Value) {
		ts, err := parseTS(item)
		if err != nil {
			d.problems.add(kv.Pos, "%s: invalid %s entry %q: %v", path, kv.Key, item, err)
			continue
		}
		ts.Pos = kv.Pos
		out = append(out, ts)
	}
	return out
}
