package daemon

import (
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/cygnet-ipsec/cygnet/config"
	"github.com/cygnet-ipsec/cygnet/ike"
)

// NoStrongswanConf as Options.StrongswanConf reads no strongswan.conf.
const NoStrongswanConf = "none"

// FindStrongswanConf returns the strongswan.conf the daemon reads for a
// swanctl.conf when none is named: strongswan.conf beside it, else one
// directory up (/etc/swanctl/swanctl.conf -> /etc/strongswan.conf, where
// strongSwan keeps it), else "" (strongSwan's defaults apply).
func FindStrongswanConf(swanctlConf string) string {
	dir := filepath.Dir(swanctlConf)
	for _, path := range []string{filepath.Join(dir, "strongswan.conf"), filepath.Join(filepath.Dir(dir), "strongswan.conf")} {
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			return path
		}
	}
	return ""
}

// LoadCharon reads the daemon-wide settings: path as given (NoStrongswanConf
// for none), or the file FindStrongswanConf finds when path is empty. A nil
// result without error means no file. The error is a config.Problems list.
func LoadCharon(path, swanctlConf string) (*config.Charon, error) {
	switch path {
	case NoStrongswanConf:
		return nil, nil
	case "":
		if path = FindStrongswanConf(swanctlConf); path == "" {
			return nil, nil
		}
	}
	return config.LoadCharon(path)
}

// CharonWarnings are the warnings of strongswan.conf: settings cygnet
// ignores, and RADIUS servers that no connection of cfg uses.
func CharonWarnings(c *config.Charon, cfg *config.Config) config.Problems {
	if c == nil {
		return nil
	}
	ws := append(config.Problems(nil), c.Warnings...)
	if c.EAPRadius != nil && !c.EAPRadius.Accounting && (cfg == nil || len(usesRADIUS(cfg)) == 0) {
		ws = append(ws, config.Problem{Pos: c.EAPRadius.Pos, Text: "charon.plugins.eap-radius: " +
			"no connection has auth = eap-radius, so these RADIUS settings are not used"})
	}
	if c.EAPRadius != nil && c.EAPRadius.Accounting && len(c.EAPRadius.Servers) == 0 {
		ws = append(ws, config.Problem{Pos: c.EAPRadius.AccountingPos, Text: "charon.plugins.eap-radius.accounting: " +
			"no RADIUS server is configured, so no accounting records are sent"})
	}
	return ws
}

func logCharonWarnings(log *slog.Logger, c *config.Charon, cfg *config.Config) {
	for _, w := range CharonWarnings(c, cfg) {
		log.Warn("strongswan.conf: " + w.Error())
	}
}

// strongSwan's defaults of the per-source thresholds, needed to apply its
// rule that blocking starts above the per-source cookie threshold.
const (
	defaultCookieThresholdIP = 3
	defaultBlockThreshold    = 5
)

// disabled maps strongSwan's 0 ("no such check") to the Manager's
// math.MaxInt.
func disabled(n int) int {
	if n == 0 {
		return math.MaxInt
	}
	return n
}

// IKEOptions turns the charon section into the IKE Manager's options.
// Settings the file leaves out keep cygnet's defaults, which are
// strongSwan's except two meant for a gateway under attack: cookies from 10
// half-open SAs (strongSwan 30) and at most 1000 half-open SAs in all
// (strongSwan unlimited).
func IKEOptions(c *config.Charon) ike.Options {
	var o ike.Options
	if c == nil {
		return o
	}
	if c.RetransmitTimeout.Set {
		o.RetransmitTimeout = time.Duration(c.RetransmitTimeout.Value * float64(time.Second))
	}
	if c.RetransmitBase.Set {
		o.RetransmitBase = c.RetransmitBase.Value
	}
	if c.RetransmitTries.Set {
		o.RetransmitTries = c.RetransmitTries.Value
		if o.RetransmitTries == 0 {
			o.RetransmitTries = -1 // the Manager's "none"; 0 is its default
		}
	}
	if c.RetransmitLimit.Set {
		o.RetransmitLimit = time.Duration(c.RetransmitLimit.Value) * time.Second
	}
	if c.RetransmitJitter.Set {
		o.RetransmitJitter = c.RetransmitJitter.Value
	}
	if c.InitLimitHalfOpen.Set {
		o.HalfOpenLimit = disabled(c.InitLimitHalfOpen.Value)
	}
	o.EAPTLSMaxVersion = c.TLSVersionMax
	if c.EAPTLSFragmentSize.Set {
		o.EAPTLSFragmentSize = c.EAPTLSFragmentSize.Value
	}
	if !c.DoSProtection {
		o.CookieThreshold, o.CookieThresholdPerSource, o.HalfOpenPerSource = math.MaxInt, math.MaxInt, math.MaxInt
		return o
	}
	if c.CookieThreshold.Set {
		o.CookieThreshold = disabled(c.CookieThreshold.Value)
	}
	ip, block := defaultCookieThresholdIP, defaultBlockThreshold
	if c.CookieThresholdIP.Set {
		ip = disabled(c.CookieThresholdIP.Value)
		o.CookieThresholdPerSource = ip
	}
	if c.BlockThreshold.Set {
		block = disabled(c.BlockThreshold.Value)
		o.HalfOpenPerSource = block
	}
	// as strongSwan: a source is never blocked before it is asked for
	// cookies
	if ip != math.MaxInt && block != math.MaxInt && ip >= block {
		o.HalfOpenPerSource = ip + 1
	}
	return o
}
