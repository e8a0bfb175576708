// Command gwprof is `gateway serve` plus net/http/pprof on $PPROF_ADDR: the
// bench build that bench/blackbox profiles (-profile). It runs the same code
// as cmd/gateway's serve (config.LoadFile, the policy tests, server.Serve);
// the profiling listener is separate and idle unless asked.
//
//	PPROF_ADDR=127.0.0.1:6060 gwprof serve --config gateway.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	"github.com/accessgateway/gateway/internal/config"
	"github.com/accessgateway/gateway/internal/server"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: PPROF_ADDR=host:port gwprof serve --config FILE")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	path := fs.String("config", "", "config file (YAML)")
	_ = fs.Parse(os.Args[2:])
	cfg, err := config.LoadFile(*path, config.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := server.PolicyTests(cfg); err != nil {
		log.Fatal(err)
	}
	if a := os.Getenv("PPROF_ADDR"); a != "" {
		go func() { log.Println(http.ListenAndServe(a, nil)) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Serve(ctx, cfg, server.Options{ConfigPath: *path}, nil); err != nil {
		log.Fatal(err)
	}
}
