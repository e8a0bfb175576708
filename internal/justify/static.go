package justify

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// static answers from tickets listed in the YAML (the quickstart, tests and
// `gateway explain`). It does no I/O, so it has no cache and no breaker; a
// reload of the configuration changes its answers.
type static struct {
	tickets map[string]Ticket
}

func newStatic(sc SystemConfig) (*static, error) {
	s := &static{tickets: map[string]Ticket{}}
	for i, t := range sc.Static.Tickets {
		id, err := normalizeCommon(t.ID)
		if err != nil {
			return nil, fmt.Errorf("static.tickets[%d].id: %w", i, err)
		}
		id = strings.ToUpper(id)
		tk := Ticket{ID: id, Open: t.State == "open", Status: t.State}
		for _, a := range t.Assignees {
			e, err := normalizeEmail(a)
			if err != nil {
				return nil, fmt.Errorf("static.tickets[%d].assignees: %w", i, err)
			}
			tk.Involved = appendUnique(tk.Involved, e)
		}
		for _, c := range t.Customers {
			tk.Resources = appendUnique(tk.Resources, strings.TrimSpace(c))
		}
		s.tickets[id] = tk
	}
	return s, nil
}

func (s *static) normalize(id string) (string, bool) {
	id = strings.ToUpper(id)
	return id, staticID.MatchString(id)
}

func (s *static) syntax() string { return "letters, digits and . _ - (at most 128)" }

func (s *static) perQuery() bool { return false }

func (s *static) fromURL(string, url.Values) (string, bool) { return "", false }

func (s *static) fetch(_ context.Context, _ *client, id string, _ Query) (Ticket, error) {
	t, ok := s.tickets[id]
	if !ok {
		return Ticket{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return t, nil
}
