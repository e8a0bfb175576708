package audit

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// decodeBoth encodes r with appendRecord and with encoding/json and returns
// both decoded back.
func decodeBoth(t *testing.T, r Record) (ours, std map[string]any) {
	t.Helper()
	line := appendRecord(nil, &r)
	if len(line) == 0 || line[len(line)-1] != '\n' {
		t.Fatalf("no trailing newline: %q", line)
	}
	if err := json.Unmarshal(line, &ours); err != nil {
		t.Fatalf("appendRecord wrote invalid JSON %q: %v", line, err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &std); err != nil {
		t.Fatal(err)
	}
	return ours, std
}

func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	cases := map[string]Record{
		"minimal": {Kind: "decision"},
		"full": {Time: time.Date(2026, 11, 30, 1, 2, 3, 456789, time.FixedZone("x", 3600)), Kind: "decision",
			RequestID: "r1", User: "ann@corp.example", Subject: "s", Route: "tool", Host: "h", Method: "GET",
			Path: "/a%20b", SourceIP: "192.0.2.1", Decision: "deny", Reasons: []string{"a", "b"}, Status: 403,
			DeviceID: "lt-1", Event: "device.enroll", Detail: "d"},
		"escapes": {Kind: "k\"\\\n\r\t\x00\x1f<>&", Path: "/\u2028\u2029é😀", Detail: "bad\xffutf8\xc3"},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			ours, std := decodeBoth(t, r)
			if !reflect.DeepEqual(ours, std) {
				t.Fatalf("appendRecord and encoding/json differ:\n ours %v\n std  %v", ours, std)
			}
		})
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add("decision", "/p", "d\x00", "r", 200)
	f.Add("k\"\\", "\u2028", "\xff\xfe", "", 0)
	f.Fuzz(func(t *testing.T, kind, path, detail, reason string, status int) {
		r := Record{Time: time.Unix(1, 2).UTC(), Kind: kind, Path: path, Detail: detail, Status: status}
		if reason != "" {
			r.Reasons = []string{reason, kind}
		}
		ours, std := decodeBoth(t, r)
		if !reflect.DeepEqual(ours, std) {
			t.Fatalf("differ:\n ours %v\n std  %v", ours, std)
		}
	})
}

func BenchmarkAppendRecord(b *testing.B) {
	r := Record{Time: time.Now(), Kind: "decision", RequestID: "5f2e0726182db3e4ffaa20e5", User: "ann@corp.example",
		Subject: "sub", Route: "tool", Host: "tool.corp.example", Method: "GET", Path: "/a/b", SourceIP: "192.0.2.1",
		Decision: "allow", Reasons: []string{"allow-rule-matched"}, Status: 200}
	var line []byte
	b.ReportAllocs()
	for b.Loop() {
		line = appendRecord(line[:0], &r)
	}
}
