package breakglass

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/breakglass/breakglasstest"
)

// notifyConfig adds the targets to the test configuration.
func notifyConfig(targets map[string]NotifyTarget, retry RetryConfig) Config {
	cfg := testConfig()
	cfg.Notifications = targets
	cfg.NotifyRetry = retry
	return cfg
}

func TestNotificationRetriedAfterFailures(t *testing.T) {
	hook := breakglasstest.NewReceiver(t, 3, http.StatusServiceUnavailable, nil)
	fails := make(failures, 16)
	timer := &instant{}
	f := newFixture(t, notifyConfig(map[string]NotifyTarget{
		"siem": {Type: TargetWebhook, URL: Secret(hook.URL + "/hooks/bg"), SecretHeader: "Authorization", Secret: "Bearer hook-secret", HMACSecret: "hmac-secret"},
	}, RetryConfig{Attempts: 5, Initial: time.Second, Max: 3 * time.Second}), Options{OnNotifyFailure: fails.record, After: timer.After})
	g := f.grant(t, alice, request("billing", "INC-1"))

	var deliveries []breakglasstest.Delivery
	for range 4 {
		deliveries = append(deliveries, hook.Next(t, 10*time.Second))
	}
	for i, d := range deliveries {
		if d.Attempt != i+1 || d.Accepted != (i == 3) {
			t.Fatalf("delivery %d: attempt %d accepted %v", i, d.Attempt, d.Accepted)
		}
		if !bytes.Equal(d.Body, deliveries[0].Body) || d.Header.Get(headerDelivery) != deliveries[0].Header.Get(headerDelivery) {
			t.Fatal("expected every retry to carry the same body and delivery ID")
		}
	}
	for i := 1; i <= 3; i++ {
		nf := fails.next(t)
		want := NotifyFailure{Target: "siem", Type: TargetWebhook, Event: EventGranted, EventID: nf.EventID, GrantID: g.ID,
			Attempt: i, Final: false, Status: 503, Err: nf.Err}
		if !reflect.DeepEqual(nf, want) || nf.Err == nil {
			t.Fatalf("failure %d = %+v, want %+v", i, nf, want)
		}
	}
	if w, want := timer.Waits(), []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}; !reflect.DeepEqual(w, want) {
		t.Fatalf("backoff waits = %v, want %v (exponential, capped)", w, want)
	}

	d := deliveries[3]
	if d.Header.Get("Authorization") != "Bearer hook-secret" || d.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("expected the secret header and JSON, got %v", d.Header)
	}
	ts := d.Header.Get(headerTimestamp)
	if ts != "1793786400" {
		t.Fatalf("expected the Unix time of t0, got %q", ts)
	}
	sig := strings.TrimPrefix(d.Header.Get(headerSignature), "sha256=")
	if !hmac.Equal([]byte(sig), []byte(Sign("hmac-secret", ts, d.Body))) {
		t.Fatalf("signature %q does not verify", sig)
	}
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(d.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != EventGranted || ev.ID != d.Header.Get(headerDelivery) || ev.Grant.ID != g.ID || ev.Grant.Reason != g.Reason {
		t.Fatalf("event = %+v", ev)
	}
	if strings.Contains(string(d.Body), "session-alice") || strings.Contains(string(d.Body), holderHash(alice.Session)) ||
		strings.Contains(string(d.Body), "hook-secret") || strings.Contains(string(d.Body), "holder") {
		t.Fatalf("expected no session or secret in the body, got %s", d.Body)
	}
}

