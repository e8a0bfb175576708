package breakglass

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// PagerDuty asks the PagerDuty REST API v2
// (https://developer.pagerduty.com/api-reference/, "REST API v2"):
//
//   - GET /users?query=<email> (List users) resolves an address to a user
//     ID; since query is a substring search, the address must match a
//     user's email exactly (parsed as strictly as the signed-in address:
//     ASCII letter case aside, no look-alikes).
//   - GET /oncalls?user_ids[]=…&since=…&until=… (List all of the on-calls),
//     filtered by escalation_policy_ids[] and schedule_ids[] when
//     configured, answers "on call now": an entry counts when start <= at <
//     end (a null start or end is open).
//   - GET /incidents/{id} (Get an incident): triggered and acknowledged are
//     active, resolved is not; any other status is an error.
//
// Requests carry Authorization: Token token=<key> and
// Accept: application/vnd.pagerduty+json;version=2.
//
// Nothing is cached: every OnCall resolves the address to a user ID again
// before asking for that user's on-calls. An address can move from one
// PagerDuty user to another (a shared rota address, a reused mailbox, a
// departed employee's account renamed); a remembered mapping would decide
// on the previous owner's on-call status until it expired. OnCall runs once
// per break-glass request (rechecks ask about the incident only), so the
// extra request costs little, and an address PagerDuty did not know a
// moment ago counts as soon as it does.
type PagerDuty struct {
	api      *apiClient
	name     string
	epIDs    []string
	schedIDs []string
	maxLevel int
}

// pagerDutyAccept pins the API version.
const pagerDutyAccept = "application/vnd.pagerduty+json;version=2"

// Paging bounds: on-call lists are short for one user at one instant; a
// longer one is not trusted to be complete.
const (
	pdPageLimit = 100
	pdMaxPages  = 10
)

// NewPagerDuty builds a PagerDuty client from its configuration (with
// defaults applied).
func NewPagerDuty(name string, cfg ProviderConfig, client *http.Client, now func() time.Time) (*PagerDuty, error) {
	h := http.Header{}
	h.Set("Authorization", "Token token="+cfg.Token.Reveal())
	h.Set("Accept", pagerDutyAccept)
	api, err := newAPIClient(name, cfg.BaseURL, client, cfg.Timeout, now, h)
	if err != nil {
		return nil, err
	}
	return &PagerDuty{
		api: api, name: name,
		epIDs: slices.Clone(cfg.EscalationPolicyIDs), schedIDs: slices.Clone(cfg.ScheduleIDs),
		maxLevel: cfg.MaxEscalationLevel,
	}, nil
}

// pdRef is a PagerDuty reference object ({"id", "type", "summary", …}).
type pdRef struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
}

