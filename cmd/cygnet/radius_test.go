package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const radiusGatewayConf = `connections {
  rw {
    local {
      auth = psk
      id = gw.example
    }
    remote {
      auth = eap-radius
      eap_id = %any
    }
    children {
      net {
        local_ts = 10.1.0.0/16
      }
    }
  }
}
secrets {
  ike-gw {
    id = gw.example
    secret = "a pre-shared key of 30 letters"
  }
}
`

// auth = eap-radius needs RADIUS servers in strongswan.conf: without them
// check-config refuses the line; with them it accepts the file, accounting
// included, without a warning.
func TestCheckConfigEAPRadius(t *testing.T) {
	conf := writeConf(t, radiusGatewayConf)
	code, out, _ := runCmd("check-config", "--strongswan-conf", "none", conf)
	if code == 0 || !strings.Contains(out, conf+":8: auth = eap-radius needs RADIUS servers in strongswan.conf") {
		t.Fatalf("without RADIUS servers: exit %d, output:\n%s", code, out)
	}
	ss := filepath.Join(t.TempDir(), "strongswan.conf")
	if err := os.WriteFile(ss, []byte("charon {\n  plugins {\n    eap-radius {\n      accounting = yes\n      server = 127.0.0.1\n      secret = s3cret\n    }\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCmd("check-config", "--strongswan-conf", ss, conf)
	if code != 0 || !strings.Contains(out, "ok (1 connections)") || strings.Contains(out, "not used") || strings.Contains(out, "warning") {
		t.Fatalf("with a RADIUS server: exit %d, output:\n%s", code, out)
	}
	// A client cannot use eap-radius.
	client := strings.Replace(strings.Replace(radiusGatewayConf, "auth = eap-radius\n      eap_id = %any", "auth = psk", 1), "auth = psk", "auth = eap-radius", 1)
	if code, out, _ = runCmd("check-config", "--strongswan-conf", ss, writeConf(t, client)); code == 0 || !strings.Contains(out, "eap-radius is how a gateway checks its clients") {
		t.Fatalf("eap-radius as a client's own auth: exit %d, output:\n%s", code, out)
	}
}
