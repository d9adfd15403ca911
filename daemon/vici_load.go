package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/vici"
)

// viciStore is what VICI clients loaded (swanctl --load-all sends each
// connection, secret, pool, authority, certificate and key of a
// swanctl.conf as its own message). It is kept as swanctl.conf text and
// files in a private folder and loaded through the same configuration
// loader as the file, so VICI accepts exactly what check-config accepts and
// refuses the rest with the loader's reason, which names the option. The
// running configuration is the file's plus what VICI loaded (a VICI
// connection replaces the file's of the same name).
type viciStore struct {
	mu          sync.Mutex
	dir         string
	conns       map[string]string
	secrets     map[string]string
	pools       map[string]string
	authorities map[string]string
	files       map[string][]byte // below dir: x509/, x509ca/, private/
	keys        []string          // ids of loaded keys (file names below private/)
}

// remove deletes the store's folder (when the daemon stops).
func (s *viciStore) remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// viciLoadHandlers registers the load, unload and get commands.
func (d *Daemon) viciLoadHandlers(srv *vici.Server) *viciStore {
	s := &viciStore{conns: map[string]string{}, secrets: map[string]string{}, pools: map[string]string{},
		authorities: map[string]string{}, files: map[string][]byte{}}
	h := srv.Handle
	h("load-conn", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciLoadSection(s, req, "connections", s.conns)
	})
	h("load-pool", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciLoadSection(s, req, "pools", s.pools)
	})
	h("load-authority", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciLoadSection(s, req, "authorities", s.authorities)
	})
	h("unload-conn", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciUnload(s, s.conns, req.String("name"), "connection")
	})
	h("unload-pool", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciUnload(s, s.pools, req.String("name"), "pool")
	})
	h("unload-authority", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciUnload(s, s.authorities, req.String("name"), "authority")
	})
	h("unload-shared", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciUnload(s, s.secrets, req.String("id"), "shared secret")
	})
	h("get-authorities", func(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
		s.mu.Lock()
		defer s.mu.Unlock()
		return vici.NewMessage().SetList("authorities", sortedKeys(s.authorities))
	})
	h("get-shared", func(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
		s.mu.Lock()
		defer s.mu.Unlock()
		return vici.NewMessage().SetList("keys", sortedKeys(s.secrets))
	})
	h("get-keys", func(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
		s.mu.Lock()
		defer s.mu.Unlock()
		return vici.NewMessage().SetList("keys", slices.Clone(s.keys))
	})
	h("load-shared", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciLoadShared(s, req)
	})
	h("load-cert", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciLoadCert(s, req)
	})
	h("load-key", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		return d.viciLoadKey(s, req)
	})
	h("unload-key", func(_ context.Context, req *vici.Message, _ func(string, *vici.Message)) *vici.Message {
		s.mu.Lock()
		defer s.mu.Unlock()
		id := req.String("id")
		i := slices.Index(s.keys, id)
		if i < 0 {
			return vici.Failure(fmt.Sprintf("unloading private key %q failed: not found", id))
		}
		oldKeys, oldFiles := slices.Clone(s.keys), s.files
		s.keys = slices.Delete(s.keys, i, i+1)
		s.files = withoutFile(s.files, filepath.Join(config.DirPrivate, id+".der"))
		if err := d.viciApply(s); err != nil {
			s.keys, s.files = oldKeys, oldFiles
			return vici.Failure(err.Error())
		}
		return vici.Success()
	})
	h("clear-creds", func(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
		s.mu.Lock()
		defer s.mu.Unlock()
		oldS, oldF, oldK := s.secrets, s.files, s.keys
		s.secrets, s.files, s.keys = map[string]string{}, map[string][]byte{}, nil
		if err := d.viciApply(s); err != nil {
			s.secrets, s.files, s.keys = oldS, oldF, oldK
			return vici.Failure(err.Error())
		}
		return vici.Success()
	})
	h("flush-certs", func(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
		return vici.Success() // cygnet caches no fetched certificates
	})
	// get-conns names the connections VICI loaded: swanctl --load-conns
	// unloads what it lists and the file does not have, and the
	// connections of cygnet's own file are not VICI's to unload.
	h("get-conns", func(context.Context, *vici.Message, func(string, *vici.Message)) *vici.Message {
		s.mu.Lock()
		defer s.mu.Unlock()
		return vici.NewMessage().SetList("conns", sortedKeys(s.conns))
	})
	return s
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func withoutFile(files map[string][]byte, name string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for k, v := range files {
		if k != name {
			out[k] = v
		}
	}
	return out
}

