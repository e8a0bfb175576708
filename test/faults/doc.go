// Package faults runs the release gateway binary (`gateway serve`, built
// once per run with -tags prod) as a subprocess and breaks what it depends
// on while it serves: Redis stopped and paused, the OIDC provider down (at
// start and after sign-in), upstreams that never answer or stall their
// body, the audit file that cannot be written, an invalid configuration
// written over the watched file, and a SIGKILL in the middle of requests.
//
// Each test asserts the gateway fails closed — the request is denied with a
// page or JSON error that names what failed, nothing reaches the upstream
// without its decision record, the audit log says what happened — and that
// it recovers by itself, without a restart, once the fault is gone. The
// numbers it reads (go_goroutines, gateway_config_*, /readyz) come from the
// admin listener, as an operator would read them.
//
// Tools: redis-server (Debian's package, installed by `make test`); the
// tests that need it are skipped without it, or fail when CI is set.
package faults
