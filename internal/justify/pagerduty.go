package justify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// pagerduty looks incidents up with the PagerDuty REST API v2, "Get an
// incident": GET /incidents/{id}?include[]=assignees&include[]=acknowledgers
// (developer.pagerduty.com/api-reference/, Incidents), which accepts the
// incident's ID or its number; users that come back as references without
// an email are read with "Get a user": GET /users/{id}. Headers: Accept:
// application/vnd.pagerduty+json;version=2 and Authorization:
// Token token=KEY.
//
// Open: status triggered or acknowledged; resolved is closed. Involved: the
// users of the current assignments (and, when configured, the
// acknowledgers), by email. PagerDuty incidents name no customer: a route
// that binds a resource never matches a PagerDuty incident.
type pagerduty struct {
	cfg PagerDutyConfig
	web string
}

func newPagerDuty(sc SystemConfig) *pagerduty {
	return &pagerduty{cfg: *sc.PagerDuty, web: strings.TrimSuffix(sc.WebURL, "/")}
}

var (
	pdID     = regexp.MustCompile(`^[A-Z0-9]{6,20}$`)
	pdNumber = regexp.MustCompile(`^[1-9][0-9]{0,11}$`)
)

// maxPDUsers bounds the user lookups of one incident.
const maxPDUsers = 10

var pdHeaders = map[string]string{"Accept": "application/vnd.pagerduty+json;version=2"}

func (p *pagerduty) normalize(id string) (string, bool) {
	id = strings.ToUpper(strings.TrimPrefix(id, "#"))
	return id, pdNumber.MatchString(id) || pdID.MatchString(id)
}

func (p *pagerduty) syntax() string {
	return "a PagerDuty incident number such as 1234 or an incident ID such as PT4KHLK"
}

func (p *pagerduty) browse(id string) string {
	if p.web == "" {
		return ""
	}
	return p.web + "/incidents/" + id
}

func (p *pagerduty) perQuery() bool { return false }

// fromURL accepts /incidents/ID on the configured web_url.
func (p *pagerduty) fromURL(path string, _ url.Values) (string, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 2 && parts[0] == "incidents" {
		return parts[1], true
	}
	return "", false
}

func (p *pagerduty) fetch(ctx context.Context, c *client, id string, _ Query) (Ticket, error) {
	q := url.Values{"include[]": {"assignees", "acknowledgers"}}
	var body json.RawMessage
	if err := c.getJSON(ctx, "/incidents/"+url.PathEscape(id), q, pagerDutyTk, pdHeaders, c.now(), &body); err != nil {
		return Ticket{}, err
	}
	inc, err := decodePagerDutyIncident(body, &p.cfg)
	if err != nil {
		return Ticket{}, c.unavailable("unreadable incident", err)
	}
	if inc.id != id && inc.number != id {
		return Ticket{}, c.unavailable(fmt.Sprintf("asked for incident %s, got %s (#%s)", id, inc.id, inc.number), nil)
	}
	t := inc.ticket
	if len(inc.userIDs) > maxPDUsers {
		return Ticket{}, &UnavailableError{System: c.system, Cause: fmt.Sprintf("more than %d users to look up", maxPDUsers), OnlyThisTicket: true}
	}
	for _, uid := range inc.userIDs {
		var ub json.RawMessage
		if err := c.getJSON(ctx, "/users/"+url.PathEscape(uid), nil, pagerDutyTk, pdHeaders, c.now(), &ub); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // a deleted user involves nobody
			}
			return Ticket{}, err
		}
		email, err := decodePagerDutyUser(ub)
		if err != nil {
			return Ticket{}, c.unavailable("unreadable user", err)
		}
		t.Involved = appendUnique(t.Involved, emailOrEmpty(email))
	}
	if t.URL = p.browse(id); t.URL == "" && strings.HasPrefix(inc.htmlURL, "https://") {
		t.URL = inc.htmlURL
	}
	return t, nil
}

type pdUser struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Email string `json:"email"`
}

type pdIncident struct {
	ticket  Ticket
	id      string
	number  string
	htmlURL string
	userIDs []string // referenced users without an email
}

// decodePagerDutyIncident reads a "Get an incident" answer.
func decodePagerDutyIncident(b []byte, cfg *PagerDutyConfig) (pdIncident, error) {
	var r struct {
		Incident *struct {
			ID             string `json:"id"`
			IncidentNumber *int64 `json:"incident_number"`
			Status         string `json:"status"`
			HTMLURL        string `json:"html_url"`
			Assignments    []struct {
				Assignee *pdUser `json:"assignee"`
			} `json:"assignments"`
			Acknowledgements []struct {
				Acknowledger *pdUser `json:"acknowledger"`
			} `json:"acknowledgements"`
		} `json:"incident"`
	}
	if err := decodeJSON(b, &r, false); err != nil {
		return pdIncident{}, err
	}
	in := r.Incident
	if in == nil || in.ID == "" || in.IncidentNumber == nil {
		return pdIncident{}, errors.New("expected incident with id and incident_number, got none")
	}
	out := pdIncident{id: in.ID, number: strconv.FormatInt(*in.IncidentNumber, 10), htmlURL: in.HTMLURL}
	switch in.Status {
	case "triggered", "acknowledged":
		out.ticket.Open = true
	case "resolved":
	default:
		return pdIncident{}, fmt.Errorf("expected status triggered, acknowledged or resolved, got %q", truncate(in.Status))
	}
	out.ticket.Status = in.Status
	var users []*pdUser
	for _, role := range cfg.Involved {
		switch role {
		case "assignees":
			for _, a := range in.Assignments {
				users = append(users, a.Assignee)
			}
		case "acknowledgers":
			for _, a := range in.Acknowledgements {
				users = append(users, a.Acknowledger)
			}
		}
	}
	for _, u := range users {
		switch {
		case u == nil:
		case u.Type != "user" && u.Type != "user_reference":
			// Acknowledged by a service or an integration: nobody.
		case u.Email != "":
			out.ticket.Involved = appendUnique(out.ticket.Involved, emailOrEmpty(u.Email))
		case pdID.MatchString(u.ID):
			out.userIDs = appendUnique(out.userIDs, u.ID)
		default:
			return pdIncident{}, fmt.Errorf("expected a user ID, got %q", truncate(u.ID))
		}
	}
	return out, nil
}

// decodePagerDutyUser reads a "Get a user" answer.
func decodePagerDutyUser(b []byte) (string, error) {
	var r struct {
		User *pdUser `json:"user"`
	}
	if err := decodeJSON(b, &r, false); err != nil {
		return "", err
	}
	if r.User == nil {
		return "", errors.New("expected user, got none")
	}
	return r.User.Email, nil
}
