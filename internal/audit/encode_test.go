package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

// decodeBoth encodes r with appendRecord and with encoding/json and returns
// both decoded back; it also checks that appendRecord's line is canonical
// (decode, encode again: the same bytes).
func decodeBoth(t *testing.T, r Record) (ours, std map[string]any) {
	t.Helper()
	line := appendRecord(nil, &r)
	if len(line) == 0 || line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line with a trailing newline: %q", line)
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
	var back Record
	if err := json.Unmarshal(line, &back); err != nil {
		t.Fatal(err)
	}
	if again := appendRecord(nil, &back); !bytes.Equal(again, line) {
		t.Fatalf("not canonical: decoding and encoding again changed the line\n first %q\n again %q", line, again)
	}
	return ours, std
}

var fullRecord = Record{
	Seq: 42, Prev: zeroHash, Time: time.Date(2026, 11, 30, 1, 2, 3, 456789, time.FixedZone("x", 3600)), Kind: "decision",
	RequestID: "r1", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", User: "ann@corp.example", Subject: "s", Route: "tool", Host: "h",
	Method: "POST", MethodOverrides: []string{"DELETE", "*"}, Path: "/a%20b", SourceIP: "192.0.2.1", Decision: "deny", Reasons: []string{"a", "b"},
	Grants: []string{"justification", "break-glass"}, Status: 403, Bytes: 12345, DurationMS: 12.345,
	DeviceID: "lt-1",
	Justification: &JustificationRecord{System: "jira", ID: "SUP-1", URL: "https://jira.example/browse/SUP-1",
		Resource: "42", VerifiedAt: time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC), Outcome: "verified"},
	BreakGlass: &BreakGlassRecord{ID: "P123", Reason: "outage", GrantedAt: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		ExpiresAt: time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)},
	Schedule: "business-hours", Event: "device.enroll", Detail: "d", Transport: "nginx",
	Hash: "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", Sig: "a..b",
}

func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	cases := map[string]Record{
		"minimal": {Kind: "decision"},
		"full":    fullRecord,
		"escapes": {Kind: "k\"\\\n\r\t\x00\x1f\b\f<>&", Path: "/\u2028\u2029é😀", Detail: "bad\xffutf8\xc3"},
		"empty nested objects": {Kind: "justification", Justification: &JustificationRecord{},
			BreakGlass: &BreakGlassRecord{}},
		"nested with one field": {Justification: &JustificationRecord{Outcome: "closed"},
			BreakGlass: &BreakGlassRecord{ExpiresAt: time.Unix(5, 0).UTC()}},
		"small and large durations": {Kind: "response", DurationMS: 1e-7, Bytes: -1},
		"huge duration":             {Kind: "response", DurationMS: 1e21},
		"negative status":           {Status: -3},
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

// NaN and infinities (a clock gone wrong) must not corrupt the line:
// encoding/json refuses them; appendRecord leaves the field out.
func TestAppendRecordOmitsNonFiniteDurations(t *testing.T) {
	for _, d := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		line := appendRecord(nil, &Record{Kind: "response", DurationMS: d})
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("duration %v: invalid JSON %q", d, line)
		}
		if _, ok := m["duration_ms"]; ok {
			t.Errorf("duration %v written: %q", d, line)
		}
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add("decision", "/p", "d\x00", "r", 200, int64(5), 1.5, "jira", int64(1))
	f.Add("k\"\\", "\u2028", "\xff\xfe", "", 0, int64(0), 0.0, "", int64(0))
	f.Add("", "", "", "x", -1, int64(-1), 1e-9, "\xc3", int64(1<<40))
	f.Fuzz(func(t *testing.T, kind, path, detail, reason string, status int, n int64, dur float64, system string, unix int64) {
		if math.IsNaN(dur) || math.IsInf(dur, 0) {
			return // encoding/json refuses them (see TestAppendRecordOmitsNonFiniteDurations)
		}
		unix %= 253402300799 // years 1970-9999: encoding/json refuses others
		if unix < 0 {
			unix = -unix
		}
		r := Record{Seq: uint64(n), Time: time.Unix(unix, n%1e9).UTC(), Kind: kind, Path: path, Detail: detail,
			Status: status, Bytes: n, DurationMS: dur}
		if reason != "" {
			r.Reasons = []string{reason, kind}
			r.Grants = []string{reason}
		}
		if system != "" {
			r.Justification = &JustificationRecord{System: system, VerifiedAt: time.Unix(unix, 0).UTC()}
			r.BreakGlass = &BreakGlassRecord{Reason: detail}
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

// BenchmarkAppendChained is the writer's cost per record: encoding and the
// chain's SHA-256.
func BenchmarkAppendChained(b *testing.B) {
	r := Record{Time: time.Now(), Kind: "decision", RequestID: "5f2e0726182db3e4ffaa20e5", User: "ann@corp.example",
		Subject: "sub", Route: "tool", Host: "tool.corp.example", Method: "GET", Path: "/a/b", SourceIP: "192.0.2.1",
		Decision: "allow", Reasons: []string{"allow-rule-matched"}, Grants: []string{"device"}, Status: 200}
	l := &Log{}
	copy(l.prev[:], zeroHash)
	var line []byte
	b.ReportAllocs()
	for b.Loop() {
		line = l.appendChained(line[:0], &r, false)
	}
}
