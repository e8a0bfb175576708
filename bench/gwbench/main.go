// Command gwbench runs one party of the proxy benchmark (bench/proxy.sh):
//
//	gwbench upstream  -addr A              a minimal upstream answering "ok"
//	gwbench bare      -addr A -upstream U  a bare httputil.ReverseProxy with a tuned transport
//	gwbench gateway   -addr A -upstream U  the gateway with the full check chain
//	                  [-routes N]          N routes (the benchmarked one among them)
//
// In gateway mode it prints the session cookie of a pre-created session (the
// sign-in itself is not what is measured) on stdout as "COOKIE name=value".
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/devidp"
	"github.com/accessgateway/gateway/internal/proxy"
	"github.com/accessgateway/gateway/internal/server"
	"github.com/accessgateway/gateway/internal/store"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: gwbench upstream|bare|gateway [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9101", "listen address")
	up := fs.String("upstream", "http://127.0.0.1:9100", "upstream URL")
	routes := fs.Int("routes", 1, "number of routes (gateway mode)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address")
	_ = fs.Parse(os.Args[2:])
	var h http.Handler
	switch os.Args[1] {
	case "upstream":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("ok\n"))
		})
	case "bare":
		u, _ := url.Parse(*up)
		t, _ := proxy.NewTransport(proxy.TransportOptions{})
		h = &httputil.ReverseProxy{Transport: t, Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() }}
	case "gateway":
		h = gateway(*addr, *up, *routes)
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func gateway(addr, upstream string, n int) http.Handler {
	_, port, _ := net.SplitHostPort(addr)
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	issuer := "http://" + idpLn.Addr().String()
	pub := "http://localhost:" + port
	idp, err := devidp.New(devidp.Config{Issuer: issuer, Insecure: true,
		Clients: []devidp.Client{{ID: "bench", Secret: "bench-secret", RedirectURIs: []string{pub + "/.gateway/callback"}}}})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = http.Serve(idpLn, idp) }()
	var b strings.Builder
	fmt.Fprintf(&b, "public_url: %s\nlisten: {address: %q}\nadmin: {address: \"127.0.0.1:0\"}\n", pub, addr)
	fmt.Fprintf(&b, "oidc: {issuer: %s, client_id: bench, client_secret: bench-secret}\nlog: {level: error}\naudit: {file: /dev/null}\nsession: {cookie_domain: localhost}\nroutes:\n", issuer)
	for i := 0; i < n-1; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, host: h%d.localhost, path: \"/p%d/{id}\", upstream: %q, rules: {allow: [{groups: [g%d]}]}}\n", i, i%1000, i, upstream, i)
	}
	fmt.Fprintf(&b, "  - name: bench\n    host: localhost\n    upstream: %q\n    rules:\n      allow:\n        - {domains: [bench.example], groups: [staff]}\n        - {emails: [x@bench.example]}\n      deny:\n        - {groups: [contractors]}\n", upstream)
	cfg, err := config.Load([]byte(b.String()), config.Options{Dev: true})
	if err != nil {
		log.Fatal(err)
	}
	st := store.NewMemory()
	srv, err := server.New(context.Background(), cfg, server.Options{Store: st})
	if err != nil {
		log.Fatal(err)
	}
	sessions := auth.NewSessions(st)
	now := time.Now()
	id, err := sessions.Create(context.Background(), &auth.Session{Subject: "u1", Email: "ann@bench.example",
		Groups: []string{"staff", "eng"}, CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("COOKIE %s=%s\n", cfg.Session.CookieName, id)
	return srv.Handler()
}
