package main

import (
	"context"
	"errors"
)

func dev(ctx context.Context, args []string) error {
	return errors.New("dev: not built yet")
}