type pdUsers struct {
	Users []struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"users"`
	More bool `json:"more"`
}

type pdOnCalls struct {
	OnCalls *[]pdOnCall `json:"oncalls"`
	More    bool        `json:"more"`
}

type pdOnCall struct {
	User             *pdRef  `json:"user"`
	EscalationPolicy *pdRef  `json:"escalation_policy"`
	Schedule         *pdRef  `json:"schedule"`
	EscalationLevel  int     `json:"escalation_level"`
	Start            *string `json:"start"`
	End              *string `json:"end"`
}

type pdIncident struct {
	Incident *struct {
		ID               string `json:"id"`
		IncidentNumber   int    `json:"incident_number"`
		Title            string `json:"title"`
		Summary          string `json:"summary"`
		Status           string `json:"status"`
		HTMLURL          string `json:"html_url"`
		EscalationPolicy *pdRef `json:"escalation_policy"`
	} `json:"incident"`
}

// OnCall implements Provider.
func (p *PagerDuty) OnCall(ctx context.Context, email string, at time.Time) (bool, error) {
	e, err := normalizeEmail(email)
	if err != nil {
		return false, nil
	}
	id, err := p.userID(ctx, e)
	if err != nil || id == "" {
		return false, err
	}
	at = at.Truncate(time.Second)
	q := url.Values{}
	q.Set("user_ids[]", id)
	q["escalation_policy_ids[]"] = p.epIDs
	q["schedule_ids[]"] = p.schedIDs
	q.Set("since", at.UTC().Format(time.RFC3339))
	q.Set("until", at.Add(time.Second).UTC().Format(time.RFC3339))
	q.Set("limit", strconv.Itoa(pdPageLimit))
	for page := 0; page < pdMaxPages; page++ {
		q.Set("offset", strconv.Itoa(page*pdPageLimit))
		var r pdOnCalls
		if err := p.api.get(ctx, []string{"oncalls"}, q, &r); err != nil {
			return false, p.listError(err)
		}
		if r.OnCalls == nil {
			return false, p.api.unavailable(http.StatusOK, fmt.Errorf("expected an oncalls list"))
		}
		for _, oc := range *r.OnCalls {
			ok, err := p.counts(oc, id, at)
			if err != nil {
				return false, p.api.unavailable(http.StatusOK, err)
			}
			if ok {
				return true, nil
			}
		}
		if !r.More {
			return false, nil
		}
	}
	return false, p.api.unavailable(http.StatusOK, fmt.Errorf("more than %d on-call entries for one user", pdPageLimit*pdMaxPages))
}

// counts reports whether one on-call entry puts user id on call at at under
// the configured filters. The filters are applied here again: an answer is
// not trusted to have honoured the query.
func (p *PagerDuty) counts(oc pdOnCall, id string, at time.Time) (bool, error) {
	if oc.User == nil || oc.User.ID != id {
		return false, nil
	}
	if len(p.epIDs) > 0 && (oc.EscalationPolicy == nil || !slices.Contains(p.epIDs, oc.EscalationPolicy.ID)) {
		return false, nil
	}
	if len(p.schedIDs) > 0 && (oc.Schedule == nil || !slices.Contains(p.schedIDs, oc.Schedule.ID)) {
		return false, nil
	}
	if p.maxLevel > 0 && (oc.EscalationLevel < 1 || oc.EscalationLevel > p.maxLevel) {
		return false, nil
	}
	if oc.Start != nil {
		s, err := time.Parse(time.RFC3339, *oc.Start)
		if err != nil {
			return false, fmt.Errorf("on-call start: expected RFC 3339, got %q", *oc.Start)
		}
		if at.Before(s) {
			return false, nil
		}
	}
	if oc.End != nil {
		e, err := time.Parse(time.RFC3339, *oc.End)
		if err != nil {
			return false, fmt.Errorf("on-call end: expected RFC 3339, got %q", *oc.End)
		}
		if !at.Before(e) {
			return false, nil
		}
	}
	return true, nil
}

// listError classifies the error of a list endpoint (users, oncalls),
// whose queries the gateway builds from its configuration: a 404 (not "no
// incident": the base_url is wrong) or a 400 (a configured escalation
// policy or schedule ID refused) is a *MisconfiguredError.
func (p *PagerDuty) listError(err error) error {
	var ue *UnavailableError
	var nf *notFoundError
	switch {
	case errors.As(err, &nf):
		// Not ErrNotFound: no incident was asked for.
		return p.api.misconfigured(http.StatusNotFound, fmt.Errorf("no %s here: expected the REST API at base_url", nf.path))
	case errors.As(err, &ue) && ue.Status == http.StatusBadRequest:
		return p.api.misconfigured(ue.Status, errors.New("the query was refused: expected escalation_policy_ids and schedule_ids that exist in this account"))
	}
	return err
}

// userID resolves a normalized address to a PagerDuty user ID ("" when no
// user has it), asking PagerDuty every time (see PagerDuty).
func (p *PagerDuty) userID(ctx context.Context, email string) (string, error) {
	q := url.Values{}
	q.Set("query", email)
	q.Set("limit", strconv.Itoa(pdPageLimit))
	var r pdUsers
	if err := p.api.get(ctx, []string{"users"}, q, &r); err != nil {
		return "", p.listError(err)
	}
	id := ""
	for _, u := range r.Users {
		if isAddress(u.Email, email) && u.ID != "" {
			if id != "" && id != u.ID {
				return "", p.api.unavailable(http.StatusOK, fmt.Errorf("two users have the address %s", email))
			}
			id = u.ID
		}
	}
	if id == "" && r.More {
		// The exact match may be on a later page of a substring search;
		// better unavailable than a wrong "not on call".
		return "", p.api.unavailable(http.StatusOK, fmt.Errorf("more than %d users match %s", pdPageLimit, email))
	}
	return id, nil
}

// Incident implements Provider.
func (p *PagerDuty) Incident(ctx context.Context, id string) (Incident, error) {
	if !incidentIDRE.MatchString(id) {
		return Incident{}, fmt.Errorf("%w: %q is not an incident ID", ErrNotFound, id)
	}
	var r pdIncident
	if err := p.api.get(ctx, []string{"incidents", id}, nil, &r); err != nil {
		return Incident{}, err
	}
	inc := r.Incident
	if inc == nil || inc.ID == "" {
		return Incident{}, p.api.unavailable(http.StatusOK, fmt.Errorf("expected an incident object"))
	}
	out := Incident{ID: id, Provider: p.name, Title: inc.Title, URL: inc.HTMLURL, Status: inc.Status}
	if inc.ID != id {
		out.ProviderID = inc.ID
	}
	if out.Title == "" {
		out.Title = inc.Summary
	}
	if checkLinkURL(out.URL) != nil {
		out.URL = ""
	}
	switch inc.Status {
	case "triggered", "acknowledged":
		out.Active = true
	case "resolved":
	default:
		return Incident{}, p.api.unavailable(http.StatusOK, fmt.Errorf("unknown incident status %q", inc.Status))
	}
	if len(p.epIDs) > 0 {
		ep := ""
		if inc.EscalationPolicy != nil {
			ep = inc.EscalationPolicy.ID
		}
		if !slices.Contains(p.epIDs, ep) {
			return Incident{}, fmt.Errorf("%w: incident %s belongs to escalation policy %q, not one of %q",
				ErrNotFound, inc.ID, ep, p.epIDs)
		}
	}
	return out, nil
}
