package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/accessgateway/gateway/internal/proxy"
)

// upstreamBody is what the upstream answers; a proxy that serves it has
// reached the upstream.
const upstreamBody = "upstream ok\n"

// seenContextHeader is set on the upstream's answer when the request carried
// a context token (the gateway's rows check it before measuring).
const seenContextHeader = "X-Upstream-Saw-Context"

// runUpstream is the tool behind every proxy: a small Go server answering a
// fixed body. It counts the connections it accepts and the requests it
// serves, and reports both on a second listener (GET /stats → "conns reqs"),
// so the harness can tell how often a proxy opens upstream connections.
func runUpstream(args []string) {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9100", "listen address")
	statsAddr := fs.String("stats", "127.0.0.1:9199", "stats listen address")
	_ = fs.Parse(args)
	var conns, reqs atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		if r.Header.Get("X-Gateway-Context") != "" {
			w.Header()[seenContextHeader] = []string{"1"}
		}
		w.Header()["Content-Type"] = []string{"text/plain"}
		_, _ = w.Write([]byte(upstreamBody))
	})
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}}
	go func() {
		log.Fatal(http.ListenAndServe(*statsAddr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "%d %d\n", conns.Load(), reqs.Load())
		})))
	}()
	log.Fatal(srv.ListenAndServe())
}

// upstreamStats reads the upstream's counters.
func upstreamStats(statsURL string) (conns, reqs int64, err error) {
	resp, err := http.Get(statsURL)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 64)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	f := strings.Fields(b.String())
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("blackbox: expected upstream stats \"conns reqs\", got %q", b.String())
	}
	conns, _ = strconv.ParseInt(f[0], 10, 64)
	reqs, _ = strconv.ParseInt(f[1], 10, 64)
	return conns, reqs, nil
}

// runFloor is the Go floor: a bare httputil.ReverseProxy with the gateway's
// tuned transport (proxy.NewTransport) and nothing else — no buffer pool,
// no checks. Every Go proxy pays at least this.
func runFloor(args []string) {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9101", "listen address")
	up := fs.String("upstream", "http://127.0.0.1:9100", "upstream URL")
	_ = fs.Parse(args)
	u, err := url.Parse(*up)
	if err != nil {
		log.Fatal(err)
	}
	t, err := proxy.NewTransport(proxy.TransportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	h := &httputil.ReverseProxy{Transport: t, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.SetXForwarded()
	}}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, "floor listening on", *addr)
	log.Fatal(srv.ListenAndServe())
}
