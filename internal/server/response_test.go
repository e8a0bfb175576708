package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/audit"
	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/token"
)

// A response cut off in the middle of its body (the tool closed the
// connection; ReverseProxy aborts the handler with http.ErrAbortHandler)
// still gets its response record, marked as cut off, after the decision.
func TestCutOffResponseIsAudited(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/whole") {
			io.WriteString(w, "all of it")
			return
		}
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, "the first bytes")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer up.Close()
	cfg, _ := fwdConfigFile(t, "203.0.113.0/24", `  - name: files
    host: tool.example
    path: /files
    upstream: `+up.URL+`
    rules: {allow: [{domains: [corp.example]}]}
`)
	buf := &lockedBuffer{}
	al := audit.New(buf, nil, nil)
	srv, err := New(context.Background(), cfg, Options{Audit: al})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rt := srv.rt.Load()
	now := time.Now()
	id, err := rt.sessions.Create(context.Background(), &auth.Session{Subject: "sub-ann", Email: "ann@corp.example",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(srv.Handler())
	defer gw.Close()
	for _, path := range []string{"/files/whole", "/files/cut"} {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+path, nil)
		req.Host = "tool.example"
		req.AddCookie(&http.Cookie{Name: rt.cfg.Session.CookieName, Value: id})
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if (err != nil) != (path == "/files/cut") {
			t.Fatalf("GET %s: expected an error only for the cut-off body, got %v", path, err)
		}
	}
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	responses := map[string]audit.Record{}
	buf.mu.Lock()
	sc := bufio.NewScanner(strings.NewReader(buf.b.String()))
	buf.mu.Unlock()
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == audit.KindResponse {
			responses[r.Path] = r
		}
	}
	if r, ok := responses["/files/whole"]; !ok || r.Detail != "" || r.Bytes != 9 {
		t.Errorf("whole response: expected a record with 9 bytes and no detail, got %+v (present %v)", r, ok)
	}
	if r, ok := responses["/files/cut"]; !ok || r.Detail != responseCutOff || r.Status != http.StatusOK || r.Bytes != 15 {
		t.Errorf("cut-off response: expected a record with status 200, 15 bytes and %q, got %+v (present %v)", responseCutOff, r, ok)
	}
}

// Every checkpoint `gateway serve` writes is signed, the start checkpoint
// too: `gateway audit verify --key` requires a signature on each.
func TestServeSignsEveryCheckpoint(t *testing.T) {
	dir := t.TempDir()
	keyFile, auditFile := filepath.Join(dir, "token.pem"), filepath.Join(dir, "audit.log")
	if _, err := token.WriteKeyFile(keyFile, "ES256"); err != nil {
		t.Fatal(err)
	}
	free := func() string { return freeLoopback(t) }
	cfg, _ := fwdConfigFile(t, "127.0.0.0/8", fmt.Sprintf("listen: {address: %q}\nadmin: {address: %q}\naudit: {file: %q}\ntoken: {keys: [{file: %q, state: active}]}\n",
		free(), free(), auditFile, keyFile))
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, Options{}, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	keys, err := audit.LoadPEM(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.VerifyFiles([]string{auditFile}, keys)
	if err != nil {
		t.Fatalf("verify with the key: %v", err)
	}
	if s.Checkpoints < 2 {
		t.Errorf("summary %+v: expected the start and close checkpoints", s)
	}
}

// freeLoopback is a loopback host:port that was free a moment ago.
func freeLoopback(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
