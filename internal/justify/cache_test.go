package justify

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestCacheBounded(t *testing.T) {
	now := time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)
	c := newCache(10)
	for i := 0; i < 10; i++ {
		fresh := now.Add(time.Minute)
		if i < 3 {
			fresh = now.Add(-time.Second) // past its use
		}
		c.put(fmt.Sprint(i), entry{freshUntil: fresh}, now)
	}
	// Full: the next put drops the three stale entries first.
	c.put("new", entry{freshUntil: now.Add(time.Minute)}, now)
	if c.len() != 8 {
		t.Fatalf("expected 8 entries after dropping stale ones, got %d", c.len())
	}
	for i := 0; i < 3; i++ {
		if _, ok := c.get(fmt.Sprint(i)); ok {
			t.Fatalf("expected stale entry %d dropped", i)
		}
	}
	// Full of fresh entries: it drops down to 90% of the size.
	c.put("a", entry{freshUntil: now.Add(time.Minute)}, now)
	c.put("b", entry{freshUntil: now.Add(time.Minute)}, now)
	c.put("c", entry{freshUntil: now.Add(time.Minute)}, now)
	if n := c.len(); n > 10 {
		t.Fatalf("expected at most 10 entries, got %d", n)
	}
	if _, ok := c.get("c"); !ok {
		t.Fatal("expected the entry just put to be kept")
	}
	// Replacing an existing key never evicts.
	n := c.len()
	c.put("c", entry{notFound: true}, now)
	if c.len() != n {
		t.Fatalf("expected %d entries after a replacement, got %d", n, c.len())
	}
}

func TestBreakerHalfOpenAllowsOneProbe(t *testing.T) {
	now := time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)
	b := &breaker{failures: 2, openFor: 10 * time.Second}
	steps := []struct {
		name string
		do   func() bool
		want bool
	}{
		{"closed allows", func() bool { ok, _ := b.allow(now); return ok }, true},
		{"first failure keeps it closed", func() bool { return b.failure(now) }, false},
		{"second failure opens", func() bool { return b.failure(now) }, true},
		{"open refuses", func() bool { ok, _ := b.allow(now.Add(9 * time.Second)); return ok }, false},
		{"after open_for one probe", func() bool { ok, _ := b.allow(now.Add(10 * time.Second)); return ok }, true},
		{"a second probe waits", func() bool { ok, _ := b.allow(now.Add(10 * time.Second)); return ok }, false},
		{"a released probe frees the slot", func() bool { b.release(); ok, _ := b.allow(now.Add(11 * time.Second)); return ok }, true},
		{"the probe's failure reopens", func() bool { return b.failure(now.Add(11 * time.Second)) }, true},
		{"reopened refuses", func() bool { ok, _ := b.allow(now.Add(20 * time.Second)); return ok }, false},
		{"next probe", func() bool { ok, _ := b.allow(now.Add(21 * time.Second)); return ok }, true},
		{"success closes", func() bool { b.success(); ok, _ := b.allow(now.Add(21 * time.Second)); return ok }, true},
		{"and resets the count", func() bool { return b.failure(now.Add(22 * time.Second)) }, false},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: expected %v, got %v", s.name, s.want, got)
		}
	}
}

func TestVerifierHelpers(t *testing.T) {
	v, err := New(Config{Systems: map[string]SystemConfig{
		"jira": {Type: "jira", BaseURL: "https://corp.atlassian.net/", Auth: AuthConfig{Token: "t"}},
		"pd":   {Type: "pagerduty", Auth: AuthConfig{Token: "t"}},
		"st":   {Type: "static", Static: &StaticConfig{Tickets: []StaticTicket{{ID: "A-1", State: "open"}}}},
	}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got := fmt.Sprint(v.Systems()); got != "[jira pd st]" {
		t.Fatalf("expected [jira pd st], got %s", got)
	}
	for _, c := range []struct {
		ref  Ref
		want string
	}{
		{Ref{"jira", "SUP-1"}, "https://corp.atlassian.net/browse/SUP-1"},
		{Ref{"pd", "PT4KHLK"}, ""}, // no web_url
		{Ref{"st", "A-1"}, ""},
		{Ref{"nope", "A-1"}, ""},
	} {
		if got := v.URL(c.ref); got != c.want {
			t.Errorf("URL(%v): expected %q, got %q", c.ref, c.want, got)
		}
	}
}

func TestTicketLogValueNamesNobody(t *testing.T) {
	var buf bytes.Buffer
	tk := Ticket{System: "jira", ID: "SUP-1", Open: true, Status: "In Progress",
		Involved: []string{"ana@corp.example"}, Resources: []string{"acme"}}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("lookup", "ticket", tk)
	out := buf.String()
	if strings.Contains(out, "ana@corp.example") || strings.Contains(out, "acme") || !strings.Contains(out, `"id":"SUP-1"`) {
		t.Fatalf("expected the ticket summarized without people or customers, got %s", out)
	}
}
