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
// the gateway's headers to set, its cookie to strip.
func BenchmarkUpstream(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	}))
	defer up.Close()
	tr, err := NewTransport(TransportOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	u, err := NewUpstream(up.URL, false, tr, func(w http.ResponseWriter, r *http.Request, err error) {
		b.Errorf("upstream error: %v", err)
	})
	if err != nil {
		b.Fatal(err)
	}
	set := http.Header{"X-Gateway-Request-Id": {"0123456789abcdef01234567"}, "X-Gateway-Context": {"eyJhbGciOiJFUzI1NiJ9.e30.sig"}}
	strip := []string{"_gateway_session"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "http://tool.example/a/b?x=1", nil)
		r.Header.Set("Cookie", "_gateway_session=abcdefabcdefabcdefabcdef; theme=dark")
		r.Header.Set("Accept", "text/html")
		r.Header.Set("User-Agent", "bench")
		f := &Forward{Allowed: true, Path: "/a/b", ClientIP: netip.MustParseAddr("192.0.2.7"), Set: set, StripCookies: strip}
		r = r.WithContext(WithForward(r.Context(), f))
		w := httptest.NewRecorder()
		u.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
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
