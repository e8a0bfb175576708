package store

import (
	"context"
	"errors"
)

// IsUnavailable reports whether err means the store could not answer (Redis
// down, a timeout, a closed store) as opposed to a definite answer: it is
// false for nil, for ErrNotFound and for the caller's own context
// cancellation (context.Canceled), and true for everything else, including
// context.DeadlineExceeded, since a deadline that runs out while waiting for
// the store usually means the store is slow or gone.
//
// Callers deny either way; IsUnavailable only chooses the page and the
// metric ("the session store is unavailable" rather than "sign in").
func IsUnavailable(err error) bool {
	return err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, context.Canceled)
}

// ErrNoPermission is wrapped by the error of a check that found the store's
// server refusing a command or key the store needs (a Redis ACL user
// without +eval, say): configuration, not an outage.
var ErrNoPermission = errors.New("store: the server refuses a permission the gateway needs")
