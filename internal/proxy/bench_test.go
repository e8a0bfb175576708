package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// BenchmarkUpstream is one allowed request through an Upstream to a real
// upstream on loopback, as the gateway sends it: Forward in the context,
// the gateway's headers to set, its cookie to strip. "direct" is the
// gateway's transport (DirectTransport), "std" http.Transport alone; the
// parallel cases run GOMAXPROCS requests at once, as a loaded gateway does.
func BenchmarkUpstream(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	}))
	defer up.Close()
	for _, kind := range []string{"direct", "std"} {
		std, err := NewTransport(TransportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var tr http.RoundTripper = std
		if kind == "direct" {
			d := NewDirectTransport(std, TransportOptions{})
			defer d.Close()
			tr = d
		}
		defer std.CloseIdleConnections()
		u, err := NewUpstream(up.URL, false, tr, func(w http.ResponseWriter, r *http.Request, err error) {
			b.Errorf("upstream error: %v", err)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				proxyOne(b, u)
			}
		})
		b.Run(kind+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					proxyOne(b, u)
				}
			})
		})
	}
}

var (
	benchSet   = http.Header{"X-Gateway-Request-Id": {"0123456789abcdef01234567"}, "X-Gateway-Context": {"eyJhbGciOiJFUzI1NiJ9.e30.sig"}}
	benchStrip = []string{"_gateway_session"}
)

func proxyOne(b *testing.B, u *Upstream) {
	r := httptest.NewRequest(http.MethodGet, "http://tool.example/a/b?x=1", nil)
	r.Header.Set("Cookie", "_gateway_session=abcdefabcdefabcdefabcdef; theme=dark")
	r.Header.Set("Accept", "text/html")
	r.Header.Set("User-Agent", "bench")
	f := &Forward{Allowed: true, Path: "/a/b", ClientIP: netip.MustParseAddr("192.0.2.7"), Set: benchSet, StripCookies: benchStrip}
	r = r.WithContext(WithForward(r.Context(), f))
	w := httptest.NewRecorder()
	u.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Errorf("status %d", w.Code)
	}
}

// TestBufferPoolSize: the pool hands out full-size buffers and refuses
// others.
func TestBufferPoolSize(t *testing.T) {
	b := copyBuffers.Get()
	if len(b) != copyBufferSize {
		t.Fatalf("proxy: expected a %d-byte buffer, got %d", copyBufferSize, len(b))
	}
	copyBuffers.Put(b[:10])
	copyBuffers.Put(make([]byte, 100)) // dropped
	for i := 0; i < 4; i++ {
		if got := copyBuffers.Get(); len(got) != copyBufferSize {
			t.Fatalf("proxy: expected a %d-byte buffer, got %d", copyBufferSize, len(got))
		}
	}
}
