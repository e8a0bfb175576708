package schedule

import (
	"testing"
	"time"
)

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		want string
	}{
		{"weekday evenings", Schedule{TimeZone: "Europe/Berlin", Windows: []Window{win("mon-fri", "17:00", "21:00")}},
			"Mon–Fri 17:00–21:00 Europe/Berlin"},
		{"lists and nights", Schedule{TimeZone: "America/Los_Angeles", Windows: []Window{
			{Days: Days{"mon", "wed"}, From: "09:00", To: "12:00"}, win("sat,sun", "22:00", "02:00"), win("fri-mon", "00:00", "24:00")}},
			"Mon, Wed 09:00–12:00, Sat, Sun 22:00–02:00 next day, Fri–Mon all day America/Los_Angeles"},
		{"daily, one day, Sunday first", Schedule{TimeZone: "UTC", Windows: []Window{
			{Days: Days{"mon-sun"}}, win("sun", "08:00", "09:00"), win("sun-tue", "10:00", "11:00"), win("tue,thu,sat", "12:00", "13:00")}},
			"Daily all day, Sun 08:00–09:00, Sun–Tue 10:00–11:00, Tue, Thu, Sat 12:00–13:00 UTC"},
		{"date range and holidays", Schedule{TimeZone: "Europe/Berlin", Windows: []Window{win("mon-fri", "17:00", "21:00")},
			From: "2026-12-01", Until: "2027-03-31", Except: []string{"2026-12-24", "2026-12-25"}},
			"Mon–Fri 17:00–21:00 Europe/Berlin; from 2026-12-01 until 2027-03-31; except 2 dates"},
		{"only until", Schedule{TimeZone: "UTC", Windows: []Window{win("mon", "17:00", "21:00")}, Until: "2027-03-31", Except: []string{"2026-12-24"}},
			"Mon 17:00–21:00 UTC; until 2027-03-31; except 1 date"},
		{"only from", Schedule{TimeZone: "UTC", Windows: []Window{win("mon", "17:00", "21:00")}, From: "2027-03-31"},
			"Mon 17:00–21:00 UTC; from 2027-03-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := compile(t, tt.s).Describe(); got != tt.want {
				t.Fatalf("Describe() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDaysText(t *testing.T) {
	for _, tc := range []struct{ days, want string }{
		{"mon-fri", "Mon–Fri"}, {"sat,sun", "Sat, Sun"}, {"sun", "Sun"}, {"fri-mon", "Fri–Mon"},
		{"sun,mon", "Sun, Mon"}, {"mon,wed,fri", "Mon, Wed, Fri"}, {"mon-sun", "Daily"}, {"tue-mon", "Daily"},
		{"sat-tue,thu", "Thu, Sat–Tue"}, {"mon-wed,fri-sat", "Mon–Wed, Fri, Sat"},
	} {
		m, err := parseDays([]string{tc.days})
		if err != nil {
			t.Fatal(err)
		}
		if got := daysText(m); got != tc.want {
			t.Errorf("daysText(%s) = %q, want %q", tc.days, got, tc.want)
		}
	}
}

func TestFormatNext(t *testing.T) {
	c := compile(t, Schedule{TimeZone: "Europe/Berlin", Windows: []Window{win("mon-fri", "17:00", "21:00")}, Until: "2027-06-30"})
	ny, _ := time.LoadLocation("America/New_York")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name string
		at   string
		user *time.Location
		want string
	}{
		{"schedule zone only", "2026-12-05T12:00:00+01:00", nil, "Mon 7 Dec 2026 17:00 Europe/Berlin"},
		{"same zone as the user", "2026-12-05T12:00:00+01:00", berlin, "Mon 7 Dec 2026 17:00 Europe/Berlin"},
		{"same day elsewhere", "2026-12-05T12:00:00+01:00", ny, "Mon 7 Dec 2026 17:00 Europe/Berlin (11:00 America/New_York)"},
		{"next day elsewhere", "2026-12-05T12:00:00+01:00", tokyo, "Mon 7 Dec 2026 17:00 Europe/Berlin (Tue 8 Dec 01:00 Asia/Tokyo)"},
		{"next year elsewhere", "2026-12-31T22:00:00+01:00", ny, "Fri 1 Jan 2027 17:00 Europe/Berlin (11:00 America/New_York)"},
		{"open now", "2026-12-07T18:00:00+01:00", ny, "now"},
		{"never again", "2027-07-01T00:00:00+02:00", ny, "not within the next four years"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.FormatNext(instant(t, tt.at), tt.user); got != tt.want {
				t.Fatalf("FormatNext = %q, want %q", got, tt.want)
			}
		})
	}
	// A year boundary between the zones shows the user's year.
	c2 := compile(t, Schedule{TimeZone: "Pacific/Kiritimati", Windows: []Window{win("fri", "08:00", "09:00")}})
	if got, want := c2.FormatNext(instant(t, "2026-12-31T12:00:00+14:00"), ny), "Fri 1 Jan 2027 08:00 Pacific/Kiritimati (Thu 31 Dec 2026 13:00 America/New_York)"; got != want {
		t.Fatalf("FormatNext = %q, want %q", got, want)
	}
}

func TestUserZone(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"America/New_York", true}, {"UTC", true}, {"Etc/GMT+5", true}, {"America/Argentina/Buenos_Aires", true},
		{"", false}, {"Local", false}, {"Mars/Olympus", false}, {"../../etc/passwd", false}, {"/etc/localtime", false},
		{"Europe/Berlin\x00", false}, {"Europe Berlin", false}, {string(make([]byte, 65)), false},
	} {
		loc := UserZone(tc.name)
		if (loc != nil) != tc.ok {
			t.Errorf("UserZone(%q) = %v, want ok=%v", tc.name, loc, tc.ok)
		}
		if loc != nil && loc.String() != tc.name {
			t.Errorf("UserZone(%q) = %s", tc.name, loc)
		}
	}
	if a, b := UserZone("Asia/Tokyo"), UserZone("Asia/Tokyo"); a != b {
		t.Error("UserZone does not cache")
	}
}
