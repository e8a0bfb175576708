package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// What a soak (-soak) holds the gateway to. It is judged against the sample
// taken 10 s in — after the warm-up of pools and caches — not against the
// idle process.
const (
	soakEvery          = 5 * time.Second
	soakBaselineAt     = 10 * time.Second
	soakGoroutineSlack = 20  // after the load, goroutines ≤ those at 10 s + this
	soakRSSFactor      = 1.5 // RSS after the load ≤ this × RSS at 10 s
)

// soakSample is one row of the soak's table.
type soakSample struct {
	at         time.Duration
	rss        int64
	goroutines int
	// upConns are the gateway's open connections to the upstream. The
	// soak's GETs go on the direct path (proxy.DirectTransport), whose
	// pooled connections hold no goroutine, so goroutines are bounded
	// as they are, without allowing for the pool.
	upConns   int
	sent, bad int64
	note      string
}

// soak sends -rate requests per second for -soak to the one target
// (vegeta, keep-alive, the signed-in session's cookie), sampling the
// gateway's RSS (/proc), go_goroutines (admin /metrics) and its connections
// to the upstream every 5 s, and once more after the clients disconnected.
// It fails on any answer that is not 2xx (or no answer), and on growth
// beyond the bounds above. The table is returned in both cases.
func (h *harness) soak() (string, error) {
	if len(h.targets) != 1 || h.targets[0].metrics == "" {
		return "", fmt.Errorf("blackbox: -soak runs one gateway target (-only), got %d targets", len(h.targets))
	}
	t := h.targets[0]
	hdr := http.Header{"Host": {t.host}}
	if t.cookie != "" {
		hdr.Set("Cookie", t.cookie)
	}
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: t.url, Header: hdr})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	a := vegeta.NewAttacker(vegeta.Client(client), vegeta.MaxWorkers(256))
	_, upPort, _ := strings.Cut(strings.TrimPrefix(h.upURL, "http://"), ":")
	var mu sync.Mutex
	var rows []soakSample
	var sent, bad int64
	start := time.Now()
	take := func(note string) {
		g, err := goroutines(t.metrics)
		if err != nil {
			g = -1
		}
		cur, _ := rss(t.rssPID)
		up := connsTo(t.rssPID, upPort)
		mu.Lock()
		rows = append(rows, soakSample{at: time.Since(start).Round(time.Second), rss: cur, goroutines: g, upConns: up, sent: sent, bad: bad, note: note})
		mu.Unlock()
	}
	take("before the load")
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(soakEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				take("")
			}
		}
	}()
	var m vegeta.Metrics
	codes := map[string]int64{}
	for res := range a.Attack(tr, vegeta.Rate{Freq: h.o.rate, Per: time.Second}, h.o.soak, "soak") {
		m.Add(res)
		mu.Lock()
		sent++
		if res.Code < 200 || res.Code > 299 {
			bad++
			k := strconv.Itoa(int(res.Code))
			if res.Error != "" {
				k += " " + res.Error
			}
			codes[k]++
		}
		mu.Unlock()
	}
	m.Close()
	close(done)
	wg.Wait()
	take("end of the load")
	// The clients' keep-alive connections close: what stays is the
	// gateway's own (upstream pool, Redis pool, listeners).
	client.CloseIdleConnections()
	time.Sleep(3 * time.Second)
	take("clients disconnected, 3 s later")

	var b strings.Builder
	fmt.Fprintf(&b, "Soak: %s, %d req/s for %s (vegeta, keep-alive, at most 256 connections, redirects not followed), %s\n", t.name, h.o.rate, h.o.soak, machine())
	fmt.Fprintf(&b, "%d requests (%.0f/s achieved), %d not 2xx, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n\n",
		m.Requests, m.Rate, bad, ms(m.Latencies.P50), ms(m.Latencies.P99), ms(m.Latencies.Max))
	fmt.Fprintf(&b, "| time | RSS (MiB) | goroutines | upstream conns | requests | not 2xx | |\n|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %4.0fs | %6.1f | %5d | %4d | %7d | %d | %s |\n", r.at.Seconds(), float64(r.rss)/(1<<20), r.goroutines, r.upConns, r.sent, r.bad, r.note)
	}
	var problems []string
	if bad > 0 {
		var ks []string
		for k, n := range codes {
			ks = append(ks, fmt.Sprintf("%dx %s", n, k))
		}
		sort.Strings(ks)
		problems = append(problems, fmt.Sprintf("%d answers not 2xx: %s", bad, strings.Join(ks, "; ")))
	}
	base, end := rows[0], rows[len(rows)-1]
	for _, r := range rows {
		if r.at <= soakBaselineAt {
			base = r
		}
	}
	if end.goroutines < 0 || base.goroutines < 0 {
		problems = append(problems, "go_goroutines could not be read")
	} else if end.goroutines > base.goroutines+soakGoroutineSlack {
		problems = append(problems, fmt.Sprintf("goroutines grew: %d at %s, %d after the load (bound +%d)",
			base.goroutines, base.at, end.goroutines, soakGoroutineSlack))
	}
	if float64(end.rss) > soakRSSFactor*float64(base.rss) {
		problems = append(problems, fmt.Sprintf("RSS grew: %.1f MiB at %s, %.1f MiB at the end (bound %.1f×)", float64(base.rss)/(1<<20), base.at, float64(end.rss)/(1<<20), soakRSSFactor))
	}
	fmt.Fprintf(&b, "\nbounds: every answer 2xx; after the load, goroutines ≤ those at %s + %d; RSS after the load ≤ %.1f× RSS at %s\n",
		soakBaselineAt, soakGoroutineSlack, soakRSSFactor, soakBaselineAt)
	if len(problems) > 0 {
		return b.String(), errors.New("blackbox: soak failed: " + strings.Join(problems, "; "))
	}
	b.WriteString("soak passed\n")
	return b.String(), nil
}

// connsTo counts the established TCP connections of process pid to the
// loopback port port (its sockets' inodes matched in /proc/net/tcp).
func connsTo(pid int, port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		return -1
	}
	mine := map[string]bool{}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/tcp")
	if err != nil {
		return -1
	}
	want := fmt.Sprintf(":%04X", p)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// f[2] is the remote address, f[3] the state (01: established), f[9] the inode.
		if len(f) > 9 && strings.HasSuffix(f[2], want) && f[3] == "01" && mine[f[9]] {
			n++
		}
	}
	return n
}

// goroutines reads go_goroutines from a gateway's /metrics.
func goroutines(metricsURL string) (int, error) {
	v, err := metricValue(metricsURL, "go_goroutines")
	return int(v), err
}

// metricValue reads an unlabelled metric from a gateway's /metrics.
func metricValue(metricsURL, name string) (float64, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(metricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("blackbox: no " + name + " on " + metricsURL)
}
