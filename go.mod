module github.com/cygnet-ipsec/cygnet

go 1.26.0

require (
	filippo.io/bigmod v0.1.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
