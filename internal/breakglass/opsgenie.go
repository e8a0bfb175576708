package breakglass

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Opsgenie asks the Opsgenie REST API (https://docs.opsgenie.com/docs/api-overview):
//
//   - Who is On Call API v2: GET /v2/schedules/{id}/on-calls?flat=true&date=…
//     (with scheduleIdentifierType=id|name) for each configured schedule;
//     the user is on call when an onCallRecipients entry equals the address
//     (Opsgenie usernames are email addresses; parsed as strictly as the
//     signed-in address and compared in canonical form: ASCII letter case
//     aside, no look-alikes).
//   - Alert API v2: GET /v2/alerts/{id}?identifierType=id|tiny|alias: status
//     "open" is active, "closed" is not.
//   - or, with incidents: incidents, Incident API v1:
//     GET /v1/incidents/{id}?identifierType=id|tiny: "open" is active,
//     "resolved" and "closed" are not.
//
// Requests carry Authorization: GenieKey <key>. Any other status value is an
// error (fail closed).
//
// A disabled schedule (_parent.enabled false in the on-call answer) puts
// nobody on call, whatever its rotations say: Opsgenie does not notify
// through it. Its recipients are not looked at; when no enabled schedule
// lists the user, the answer is a *MisconfiguredError wrapping
// ErrScheduleDisabled that names the schedule — a misconfiguration, like a
// configured schedule that does not exist (also a *MisconfiguredError),
// not "not on call". An answer without _parent.enabled is not the
// documented JSON (unavailable).
type Opsgenie struct {
	api       *apiClient
	name      string
	schedules []string
	schedType string
	incidents string
	idType    string
}

// NewOpsgenie builds an Opsgenie client from its configuration (with
// defaults applied).
func NewOpsgenie(name string, cfg ProviderConfig, client *http.Client, now func() time.Time) (*Opsgenie, error) {
	h := http.Header{}
	h.Set("Authorization", "GenieKey "+cfg.APIKey.Reveal())
	h.Set("Accept", "application/json")
	api, err := newAPIClient(name, cfg.BaseURL, client, cfg.Timeout, now, h)
	if err != nil {
		return nil, err
	}
	return &Opsgenie{
		api: api, name: name, schedules: slices.Clone(cfg.Schedules),
		schedType: cfg.ScheduleIdentifierType, incidents: cfg.Incidents, idType: cfg.IncidentIdentifierType,
	}, nil
}

// ErrScheduleDisabled is wrapped by the error of an Opsgenie on-call check
// that found a configured schedule disabled.
var ErrScheduleDisabled = errors.New("breakglass: a disabled schedule puts nobody on call")

type ogOnCalls struct {
	Data *struct {
		Parent struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Enabled *bool  `json:"enabled"`
		} `json:"_parent"`
		OnCallRecipients []string `json:"onCallRecipients"`
	} `json:"data"`
}

type ogAlert struct {
	Data *struct {
		ID           string `json:"id"`
		TinyID       string `json:"tinyId"`
		Message      string `json:"message"`
		Status       string `json:"status"`
		Acknowledged bool   `json:"acknowledged"`
	} `json:"data"`
}

type ogIncident struct {
	Data *struct {
		ID      string `json:"id"`
		TinyID  string `json:"tinyId"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Links   struct {
			Web string `json:"web"`
		} `json:"links"`
	} `json:"data"`
}

// OnCall implements Provider. The user is on call when any configured,
// enabled schedule lists them; if none does and a schedule could not be
// asked or is disabled, the answer is the first such schedule's error.
func (o *Opsgenie) OnCall(ctx context.Context, email string, at time.Time) (bool, error) {
	e, err := normalizeEmail(email)
	if err != nil {
		return false, nil
	}
	var firstErr error
	for _, s := range o.schedules {
		q := url.Values{}
		q.Set("scheduleIdentifierType", o.schedType)
		q.Set("flat", "true")
		q.Set("date", at.UTC().Format(time.RFC3339))
		var r ogOnCalls
		err := o.api.get(ctx, []string{"v2", "schedules", s, "on-calls"}, q, &r)
		switch {
		case err != nil:
		case r.Data == nil:
			err = o.api.unavailable(http.StatusOK, errors.New("expected a data object"))
		case r.Data.Parent.Enabled == nil:
			err = o.api.unavailable(http.StatusOK, fmt.Errorf("schedule %q: expected _parent.enabled", s))
		case !*r.Data.Parent.Enabled:
			err = o.api.misconfigured(http.StatusOK, fmt.Errorf("schedule %q is disabled (%w)", s, ErrScheduleDisabled))
		}
		if err != nil {
			if isNotFound(err) {
				// A configured schedule that does not exist is a
				// misconfiguration, not "not on call".
				err = o.api.misconfigured(http.StatusNotFound, fmt.Errorf("schedule %q not found: expected a schedule %s of this account", s, o.schedType))
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, rcpt := range r.Data.OnCallRecipients {
			if isAddress(rcpt, e) {
				return true, nil
			}
		}
	}
	return false, firstErr
}

// Incident implements Provider.
func (o *Opsgenie) Incident(ctx context.Context, id string) (Incident, error) {
	if !incidentIDRE.MatchString(id) {
		return Incident{}, fmt.Errorf("%w: %q is not an incident ID", ErrNotFound, id)
	}
	q := url.Values{}
	q.Set("identifierType", o.idType)
	out := Incident{Provider: o.name}
	if o.incidents == "incidents" {
		var r ogIncident
		if err := o.api.get(ctx, []string{"v1", "incidents", id}, q, &r); err != nil {
			return Incident{}, err
		}
		if r.Data == nil || r.Data.ID == "" {
			return Incident{}, o.api.unavailable(http.StatusOK, errors.New("expected an incident object"))
		}
		out.ProviderID, out.Title, out.Status, out.URL = r.Data.ID, r.Data.Message, r.Data.Status, r.Data.Links.Web
		switch r.Data.Status {
		case "open":
			out.Active = true
		case "resolved", "closed":
		default:
			return Incident{}, o.api.unavailable(http.StatusOK, fmt.Errorf("unknown incident status %q", r.Data.Status))
		}
	} else {
		var r ogAlert
		if err := o.api.get(ctx, []string{"v2", "alerts", id}, q, &r); err != nil {
			return Incident{}, err
		}
		if r.Data == nil || r.Data.ID == "" {
			return Incident{}, o.api.unavailable(http.StatusOK, errors.New("expected an alert object"))
		}
		out.ProviderID, out.Title, out.Status = r.Data.ID, r.Data.Message, r.Data.Status
		switch r.Data.Status {
		case "open":
			out.Active = true
		case "closed":
		default:
			return Incident{}, o.api.unavailable(http.StatusOK, fmt.Errorf("unknown alert status %q", r.Data.Status))
		}
	}
	out.ID = id
	if out.ProviderID == id {
		out.ProviderID = ""
	}
	if checkLinkURL(out.URL) != nil {
		out.URL = ""
	}
	return out, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
