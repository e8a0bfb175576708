package justify_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/justify/justifytest"
	"github.com/accessgateway/gateway/internal/policy"
)

// fakeSystem is a fake with one good ticket, for the failure modes every
// system type shares.
type fakeSystem struct {
	sc       justify.SystemConfig
	input    string
	fault    func(*justifytest.Fault)
	requests func() int
}

var systemFactories = map[string]func(t *testing.T) fakeSystem{
	"jira": func(t *testing.T) fakeSystem {
		f := justifytest.NewJira(t)
		f.SetIssue(inProgress("SUP-1"))
		return fakeSystem{f.SystemConfig(justify.JiraCloudV3), "SUP-1", f.SetFault, f.Requests}
	},
	"jira-dc": func(t *testing.T) fakeSystem {
		f := justifytest.NewJira(t)
		f.SetIssue(inProgress("SUP-1"))
		return fakeSystem{f.SystemConfig(justify.JiraDataCenterV2), "SUP-1", f.SetFault, f.Requests}
	},
	"github": func(t *testing.T) fakeSystem {
		f := justifytest.NewGitHub(t)
		f.SetIssue(justifytest.GitHubIssue{Repo: "corp/support", Number: 7, State: "open", Assignees: []string{"ana-gh"}})
		sc := f.SystemConfig("corp/support")
		sc.GitHub.Users = map[string]string{"ana-gh": ana}
		return fakeSystem{sc, "7", f.SetFault, f.Requests}
	},
	"pagerduty": func(t *testing.T) fakeSystem {
		f := justifytest.NewPagerDuty(t)
		f.AddUser("PXPGF42", ana)
		f.SetIncident(justifytest.PagerDutyIncident{ID: "PT4KHLK", Number: 1234, Status: "triggered", Assignees: []string{"PXPGF42"}})
		return fakeSystem{f.SystemConfig(), "PT4KHLK", f.SetFault, f.Requests}
	},
	"opsgenie": func(t *testing.T) fakeSystem {
		f := justifytest.NewOpsgenie(t)
		f.SetAlert(justifytest.OpsgenieAlert{ID: ogAlertID, TinyID: "1791", Status: "open", Owner: ana})
		return fakeSystem{f.SystemConfig(), "1791", f.SetFault, f.Requests}
	},
	"servicenow": func(t *testing.T) fakeSystem {
		f := justifytest.NewServiceNow(t)
		f.SetRecord(justifytest.ServiceNowRecord{Table: "incident", Number: "INC0010001", State: "2", Active: true,
			Fields: map[string]string{"assigned_to.email": ana}})
		return fakeSystem{f.SystemConfig("incident"), "INC0010001", f.SetFault, f.Requests}
	},
	"http": func(t *testing.T) fakeSystem {
		f := justifytest.NewHTTPVerifier(t)
		f.SetTicket("T-1", justifytest.HTTPTicket{Open: true, Assignees: []string{ana}})
		return fakeSystem{f.SystemConfig(), "T-1", f.SetFault, f.Requests}
	},
}

