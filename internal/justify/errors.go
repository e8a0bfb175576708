package justify

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned (wrapped) by Lookup when the system answers that
// the ticket does not exist. Systems answer the same for a ticket the
// gateway's account may not see, so the two are not told apart. The answer
// is cached for the system's negative TTL.
var ErrNotFound = errors.New("justify: ticket not found")

// UnavailableError is returned by Lookup when the system could not give an
// answer: a timeout, a connection error, an error status (5xx, 401/403,
// redirects), a rate limit (429, and the wait it asked for), an open circuit
// breaker, or a body that is not what the system documents (garbage,
// oversized, unknown shape). It is never cached as an answer. The caller
// denies with ReasonUnavailable.
type UnavailableError struct {
	// System is the configured name of the system.
	System string
	// Cause says what went wrong, for logs and audit (never credentials or
	// response bodies).
	Cause string
	// RetryAt, when set, is when the system may be asked again (429
	// Retry-After, or the circuit breaker's next probe).
	RetryAt time.Time
	// Err is the underlying error, if any.
	Err error
	// OnlyThisTicket is set when the system did answer, and only this
	// ticket's answer cannot be used (a GitHub issue transferred to another
	// repository, an incident or alert with more users than the gateway
	// looks up): the lookup is unavailable, but the system is not unhealthy,
	// so the circuit breaker does not count it.
	OnlyThisTicket bool
}

func (e *UnavailableError) Error() string {
	s := fmt.Sprintf("justify: system %q unavailable: %s", e.System, e.Cause)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Parse error kinds; a *ParseError wraps one of them (test with errors.Is).
var (
	ErrEmpty            = errors.New("no ticket ID given")
	ErrTooLong          = errors.New("ticket ID too long")
	ErrLookalike        = errors.New("ticket ID contains a character that is not plain ASCII")
	ErrBadID            = errors.New("not a ticket ID of the system")
	ErrUnknownSystem    = errors.New("unknown ticket system")
	ErrSystemNotAllowed = errors.New("ticket system not accepted here")
	ErrWrongHost        = errors.New("URL is not on the host of an accepted ticket system")
	ErrBadURL           = errors.New("URL does not point at a ticket")
	ErrAmbiguous        = errors.New("ticket ID matches several systems")
)

// ParseError says why what the user typed is not accepted. Its message is
// safe to show to the user.
type ParseError struct {
	Kind   error  // one of the Err* kinds above
	Detail string // what exactly, in plain words
}

func (e *ParseError) Error() string {
	if e.Detail == "" {
		return "justify: " + e.Kind.Error()
	}
	return "justify: " + e.Kind.Error() + ": " + e.Detail
}

func (e *ParseError) Unwrap() error { return e.Kind }

func parseErr(kind error, format string, a ...any) *ParseError {
	return &ParseError{Kind: kind, Detail: fmt.Sprintf(format, a...)}
}
