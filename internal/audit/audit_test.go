package audit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) { b.mu.Lock(); defer b.mu.Unlock(); return b.b.Write(p) }
func (b *buffer) String() string              { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

func TestEveryRecordIsOneJSONLine(t *testing.T) {
	var out buffer
	l := New(&out, nil, nil)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l.Log(Record{Kind: "decision", RequestID: "r", Decision: "allow", Reasons: []string{"allow-rule-matched"}, Status: i})
		}(i)
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 200 {
		t.Fatalf("%d lines, want 200", len(lines))
	}
	seen := map[int]bool{}
	for _, line := range lines {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not one JSON record per line: %q: %v", line, err)
		}
		if r.Time.IsZero() || r.Decision != "allow" {
			t.Errorf("record %+v", r)
		}
		seen[r.Status] = true
	}
	if len(seen) != 200 {
		t.Errorf("%d distinct records, want 200 (none lost or doubled)", len(seen))
	}
}

// A record logged after Close (a request that outlived shutdown) does not
// panic and reaches the operational log.
func TestLogAfterClose(t *testing.T) {
	var out, ops buffer
	l := New(&out, nil, slog.New(slog.NewJSONHandler(&ops, nil)))
	l.Close()
	l.Log(Record{Kind: "decision", RequestID: "late", Time: time.Unix(1, 0)})
	if !strings.Contains(ops.String(), "late") || out.String() != "" {
		t.Fatalf("late record: audit %q, ops %q", out.String(), ops.String())
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}
