// Package ops holds the operations tests: real gateway processes (the
// release binary, built once per run with -tags prod) and a real
// redis-server, for key and certificate rotation under load, graceful
// shutdown, replicas that survive losing one; the production build's
// dependencies; the Helm chart rendered by a real helm and decoded strictly
// into Kubernetes API types; and the monitoring rules checked by promtool.
//
// Tools it needs and how it gets them: redis-server and promtool (Debian's
// redis-server and prometheus packages, installed by `make test`); helm,
// installed with `go install helm.sh/helm/v3/cmd/helm@HelmVersion` into
// the user's cache directory when it is not on PATH (the test is skipped
// only when the Go module proxy cannot be reached).
package ops
