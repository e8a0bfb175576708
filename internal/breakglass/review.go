package breakglass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// The review index lists grants without a scan (the store has none): each
// activated grant takes the first free slot of its UTC day,
// breakglass:index:<day>:<n>, with SetNX. Slots of one day are taken in
// order and never deleted, and all of them expire together (at the end of
// the day plus the retention), so reading a day's slots from 1 up to the
// first missing one finds every grant of that day.

// maxPerDay bounds the index slots of one day.
const maxPerDay = 10000

// Review records who reviewed a grant and when.
type Review struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
}

// Entry is a grant as the review page and `gateway breakglass list` show
// it: the grant, and whether it ended early and was reviewed.
type Entry struct {
	Grant
	Ended    *End    `json:"ended,omitempty"`
	Reviewed *Review `json:"reviewed,omitempty"`
}

// Entry states.
const (
	StateActive           = "active"
	StateExpired          = "expired"
	StateRevoked          = CauseRevoked
	StateIncidentResolved = CauseIncidentResolved
	StatePolicyRemoved    = CausePolicyRemoved
	StateEndedByHolder    = CauseEndedByHolder
)

// State is active, expired, or the cause of an early end. A grant whose
// session ended (sign-out) stays "active" here until it expires: it cannot
// be used any more, but the review list does not learn of the sign-out.
func (e Entry) State(now time.Time) string {
	switch {
	case e.Ended != nil:
		return e.Ended.Cause
	case !now.Before(e.ExpiresAt):
		return StateExpired
	}
	return StateActive
}

// ReviewableFrom is the first instant the grant may be marked reviewed: a
// review looks at what the grant was used for, so it waits until the grant
// can no longer be used. A grant that ended early (revoked, ended by its
// holder, its incident resolved, its policy removed) can be reviewed at once: its active key is
// gone on every replica. Otherwise it is MaxClockSkew after its expiry,
// since a replica whose clock is behind honours the grant until its own
// clock reaches ExpiresAt. (A grant whose session signed out cannot be used
// either, but the review list does not know of it: revoke it to review it
// at once.)
func (e Entry) ReviewableFrom() time.Time {
	if e.Ended != nil {
		return time.Time{}
	}
	return e.ExpiresAt.Add(MaxClockSkew)
}

// StillActiveError is MarkReviewed's refusal of a grant that may still be
// used: it can be reviewed once it is revoked, or from Until on. It
// matches ErrStillActive with errors.Is.
type StillActiveError struct {
	ID    string
	Until time.Time
}

func (e *StillActiveError) Error() string {
	return fmt.Sprintf("breakglass: grant %s is still active: expected a grant that has ended (revoke it first, or review it from %s)",
		e.ID, e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrStillActive) true.
func (e *StillActiveError) Is(target error) bool { return target == ErrStillActive }

func indexKey(day string, n int) string { return fmt.Sprintf("%s%s:%d", keyIndex, day, n) }

// index lists g for review.
func (s *Service) index(ctx context.Context, g Grant, now time.Time) error {
	dayStart := g.GrantedAt.UTC().Truncate(24 * time.Hour)
	day := dayStart.Format("2006-01-02")
	ttl := max(dayStart.Add(24*time.Hour+s.cfg.Retention).Sub(now), time.Second)
	// Always from slot 1: a remembered position could skip slots lost in
	// a Redis restart and leave a gap that hides every later grant.
	for n := 1; n <= maxPerDay; n++ {
		ok, err := s.st.SetNX(ctx, indexKey(day, n), []byte(g.ID), ttl)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("expected at most %d grants on %s", maxPerDay, day)
}

// List returns the grants made within the retention, newest first, with
// their state. It reads the store once per day of the retention plus three
// times per grant; it is for the review page and the command line, not for
// the request path.
func (s *Service) List(ctx context.Context) ([]Entry, error) {
	now := s.now().UTC()
	today := now.Truncate(24 * time.Hour)
	days := int(s.cfg.Retention/(24*time.Hour)) + 1
	var out []Entry
	for d := 0; d <= days; d++ {
		day := today.Add(-time.Duration(d) * 24 * time.Hour).Format("2006-01-02")
		var dayEntries []Entry
		for n := 1; n <= maxPerDay; n++ {
			id, err := s.st.Get(ctx, indexKey(day, n))
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("breakglass: list: %w", err)
			}
			e, err := s.entry(ctx, string(id))
			if errors.Is(err, ErrGrantNotFound) {
				continue // expired with its retention
			}
			if err != nil {
				return nil, err
			}
			dayEntries = append(dayEntries, e)
		}
		out = append(out, dayEntries...)
	}
	slices.SortStableFunc(out, func(a, b Entry) int { return b.GrantedAt.Compare(a.GrantedAt) })
	return out, nil
}

// Unreviewed returns the grants not yet reviewed, newest first.
func (s *Service) Unreviewed(ctx context.Context) ([]Entry, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(e Entry) bool { return e.Reviewed != nil }), nil
}

// Get returns one grant with its state, or ErrGrantNotFound.
func (s *Service) Get(ctx context.Context, id string) (Entry, error) { return s.entry(ctx, id) }

func (s *Service) entry(ctx context.Context, id string) (Entry, error) {
	rec, err := s.load(ctx, id)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Grant: rec.Grant}
	e.holder = ""
	if b, err := s.st.Get(ctx, keyEnded+id); err == nil {
		var end End
		if err := json.Unmarshal(b, &end); err != nil {
			return Entry{}, fmt.Errorf("breakglass: grant %s: expected a stored end: %w", id, err)
		}
		e.Ended = &end
	} else if !errors.Is(err, store.ErrNotFound) {
		return Entry{}, fmt.Errorf("breakglass: grant %s: %w", id, err)
	}
	if b, err := s.st.Get(ctx, keyReviewed+id); err == nil {
		var r Review
		if err := json.Unmarshal(b, &r); err != nil {
			return Entry{}, fmt.Errorf("breakglass: grant %s: expected a stored review: %w", id, err)
		}
		e.Reviewed = &r
	} else if !errors.Is(err, store.ErrNotFound) {
		return Entry{}, fmt.Errorf("breakglass: grant %s: %w", id, err)
	}
	return e, nil
}

// MarkReviewed records that by (an address) reviewed the grant. The first
// review wins: a second one is ErrAlreadyReviewed. The holder of a grant
// cannot review it (ErrSelfReview). A grant that may still be used cannot
// be reviewed either (a *StillActiveError, ErrStillActive): its later use
// would go unreviewed; revoke it first, or wait until ReviewableFrom. Whether
// by is in the reviewers groups is the caller's check (MayReview).
func (s *Service) MarkReviewed(ctx context.Context, id, by string) error {
	reviewer, err := normalizeEmail(strings.TrimSpace(by))
	if err != nil {
		return fmt.Errorf("breakglass: review: expected the reviewer's address, got %q", by)
	}
	e, err := s.entry(ctx, id)
	if err != nil {
		return err
	}
	if e.User == reviewer {
		return ErrSelfReview
	}
	now := s.now()
	if until := e.ReviewableFrom(); now.Before(until) {
		return &StillActiveError{ID: id, Until: until}
	}
	b, _ := json.Marshal(Review{At: now, By: reviewer})
	ok, err := s.st.SetNX(ctx, keyReviewed+id, b, s.retentionTTL(e.Grant, now))
	if err != nil {
		return fmt.Errorf("breakglass: review: %w", err)
	}
	if !ok {
		return ErrAlreadyReviewed
	}
	return nil
}
