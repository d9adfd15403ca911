package testnet

import (
	"fmt"
	"strings"
)

// EAPStrongSwanPlugins are DefaultStrongSwanPlugins plus strongSwan's EAP
// methods (libcharon-extauth-plugins: eap-identity, eap-mschapv2, eap-md5).
// MS-CHAPv2's MD4 and DES come from the openssl plugin, which loads
// OpenSSL 3's legacy provider for them (charon.plugins.openssl.load_legacy,
// on by default).
var EAPStrongSwanPlugins = append(append([]string(nil), DefaultStrongSwanPlugins...), "md5", "eap-identity", "eap-mschapv2", "eap-md5")

// EAPUser is one EAP identity and password for secrets.eap<suffix>.
type EAPUser struct{ ID, Secret string }

// EAPConfig describes the road-warrior shape of RFC 7296 2.16 in
// swanctl.conf, the same text for cygnet and strongSwan: the gateway
// authenticates with its certificate (gw.crt, id GatewayID), the client
// with EAP; fixed traffic selectors (no virtual IPs).
type EAPConfig struct {
	Name                    string // connection name
	LocalAddrs, RemoteAddrs string
	GatewayID               string
	// Method is the auth value of the EAP round, e.g. "eap-mschapv2".
	Method string
	// ClientID is the client's IKE identity and EAPID its eap_id (on the
	// gateway, "%any" asks the client for it with EAP-Identity).
	ClientID, EAPID string
	// LocalTS and RemoteTS of the one child "net" ("dynamic" for a
	// virtual IP).
	LocalTS, RemoteTS string
	Users             []EAPUser
	// ClientCerts, when set, is the client's local certs (EAP-TLS).
	ClientCerts string
	// Extra is added to the connection section, e.g. "pools = p4" on a
	// gateway or "vips = 0.0.0.0" on a client.
	Extra string
}

// Gateway renders the gateway's swanctl.conf: certificate out, EAP in.
func (c EAPConfig) Gateway() string { return EAPSwanctl([]string{c.GatewayConn()}, c.Users) }

// Client renders the client's swanctl.conf: EAP out, the gateway's
// certificate in.
func (c EAPConfig) Client() string { return EAPSwanctl([]string{c.ClientConn()}, c.Users) }

// GatewayConn is the gateway's connection section alone.
func (c EAPConfig) GatewayConn() string {
	return c.conn(fmt.Sprintf("      auth = pubkey\n      certs = gw.crt\n      id = %s", c.GatewayID),
		fmt.Sprintf("      auth = %s\n      eap_id = %s", c.Method, c.EAPID))
}

// ClientConn is the client's connection section alone.
func (c EAPConfig) ClientConn() string {
	local := fmt.Sprintf("      auth = %s\n      id = %s\n      eap_id = %s", c.Method, c.ClientID, c.EAPID)
	if c.ClientCerts != "" {
		local += "\n      certs = " + c.ClientCerts
	}
	return c.conn(local,
		fmt.Sprintf("      auth = pubkey\n      id = %s\n      cacerts = ca.crt", c.GatewayID))
}

// EAPSwanctl puts connection sections and EAP secrets into one
// swanctl.conf.
func EAPSwanctl(conns []string, users []EAPUser) string {
	var b strings.Builder
	b.WriteString("connections {\n")
	for _, c := range conns {
		b.WriteString(c)
	}
	b.WriteString("}\nsecrets {\n")
	for i, u := range users {
		fmt.Fprintf(&b, "  eap-%d {\n    id = %s\n    secret = \"%s\"\n  }\n", i, u.ID, u.Secret)
	}
	b.WriteString("}\n")
	return b.String()
}

func (c EAPConfig) conn(local, remote string) string {
	return fmt.Sprintf(`  %s {
    version = 2
    local_addrs = %s
    remote_addrs = %s
    proposals = aes128gcm16-prfsha256-x25519
    send_cert = always
    %s
    local {
%s
    }
    remote {
%s
    }
    children {
      net {
        local_ts = %s
        remote_ts = %s
        esp_proposals = aes128gcm16
      }
    }
  }
`, c.Name, c.LocalAddrs, c.RemoteAddrs, c.Extra, local, remote, c.LocalTS, c.RemoteTS)
}
