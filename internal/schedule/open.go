package schedule

import (
	"math"
	"slices"
	"time"
)

// How the schedule is evaluated.
//
// Every day, time and date of a schedule is read on the wall clock of its
// zone. The "wall axis" counts seconds of wall-clock time from 1970-01-01
// 00:00 local: an instant s (Unix seconds) with the zone's UTC offset off
// at s shows wall time s+off. An instant is open when its wall time falls
// on an open span of its day (c.week, unless the day is outside from/until
// or a holiday). Between two changes of offset the wall time moves with the
// instant, so open stretches are found on the wall axis and mapped back;
// at a change the wall clock jumps (forward: some wall times never occur;
// back: some occur twice), and the search goes on from the new wall time.

const (
	// minUnix and maxUnix bound the instants a schedule answers for
	// (0001-01-01 to 9999-12-31 UTC); outside them it is closed.
	minUnix = -62135596800
	maxUnix = 253402300799
	// maxStretch bounds how far Open looks for the end of a stretch.
	maxStretch = 31 * daySeconds
	// horizonDays bounds how far Next looks for an opening (from the
	// later of t and the schedule's from date), plus one day per holiday.
	horizonDays = 4 * 366
)

// Open reports whether the schedule is open at t and, if so, until when:
// the first instant after t at which it closes, in the schedule's zone.
// Windows that touch or overlap — on one day, or across midnight such as
// Fri 17:00–24:00 and Sat 00:00–02:00 — make one stretch, so until is the
// end of the whole stretch. It is always after t, and the schedule is open
// throughout [t, until). A stretch longer than 31 days (an always-open
// schedule) is reported as ending at most 31 days after t; callers re-check
// then.
//
// Open is pure (t is the only clock) and safe for concurrent use. It
// remembers the last open stretch, so the common case — many requests in
// one stretch — costs a comparison. A nil *Compiled (Set.Get of an unknown
// name) is always closed.
func (c *Compiled) Open(t time.Time) (open bool, until time.Time) {
	if c == nil {
		return false, time.Time{}
	}
	s := t.Unix()
	if p := c.last.Load(); p != nil && s >= p.lo && s < p.hi {
		return true, time.Unix(p.hi, 0).In(c.loc)
	}
	u, ok := c.openUntil(s)
	if !ok {
		return false, time.Time{}
	}
	c.last.Store(&stretch{lo: s, hi: u})
	return true, time.Unix(u, 0).In(c.loc)
}

// Next returns the first instant at or after t at which the schedule is
// open — t itself when it is open at t — in the schedule's zone. It returns
// the zero Time when the schedule does not open within four years (after
// its from date, if that is later than t) or never opens again (t is past
// until). A nil *Compiled never opens.
func (c *Compiled) Next(t time.Time) time.Time {
	if c == nil {
		return time.Time{}
	}
	if open, _ := c.Open(t); open {
		return t.In(c.loc)
	}
	s := t.Unix()
	if s < minUnix || s > maxUnix {
		return time.Time{}
	}
	if c.fromDay != math.MinInt64 {
		// Jump to two days before the from date: no instant before then
		// shows a wall time on or after it.
		if early := (c.fromDay - 2) * daySeconds; early > s {
			s = early
		}
	}
	limit := s + int64(horizonDays+len(c.holidays))*daySeconds
	for s <= limit && s <= maxUnix {
		off, segEnd := c.zone(s)
		if nw, ok := c.wallNext(s+off, floorDiv(limit+off, daySeconds)); ok {
			if u := nw - off; u < segEnd {
				return time.Unix(u, 0).In(c.loc)
			}
		}
		// Nothing opens before the offset changes; go on from the change
		// (after a fall back, wall times before s+off come round again).
		s = segEnd
	}
	return time.Time{}
}

// openUntil is Open without the cache.
func (c *Compiled) openUntil(s int64) (int64, bool) {
	if s < minUnix || s > maxUnix {
		return 0, false
	}
	limit := min(s+maxStretch, maxUnix+1)
	off, segEnd := c.zone(s)
	open, wend := c.wallOpen(s+off, limit+off)
	if !open {
		return 0, false
	}
	u := wend - off
	// The stretch reaches a change of offset: the wall clock jumps there,
	// and the stretch goes on only if the new wall time is open too.
	for u >= segEnd {
		off2, end2 := c.zone(segEnd)
		open, wend = c.wallOpen(segEnd+off2, limit+off2)
		if !open {
			return segEnd, true
		}
		u, segEnd = wend-off2, end2
	}
	return u, true
}

// zone returns the UTC offset in force at s and the instant it ends
// (math.MaxInt64 if it never does).
func (c *Compiled) zone(s int64) (off, end int64) {
	t := time.Unix(s, 0).In(c.loc)
	_, o := t.Zone()
	_, e := t.ZoneBounds()
	if e.IsZero() {
		return int64(o), math.MaxInt64
	}
	end = e.Unix()
	if end <= s {
		// Beyond the zone's last listed change, Go computes bounds from
		// the zone's rule string and, away from a change, returns the
		// end of the year — 365 days after its start, which on 31
		// December of a leap year is not after s. No rule changes the
		// offset on that day, so the next UTC midnight (1 January) is a
		// safe end.
		end = s - floorMod(s, daySeconds) + daySeconds
	}
	return int64(o), end
}

// spansOn returns the open spans of day d.
func (c *Compiled) spansOn(d int64) []span {
	if d < c.fromDay || d > c.untilDay {
		return nil
	}
	if len(c.holidays) > 0 {
		if _, found := slices.BinarySearch(c.holidays, d); found {
			return nil
		}
	}
	return c.week[weekdayOf(d)]
}

// wallOpen reports whether wall time w is open and, if so, where its open
// run on the wall axis ends (following spans across midnight), at most
// limit.
func (c *Compiled) wallOpen(w, limit int64) (bool, int64) {
	d := floorDiv(w, daySeconds)
	tod := int32(w - d*daySeconds)
	var cur span
	found := false
	for _, sp := range c.spansOn(d) {
		if sp.from <= tod && tod < sp.to {
			cur, found = sp, true
			break
		}
	}
	if !found {
		return false, 0
	}
	end := d*daySeconds + int64(cur.to)
	for cur.to == daySeconds && end < limit {
		d++
		next := c.spansOn(d)
		if len(next) == 0 || next[0].from != 0 {
			break
		}
		cur = next[0]
		end = d*daySeconds + int64(cur.to)
	}
	return true, min(end, limit)
}

// wallNext returns the first open wall time at or after w, looking no
// further than the end of day lastDay.
func (c *Compiled) wallNext(w, lastDay int64) (int64, bool) {
	d := floorDiv(w, daySeconds)
	tod := int32(w - d*daySeconds)
	if d < c.fromDay {
		d, tod = c.fromDay, 0
	}
	for ; d <= c.untilDay && d <= lastDay; d++ {
		for _, sp := range c.spansOn(d) {
			if sp.to > tod {
				return d*daySeconds + int64(max(sp.from, tod)), true
			}
		}
		tod = 0
	}
	return 0, false
}
