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
	responses := proxiedResponses(t, up.URL, map[string]bool{"/files/whole": false, "/files/cut": true})
	if r, ok := responses["/files/whole"]; !ok || r.Detail != "" || r.Bytes != 9 {
		t.Errorf("whole response: expected a record with 9 bytes and no detail, got %+v (present %v)", r, ok)
	}
	if r, ok := responses["/files/cut"]; !ok || r.Detail != responseCutOff || r.Status != http.StatusOK || r.Bytes != 15 {
		t.Errorf("cut-off response: expected a record with status 200, 15 bytes and %q, got %+v (present %v)", responseCutOff, r, ok)
	}
}

// The response record names the final status, not the informational
// responses the tool sent before it (103 Early Hints, 100 Continue).
func TestResponseRecordNamesTheFinalStatus(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusContinue)
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		if strings.HasSuffix(r.URL.Path, "/failed") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "hinted")
	}))
	defer up.Close()
	responses := proxiedResponses(t, up.URL, map[string]bool{"/files/failed": false, "/files/hinted": false})
	for path, want := range map[string]int{"/files/failed": http.StatusInternalServerError, "/files/hinted": http.StatusOK} {
		if r := responses[path]; r.Status != want {
			t.Errorf("%s: expected a response record with status %d, got %+v", path, want, r)
		}
	}
}

// proxiedResponses GETs each path (its value: whether the body must fail to
// read) as a signed-in user through a gateway whose route /files goes to
// upstream, and returns the response records by path.
func proxiedResponses(t *testing.T, upstream string, paths map[string]bool) map[string]audit.Record {
	t.Helper()
	cfg, _ := fwdConfigFile(t, "203.0.113.0/24", `  - name: files
    host: tool.example
    path: /files
    upstream: `+upstream+`
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
	for path, fails := range paths {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+path, nil)
		req.Host = "tool.example"
		req.AddCookie(&http.Cookie{Name: rt.cfg.Session.CookieName, Value: id})
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if (err != nil) != fails {
			t.Fatalf("GET %s: expected an error %v, got %v", path, fails, err)
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
	return responses
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
