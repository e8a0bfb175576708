// Package schedule holds named time windows: the `schedules:` section of the
// configuration, parsed once (Compile) and asked on every request whether
// it is open now and until when (Compiled.Open), or when it next opens
// (Compiled.Next).
//
//	schedules:
//	  support-evenings:
//	    time_zone: Europe/Berlin
//	    windows:
//	      - {days: mon-fri, from: "17:00", to: "21:00"}
//	      - {days: "sat,sun", from: "22:00", to: "02:00"}   # to Sunday/Monday 02:00
//	    except: [2026-12-24]
//
//	set, err := schedule.Compile(cfg.Schedules)
//	open, until := set.Get("support-evenings").Open(now)  // until caps the token's exp
//	page := set.Get("support-evenings").FormatNext(now, schedule.UserZone(browserZone))
//
// Semantics, in short (docs/schedules.md has the grammar and examples):
// every day, time and date is read on the zone's wall clock. A window is
// open from its from time (inclusive) to its to time (exclusive) on each of
// its days; to before from crosses midnight and belongs to the day it
// starts on. On a daylight-saving change the wall clock decides: a window
// whose hours are skipped (02:00–03:00 on a spring-forward day) does not
// open that day, and a window over a repeated hour (01:00–02:00 on a
// fall-back day) is open for both passes of that hour, two real hours.
// Holidays close their whole wall-clock day; from/until are inclusive
// dates.
//
// The package is pure: it reads no clock (callers pass the time) and does
// I/O only in Problems and Compile, which read the except_ics files. The
// zone database is embedded (time/tzdata), so a machine without one gets
// the same answers; a machine with one uses its own (Go's rule).
//
// Not checked: that the zone database is current (a zone whose rules
// change after the build keeps the old rules), and that holidays in an
// .ics file are in the schedule's zone (all-day dates are floating: they
// are read as dates of the schedule's zone).
package schedule
