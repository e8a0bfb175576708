package schedule

import (
	"testing"
	"time"
)

// benchSchedule is a realistic schedule: weekday evenings and a weekend
// night, a date range and holidays.
func benchSchedule(b *testing.B) *Compiled {
	return compile(b, Schedule{
		TimeZone: "Europe/Berlin",
		Windows:  []Window{win("mon-fri", "17:00", "21:00"), win("sat,sun", "22:00", "02:00")},
		From:     "2026-01-01", Until: "2030-12-31",
		Except: []string{"2026-12-24", "2026-12-25", "2026-12-26", "2026-12-31", "2027-01-01"},
	})
}

// BenchmarkOpen is the steady path: requests arriving one after another
// inside one open stretch (the cache answers).
func BenchmarkOpen(b *testing.B) {
	c := benchSchedule(b)
	t0 := time.Date(2026, 12, 7, 17, 0, 0, 0, c.loc)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if open, _ := c.Open(t0.Add(time.Duration(i%14400) * time.Second)); !open {
			b.Fatal("closed")
		}
		i++
	}
}

// BenchmarkOpenUncached computes every answer afresh (zone lookup, day
// table, holidays): the first request of a stretch.
func BenchmarkOpenUncached(b *testing.B) {
	c := benchSchedule(b)
	t0 := time.Date(2026, 12, 7, 17, 0, 0, 0, c.loc)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := c.openUntil(t0.Add(time.Duration(i%14400) * time.Second).Unix()); !ok {
			b.Fatal("closed")
		}
		i++
	}
}

// BenchmarkOpenClosed is a request outside the windows (never cached).
func BenchmarkOpenClosed(b *testing.B) {
	c := benchSchedule(b)
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, c.loc)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if open, _ := c.Open(t0.Add(time.Duration(i%3600) * time.Second)); open {
			b.Fatal("open")
		}
		i++
	}
}

// BenchmarkNext is the denial page's "opens at".
func BenchmarkNext(b *testing.B) {
	c := benchSchedule(b)
	t0 := time.Date(2026, 12, 24, 9, 0, 0, 0, c.loc) // holidays ahead
	b.ReportAllocs()
	for b.Loop() {
		if c.Next(t0).IsZero() {
			b.Fatal("never")
		}
	}
}