// Every error on the way to an answer makes the system unavailable, is not
// cached, and the next lookup without the fault gets the answer.
func TestUnavailable(t *testing.T) {
	faults := []struct {
		name  string
		fault justifytest.Fault
		cause string
	}{
		{"500", justifytest.Fault{Status: 500}, "unexpected status 500"},
		{"502", justifytest.Fault{Status: 502}, "unexpected status 502"},
		{"503 without Retry-After", justifytest.Fault{Status: 503}, "unexpected status 503"},
		{"401", justifytest.Fault{Status: 401}, "credentials refused (401)"},
		{"403", justifytest.Fault{Status: 403}, "credentials refused (403)"},
		{"400", justifytest.Fault{Status: 400}, "unexpected status 400"},
		// (A GitHub 301 is an issue transferred away: an answer about that
		// issue, see TestOneTicketsUnusableAnswerDoesNotOpenTheCircuit.)
		{"redirect not followed", justifytest.Fault{Status: 302, Header: map[string]string{"Location": "https://evil.example/"}}, "unexpected redirect (302)"},
		{"html", justifytest.Fault{Body: "<html><body>Maintenance</body></html>"}, "unreadable"},
		{"truncated json", justifytest.Fault{Body: `{"key": "SUP-1", "fields": {`}, "unreadable"},
		{"empty body", justifytest.Fault{Body: ""}, "unreadable"},
		{"empty object", justifytest.Fault{Body: "{}"}, "unreadable"},
		{"array", justifytest.Fault{Body: "[]"}, "unreadable"},
		{"trailing data", justifytest.Fault{Body: `{} {}`}, "unreadable"},
		{"oversized", justifytest.Fault{Oversize: 2 << 20}, "answer larger than 1048576 bytes"},
		{"timeout", justifytest.Fault{Hang: true}, "timeout after 1s"},
	}
	for name, factory := range systemFactories {
		for _, f := range faults {
			t.Run(name+"/"+f.name, func(t *testing.T) {
				if f.fault.Hang {
					t.Parallel() // they wait out the timeout
				}
				fs := factory(t)
				if f.fault.Hang {
					// Short enough to wait out, long enough for a TLS
					// handshake on a busy machine after the fault.
					fs.sc.Timeout = time.Second
				}
				v := newVerifier(t, newClock(), map[string]justify.SystemConfig{"s": fs.sc})
				fs.fault(&f.fault)
				_, err := lookup(t, v, fs.input, justify.Query{User: ana})
				u := wantUnavailable(t, err)
				if !strings.HasPrefix(u.Cause, f.cause) || u.System != "s" {
					t.Fatalf("expected cause %q of system s, got %q of %q", f.cause, u.Cause, u.System)
				}
				fs.fault(nil)
				tk, err := lookup(t, v, fs.input, justify.Query{User: ana})
				if got := verdict(tk, err, ana, ""); got != "" || tk.Cached {
					t.Fatalf("after the fault: expected a fresh allowed answer, got %q (cached=%v, err %v)", got, tk.Cached, err)
				}
				if fs.requests() != 2 {
					t.Fatalf("expected 2 requests, got %d", fs.requests())
				}
			})
		}
	}
}

// 429 with Retry-After: no request to that system until then; the caller
// gets Unavailable meanwhile.
func TestRetryAfter(t *testing.T) {
	for name, factory := range systemFactories {
		for _, ra := range []struct {
			name   string
			header string
			wait   time.Duration
		}{
			{"seconds", "30", 30 * time.Second},
			{"http-date", "Tue, 01 Dec 2026 17:02:00 GMT", 2 * time.Minute},
			{"missing", "", justify.DefaultRetryAfter},
			{"capped", "86400", justify.MaxRetryAfter},
		} {
			t.Run(name+"/"+ra.name, func(t *testing.T) {
				clk := newClock()
				fs := factory(t)
				v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": fs.sc})
				f := &justifytest.Fault{Status: http.StatusTooManyRequests, Header: map[string]string{}}
				if ra.header != "" {
					f.Header["Retry-After"] = ra.header
				}
				fs.fault(f)
				_, err := lookup(t, v, fs.input, justify.Query{User: ana})
				u := wantUnavailable(t, err)
				if want := clk.Now().Add(ra.wait); !u.RetryAt.Equal(want) {
					t.Fatalf("expected RetryAt %v, got %v", want, u.RetryAt)
				}
				n := fs.requests()
				fs.fault(nil)
				clk.Advance(ra.wait - time.Second)
				_, err = lookup(t, v, fs.input, justify.Query{User: ana})
				wantUnavailable(t, err)
				if fs.requests() != n {
					t.Fatalf("expected no request before Retry-After, got %d more", fs.requests()-n)
				}
				clk.Advance(time.Second)
				tk, err := lookup(t, v, fs.input, justify.Query{User: ana})
				if got := verdict(tk, err, ana, ""); got != "" {
					t.Fatalf("after Retry-After: expected allowed, got %q (%v)", got, err)
				}
			})
		}
	}
}

