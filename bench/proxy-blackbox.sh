#!/usr/bin/env bash
# Black-box proxy benchmark (`make bench-proxy`): the real `gateway serve`
# with a YAML config, signed in through a real OIDC code flow, next to the
# upstream, nginx, the Go floor and oauth2-proxy. See bench/blackbox and
# docs/performance.md.
#
#   bench/proxy-blackbox.sh [blackbox flags…]
#   e.g. bench/proxy-blackbox.sh -rounds 5 -duration 15s -out /tmp/report.md
#        bench/proxy-blackbox.sh -only upstream,floor,gw-mem-chain -profile /tmp/prof
#
# Installs what it needs when it is missing: wrk, nginx and redis-server from
# Debian's packages (apt-get, as root; otherwise it prints the command), and
# oauth2-proxy v7.15.6 with `go install`. The TPM simulator of the full-chain
# rows needs cgo (gcc, libssl-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
OAUTH2_PROXY_VERSION=v7.15.6

missing=()
for c in wrk nginx redis-server gcc; do command -v "$c" >/dev/null || missing+=("$c"); done
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for m in "${missing[@]}"; do case $m in redis-server) pkgs+=(redis-server);; *) pkgs+=("$m");; esac; done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
  else
    echo "missing: ${pkgs[*]}; install with: sudo apt-get install ${pkgs[*]}" >&2; exit 1
  fi
fi

gobin=$($GO env GOPATH)/bin
o2p=$(command -v oauth2-proxy || echo "$gobin/oauth2-proxy")
if [ ! -x "$o2p" ] || ! $GO version -m "$o2p" 2>/dev/null | grep -q "oauth2-proxy/v7[[:space:]]*$OAUTH2_PROXY_VERSION"; then
  echo "installing oauth2-proxy $OAUTH2_PROXY_VERSION (go install; a few minutes)…" >&2
  GOFLAGS= $GO install "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION"
  o2p="$gobin/oauth2-proxy"
fi

bin=$(mktemp -d /tmp/bench-proxy.XXXXXX)
trap 'rm -rf "$bin"' EXIT
export CGO_ENABLED=1
$GO build -o "$bin/gateway" ./cmd/gateway
$GO build -o "$bin/gwprof" ./bench/gwprof
$GO build -o "$bin/blackbox" ./bench/blackbox
"$bin/blackbox" -gateway "$bin/gateway" -profile-bin "$bin/gwprof" -oauth2-proxy "$o2p" "$@"
