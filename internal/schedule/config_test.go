package schedule

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestConfigYAML(t *testing.T) {
	src := `
support:
  time_zone: Europe/Berlin
  windows:
    - {days: mon-fri, from: 17:00, to: 21:00}
    - days: [sat, sun]
      from: "22:00"
      to: "02:00"
    - days: "sat, sun"
  from: 2026-12-01
  until: 2027-03-31
  except: [2026-12-24, 2026-12-25]
  except_ics: holidays.ics
`
	var c Config
	if err := yaml.UnmarshalWithOptions([]byte(src), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	want := Config{"support": {
		TimeZone: "Europe/Berlin",
		Windows: []Window{
			{Days: Days{"mon-fri"}, From: "17:00", To: "21:00"},
			{Days: Days{"sat", "sun"}, From: "22:00", To: "02:00"},
			{Days: Days{"sat, sun"}},
		},
		From: "2026-12-01", Until: "2027-03-31",
		Except:    []string{"2026-12-24", "2026-12-25"},
		ExceptICS: "holidays.ics",
	}}
	if got, wantS := yamlString(t, c), yamlString(t, want); got != wantS {
		t.Fatalf("decoded\n%s\nwant\n%s", got, wantS)
	}

	// Scalars decode as strings and are judged by Problems, with the path;
	// other shapes fail the decode, with the line.
	for _, tc := range []struct{ name, src, decodeErr, problem string }{
		{name: "unknown key", src: "s: {time_zone: UTC, windows: [], timezone: UTC}", decodeErr: "unknown field"},
		{name: "unknown window key", src: "s: {time_zone: UTC, windows: [{days: mon, hours: 9-5}]}", decodeErr: "unknown field"},
		{name: "days a mapping", src: "s: {time_zone: UTC, windows: [{days: {mon: true}}]}", decodeErr: "[1:38] mapping was used where sequence is expected"},
		{name: "days a nested list", src: "s: {time_zone: UTC, windows: [{days: [mon, [tue]]}]}", decodeErr: "[1:44] cannot unmarshal"},
		{name: "days a number", src: "s: {time_zone: UTC, windows: [{days: 5}]}", problem: `s.windows[0].days: "5" is not a day`},
		{name: "days a list of numbers", src: "s: {time_zone: UTC, windows: [{days: [1, 2]}]}", problem: `s.windows[0].days: "1" is not a day`},
		{name: "days null", src: "s: {time_zone: UTC, windows: [{days: ~}]}", problem: `s.windows[0].days: required`},
		{name: "days empty", src: "s: {time_zone: UTC, windows: [{days: \"\"}]}", problem: `s.windows[0].days: required`},
		{name: "time a number", src: "s: {time_zone: UTC, windows: [{days: mon, from: 900, to: \"17:00\"}]}", problem: `s.windows[0].from: "900" is not a time of day`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := yaml.UnmarshalWithOptions([]byte(tc.src), &c, yaml.Strict())
			if tc.decodeErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.decodeErr) {
					t.Fatalf("decode error %v, want one containing %q", err, tc.decodeErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if p := c.Problems(); len(p) != 1 || !strings.HasPrefix(p[0], tc.problem) {
				t.Fatalf("problems %q, want one starting with %q", p, tc.problem)
			}
		})
	}
}

func yamlString(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProblems(t *testing.T) {
	dir := t.TempDir()
	good := func(s Schedule) Schedule {
		if s.TimeZone == "" {
			s.TimeZone = "Europe/Berlin"
		}
		if s.Windows == nil {
			s.Windows = []Window{win("mon-fri", "17:00", "21:00")}
		}
		return s
	}
	badICS := filepath.Join(dir, "bad.ics")
	if err := os.WriteFile(badICS, []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261224T100000Z\r\nSUMMARY:Party\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "empty section", cfg: Config{}},
		{name: "valid", cfg: Config{"support": good(Schedule{From: "2026-12-01", Until: "2026-12-01", Except: []string{"2028-02-29"}})}},
		{name: "whole day and midnight forms", cfg: Config{"s": good(Schedule{Windows: []Window{
			{Days: Days{"sat"}}, win("sun", "00:00", "24:00"), win("fri", "22:00", "00:00"), win("Monday", "23:59", "00:01")}})}},
		{name: "missing zone", cfg: Config{"support": {Windows: []Window{win("mon", "09:00", "17:00")}}},
			want: []string{"support.time_zone: required (an IANA name such as Europe/Berlin)"}},
		{name: "unknown zone", cfg: Config{"support": good(Schedule{TimeZone: "Europe/Berln"})},
			want: []string{`support.time_zone: unknown time zone "Europe/Berln" (expected an IANA name such as Europe/Berlin)`}},
		{name: "Local zone", cfg: Config{"support": good(Schedule{TimeZone: "Local"})},
			want: []string{`support.time_zone: expected an IANA name such as Europe/Berlin, got "Local" (it depends on the machine)`}},
		// Names the system's zone directory holds besides the IANA zones:
		// "localtime" links to the machine's own zone (/etc/localtime),
		// "posixrules" to a zone the packager chose, and the posix/ and
		// right/ copies (right/ counts leap seconds) are not in the zone
		// database embedded in the binary. Each would make the window
		// depend on the machine: another zone on a replica configured
		// differently, or a configuration that loads on one machine and
		// not in a scratch container. Spellings that only a file system
		// resolves (./UTC, Europe//Berlin) are refused with them.
		{name: "machine's zone file", cfg: Config{"support": good(Schedule{TimeZone: "localtime"})},
			want: []string{`support.time_zone: expected an IANA name such as Europe/Berlin, got "localtime" (it depends on the machine)`}},
		{name: "packager's default rules", cfg: Config{"support": good(Schedule{TimeZone: "posixrules"})},
			want: []string{`support.time_zone: expected an IANA name such as Europe/Berlin, got "posixrules" (it depends on the machine)`}},
		{name: "leap-second copy", cfg: Config{"support": good(Schedule{TimeZone: "right/Europe/Berlin"})},
			want: []string{`support.time_zone: expected an IANA name such as Europe/Berlin, got "right/Europe/Berlin" (a copy in the system's zone directory only; write Europe/Berlin)`}},
		{name: "posix copy", cfg: Config{"support": good(Schedule{TimeZone: "posix/Europe/Berlin"})},
			want: []string{`support.time_zone: expected an IANA name such as Europe/Berlin, got "posix/Europe/Berlin" (a copy in the system's zone directory only; write Europe/Berlin)`}},
		{name: "path spelling", cfg: Config{"support": good(Schedule{TimeZone: "./UTC"})},
			want: []string{`support.time_zone: unknown time zone "./UTC" (expected an IANA name such as Europe/Berlin)`}},
		{name: "doubled slash", cfg: Config{"support": good(Schedule{TimeZone: "Europe//Berlin"})},
			want: []string{`support.time_zone: unknown time zone "Europe//Berlin" (expected an IANA name such as Europe/Berlin)`}},
		{name: "POSIX sign zone stays valid", cfg: Config{"support": good(Schedule{TimeZone: "Etc/GMT+2"})}},
		{name: "no windows", cfg: Config{"support": {TimeZone: "UTC", Windows: []Window{}}},
			want: []string{"support.windows: expected at least one window, got none"}},
		{name: "time out of range", cfg: Config{"support": good(Schedule{Windows: []Window{win("mon", "17:00", "25:00")}})},
			want: []string{`support.windows[0].to: "25:00" is not a time of day (expected HH:MM from 00:00 to 23:59, or 24:00 as an end)`}},
		{name: "bad times", cfg: Config{"s": good(Schedule{Windows: []Window{
			win("mon", "9:00", "17:60"), win("mon", "24:00", "01:00"), win("mon", "noon", "24:01"), win("mon", " 09:00", "-1:00")}})},
			want: []string{
				`s.windows[0].from: "9:00" is not a time of day`,
				`s.windows[0].to: "17:60" is not a time of day`,
				`s.windows[1].from: "24:00" is only allowed as an end (to)`,
				`s.windows[2].from: "noon" is not a time of day`,
				`s.windows[2].to: "24:01" is not a time of day`,
				`s.windows[3].from: " 09:00" is not a time of day`,
				`s.windows[3].to: "-1:00" is not a time of day`,
			}},
		{name: "from equals to", cfg: Config{"s": good(Schedule{Windows: []Window{win("mon", "09:00", "09:00"), win("tue", "00:00", "00:00")}})},
			want: []string{
				`s.windows[0]: from and to are both "09:00"; expected a window of some length (leave out both, or 00:00 to 24:00, for the whole day)`,
				`s.windows[1]: from and to are both "00:00"`,
			}},
		{name: "half a window", cfg: Config{"s": good(Schedule{Windows: []Window{{Days: Days{"mon"}, From: "09:00"}, {Days: Days{"mon"}, To: "09:00"}}})},
			want: []string{
				"s.windows[0].to: required when from is set (or leave out both for the whole day)",
				"s.windows[1].from: required when to is set (or leave out both for the whole day)",
			}},
		{name: "bad days", cfg: Config{"s": good(Schedule{Windows: []Window{
			{Days: nil, From: "09:00", To: "10:00"},
			win("mon-fry", "09:00", "10:00"),
			win("mon,,fri", "09:00", "10:00"),
			win("mon-mon", "09:00", "10:00"),
			{Days: Days{"mon-fri", "wed"}, From: "09:00", To: "10:00"},
			{Days: Days{"sat", ""}, From: "09:00", To: "10:00"},
			win("weekdays", "09:00", "10:00"),
		}})},
			want: []string{
				`s.windows[0].days: required (e.g. "mon-fri", "sat,sun" or [mon, wed])`,
				`s.windows[1].days: "fry" is not a day (expected mon, tue, wed, thu, fri, sat or sun)`,
				`s.windows[2].days: expected a day or a range such as mon-fri, got an empty item in "mon,,fri"`,
				`s.windows[3].days: expected a range of two different days, got "mon-mon" (write "mon" for one day)`,
				`s.windows[4].days: wed is listed twice`,
				`s.windows[5].days: expected a day or a range such as mon-fri, got an empty item`,
				`s.windows[6].days: "weekdays" is not a day`,
			}},
		{name: "bad dates", cfg: Config{"s": good(Schedule{From: "2026-13-01", Until: "31.12.2026", Except: []string{"2026-12-24", "2027-02-29", "2026-1-1", ""}})},
			want: []string{
				`s.from: "2026-13-01" is not a date (expected YYYY-MM-DD, e.g. 2026-12-24)`,
				`s.until: "31.12.2026" is not a date`,
				`s.except[1]: "2027-02-29" is not a date`,
				`s.except[2]: "2026-1-1" is not a date`,
				`s.except[3]: "" is not a date`,
			}},
		{name: "until before from", cfg: Config{"s": good(Schedule{From: "2026-12-01", Until: "2026-11-30"})},
			want: []string{"s.until: expected a date on or after from (2026-12-01), got 2026-11-30"}},
		{name: "missing ics file", cfg: Config{"s": good(Schedule{ExceptICS: filepath.Join(dir, "nope.ics")})},
			want: []string{"s.except_ics: expected a readable iCalendar file, got open " + filepath.Join(dir, "nope.ics") + ": no such file or directory"}},
		{name: "ics with a timed event", cfg: Config{"s": good(Schedule{ExceptICS: badICS})},
			want: []string{`s.except_ics: ` + badICS + `: event 1 ("Party"): DTSTART: expected an all-day date (VALUE=DATE, YYYYMMDD), got "20261224T100000Z"`}},
		{name: "bad name", cfg: Config{"sup port": good(Schedule{})},
			want: []string{`sup port: expected a schedule name of letters, digits, '-' and '_' (at most 64, starting with a letter or digit), got "sup port"`}},
		{name: "every schedule, sorted by name", cfg: Config{
			"b": {TimeZone: "Mars/Olympus", Windows: []Window{win("mon", "09:00", "17:00")}},
			"a": {TimeZone: "UTC"},
		}, want: []string{"a.windows: expected at least one window", `b.time_zone: unknown time zone "Mars/Olympus"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.Problems()
			if len(got) != len(tt.want) {
				t.Fatalf("expected %d problems, got %d:\n  %s", len(tt.want), len(got), strings.Join(got, "\n  "))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got[i], w)
				}
			}
			set, err := Compile(tt.cfg)
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("Compile error %v, expected one exactly when there are problems", err)
			}
			if err != nil {
				if set != nil {
					t.Fatal("Compile returned a Set with an error")
				}
				for _, p := range got {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("Compile error %q does not list %q", err, p)
					}
				}
			}
		})
	}
}

func TestFieldProblems(t *testing.T) {
	c := Config{"support": {TimeZone: "Europe/Berlin", Windows: []Window{win("mon-fri", "17:00", "25:00")}, Until: "2027-02-29"}}
	want := []FieldProblem{
		{Path: ".support.windows[0].to", Msg: `"25:00" is not a time of day (expected HH:MM from 00:00 to 23:59, or 24:00 as an end)`},
		{Path: ".support.until", Msg: `"2027-02-29" is not a date (expected YYYY-MM-DD, e.g. 2026-12-24)`},
	}
	if got := c.FieldProblems(); !slices.Equal(got, want) {
		t.Fatalf("FieldProblems() = %q, want %q", got, want)
	}
	if got := c.Problems(); !slices.Equal(got, []string{"support.windows[0].to: " + want[0].Msg, "support.until: " + want[1].Msg}) {
		t.Fatalf("Problems() = %q", got)
	}
}

func TestCompileError(t *testing.T) {
	_, err := Compile(Config{"a": {TimeZone: "UTC"}})
	if got, want := err.Error(), "schedule: a.windows: expected at least one window, got none"; got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
	_, err = Compile(Config{"a": {TimeZone: "UTC"}, "b": {}})
	if got, want := err.Error(), "schedule: 3 problems:\n  a.windows: expected at least one window, got none\n  b.time_zone: required (an IANA name such as Europe/Berlin)\n  b.windows: expected at least one window, got none"; got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
}

func TestSet(t *testing.T) {
	set, err := Compile(Config{
		"b": {TimeZone: "UTC", Windows: []Window{win("mon", "09:00", "10:00")}},
		"a": {TimeZone: "Asia/Tokyo", Windows: []Window{win("tue", "09:00", "10:00")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Names() = %q", got)
	}
	if c := set.Get("a"); c == nil || c.Name() != "a" || c.Location().String() != "Asia/Tokyo" {
		t.Fatalf("Get(a) = %+v", c)
	}
	if c := set.Get("weekdys"); c != nil {
		t.Fatalf("Get(unknown) = %v, want nil", c)
	}
	var none *Set
	if none.Get("a") != nil || none.Names() != nil {
		t.Fatal("a nil Set must have no schedules")
	}
	// An unknown schedule is closed, never opens: fail closed.
	at := instant(t, "2026-12-07T09:30:00Z")
	if open, _ := set.Get("weekdys").Open(at); open {
		t.Fatal("a nil *Compiled is open")
	}
	if n := set.Get("weekdys").Next(at); !n.IsZero() {
		t.Fatalf("a nil *Compiled opens at %s", n)
	}
}

func TestResolvePaths(t *testing.T) {
	c := Config{
		"rel":  {ExceptICS: "holidays/de.ics"},
		"abs":  {ExceptICS: "/etc/gateway/de.ics"},
		"none": {},
	}
	c.ResolvePaths("/etc/gateway")
	if got := c["rel"].ExceptICS; got != "/etc/gateway/holidays/de.ics" {
		t.Errorf("relative path resolved to %q", got)
	}
	if got := c["abs"].ExceptICS; got != "/etc/gateway/de.ics" {
		t.Errorf("absolute path changed to %q", got)
	}
	if got := c["none"].ExceptICS; got != "" {
		t.Errorf("empty path changed to %q", got)
	}
	c2 := Config{"rel": {ExceptICS: "de.ics"}}
	c2.ResolvePaths("")
	if got := c2["rel"].ExceptICS; got != "de.ics" {
		t.Errorf("empty dir changed the path to %q", got)
	}
	var nilc *Config
	nilc.ResolvePaths("/x") // must not panic
}

func TestICSFiles(t *testing.T) {
	c := Config{"a": {ExceptICS: "/etc/gateway/us.ics"}, "b": {}, "c": {ExceptICS: "/etc/gateway/de.ics"}, "d": {ExceptICS: "/etc/gateway/us.ics"}}
	if got, want := c.ICSFiles(), []string{"/etc/gateway/de.ics", "/etc/gateway/us.ics"}; !slices.Equal(got, want) {
		t.Fatalf("ICSFiles() = %q, want %q", got, want)
	}
	if got := (Config{}).ICSFiles(); got != nil {
		t.Fatalf("ICSFiles() of an empty section = %q", got)
	}
}

// TestProblemsChangesNothing: Problems and Compile leave the Config as it
// was (the caller's YAML, shown by `gateway check`, stays what was written).
func TestProblemsChangesNothing(t *testing.T) {
	c := Config{"s": {TimeZone: "Europe/Berlin", Windows: []Window{{Days: Days{"Mon-Fri"}, From: "09:00", To: "17:00"}}, Except: []string{"2026-12-25", "2026-12-24"}}}
	before := yamlString(t, c)
	_ = c.Problems()
	if _, err := Compile(c); err != nil {
		t.Fatal(err)
	}
	if after := yamlString(t, c); after != before {
		t.Fatalf("config changed:\n%s\nto\n%s", before, after)
	}
}
