package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"time"
)

func netListen(port int) (net.Listener, error) {
	return net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// median of the values f picks from the samples.
func median(ss []sample, f func(sample) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// row is a target's medians.
type row struct {
	t                       *target
	rps, p50, p99           float64 // req/s, ms
	cpu                     float64 // µs per request
	redisCmds, redisCPU     float64 // per request
	upConns                 float64 // per 1,000 requests
	rssMB, hwmMB            float64
	rateP50, rateP99, rateS float64
	// rateRuns counts the fixed-rate runs that were not skipped.
	rateRuns int
}

func (h *harness) rows() map[string]*row {
	out := map[string]*row{}
	for _, t := range h.targets {
		ss := t.samples
		per := func(f func(sample) float64) float64 {
			return median(ss, func(s sample) float64 { return f(s) / float64(s.wrk.Requests) })
		}
		r := &row{t: t,
			rps:       median(ss, func(s sample) float64 { return s.wrk.RPS }),
			p50:       median(ss, func(s sample) float64 { return ms(s.wrk.P50) }),
			p99:       median(ss, func(s sample) float64 { return ms(s.wrk.P99) }),
			cpu:       per(func(s sample) float64 { return us(s.cpu) }),
			redisCmds: per(func(s sample) float64 { return float64(s.redisCmds) }),
			redisCPU:  per(func(s sample) float64 { return us(s.redisCPU) }),
			upConns:   per(func(s sample) float64 { return 1000 * float64(s.upConns) }),
			rssMB:     median(ss, func(s sample) float64 { return float64(s.rss) / (1 << 20) }),
			hwmMB:     median(ss, func(s sample) float64 { return float64(s.hwm) / (1 << 20) }),
		}
		var rated []sample
		for _, s := range ss {
			if !s.rate.Skipped && s.rate.P99 > 0 {
				rated = append(rated, s)
			}
		}
		r.rateRuns = len(rated)
		r.rateP50 = median(rated, func(s sample) float64 { return ms(s.rate.P50) })
		r.rateP99 = median(rated, func(s sample) float64 { return ms(s.rate.P99) })
		r.rateS = median(rated, func(s sample) float64 { return s.rate.Success })
		out[t.key] = r
	}
	return out
}

// report renders the table, the machine and the targets of issue 11.
func (h *harness) report(sessBytes int64) string {
	rows := h.rows()
	var b strings.Builder
	ratio := func(r *row, ref string) string {
		x, ok := rows[ref]
		if !ok || x.rps == 0 {
			return "–"
		}
		return fmt.Sprintf("%.3f", r.rps/x.rps)
	}
	o2p := func(r *row) string {
		if strings.Contains(r.t.key, "redis") || strings.Contains(r.t.key, "rcache") {
			return ratio(r, "o2p-redis")
		}
		return ratio(r, "o2p-cookie")
	}
	fmt.Fprintf(&b, "\n## Black-box proxy benchmark (%s)\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Machine: %s. Load average (1/5/15 min) at start and after each round: %s.\n", machine(), strings.Join(h.loadSeen, " → "))
	fmt.Fprintf(&b, "wrk -t%d -c%d -d%s --latency on loopback, %d interleaved rounds, medians; warm-up %s per target.", h.o.threads, h.o.conns, h.o.d, h.o.rounds, h.o.warmup)
	if h.o.rate > 0 {
		fmt.Fprintf(&b, " Fixed rate: vegeta %d req/s for %s (after a %s warm-up) per target per round", h.o.rate, h.o.rateD, h.o.rateWarm)
		if h.split != nil {
			fmt.Fprintf(&b, ", %s", h.split)
		} else {
			b.WriteString(", not pinned (every process on every CPU)")
		}
		b.WriteString(".")
	}
	if v, err := exec.Command("wrk", "--version").CombinedOutput(); err == nil || len(v) > 0 {
		first := strings.SplitN(strings.TrimSpace(string(v)), "\n", 2)[0]
		fmt.Fprintf(&b, " %s.", strings.TrimSpace(first))
	}
	b.WriteString("\n\n")
	b.WriteString("| target | req/s | ×upstream | ×floor | ×nginx | ×oauth2-proxy | p50 ms | p99 ms | CPU µs/req | CPU − floor | Redis cmd/req | Redis µs/req | upstream conns/1k req | RSS MB (peak) |")
	if h.o.rate > 0 {
		fmt.Fprintf(&b, " p50 @%d/s ms | p99 @%d/s ms | p99 added ms |", h.o.rate, h.o.rate)
	}
	b.WriteString("\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	if h.o.rate > 0 {
		b.WriteString("---|---|---|")
	}
	b.WriteString("\n")
	floor := rows["floor"]
	upr := rows["upstream"]
	for _, t := range h.targets {
		r := rows[t.key]
		dcpu := "–"
		if floor != nil && t.key != "upstream" {
			dcpu = fmt.Sprintf("%+.1f", r.cpu-floor.cpu)
		}
		redisC, redisU := "–", "–"
		if h.rdb != nil {
			redisC, redisU = fmt.Sprintf("%.2f", r.redisCmds), fmt.Sprintf("%.1f", r.redisCPU)
		}
		mem := "–"
		if t.rssPID != 0 {
			mem = fmt.Sprintf("%.0f (%.0f)", r.rssMB, r.hwmMB)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %.2f | %.2f | %.1f | %s | %s | %s | %.1f | %s |",
			t.name, r.rps, ratio(r, "upstream"), ratio(r, "floor"), ratio(r, "nginx"), o2p(r),
			r.p50, r.p99, r.cpu, dcpu, redisC, redisU, r.upConns, mem)
		if h.o.rate > 0 {
			switch {
			case r.rateRuns == 0:
				b.WriteString(" above capacity | – | – |")
			default:
				added := "–"
				if upr != nil && upr.rateRuns > 0 && t.key != "upstream" {
					added = fmt.Sprintf("%+.2f", r.rateP99-upr.rateP99)
				}
				fmt.Fprintf(&b, " %.2f | %.2f | %s |", r.rateP50, r.rateP99, added)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n×oauth2-proxy compares Redis rows with oauth2-proxy's Redis store and the others with its cookie store. " +
		"CPU is user+system time of the proxy's own processes (all of nginx's) per request; Redis columns are redis-server's commands and CPU per request. " +
		"The upstream row's CPU is the upstream's, and its connection count is wrk's own.\n")
	if sessBytes >= 0 {
		fmt.Fprintf(&b, "Largest stored gateway session in Redis: %d bytes.\n", sessBytes)
	}
	for _, t := range h.targets {
		if rows[t.key].redisCmds < 0.01 || len(t.samples) == 0 {
			continue
		}
		last := t.samples[len(t.samples)-1]
		var parts []string
		for cmd, n := range last.redisPer {
			parts = append(parts, fmt.Sprintf("%s %.2f", strings.ToUpper(cmd), float64(n)/float64(last.wrk.Requests)))
		}
		sort.Strings(parts)
		fmt.Fprintf(&b, "Redis commands per request, %s (last round): %s.\n", t.name, strings.Join(parts, ", "))
	}
	b.WriteString("\nTargets (issue 11):\n\n")
	check := func(name string, ok bool, got string) {
		mark := "MISS"
		if ok {
			mark = "ok"
		}
		fmt.Fprintf(&b, "- %s: %s — %s\n", name, got, mark)
	}
	if g, f := rows["gw-mem-chain"], floor; g != nil && f != nil {
		check("memory store, full chain ≥ 0.9× the Go floor", g.rps/f.rps >= 0.9, fmt.Sprintf("%.3f×", g.rps/f.rps))
		check("memory store, full chain ≤ 15 µs CPU per request above the floor", g.cpu-f.cpu <= 15, fmt.Sprintf("%+.1f µs", g.cpu-f.cpu))
	}
	if g, o := rows["gw-mem-chain"], rows["o2p-cookie"]; g != nil && o != nil {
		check("memory store, full chain ≥ 3× oauth2-proxy", g.rps/o.rps >= 3, fmt.Sprintf("%.2f×", g.rps/o.rps))
	}
	if g, f := rows["gw-redis-chain"], floor; g != nil && f != nil {
		check("Redis store, full chain ≥ 0.8× the Go floor", g.rps/f.rps >= 0.8, fmt.Sprintf("%.3f×", g.rps/f.rps))
	}
	if g, f := rows["gw-rcache-chain"], floor; g != nil && f != nil {
		check("Redis store + local cache (opt-in), full chain ≥ 0.8× the Go floor", g.rps/f.rps >= 0.8, fmt.Sprintf("%.3f×", g.rps/f.rps))
	}
	for _, k := range []string{"gw-redis", "gw-redis-chain", "gw-rcache", "gw-rcache-chain"} {
		if g := rows[k]; g != nil {
			// Requests still in flight when wrk stops have sent their
			// commands but are not counted: allow conns/requests for them.
			check(g.t.name+": ≤ 1 Redis round trip per request", g.redisCmds <= 1.02, fmt.Sprintf("%.3f commands", g.redisCmds))
		}
	}
	if sessBytes >= 0 {
		check("≤ 2 KB stored per session", sessBytes <= 2048, fmt.Sprintf("%d bytes", sessBytes))
	}
	if g, n := rows["gw-mem-chain"], rows["nginx"]; g != nil && n != nil {
		check("stretch: full chain ≥ 0.5× nginx", g.rps/n.rps >= 0.5, fmt.Sprintf("%.3f×", g.rps/n.rps))
	}
	if h.o.rate > 0 && upr != nil && upr.rateRuns > 0 {
		for _, k := range gatewayRateKeys {
			if g := rows[k]; g != nil && g.rateRuns > 0 {
				check(fmt.Sprintf("%s: p99 added at %d req/s ≤ 1 ms", g.t.name, h.o.rate), g.rateP99-upr.rateP99 <= 1, fmt.Sprintf("%+.2f ms", g.rateP99-upr.rateP99))
			}
		}
		// Not a target: what the gateway adds over what any Go proxy adds
		// on this machine (the floor's own p99 added is the machine's
		// share: scheduling next to the load generator and the upstream).
		if fr := rows["floor"]; fr != nil && fr.rateRuns > 0 {
			fmt.Fprintf(&b, "\nFor comparison (not a target): the Go floor itself adds %+.2f ms at p99", fr.rateP99-upr.rateP99)
			if n := rows["nginx"]; n != nil && n.rateRuns > 0 {
				fmt.Fprintf(&b, ", nginx %+.2f ms", n.rateP99-upr.rateP99)
			}
			b.WriteString("; the gateway over the Go floor:")
			for _, k := range gatewayRateKeys {
				if g := rows[k]; g != nil && g.rateRuns > 0 {
					fmt.Fprintf(&b, " %s %+.2f ms;", k, g.rateP99-fr.rateP99)
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// gatewayRateKeys are the gateway rows checked against the fixed-rate p99
// target and compared with the floor.
var gatewayRateKeys = []string{"gw-mem", "gw-mem-chain", "gw-redis", "gw-redis-chain", "gw-rcache-chain"}
