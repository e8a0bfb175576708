package main

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/coreos/go-oidc/v3/oidc/oidctest"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/go-jose/go-jose/v4/jwt"
	_ "github.com/goccy/go-yaml"
	_ "github.com/google/go-tpm-tools/simulator"
	_ "github.com/google/go-tpm/tpm2"
	_ "github.com/google/go-tpm/tpm2/transport/simulator"
	_ "github.com/gorilla/mux"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/zitadel/oidc/v3/pkg/op"
	_ "golang.org/x/net/http2"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/time/rate"
)

func main() {}