// nameRE is what VICI may name a section or option: a swanctl.conf name
// (a dot would be a path in the settings syntax).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_\-]{1,128}$`)

// viciLoadSection handles load-conn, load-pool and load-authority: one
// section named after the connection (pool, authority).
func (d *Daemon) viciLoadSection(s *viciStore, req *vici.Message, top string, into map[string]string) *vici.Message {
	keys := req.Keys()
	if len(keys) != 1 || req.Sub(keys[0]) == nil {
		return vici.Failure(fmt.Sprintf("load of %s: want exactly one section, got %d entries", top, len(keys)))
	}
	name := keys[0]
	var b strings.Builder
	if err := writeSettings(&b, name, req.Sub(name), "  ", 0); err != nil {
		return vici.Failure(fmt.Sprintf("loading %s: %v", name, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := into[name]
	into[name] = b.String()
	if err := d.viciApply(s); err != nil {
		if had {
			into[name] = old
		} else {
			delete(into, name)
		}
		return vici.Failure(err.Error())
	}
	return vici.Success()
}

func (d *Daemon) viciUnload(s *viciStore, from map[string]string, name, what string) *vici.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := from[name]
	if !ok {
		return vici.Failure(fmt.Sprintf("%s '%s' not found", what, name))
	}
	delete(from, name)
	if err := d.viciApply(s); err != nil {
		from[name] = old
		return vici.Failure(err.Error())
	}
	return vici.Success()
}

// viciLoadShared turns load-shared (id, type, data, owners) into a secrets
// section.
func (d *Daemon) viciLoadShared(s *viciStore, req *vici.Message) *vici.Message {
	typ, id := req.String("type"), req.String("id")
	switch typ {
	case "ike", "eap", "xauth", "ppk":
	default:
		return vici.Failure(fmt.Sprintf("shared key type %q not supported by cygnet (ike, eap, xauth and ppk are)", typ))
	}
	if id == "" || !nameRE.MatchString(id) {
		return vici.Failure(fmt.Sprintf("invalid shared key id %q", id))
	}
	section := id
	if !strings.HasPrefix(section, typ) {
		section = typ + "-" + id
	}
	data, ok := req.Get("data")
	if !ok {
		return vici.Failure("missing shared key data")
	}
	owners, _ := req.List("owners")
	var b strings.Builder
	fmt.Fprintf(&b, "  %s {\n", section)
	for i, o := range owners {
		fmt.Fprintf(&b, "    id-%d = %s\n", i+1, quote(o))
	}
	fmt.Fprintf(&b, "    secret = 0x%s\n  }\n", hex.EncodeToString([]byte(data)))
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.secrets[id]
	s.secrets[id] = b.String()
	if err := d.viciApply(s); err != nil {
		if had {
			s.secrets[id] = old
		} else {
			delete(s.secrets, id)
		}
		return vici.Failure(err.Error())
	}
	return vici.Success()
}

func (d *Daemon) viciLoadCert(s *viciStore, req *vici.Message) *vici.Message {
	typ, flag := req.String("type"), req.String("flag")
	if typ != "X509" {
		return vici.Failure(fmt.Sprintf("certificate type %q not supported by cygnet (X509 is)", typ))
	}
	dir := config.DirX509
	switch flag {
	case "", "NONE":
	case "CA":
		dir = config.DirX509CA
	default:
		return vici.Failure(fmt.Sprintf("X509 certificate flag %q not supported by cygnet (NONE and CA are)", flag))
	}
	data, ok := req.Get("data")
	if !ok || data == "" {
		return vici.Failure("missing certificate data")
	}
	sum := sha256.Sum256([]byte(data))
	return d.viciAddFile(s, filepath.Join(dir, hex.EncodeToString(sum[:8])+".der"), []byte(data), "")
}

func (d *Daemon) viciLoadKey(s *viciStore, req *vici.Message) *vici.Message {
	switch typ := req.String("type"); typ {
	case "rsa", "ecdsa", "ed25519", "any", "":
	default:
		return vici.Failure(fmt.Sprintf("private key type %q not supported by cygnet", typ))
	}
	data, ok := req.Get("data")
	if !ok || data == "" {
		return vici.Failure("missing private key data")
	}
	sum := sha256.Sum256([]byte(data))
	id := hex.EncodeToString(sum[:20])
	resp := d.viciAddFile(s, filepath.Join(config.DirPrivate, id+".der"), []byte(data), id)
	if resp.String("success") == "yes" {
		resp.Set("id", id)
	}
	return resp
}

func (d *Daemon) viciAddFile(s *viciStore, name string, data []byte, keyID string) *vici.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldF, oldK := s.files, s.keys
	s.files = withoutFile(s.files, name)
	s.files[name] = data
	if keyID != "" && !slices.Contains(s.keys, keyID) {
		s.keys = append(slices.Clone(s.keys), keyID)
	}
	if err := d.viciApply(s); err != nil {
		s.files, s.keys = oldF, oldK
		return vici.Failure(err.Error())
	}
	return vici.Success()
}

// fileListKeys carry file contents (swanctl reads the files and sends the
// blobs); the loader takes them back inline as 0s<base64>.
var fileListKeys = map[string]bool{"certs": true, "cacerts": true, "pubkeys": true, "cacert": true}

// writeSettings renders a VICI section as swanctl.conf text.
func writeSettings(b *strings.Builder, name string, m *vici.Message, indent string, depth int) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid section name %q", name)
	}
	if depth > 8 {
		return fmt.Errorf("sections nested too deep at %q", name)
	}
	fmt.Fprintf(b, "%s%s {\n", indent, name)
	seen := map[string]bool{}
	err := m.Each(func(key string, value *string, list []string, sec *vici.Message) error {
		if seen[key] {
			return fmt.Errorf("%s given twice in %s", key, name)
		}
		seen[key] = true
		if sec != nil {
			return writeSettings(b, key, sec, indent+"  ", depth+1)
		}
		if !nameRE.MatchString(key) {
			return fmt.Errorf("invalid option name %q", key)
		}
		if value != nil {
			if fileListKeys[key] {
				list = []string{*value}
			} else {
				fmt.Fprintf(b, "%s  %s = %s\n", indent, key, quote(*value))
				return nil
			}
		}
		items := make([]string, len(list))
		for i, it := range list {
			if fileListKeys[key] {
				items[i] = "0s" + base64.StdEncoding.EncodeToString([]byte(it))
			} else {
				if it == "" || quote(strings.ReplaceAll(it, ":", "")) != strings.ReplaceAll(it, ":", "") || !utf8.ValidString(it) {
					// one plain word (an address, selector or proposal; IPv6 colons allowed)
					return fmt.Errorf("%s: invalid list item %q", key, it)
				}
				items[i] = it
			}
		}
		fmt.Fprintf(b, "%s  %s = %s\n", indent, key, strings.Join(items, ", "))
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "%s}\n", indent)
	return nil
}

