#!/usr/bin/env bash
# Proxy throughput benchmark: the upstream directly, a bare httputil.ReverseProxy,
# and the gateway with its whole check chain (session lookup, decision, context
# token, audit, header hygiene), each under wrk on loopback. Prints req/s, the
# ratio to the upstream, and CPU microseconds per request of the proxy process.
#
#   bench/proxy.sh [seconds=10] [connections=64] [routes=1] [rounds=1]
#
# With rounds > 1, bare and gateway alternate that many times and the
# medians are reported (the machine's noise is large on 2 shared cores).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; conns=${2:-64}; routes=${3:-1}; rounds=${4:-1}
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
  echo "$rps" >> "/tmp/gwbench.$name"
  if [ -n "$pid" ]; then awk -v b="$before" -v a="$after" -v s="$secs" -v hz="$hz" -v r="$rps" \
    'BEGIN { printf "%.1f\n", (a-b)/hz*1e6/(r*s) }' >> "/tmp/gwbench.$name.cpu"; fi
}
rm -f /tmp/gwbench.upstream /tmp/gwbench.bare /tmp/gwbench.gateway /tmp/gwbench.*.cpu
run upstream http://127.0.0.1:9100/ ""
for _ in $(seq "$rounds"); do
  run bare http://127.0.0.1:9101/ "$bare"
  run gateway http://localhost:9102/ "$gw" "Cookie: $cookie"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
awk -v u="$(median /tmp/gwbench.upstream)" -v b="$(median /tmp/gwbench.bare)" -v g="$(median /tmp/gwbench.gateway)" \
    -v bc="$(median /tmp/gwbench.bare.cpu)" -v gc="$(median /tmp/gwbench.gateway.cpu)" -v n="$rounds" \
  'BEGIN { printf "medians of %d rounds: bare %.0f req/s %.1f us CPU/req; gateway %.0f req/s %.1f us CPU/req\n", n, b, bc, g, gc;
           printf "bare/upstream %.3f  gateway/upstream %.3f  gateway/bare %.3f  CPU gateway/bare %.3f\n", b/u, g/u, g/b, gc/bc }'