func TestNotificationGivesUp(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		header   http.Header
		attempts int
		waits    []time.Duration
	}{
		{name: "attempts run out", status: 500, attempts: 3, waits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "4xx is final at once", status: 400, attempts: 1},
		{name: "410 gone is final at once", status: 410, attempts: 1},
		{name: "429 honours Retry-After", status: 429, header: http.Header{"Retry-After": {"7"}}, attempts: 3, waits: []time.Duration{7 * time.Second, 7 * time.Second}},
		{name: "Retry-After beyond max is not honoured", status: 503, header: http.Header{"Retry-After": {"3600"}}, attempts: 3, waits: []time.Duration{time.Second, 2 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hook := breakglasstest.NewReceiver(t, 100, tc.status, tc.header)
			fails := make(failures, 16)
			timer := &instant{}
			f := newFixture(t, notifyConfig(map[string]NotifyTarget{"slack": {Type: TargetSlack, URL: Secret(hook.URL)}},
				RetryConfig{Attempts: 3, Initial: time.Second, Max: time.Minute}), Options{OnNotifyFailure: fails.record, After: timer.After})
			f.grant(t, alice, request("billing", "INC-1"))
			for i := 1; i <= tc.attempts; i++ {
				nf := fails.next(t)
				if nf.Attempt != i || nf.Final != (i == tc.attempts) || nf.Status != tc.status {
					t.Fatalf("failure %d = %+v", i, nf)
				}
			}
			select {
			case nf := <-fails:
				t.Fatalf("expected no more attempts, got %+v", nf)
			case <-time.After(50 * time.Millisecond):
			}
			if hook.Count() != tc.attempts {
				t.Fatalf("expected %d requests, got %d", tc.attempts, hook.Count())
			}
			if w := timer.Waits(); !reflect.DeepEqual(w, tc.waits) {
				t.Fatalf("waits = %v, want %v", w, tc.waits)
			}
		})
	}
}

// A failing delivery's error never names the target's URL: a Slack
// webhook URL carries its key.
func TestNotificationErrorsHideTheURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T000/B000/XXXXSECRETXXXX"
	srv.Close() // connection refused
	fails := make(failures, 16)
	f := newFixture(t, notifyConfig(map[string]NotifyTarget{"slack": {Type: TargetSlack, URL: Secret(url)}},
		RetryConfig{Attempts: 1}), Options{OnNotifyFailure: fails.record})
	f.grant(t, alice, request("billing", "INC-1"))
	nf := fails.next(t)
	if nf.Err == nil || !nf.Final || nf.Status != 0 {
		t.Fatalf("expected a final network failure, got %+v", nf)
	}
	if strings.Contains(nf.Err.Error(), "XXXXSECRETXXXX") {
		t.Fatalf("expected the error without the URL, got %v", nf.Err)
	}
}

func TestSlackPayload(t *testing.T) {
	hook := breakglasstest.NewReceiver(t, 0, 0, nil)
	f := newFixture(t, notifyConfig(map[string]NotifyTarget{"slack": {Type: TargetSlack, URL: Secret(hook.URL)}}, RetryConfig{}), Options{})
	r := request("billing", "INC-1")
	r.Reason = "<!channel> & <https://evil.example|click>"
	g := f.grant(t, alice, r)
	d := hook.Next(t, 10*time.Second)
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(d.Body, &msg); err != nil {
		t.Fatal(err)
	}
	want := ":rotating_light: *Break-glass*: alice@corp.example broke glass on route *billing* until 2026-11-04 11:00 UTC (lifts time_window, justification).\n" +
		"Incident <https://status.corp.example/INC-1|INC-1>: Payments API returns 500 (active)\n" +
		"Reason: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
	if msg.Text != want {
		t.Fatalf("text =\n%s\nwant\n%s", msg.Text, want)
	}
	if len(msg.Blocks) != 2 || msg.Blocks[0].Type != "section" || msg.Blocks[0].Text.Text != want {
		t.Fatalf("blocks = %+v", msg.Blocks)
	}
	if d.Header.Get(headerSignature) != "" || d.Header.Get(headerDelivery) != "" {
		t.Fatal("expected no webhook headers on a Slack delivery")
	}

	// Revocation is announced too.
	if err := f.svc.Revoke(context.Background(), g.ID, "rita@corp.example"); err != nil {
		t.Fatal(err)
	}
	d = hook.Next(t, 10*time.Second)
	if err := json.Unmarshal(d.Body, &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Text, ":lock: *Break-glass revoked*") || !strings.Contains(msg.Text, "revoked by rita@corp.example") {
		t.Fatalf("revocation text = %q", msg.Text)
	}
}