// quote writes a value so the settings parser reads it back unchanged:
// plain when it is one word of printable ASCII without the syntax's
// characters, quoted with escapes otherwise.
func quote(v string) string {
	plain := v != ""
	for i := 0; i < len(v) && plain; i++ {
		c := v[i]
		plain = c > ' ' && c < 0x7f && !strings.ContainsRune("\"\\{}#=,'$:", rune(c))
	}
	if plain {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(v) + `"`
}

// viciApply loads the file and what VICI loaded together and, if that is a
// good configuration, puts it in force as a reload does: connections added
// or changed start (their start actions run), removed or changed ones are
// torn down, unchanged ones keep their SAs. The caller holds s.mu.
func (d *Daemon) viciApply(s *viciStore) error {
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "cygnet-vici-")
		if err != nil {
			return fmt.Errorf("vici: %w", err)
		}
		s.dir = dir
	}
	var b strings.Builder
	for _, sec := range []struct {
		name string
		m    map[string]string
	}{{"connections", s.conns}, {"secrets", s.secrets}, {"pools", s.pools}, {"authorities", s.authorities}} {
		if len(sec.m) == 0 {
			continue
		}
		b.WriteString(sec.name + " {\n")
		for _, k := range sortedKeys(sec.m) {
			b.WriteString(sec.m[k])
		}
		b.WriteString("}\n")
	}
	// a fresh folder each time: files unloaded are gone
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("vici: %w", err)
	}
	for name, data := range s.files {
		p := filepath.Join(s.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("vici: %w", err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return fmt.Errorf("vici: %w", err)
		}
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("vici: %w", err)
	}
	path := filepath.Join(s.dir, "swanctl.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("vici: %w", err)
	}
	vcfg, err := LoadConfig(path)
	if err != nil {
		// the loader names the option and its line in the text above
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), path, "vici"))
	}
	fcfg, err := LoadConfig(d.opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("configuration file: %w", err)
	}
	cfg := mergeConfigs(fcfg, vcfg)
	conns, err := PeerConfigs(cfg)
	if err != nil {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), path, "vici"))
	}
	base, err := newCredentials(cfg)
	if err != nil {
		return err
	}
	creds, err := newPubkeyCredentials(cfg, base)
	if err != nil {
		return err
	}
	var applyErr error
	if err := d.onLoop(func() {
		if applyErr = d.pools.configure(cfg); applyErr != nil {
			return
		}
		d.creds.cur = creds
		d.vici.loaded = vcfg
		ch := d.applyConns(conns)
		d.updown.configure(cfg, d.mgr.Conns())
		d.log.Info("vici: configuration loaded", "connections", len(conns), "changes", ch.String())
	}); err != nil {
		return err
	}
	return applyErr
}

