package main

import (
	"errors"
	"io"
)

func keys(w io.Writer, args []string) error {
	return errors.New("keys: not built yet")
}
