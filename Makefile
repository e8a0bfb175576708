# The gateway's build and test entry points. `make test` is what CI runs.
GO      ?= go
PKGS    ?= ./...
export CGO_ENABLED = 1
# Builds, tests and lint use Go 1.27.3, which the go command fetches from the
# module proxy on first use (~10 s): the standard library of Go 1.26.8 has
# known vulnerabilities fixed since (make lint lists them with
# GOTOOLCHAIN=local). go.mod still accepts Go 1.26.8 for `go run`.
export GOTOOLCHAIN := go1.27.3

.PHONY: all build test test-deps lint bench bench-proxy soak fuzz clean

all: build

## build: release binaries. -tags prod leaves out the quickstart (`gateway dev`:
## the development OpenID provider and the demo tool); `go run ./cmd/gateway dev` keeps it.
build:
	$(GO) build -tags prod -trimpath -o bin/gateway ./cmd/gateway
	$(GO) build -o bin/gateway-agent ./cmd/gateway-agent

## test: install missing system packages, then run every unit and integration test with -race.
test: test-deps
	$(GO) mod download
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-deps:
	./scripts/test-deps.sh

## lint: gofmt, vet, and govulncheck with an offline copy of the Go vulnerability database
## (scripts/vulncheck: fails on reachable vulnerabilities of required modules).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run ./scripts/vulncheck

## bench: the speed benchmarks quoted in docs and issues.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/route/ ./internal/policy/ ./internal/token/ ./contexttoken/ ./internal/store/ ./internal/proxy/ ./internal/auth/ ./internal/metrics/ ./internal/schedule/ ./internal/justify/ ./internal/breakglass/ ./internal/audit/

## bench-proxy: the black-box proxy benchmark (docs/performance.md): `gateway serve`
## next to the upstream, nginx, the Go floor and oauth2-proxy. BENCH_FLAGS are
## passed on (e.g. BENCH_FLAGS="-rounds 5 -out /tmp/report.md").
BENCH_FLAGS ?=
bench-proxy:
	./bench/proxy-blackbox.sh $(BENCH_FLAGS)

## soak: SOAK_RATE requests per second for SOAK_DURATION through the full chain —
## the release binary (`gateway serve`), a real OIDC sign-in, a TPM-attested
## device bound to the session, a ticket, an open window, Redis, audit to a
## file — sampling the gateway's RSS and go_goroutines every 5 s (bench/blackbox
## -soak). Fails on any non-2xx answer, goroutines at the end above those at
## 10 s + 20, or RSS at the end above 1.5x that at 10 s. Not part of `make test`.
SOAK_RATE     ?= 500
SOAK_DURATION ?= 60s
soak:
	@command -v redis-server >/dev/null || ./scripts/test-deps.sh
	@d=$$(mktemp -d /tmp/soak.XXXXXX); trap 'rm -rf "$$d"' EXIT; \
	$(GO) build -tags prod -o "$$d/gateway" ./cmd/gateway && \
	$(GO) build -o "$$d/blackbox" ./bench/blackbox && \
	"$$d/blackbox" -gateway "$$d/gateway" -soak $(SOAK_DURATION) -rate $(SOAK_RATE)

## fuzz: a short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "$$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
