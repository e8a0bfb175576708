#!/usr/bin/env bash
# Proxy throughput benchmark: the upstream directly, a bare httputil.ReverseProxy,
# and the gateway with its whole check chain (session lookup, decision, context
# token, audit, header hygiene), each under wrk on loopback. Prints req/s, the
# ratio to the upstream, and CPU microseconds per request of the proxy process.
#
#   bench/proxy.sh [seconds=10] [connections=64] [routes=1]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-64}; routes=${3:-1}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
go build -o /tmp/gwbench ./bench/gwbench
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
/tmp/gwbench upstream -addr 127.0.0.1:9100 & pids+=($!)
/tmp/gwbench bare -addr 127.0.0.1:9101 -upstream http://127.0.0.1:9100 & pids+=($!); bare=$!
/tmp/gwbench gateway -addr 127.0.0.1:9102 -upstream http://127.0.0.1:9100 -routes "$routes" > /tmp/gwbench.out & pids+=($!); gw=$!
for _ in $(seq 50); do grep -q COOKIE /tmp/gwbench.out 2>/dev/null && break; sleep 0.2; done
cookie=$(sed -n 's/^COOKIE //p' /tmp/gwbench.out)
sleep 0.5

cpu() { awk '{print $14+$15}' /proc/$1/stat; }   # utime+stime in clock ticks
hz=$(getconf CLK_TCK)
run() { # name url pid [header]
  local name=$1 url=$2 pid=$3 hdr=${4:-}
  local before after out rps
  [ -n "$pid" ] && before=$(cpu "$pid")
  if [ -n "$hdr" ]; then out=$(wrk -t2 -c"$conns" -d"${secs}s" -H "$hdr" "$url"); else out=$(wrk -t2 -c"$conns" -d"${secs}s" "$url"); fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  if [ -n "$pid" ]; then
    after=$(cpu "$pid")
    awk -v n="$name" -v r="$rps" -v b="$before" -v a="$after" -v s="$secs" -v hz="$hz" -v e="${non2xx:-0}" \
      'BEGIN { printf "%-10s %10.0f req/s  %6.1f us CPU/req  non-2xx=%s\n", n, r, (a-b)/hz*1e6/(r*s), e }'
  else
    printf "%-10s %10.0f req/s  non-2xx=%s\n" "$name" "$rps" "${non2xx:-0}"
  fi
  echo "$rps" > "/tmp/gwbench.$name"
}
run upstream http://127.0.0.1:9100/ ""
run bare http://127.0.0.1:9101/ "$bare"
run gateway http://localhost:9102/ "$gw" "Cookie: $cookie"
awk -v u="$(cat /tmp/gwbench.upstream)" -v b="$(cat /tmp/gwbench.bare)" -v g="$(cat /tmp/gwbench.gateway)" \
  'BEGIN { printf "bare/upstream %.3f  gateway/upstream %.3f  gateway/bare %.3f\n", b/u, g/u, g/b }'
