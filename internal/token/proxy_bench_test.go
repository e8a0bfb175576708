package token

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
)

// BenchmarkProxyRequest puts the cost of the token in proportion: one
// request through a bare httputil.ReverseProxy over loopback (client, proxy
// and upstream in this process), without a token, with a token minted per
// request, and with the cache. It reports the process's CPU time per
// request (cpu-µs/req), which other load on the machine disturbs less than
// wall time.
func BenchmarkProxyRequest(b *testing.B) {
	s := benchSigner(b, contexttoken.ES256)
	cache := NewCache(s)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	notAfter := time.Now().Add(time.Hour)
	claims := benchClaims()
	for _, variant := range []struct {
		name string
		mint Minter
	}{{"no-token", nil}, {"mint-ES256", s}, {"cache-ES256", cache}} {
		b.Run(variant.name, func(b *testing.B) {
			rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				if variant.mint != nil {
					tok, err := variant.mint.Mint(claims, notAfter)
					if err != nil {
						b.Error(err)
					}
					pr.Out.Header.Set(DefaultHeader, tok)
				}
			}}
			proxy := httptest.NewServer(rp)
			defer proxy.Close()
			client := proxy.Client()
			get := func() {
				resp, err := client.Get(proxy.URL)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			get() // warm the connections
			start := cpuTime()
			n := 0
			for b.Loop() {
				get()
				n++
			}
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(n), "cpu-µs/req")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
