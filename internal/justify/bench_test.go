package justify_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/justify/justifytest"
)

// countingTransport counts every request a Verifier makes.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// cachedVerifier returns a Verifier whose cache holds SUP-1, and the
// transport that counts its requests.
func cachedVerifier(tb testing.TB) (*justify.Verifier, justify.Ref, *countingTransport) {
	jira := justifytest.NewJira(tb)
	jira.SetIssue(justifytest.JiraIssue{Key: "SUP-1", Status: "In Progress", Category: "indeterminate", Assignee: ana,
		Fields: map[string]any{"customfield_10050": map[string]any{"value": "42"}}})
	sc := jira.SystemConfig(justify.JiraCloudV3)
	sc.Jira.CustomerField = "customfield_10050"
	ct := &countingTransport{}
	clk := newClock()
	v, err := justify.New(justify.Config{Systems: map[string]justify.SystemConfig{"jira": sc}}, justify.Options{
		Now: clk.Now,
		Transport: func(tc *tls.Config) http.RoundTripper {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = tc
			ct.base = t
			return ct
		}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	ref, err := v.Parse("SUP-1", []string{"jira"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := v.Lookup(context.Background(), ref, justify.Query{User: ana, Resource: "42"}); err != nil {
		tb.Fatal(err)
	}
	if ct.n.Load() != 1 {
		tb.Fatalf("expected 1 request to fill the cache, got %d", ct.n.Load())
	}
	return v, ref, ct
}

// The steady path: a cached answer is served without I/O and without
// allocating.
func TestCachedLookupDoesNoIO(t *testing.T) {
	v, ref, ct := cachedVerifier(t)
	q := justify.Query{User: ana, Resource: "42"}
	allocs := testing.AllocsPerRun(100, func() {
		tk, err := v.Lookup(context.Background(), ref, q)
		if err != nil || !tk.Cached || justify.Check(tk, ana, "42") != "" {
			t.Fatalf("expected a cached allowed answer, got %+v %v", tk, err)
		}
	})
	if n := ct.n.Load(); n != 1 {
		t.Fatalf("expected no request after the first, got %d", n-1)
	}
	if allocs != 0 {
		t.Fatalf("expected 0 allocations per cached lookup and check, got %v", allocs)
	}
}

func BenchmarkCheck(b *testing.B) {
	tk := justify.Ticket{System: "jira", ID: "SUP-1", Open: true,
		Involved: []string{"bob@corp.example", "cy@corp.example", ana}, Resources: []string{"41", "42"}}
	b.ReportAllocs()
	for b.Loop() {
		if justify.Check(tk, "Ana@corp.example", "42") != "" {
			b.Fatal("expected allowed")
		}
	}
}

func BenchmarkLookupCached(b *testing.B) {
	v, ref, ct := cachedVerifier(b)
	q := justify.Query{User: ana, Resource: "42"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tk, err := v.Lookup(ctx, ref, q)
		if err != nil || justify.Check(tk, ana, "42") != "" {
			b.Fatal("expected a cached allowed answer")
		}
	}
	b.StopTimer()
	if n := ct.n.Load(); n != 1 {
		b.Fatalf("expected no I/O on the cached path, got %d requests", n-1)
	}
}

func BenchmarkParse(b *testing.B) {
	v := newVerifier(b, nil, parseSystems())
	allowed := []string{"jira", "ops"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Parse("https://corp.atlassian.net/browse/sup-7", allowed); err != nil {
			b.Fatal(err)
		}
	}
}
