package daemon

import (
	"net"
	"strconv"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/radius"
)

// RADIUSClient builds the RADIUS client of strongswan.conf's eap-radius
// servers, tried in the order written, each with its own retransmission, as
// strongSwan's eap-radius plugin uses them; nil when none is configured.
// The EAP pass-through (auth = eap-radius) will use it.
func RADIUSClient(r *config.EAPRadius) *radius.Client {
	if r == nil || len(r.Servers) == 0 {
		return nil
	}
	c := &radius.Client{NASIdentifier: r.NASIdentifier, Timeout: r.RetransmitTimeout, Base: r.RetransmitBase, Tries: r.RetransmitTries}
	for _, s := range r.Servers {
		c.Servers = append(c.Servers, radius.Server{
			Name:     s.Name,
			Addr:     net.JoinHostPort(s.Address, strconv.Itoa(int(s.AuthPort))),
			AcctAddr: net.JoinHostPort(s.Address, strconv.Itoa(int(s.AcctPort))),
			Secret:   s.Secret.Bytes(), NASIdentifier: s.NASIdentifier,
			Timeout: s.RetransmitTimeout, Base: s.RetransmitBase, Tries: s.RetransmitTries,
		})
	}
	return c
}
