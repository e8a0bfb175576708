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

	"github.com/accessgateway/gateway/internal/device"
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
