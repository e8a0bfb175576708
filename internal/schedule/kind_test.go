package schedule

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/accessgateway/gateway/internal/requirement"
)

// TestKindCompileNeverDropsTheWindow: a route's time window is compiled
// from the same reading of the holiday file that the section's check saw,
// and a section that does not compile is a problem of the route too — never
// a route without its time window (open around the clock) and no problem.
func TestKindCompileNeverDropsTheWindow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "holidays.ics")
	good := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20261224\r\nSUMMARY:Christmas Eve\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Config{"evenings": {TimeZone: "Europe/Berlin", ExceptICS: path,
		Windows: []Window{{Days: Days{"mon-fri"}, From: "17:00", To: "21:00"}}}}
	spec := &Spec{Schedules: []string{"evenings"}}
	route := requirement.Route{Name: "billing"}

	if probs := (Kind{}).SectionProblems(c); len(probs) != 0 {
		t.Fatalf("SectionProblems = %v, want none", probs)
	}
	// The file is being rewritten (an editor's truncate-then-write; the
	// very change that makes the gateway reload) when the routes compile.
	if err := os.WriteFile(path, []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	req, probs := (Kind{}).Compile(spec, c, route)
	if req == nil && len(probs) == 0 {
		t.Fatal("Compile = nil requirement and no problem: the route would load without its time window")
	}

	// A section that does not compile: the route says so as well.
	bad := &Config{"evenings": {TimeZone: "Europe/Berln", Windows: []Window{{Days: Days{"mon-fri"}}}}}
	if probs := (Kind{}).SectionProblems(bad); len(probs) == 0 {
		t.Fatal("SectionProblems of a bad section: none")
	}
	req, probs = (Kind{}).Compile(spec, bad, route)
	if req != nil || len(probs) == 0 {
		t.Fatalf("Compile of a bad section = %v, %v; want no requirement and a problem", req, probs)
	}
}
