package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/store"
)

// openSim opens the built-in simulator for a test (one per process at a
// time; closed at the end of the test).
func openSim(t *testing.T) *TPM {
	t.Helper()
	tpm, err := OpenSimulator("")
	skipWithoutCgo(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tpm.Close() })
	return tpm
}

// recorder is a server that records every request it gets.
type recorder struct {
	mu     sync.Mutex
	bodies []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, req.Method+" "+req.URL.String()+" "+string(b))
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"error":"recorded"}`))
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// TestAgentDoesNotFollowRedirects: what the agent sends (the one-time code,
// the activated secret, quotes) goes only to the gateway it was given, which
// is also the one it names when it asks its user to confirm. A gateway URL
// that answers with a redirect (an old host name, an open redirect, a
// compromised front) must not move the conversation, with its body, to
// another origin.
func TestAgentDoesNotFollowRedirects(t *testing.T) {
	tpm := openSim(t)
	id, err := tpm.Identity()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-7", Serial: "S7",
		EKPubSHA256: id.EKHash, Status: device.StatusActive}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	defer st.Close()
	svc, err := device.NewService(device.Config{}, st, nil, device.Options{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewServer(svc.Handler()) // another origin, answering as a gateway would
	defer other.Close()
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		shown := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, status)
		}))
		ctx := context.Background()
		code, _, err := svc.NewCode(ctx, device.PurposeEnroll, "sess-"+http.StatusText(status), "mallory@example.com")
		if err != nil {
			t.Fatal(err)
		}
		var confirmed []Binding
		c := &Client{Gateway: shown.URL, TPM: tpm, HTTP: &http.Client{Timeout: 10 * time.Second},
			Confirm: func(_ context.Context, b Binding) error { confirmed = append(confirmed, b); return nil }}
		_, err = c.Enroll(ctx, code)
		shown.Close()
		if err == nil {
			t.Fatalf("%d: the agent enrolled with %s after confirming %+v for %s", status, other.URL, confirmed, shown.URL)
		}
		if !strings.Contains(err.Error(), "redirect") {
			t.Fatalf("%d: expected an error about the redirect, got %v", status, err)
		}
		if st, _ := svc.CodeStatus(ctx, "sess-"+http.StatusText(status), code); st.State != device.CodePending {
			t.Fatalf("%d: the code reached the other origin: %+v", status, st)
		}
	}
}

// TestAgentRefusesInsecureGatewayURLs: the agent sends the one-time code and
// the activated secret only over TLS (plain http only to a loopback
// gateway, as the quickstart's), and only to a URL that is scheme and host:
// no user info that makes "https://access.example.com@evil.example" read
// like the company's gateway, no path or query the API path would be
// appended to.
func TestAgentRefusesInsecureGatewayURLs(t *testing.T) {
	tpm := openSim(t)
	for _, gw := range []string{
		"http://access.example.com",
		"http://10.0.0.7:8080",
		"https://access.example.com@evil.example",
		"https://access.example.com/login?next=https://evil.example",
		"https://access.example.com#x",
		"ftp://access.example.com",
		"access.example.com",
		"",
	} {
		var sent []string
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			b, _ := io.ReadAll(r.Body)
			sent = append(sent, r.URL.String()+" "+string(b))
			return &http.Response{StatusCode: http.StatusNotFound, Body: io.NopCloser(strings.NewReader(`{"error":"x"}`)), Request: r}, nil
		})}
		c := &Client{Gateway: gw, TPM: tpm, HTTP: hc}
		if _, err := c.Verify(context.Background(), "ABCDE-FGHJK"); err == nil || len(sent) != 0 {
			t.Errorf("gateway %q: err %v, sent %q", gw, err, sent)
		}
		if _, err := CheckGatewayURL(gw); err == nil {
			t.Errorf("CheckGatewayURL(%q) accepted it", gw)
		}
	}
	for gw, want := range map[string]string{
		"https://access.example.com":       "https://access.example.com",
		"https://Access.Example.com:8443/": "https://Access.Example.com:8443",
		"http://localhost:8080":            "http://localhost:8080",
		"http://127.0.0.1:41234":           "http://127.0.0.1:41234",
		"http://[::1]:8080":                "http://[::1]:8080",
	} {
		u, err := CheckGatewayURL(gw)
		if err != nil || u.String() != want {
			t.Errorf("CheckGatewayURL(%q) = %v, %v; want %s", gw, u, err, want)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeGateway answers attest/start with the given challenge and records
// whether anything came after it.
func fakeGateway(t *testing.T, start device.AttestStartResponse) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/attest/start") {
			var buf bytes.Buffer
			_ = json.NewEncoder(&buf).Encode(start)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(buf.Bytes())
			return
		}
		rec.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// TestAgentRefusesMalformedChallenges: a gateway (or whatever answers at its
// URL) chooses the nonce and the PCR list the TPM is asked to quote. Values
// a gateway never sends are refused with an error, not a panic or a huge
// allocation in the agent.
func TestAgentRefusesMalformedChallenges(t *testing.T) {
	tpm := openSim(t)
	nonce := bytes.Repeat([]byte{7}, 32)
	for name, ch := range map[string]device.AttestStartResponse{
		"negative PCR":   {ChallengeID: strings.Repeat("a", 32), Nonce: nonce, PCRs: []int{0, -1}},
		"PCR 24":         {ChallengeID: strings.Repeat("a", 32), Nonce: nonce, PCRs: []int{24}},
		"PCR 1<<20":      {ChallengeID: strings.Repeat("a", 32), Nonce: nonce, PCRs: []int{1 << 20}},
		"duplicate PCRs": {ChallengeID: strings.Repeat("a", 32), Nonce: nonce, PCRs: []int{7, 7}},
		"no PCRs":        {ChallengeID: strings.Repeat("a", 32), Nonce: nonce},
		"no nonce":       {ChallengeID: strings.Repeat("a", 32), PCRs: []int{0, 7}},
		"long nonce":     {ChallengeID: strings.Repeat("a", 32), Nonce: make([]byte, 65), PCRs: []int{0, 7}},
	} {
		t.Run(name, func(t *testing.T) {
			srv, rec := fakeGateway(t, ch)
			c := &Client{Gateway: srv.URL, TPM: tpm, HTTP: srv.Client()}
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("the agent panicked on the gateway's challenge: %v", p)
					}
				}()
				_, err = c.Check(context.Background())
			}()
			if err == nil || !strings.Contains(err.Error(), "challenge") {
				t.Fatalf("expected an error about the challenge, got %v", err)
			}
			if s := rec.seen(); len(s) != 0 {
				t.Fatalf("the agent went on after a malformed challenge: %q", s)
			}
		})
	}
}
