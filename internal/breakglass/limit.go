package breakglass

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// The daily limit is a row of slots per user, policy and day, each a store
// key taken with SetNX: a grant takes the first free slot, and when all
// daily_limit slots are taken the limit is reached. SetNX is atomic in Redis,
// so two replicas racing for the last slot cannot both win, and no counter
// (which the store does not have) is needed.

// limitSlotTTL keeps a day's slots until well after the day ended in any
// zone (a calendar day lasts at most 25 hours, and zones differ by up to 26).
const limitSlotTTL = 72 * time.Hour

// limitDay is the calendar day of t in the limit's time zone.
func (s *Service) limitDay(t time.Time) string { return t.In(s.limitLoc).Format("2006-01-02") }

func limitKey(policy, email, day string, n int) string {
	return fmt.Sprintf("%s%s:%s:%s:%d", keyLimit, policy, hashHex("breakglass-user", email), day, n)
}

// takeSlot takes the first free slot of the user's day for grant id and
// returns its key; "" when all are taken.
func (s *Service) takeSlot(ctx context.Context, policy string, limit int, email string, now time.Time, id string) (string, error) {
	day := s.limitDay(now)
	for n := 1; n <= limit; n++ {
		key := limitKey(policy, email, day, n)
		ok, err := s.st.SetNX(ctx, key, []byte(id), limitSlotTTL)
		if err != nil {
			return "", err
		}
		if ok {
			return key, nil
		}
	}
	return "", nil
}

// giveSlotBack frees the slot grant g took, if it still holds g's ID: a
// grant that was never usable (CauseNotActivated) does not count against
// the day. A later grant may take it (slots need not be taken in order).
func (s *Service) giveSlotBack(ctx context.Context, g Grant) error {
	if g.slot == "" {
		return nil
	}
	_, err := s.st.CompareAndDelete(ctx, g.slot, []byte(g.ID))
	return err
}

// Used returns how many grants the user had today under the policy ("" is
// the default policy) and the policy's daily limit, for the break-glass
// page. It reads daily_limit keys.
func (s *Service) Used(ctx context.Context, policy, email string) (used, limit int, err error) {
	name := policy
	if name == "" {
		name = s.cfg.DefaultPolicy
	}
	pol, ok := s.cfg.Policies[name]
	if !ok || name == "" {
		return 0, 0, fmt.Errorf("breakglass: expected a configured break-glass policy, got %q", policy)
	}
	e, err := normalizeEmail(email)
	if err != nil {
		return 0, 0, fmt.Errorf("breakglass: %w", err)
	}
	day := s.limitDay(s.now())
	// Every slot is read: one given back (giveSlotBack) leaves a gap.
	for n := 1; n <= pol.DailyLimit; n++ {
		_, err := s.st.Get(ctx, limitKey(name, e, day, n))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("breakglass: daily limit: %w", err)
		}
		used++
	}
	return used, pol.DailyLimit, nil
}
