package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// wrkResult is what one wrk run reported.
type wrkResult struct {
	Requests int64
	RPS      float64
	P50, P99 time.Duration
	// Bad counts non-2xx/3xx answers and socket errors: a run with any is
	// not a measurement of the proxy's success path.
	Bad int64
}

// runWrk runs wrk against url with the given headers.
func runWrk(ctx context.Context, threads, conns int, d time.Duration, url string, hdr []string) (wrkResult, string, error) {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	for _, h := range hdr {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, string(out), fmt.Errorf("blackbox: wrk: %w: %s", err, out)
	}
	r, err := parseWrk(string(out))
	return r, string(out), err
}

// parseWrk reads wrk's --latency report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	sc := bufio.NewScanner(strings.NewReader(out))
	seen := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "50%":
			r.P50 = parseDur(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.P99 = parseDur(f[1])
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.Requests, _ = strconv.ParseInt(f[0], 10, 64)
			seen++
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.RPS, _ = strconv.ParseFloat(f[1], 64)
			seen++
		case len(f) >= 5 && f[0] == "Non-2xx":
			n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			r.Bad += n
		case len(f) >= 3 && f[0] == "Socket" && f[1] == "errors:":
			for _, x := range f[2:] {
				n, err := strconv.ParseInt(strings.TrimSuffix(x, ","), 10, 64)
				if err == nil {
					r.Bad += n
				}
			}
		}
	}
	if seen != 2 {
		return r, fmt.Errorf("blackbox: expected wrk's request count and Requests/sec, got %q", out)
	}
	return r, nil
}

// parseDur reads wrk's durations: 812.00us, 1.23ms, 2.10s, 1.00m.
func parseDur(s string) time.Duration {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0
			}
			return time.Duration(f * float64(u.d))
		}
	}
	return 0
}

// rateResult is a fixed-rate run's latency.
type rateResult struct {
	P50, P99, P999 time.Duration
	Success        float64
	// Skipped: the rate is above what the target serves (see measure).
	Skipped bool
}

// runRate sends rate requests per second for warm+d and returns the
// latency quantiles of the requests sent after warm (see rateMain). The load
// generator runs as its own small process (`blackbox rate`), pinned with the
// load when split is set: in the harness's process its latencies would
// include the pauses of a heap that also holds the OIDC provider and the
// TPM simulator.
func runRate(rate int, warm, d time.Duration, url, host, cookie string, split *cpuSplit) (rateResult, error) {
	self, err := os.Executable()
	if err != nil {
		return rateResult{}, err
	}
	cmd := exec.Command(self, "rate", "-url", url, "-host", host, "-rate", strconv.Itoa(rate), "-warmup", warm.String(), "-duration", d.String())
	cmd.Env = append(os.Environ(), "BLACKBOX_COOKIE="+cookie) // not on the command line
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return rateResult{}, fmt.Errorf("blackbox: rate: %w", err)
	}
	if split != nil {
		if err := pin(cmd.Process.Pid, split.load); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return rateResult{}, err
		}
	}
	if err := cmd.Wait(); err != nil {
		return rateResult{}, fmt.Errorf("blackbox: rate: %w: %s", err, errb.String())
	}
	var rr rateResult
	if err := json.Unmarshal(out.Bytes(), &rr); err != nil {
		return rateResult{}, fmt.Errorf("blackbox: rate: %w: %q", err, out.String())
	}
	return rr, nil
}

// rateMain is `blackbox rate`: vegeta (keep-alive, no redirects followed)
// at -rate requests per second for -warmup + -duration against one URL
// (Host header -host, Cookie from $BLACKBOX_COOKIE); it prints the latency
// quantiles of the requests sent after the warm-up as JSON. The warm-up
// opens the connections (the load generator's and the proxy's to the
// upstream) and lets a runtime that was just given other CPUs settle, which
// a gateway that runs for days has long done.
func rateMain(args []string) {
	fs := flag.NewFlagSet("rate", flag.ExitOnError)
	url := fs.String("url", "", "target URL")
	host := fs.String("host", "", "Host header")
	rate := fs.Int("rate", 2000, "requests per second")
	warm := fs.Duration("warmup", 2*time.Second, "warm-up, not counted")
	d := fs.Duration("duration", 10*time.Second, "measured length")
	_ = fs.Parse(args)
	h := http.Header{"Host": {*host}}
	if c := os.Getenv("BLACKBOX_COOKIE"); c != "" {
		h.Set("Cookie", c)
	}
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: *url, Header: h})
	// Bounded workers and connections: a target that falls behind gets
	// requests late (its latency shows it) rather than thousands of new
	// connections that would distort the next target's run and the RSS.
	a := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Redirects(vegeta.NoFollow), vegeta.Timeout(10*time.Second),
		vegeta.MaxWorkers(256), vegeta.MaxConnections(256))
	var m vegeta.Metrics
	from := time.Now().Add(*warm)
	for res := range a.Attack(tr, vegeta.Rate{Freq: *rate, Per: time.Second}, *warm+*d, "rate") {
		if res.Timestamp.Before(from) {
			continue
		}
		m.Add(res)
	}
	m.Close()
	rr := rateResult{P50: m.Latencies.P50, P99: m.Latencies.P99, P999: m.Latencies.Quantile(0.999), Success: m.Success}
	if err := json.NewEncoder(os.Stdout).Encode(rr); err != nil {
		log.Fatal(err)
	}
}

// redisStats reads the total of INFO commandstats calls (without INFO
// itself, which the harness sends).
func redisStats(ctx context.Context, rdb *redis.Client) (int64, map[string]int64, error) {
	s, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, nil, fmt.Errorf("blackbox: redis INFO commandstats: %w", err)
	}
	per := map[string]int64{}
	var total int64
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		cmd := strings.TrimPrefix(name, "cmdstat_")
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		per[cmd] = n
		if cmd != "info" {
			total += n
		}
	}
	return total, per, nil
}
