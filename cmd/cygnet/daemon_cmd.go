package main

import (
	"errors"
	"io"
)

func cmdDaemon(args []string, socket string, stderr io.Writer) error {
	return errors.New("the daemon is not built yet")
}

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	return errors.New("the demo is not built yet")
}