// Only the policy's targets are notified; events carry the end's cause.
func TestNotificationTargetsAndEvents(t *testing.T) {
	a := breakglasstest.NewReceiver(t, 0, 0, nil)
	b := breakglasstest.NewReceiver(t, 0, 0, nil)
	cfg := notifyConfig(map[string]NotifyTarget{
		"a": {Type: TargetWebhook, URL: Secret(a.URL)},
		"b": {Type: TargetWebhook, URL: Secret(b.URL)},
	}, RetryConfig{})
	pol := cfg.Policies["oncall"]
	pol.Notify = []string{"a"}
	cfg.Policies["oncall"] = pol
	p := &stubProvider{onCall: true, incident: Incident{Provider: "rota", Status: "triggered", Active: true}}
	f := newFixture(t, cfg, Options{Providers: map[string]Provider{"rota": p}})
	f.grant(t, alice, request("billing", "INC-1"))
	var ev Event
	if err := json.Unmarshal(a.Next(t, 10*time.Second).Body, &ev); err != nil || ev.Type != EventGranted {
		t.Fatalf("expected the granted event, got %+v, %v", ev, err)
	}
	p.set(func(p *stubProvider) { p.incident.Active = false })
	f.clk.Advance(DefaultRecheckInterval)
	g, _ := f.svc.Active(context.Background(), alice, "billing")
	if still, _ := f.svc.Recheck(context.Background(), *g); still {
		t.Fatal("expected the grant to end")
	}
	if err := json.Unmarshal(a.Next(t, 10*time.Second).Body, &ev); err != nil || ev.Type != EventEnded || ev.Cause != CauseIncidentResolved {
		t.Fatalf("expected the ended event, got %+v, %v", ev, err)
	}
	f.svc.Close()
	if b.Count() != 0 {
		t.Fatalf("expected target b (not in the policy's notify) to get nothing, got %d", b.Count())
	}
}

// Close gives queued notifications the drain timeout, then reports the
// rest as final failures and returns.
func TestCloseAbandonsStuckNotifications(t *testing.T) {
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stuck:
		}
	}))
	defer srv.Close()
	defer close(stuck)
	fails := make(failures, 16)
	f := newFixture(t, notifyConfig(map[string]NotifyTarget{"slow": {Type: TargetWebhook, URL: Secret(srv.URL), Timeout: time.Minute}},
		RetryConfig{Attempts: 1}), Options{OnNotifyFailure: fails.record, DrainTimeout: 50 * time.Millisecond})
	f.grant(t, alice, request("billing", "INC-1"))
	f.grant(t, alice, request("admin", "INC-1"))
	start := time.Now()
	f.svc.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %s", d)
	}
	for range 2 {
		if nf := fails.next(t); !nf.Final {
			t.Fatalf("expected a final failure, got %+v", nf)
		}
	}
	// After Close, new events are reported, not queued.
	f.svc.notifier.send(Event{ID: "x", Type: EventGranted}, nil)
	if nf := fails.next(t); !errors.Is(nf.Err, errClosing) {
		t.Fatalf("expected errClosing after Close, got %+v", nf)
	}
}

func TestBackoff(t *testing.T) {
	r := RetryConfig{Initial: time.Second, Max: 10 * time.Second}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, backoff(r, n))
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("backoff = %v, want %v", got, want)
	}
	if d := backoff(RetryConfig{Initial: time.Hour, Max: time.Hour}, 1000); d != time.Hour {
		t.Fatalf("backoff must not overflow, got %v", d)
	}
}
