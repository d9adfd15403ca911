package config

import (
	"strings"
)

// secrets: shared secrets and private key passphrases.

// secretTypes are the secrets.<type><suffix> sections, matched by prefix in
// this order as swanctl does.
var secretTypes = []string{"eap", "xauth", "ntlm", "ike", "ppk", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "token"}

func (d *decoder) secrets(sec *Section, out *Secrets) {
	d.noSettings(sec, "secrets")
	for _, s := range sec.Sections {
		path := "secrets." + s.Name
		typ := ""
		for _, t := range secretTypes {
			if strings.HasPrefix(s.Name, t) {
				typ = t
				break
			}
		}
		if typ == "ike" {
			d.ikeSecrets++
		}
		switch typ {
		case "ike", "eap", "xauth", "ppk":
			ss := d.sharedSecret(s, path)
			if ss == nil {
				continue
			}
			switch typ {
			case "ike":
				out.IKE = append(out.IKE, ss)
			case "eap":
				out.EAP = append(out.EAP, ss)
			case "ppk":
				if len(ss.Owners) == 0 {
					d.problems.add(s.Pos, "%s: a PPK needs at least one id<suffix> (its PPK_ID)", path)
					continue
				}
				out.PPK = append(out.PPK, ss)
			default:
				out.XAuth = append(out.XAuth, ss)
			}
		case "private", "rsa", "ecdsa", "pkcs8":
			if k := d.keyPassphrase(s, path, typ); k != nil {
				out.Keys = append(out.Keys, k)
			}
		case "ntlm":
			d.problems.add(s.Pos, "%s: NTLM secrets are not supported by cygnet", path)
		case "pkcs12":
			d.problems.add(s.Pos, "%s: PKCS#12 containers are not supported by cygnet", path)
		case "token":
			d.problems.add(s.Pos, "%s: PKCS#11 tokens are not supported by cygnet", path)
		default:
			d.problems.add(s.Pos, "secrets: unknown section %q: want ike<suffix>, eap<suffix>, xauth<suffix>, ppk<suffix>, private<suffix>, rsa<suffix>, ecdsa<suffix> or pkcs8<suffix>", s.Name)
		}
	}
}

// decodeSecret decodes 0x<hex> and 0s<base64> secrets; others are taken
// as they are.
func decodeSecret(s string) ([]byte, error) {
	b, inline, err := inlineBlob(s)
	if err != nil {
		return nil, err
	}
	if !inline {
		return []byte(s), nil
	}
	return b, nil
}

func (d *decoder) sharedSecret(sec *Section, path string) *SharedSecret {
	ss := &SharedSecret{Name: sec.Name, Pos: sec.Pos}
	found, bad := false, false
	for _, kv := range sec.Settings {
		switch {
		case kv.Key == "secret":
			if !kv.Set {
				continue
			}
			b, err := decodeSecret(kv.Value)
			if err != nil {
				// never echo the secret itself
				d.problems.add(kv.Pos, "%s: invalid secret: %v", path, err)
				bad = true
				continue
			}
			ss.Secret, ss.SecretPos, found = NewSecret(b), kv.Pos, true
		case strings.HasPrefix(kv.Key, "id"):
			if kv.Set {
				ss.Owners = append(ss.Owners, Value{Text: kv.Value, Pos: kv.Pos})
			}
		default:
			d.unknown(kv.Pos, path, kv.Key, false, []string{"secret", "id"})
		}
	}
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	if !found {
		if !bad {
			d.problems.add(sec.Pos, "%s: missing secret", path)
		}
		return nil
	}
	return ss
}

func (d *decoder) keyPassphrase(sec *Section, path, typ string) *KeyPassphrase {
	k := &KeyPassphrase{Name: sec.Name, Pos: sec.Pos}
	var file *Setting
	found := false
	for _, kv := range sec.Settings {
		switch {
		case kv.Key == "file":
			if kv.Set {
				file = kv
			}
		case strings.HasPrefix(kv.Key, "secret"):
			if kv.Set {
				k.Secret, found = NewSecret([]byte(kv.Value)), true
			}
		default:
			d.unknown(kv.Pos, path, kv.Key, false, []string{"file", "secret"})
		}
	}
	for _, sub := range sec.Sections {
		d.unknown(sub.Pos, path, sub.Name, true, nil)
	}
	if file == nil {
		d.problems.add(sec.Pos, "%s: missing file", path)
		return nil
	}
	if !found {
		d.problems.add(sec.Pos, "%s: missing secret", path)
	}
	k.File = d.creds.resolve(typ, file.Value)
	if !d.opts.SkipCredentials {
		if _, err := readCredFile(k.File); err != nil {
			d.problems.add(file.Pos, "%s: key %s: %v", path, k.File, err)
		}
	}
	return k
}
