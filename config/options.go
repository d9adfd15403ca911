package config

import "slices"

// probeKey is an option name no section accepts; Options writes it into
// every section so the decoder names the options it knows there.
const probeKey = "cygnet_options_probe"

// Options returns the option names the parser accepts in each kind of
// section: "connection", "local", "remote", "child", "authority", "pool",
// "secret" (ike, eap and xauth secrets) and "private" (key passphrases).
// Accepted means parsed, not necessarily implemented: the daemon refuses or
// warns about what it does not do. Tests use it to check that every option
// has a defined fate.
func Options() map[string][]string {
	const src = `connections { c { ` + probeKey + ` = 1
  local { ` + probeKey + ` = 1 }
  remote { ` + probeKey + ` = 1 }
  children { ch { ` + probeKey + ` = 1 } } } }
authorities { a { ` + probeKey + ` = 1
  cacert = probe.pem } }
pools { p { ` + probeKey + ` = 1 } }
secrets { ike { ` + probeKey + ` = 1
  secret = probe }
  private { ` + probeKey + ` = 1
  file = probe.pem
  secret = probe } }
`
	root, _ := parseSource(noFiles{}, "options.conf", []byte(src))
	out := map[string][]string{}
	kinds := map[string]string{
		"connections.c": "connection", "connections.c.local": "local", "connections.c.remote": "remote",
		"connections.c.children.ch": "child", "authorities.a": "authority", "pools.p": "pool",
		"secrets.ike": "secret", "secrets.private": "private",
	}
	o := LoadOptions{SkipCredentials: true, probe: func(path string, known []string) {
		if k, ok := kinds[path]; ok {
			out[k] = slices.Sorted(slices.Values(known))
		}
	}}
	o.build("options.conf", root, nil)
	return out
}