// withVICI is cfg with what VICI clients loaded (on the event loop).
func (d *Daemon) withVICI(cfg *config.Config) *config.Config {
	if d.vici == nil || d.vici.loaded == nil {
		return cfg
	}
	return mergeConfigs(cfg, d.vici.loaded)
}

// startActionsOf runs a just loaded connection's start actions, as
// strongSwan does on load-conn.
func (d *Daemon) startActionsOf(c *ike.PeerConfig) {
	for _, ch := range c.Children {
		switch ch.StartAction {
		case ike.ActionStart:
			if !d.childUp(c.Name, ch.Name) {
				if err := d.mgr.Initiate(c.Name, ch.Name); err != nil {
					d.log.Warn("start_action failed", "conn", c.Name, "child", ch.Name, "err", err)
				}
			}
		case ike.ActionTrap:
			if err := d.mgr.InstallTrap(c.Name, ch.Name); err != nil {
				d.log.Warn("start_action trap failed", "conn", c.Name, "child", ch.Name, "err", err)
			}
		}
	}
}

// mergeConfigs is the file's configuration with what VICI loaded; VICI's
// connections, pools and authorities replace the file's of the same name.
func mergeConfigs(f, v *config.Config) *config.Config {
	out := *f
	out.Connections = nil
	for _, c := range f.Connections {
		if v.Connection(c.Name) == nil {
			out.Connections = append(out.Connections, c)
		}
	}
	out.Connections = append(out.Connections, v.Connections...)
	out.Pools = nil
	for _, p := range f.Pools {
		if v.Pool(p.Name) == nil {
			out.Pools = append(out.Pools, p)
		}
	}
	out.Pools = append(out.Pools, v.Pools...)
	out.Authorities = append(slices.Clone(f.Authorities), v.Authorities...)
	out.Secrets = config.Secrets{
		IKE:   append(slices.Clone(f.Secrets.IKE), v.Secrets.IKE...),
		EAP:   append(slices.Clone(f.Secrets.EAP), v.Secrets.EAP...),
		XAuth: append(slices.Clone(f.Secrets.XAuth), v.Secrets.XAuth...),
		PPK:   append(slices.Clone(f.Secrets.PPK), v.Secrets.PPK...),
		Keys:  append(slices.Clone(f.Secrets.Keys), v.Secrets.Keys...),
	}
	out.Credentials = config.Credentials{
		Certs:       append(slices.Clone(f.Credentials.Certs), v.Credentials.Certs...),
		CACerts:     append(slices.Clone(f.Credentials.CACerts), v.Credentials.CACerts...),
		Pubkeys:     append(slices.Clone(f.Credentials.Pubkeys), v.Credentials.Pubkeys...),
		PrivateKeys: append(slices.Clone(f.Credentials.PrivateKeys), v.Credentials.PrivateKeys...),
	}
	return &out
}
