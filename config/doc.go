// Package config reads strongSwan's swanctl.conf, so that existing
// strongSwan users bring their configuration to cygnet unchanged.
//
// The settings syntax (sections, "key = value" to the end of the line,
// quoted strings with escapes, '#' comments, "include" with globs relative
// to the including file, section references "name : other { }", later keys
// winning) is parsed exactly as strongSwan's flex/bison grammar does, and
// every value keeps its file and line. Load turns the tree into typed
// structs with swanctl.conf(5)'s defaults, reads the credential folders
// beside the file (x509/, x509ca/, pubkey/, private/, rsa/, ecdsa/, pkcs8/)
// and reports every problem at once as "file:line: reason": unknown options,
// invalid values, and strongSwan features cygnet does not support, each
// named precisely rather than ignored.
//
// Files: settings.go parses the syntax, resolve.go follows section
// references; load.go holds Load, the decoder and the authentication rounds,
// connection.go, child.go, pool.go (pools and authorities) and secrets.go one
// section kind each, creds.go the credential folders. Options lists the
// option names every section kind accepts; the daemon decides which of them
// it implements, refuses or warns about.
package config