func TestGitHubRateLimitHeaders(t *testing.T) {
	clk := newClock()
	fs := systemFactories["github"](t)
	v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": fs.sc})
	reset := clk.Now().Add(90 * time.Second)
	fs.fault(&justifytest.Fault{Status: 403, Header: map[string]string{
		"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10)}})
	_, err := lookup(t, v, "7", justify.Query{User: ana})
	if u := wantUnavailable(t, err); !u.RetryAt.Equal(reset) {
		t.Fatalf("expected RetryAt %v, got %v", reset, u.RetryAt)
	}
}

func TestNegativeCache(t *testing.T) {
	clk := newClock()
	fs := systemFactories["jira"](t)
	fs.sc.Cache.NegativeTTL = 10 * time.Second
	v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": fs.sc})
	for i, step := range []struct {
		advance  time.Duration
		requests int
	}{{0, 1}, {9 * time.Second, 1}, {time.Second, 2}} {
		clk.Advance(step.advance)
		_, err := lookup(t, v, "SUP-404", justify.Query{User: ana})
		if !errors.Is(err, justify.ErrNotFound) || fs.requests() != step.requests {
			t.Fatalf("step %d: expected ErrNotFound after %d requests, got %v after %d", i, step.requests, err, fs.requests())
		}
	}
}

func TestCircuitBreaker(t *testing.T) {
	clk := newClock()
	fs := systemFactories["servicenow"](t)
	fs.sc.Breaker = justify.BreakerConfig{Failures: 3, OpenFor: 30 * time.Second}
	v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": fs.sc})
	q := justify.Query{User: ana}
	fs.fault(&justifytest.Fault{Status: 500})
	for i := 1; i <= 3; i++ {
		_, err := lookup(t, v, "INC0010001", q)
		wantUnavailable(t, err)
		if fs.requests() != i {
			t.Fatalf("failure %d: expected %d requests, got %d", i, i, fs.requests())
		}
	}
	_, err := lookup(t, v, "INC0010001", q)
	if u := wantUnavailable(t, err); u.Cause != "circuit open" || !u.RetryAt.Equal(clk.Now().Add(30*time.Second)) {
		t.Fatalf("expected circuit open until +30s, got %q until %v", u.Cause, u.RetryAt)
	}
	if fs.requests() != 3 {
		t.Fatalf("expected no request while open, got %d", fs.requests())
	}
	// Half-open: one probe, which fails: open again.
	clk.Advance(30 * time.Second)
	_, err = lookup(t, v, "INC0010001", q)
	wantUnavailable(t, err)
	_, err = lookup(t, v, "INC0010001", q)
	if u := wantUnavailable(t, err); u.Cause != "circuit open" || fs.requests() != 4 {
		t.Fatalf("expected the failed probe to reopen the circuit, got %q after %d requests", u.Cause, fs.requests())
	}
	// Next probe succeeds: closed.
	clk.Advance(30 * time.Second)
	fs.fault(nil)
	for i := 0; i < 2; i++ {
		tk, err := lookup(t, v, "INC0010001", q)
		if got := verdict(tk, err, ana, ""); got != "" {
			t.Fatalf("after recovery: expected allowed, got %q (%v)", got, err)
		}
	}
	// A different ticket goes through too (the circuit is closed).
	_, err = lookup(t, v, "INC0010002", q)
	if !errors.Is(err, justify.ErrNotFound) {
		t.Fatalf("expected ErrNotFound, got %v", err)
	}
}

// "Not found" is an answer: it does not count as a failure.
func TestNotFoundDoesNotOpenTheCircuit(t *testing.T) {
	clk := newClock()
	fs := systemFactories["jira"](t)
	fs.sc.Breaker.Failures = 1
	fs.sc.Cache.NegativeTTL = time.Second
	v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": fs.sc})
	for i := 0; i < 3; i++ {
		clk.Advance(time.Second)
		if _, err := lookup(t, v, "SUP-404", justify.Query{User: ana}); !errors.Is(err, justify.ErrNotFound) {
			t.Fatalf("lookup %d: expected ErrNotFound, got %v", i, err)
		}
	}
}

func TestAllowCached(t *testing.T) {
	for _, c := range []struct {
		name      string
		policy    string
		advance   time.Duration
		wantStale bool
	}{
		{"deny by default", "", 2 * time.Minute, false},
		{"allow-cached within max_stale", justify.OnUnavailableAllowCached, 2 * time.Minute, true},
		{"allow-cached at max_stale", justify.OnUnavailableAllowCached, 10 * time.Minute, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			fs := systemFactories["jira"](t)
			fs.sc.OnUnavailable = c.policy
			fs.sc.Cache = justify.CacheConfig{TTL: time.Minute, MaxStale: 10 * time.Minute}
			v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": fs.sc})
			if _, err := lookup(t, v, "SUP-1", justify.Query{User: ana}); err != nil {
				t.Fatal(err)
			}
			verified := clk.Now()
			clk.Advance(c.advance)
			fs.fault(&justifytest.Fault{Status: 503})
			tk, err := lookup(t, v, "SUP-1", justify.Query{User: ana})
			if !c.wantStale {
				wantUnavailable(t, err)
				return
			}
			if err != nil || !tk.Stale || !tk.Cached || !tk.VerifiedAt.Equal(verified) || justify.Check(tk, ana, "") != "" {
				t.Fatalf("expected the stale answer verified at %v, got %+v, %v", verified, tk, err)
			}
			// Not found answers never stand in.
			_, err = lookup(t, v, "SUP-2", justify.Query{User: ana})
			wantUnavailable(t, err)
		})
	}
}

func TestCancelledLookupDoesNotCount(t *testing.T) {
	clk := newClock()
	fs := systemFactories["jira"](t)
	fs.sc.Breaker.Failures = 1
	v := newVerifier(t, clk, map[string]justify.SystemConfig{"s": fs.sc})
	ref, err := v.Parse("SUP-1", []string{"s"})
	if err != nil {
		t.Fatal(err)
	}
	fs.fault(&justifytest.Fault{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = v.Lookup(ctx, ref, justify.Query{User: ana})
	if u := wantUnavailable(t, err); u.Cause != "lookup cancelled" {
		t.Fatalf("expected lookup cancelled, got %q", u.Cause)
	}
	fs.fault(nil)
	if _, err := v.Lookup(context.Background(), ref, justify.Query{User: ana}); err != nil {
		t.Fatalf("expected the circuit still closed, got %v", err)
	}
}

func TestLookupRefusesForeignRefs(t *testing.T) {
	fs := systemFactories["jira"](t)
	v := newVerifier(t, nil, map[string]justify.SystemConfig{"s": fs.sc})
	for _, c := range []struct {
		ref  justify.Ref
		want policy.Reason
	}{
		{justify.Ref{System: "nope", ID: "SUP-1"}, justify.ReasonUnavailable},
		{justify.Ref{System: "s", ID: "sup-1"}, justify.ReasonUnavailable},
		// IDs the system does not accept are refused as Parse refuses them.
		{justify.Ref{System: "s", ID: "SUP-01"}, justify.ReasonRequired},
		{justify.Ref{System: "s", ID: ""}, justify.ReasonRequired},
	} {
		_, err := v.Lookup(context.Background(), c.ref, justify.Query{User: ana})
		if err == nil || justify.ReasonFor(err) != c.want {
			t.Errorf("%v: expected an error of reason %s, got %v", c.ref, c.want, err)
		}
	}
	if fs.requests() != 0 {
		t.Fatalf("expected no request, got %d", fs.requests())
	}
}

// Concurrent lookups of the same ticket share one request.
func TestConcurrentLookupsShareOneRequest(t *testing.T) {
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	v := newVerifier(t, newClock(), map[string]justify.SystemConfig{"s": jira.SystemConfig(justify.JiraCloudV3)})
	ref, err := v.Parse("SUP-1", []string{"s"})
	if err != nil {
		t.Fatal(err)
	}
	release := jira.Hold()
	defer release()
	const n = 8
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			tk, err := v.Lookup(context.Background(), ref, justify.Query{User: ana})
			if err == nil && justify.Check(tk, ana, "") != "" {
				err = errors.New("expected allowed")
			}
			results <- err
		}()
	}
	// Poll until one request is held and the others wait for it.
	for jira.Requests() != 1 || justify.InflightWaiters(v, "s", "SUP-1") != n-1 {
		runtime.Gosched()
	}
	release()
	for i := 0; i < n; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if jira.Requests() != 1 {
		t.Fatalf("expected 1 request, got %d", jira.Requests())
	}
}

// When the caller whose request is in flight goes away, a waiting caller
// asks in its place.
func TestWaiterTakesOverFromCancelledLookup(t *testing.T) {
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	v := newVerifier(t, newClock(), map[string]justify.SystemConfig{"s": jira.SystemConfig(justify.JiraCloudV3)})
	ref, _ := v.Parse("SUP-1", []string{"s"})
	release := jira.Hold()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := v.Lookup(ctx, ref, justify.Query{User: ana})
		first <- err
	}()
	for jira.Requests() != 1 {
		runtime.Gosched()
	}
	second := make(chan error, 1)
	go func() {
		_, err := v.Lookup(context.Background(), ref, justify.Query{User: ana})
		second <- err
	}()
	for justify.InflightWaiters(v, "s", "SUP-1") != 1 {
		runtime.Gosched()
	}
	cancel()
	if err := <-first; justify.ReasonFor(err) != justify.ReasonUnavailable {
		t.Fatalf("first: expected unavailable (cancelled), got %v", err)
	}
	for jira.Requests() != 2 {
		runtime.Gosched()
	}
	release()
	if err := <-second; err != nil {
		t.Fatalf("second: expected the answer, got %v", err)
	}
}

// A reload keeps the cache, breaker and rate-limit wait of unchanged
// systems, and starts afresh for changed ones.
func TestPrevHandsOverState(t *testing.T) {
	clk := newClock()
	jira := justifytest.NewJira(t)
	jira.SetIssue(inProgress("SUP-1"))
	sc := jira.SystemConfig(justify.JiraCloudV3)
	old, err := justify.New(justify.Config{Systems: map[string]justify.SystemConfig{"s": sc}}, justify.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lookup(t, old, "SUP-1", justify.Query{User: ana}); err != nil {
		t.Fatal(err)
	}
	same, err := justify.New(justify.Config{Systems: map[string]justify.SystemConfig{"s": sc}}, justify.Options{Now: clk.Now, Prev: old})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	defer same.Close()
	tk, err := lookup(t, same, "SUP-1", justify.Query{User: ana})
	if err != nil || !tk.Cached || jira.Requests() != 1 {
		t.Fatalf("unchanged system: expected the cached answer, got cached=%v requests=%d %v", tk.Cached, jira.Requests(), err)
	}
	changed := sc
	changed.Jira = &justify.JiraConfig{API: justify.JiraCloudV3, Involved: []string{"reporter"}}
	other, err := justify.New(justify.Config{Systems: map[string]justify.SystemConfig{"s": changed}}, justify.Options{Now: clk.Now, Prev: same})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tk, err = lookup(t, other, "SUP-1", justify.Query{User: ana})
	if got := verdict(tk, err, ana, ""); got != justify.ReasonNotAssigned || tk.Cached || jira.Requests() != 2 {
		t.Fatalf("changed system: expected a new answer (%s), got %q cached=%v requests=%d", justify.ReasonNotAssigned, got, tk.Cached, jira.Requests())
	}
}

// An answer that is unusable for one ticket only — a GitHub issue
// transferred to another repository (301), an incident or alert with more
// users than the gateway looks up — denies that ticket (unavailable) but is
// no sign of an unhealthy system: however often it is asked for, the
// circuit stays closed and other tickets are still looked up.
func TestOneTicketsUnusableAnswerDoesNotOpenTheCircuit(t *testing.T) {
	for _, c := range []struct {
		name      string
		setup     func(t *testing.T) (sc justify.SystemConfig, bad, good string)
		wantCause string
	}{
		{"github issue transferred", func(t *testing.T) (justify.SystemConfig, string, string) {
			gh := justifytest.NewGitHub(t)
			gh.SetIssue(justifytest.GitHubIssue{Repo: "corp/support", Number: 7, MovedTo: "corp/elsewhere#3"})
			gh.SetIssue(justifytest.GitHubIssue{Repo: "corp/support", Number: 8, State: "open", Assignees: []string{"ana-gh"}})
			sc := gh.SystemConfig("corp/support")
			sc.GitHub.Users = map[string]string{"ana-gh": ana}
			return sc, "corp/support#7", "corp/support#8"
		}, "moved (301)"},
		{"pagerduty incident with too many users", func(t *testing.T) (justify.SystemConfig, string, string) {
			pd := justifytest.NewPagerDuty(t)
			var many []string
			for i := range 11 {
				many = append(many, "PUSER"+strconv.Itoa(10+i))
			}
			pd.SetIncident(justifytest.PagerDutyIncident{ID: "PBIG001", Number: 1300, Status: "triggered", Assignees: many})
			pd.SetIncident(justifytest.PagerDutyIncident{ID: "PT4KHLK", Number: 1234, Status: "triggered", Assignees: []string{"PXPGF42"}})
			pd.AddUser("PXPGF42", ana)
			return pd.SystemConfig(), "PBIG001", "PT4KHLK"
		}, "more than 10 users"},
		{"opsgenie alert with too many responders", func(t *testing.T) (justify.SystemConfig, string, string) {
			og := justifytest.NewOpsgenie(t)
			var many []string
			for i := range 11 {
				many = append(many, "9d6b4a2c-0000-4000-8000-0000000000"+strconv.Itoa(10+i))
			}
			og.SetAlert(justifytest.OpsgenieAlert{ID: "4e0b6c4f-4444-4444-8444-444444444444", TinyID: "1800", Status: "open", Responders: many})
			og.SetAlert(justifytest.OpsgenieAlert{ID: "1b7e3f1c-1111-4111-8111-111111111111", TinyID: "1792", Status: "open", Owner: ana})
			return og.SystemConfig(), "1800", "1792"
		}, "more than 10 responders"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc, bad, good := c.setup(t)
			v := newVerifier(t, newClock(), map[string]justify.SystemConfig{"s": sc})
			for i := 0; i < 2*justify.DefaultFailures; i++ {
				_, err := lookup(t, v, bad, justify.Query{User: ana})
				if u := wantUnavailable(t, err); !strings.Contains(u.Cause, c.wantCause) {
					t.Fatalf("lookup %d of %s: expected a cause saying %q, got %q", i, bad, c.wantCause, u.Cause)
				}
			}
			tk, err := lookup(t, v, good, justify.Query{User: ana})
			if r := verdict(tk, err, ana, ""); r != "" {
				t.Fatalf("another ticket after %d lookups of %s: expected it justified, got %s (%v)", 2*justify.DefaultFailures, bad, r, err)
			}
		})
	}
}
