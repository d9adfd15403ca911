package main

import (
	"errors"
	"io"
)

func cmdDaemon(args []string, socket string, stderr io.Writer) error {
	return errors.New("the daemon is not built yet")
}

