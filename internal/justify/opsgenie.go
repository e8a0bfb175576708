package justify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// opsgenie looks alerts up with the Opsgenie Alert API v2, "Get alert":
// GET /v2/alerts/{identifier}?identifierType=id|tiny, and user responders'
// addresses with the User API v2, "Get user": GET /v2/users/{identifier}
// (docs.opsgenie.com/docs/alert-api, .../user-api). Header
// "Authorization: GenieKey <key>".
//
// Open: status "open", acknowledged or not, snoozed or not; "closed" is
// closed. Involved: the owner and the users among the responders, as
// configured; Opsgenie usernames are email addresses. Team, schedule and
// escalation responders are not expanded. report.acknowledgedBy is never
// read: it is the "user" display name of the acknowledge request, which
// any API caller writes as it likes (and a person who acknowledges becomes
// the owner). Customers: tags with a prefix, or one key of details.
// Tiny IDs are short and Opsgenie reuses them over time: the full alert ID
// is the safer thing to paste.
type opsgenie struct {
	cfg OpsgenieConfig
	web string
}

func newOpsgenie(sc SystemConfig) *opsgenie {
	return &opsgenie{cfg: *sc.Opsgenie, web: strings.TrimSuffix(sc.WebURL, "/")}
}

var (
	ogTiny = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)
	ogID   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:-[0-9]{13})?$`)
)

// maxOGUsers bounds the user lookups of one alert.
const maxOGUsers = 10

func (o *opsgenie) normalize(id string) (string, bool) {
	id = strings.ToLower(strings.TrimPrefix(id, "#"))
	return id, ogTiny.MatchString(id) || ogID.MatchString(id)
}

func (o *opsgenie) syntax() string {
	return "an Opsgenie alert ID, or its tiny ID such as 1791"
}

func (o *opsgenie) browse(id string) string {
	if o.web == "" || !ogID.MatchString(id) {
		return ""
	}
	return o.web + "/alert/detail/" + id + "/details"
}

func (o *opsgenie) perQuery() bool { return false }

// fromURL accepts /alert/detail/{id} and /alert/detail/{id}/details.
func (o *opsgenie) fromURL(path string, _ url.Values) (string, bool) {
	p := strings.Split(strings.Trim(path, "/"), "/")
	if (len(p) == 3 || len(p) == 4 && p[3] == "details") && p[0] == "alert" && p[1] == "detail" {
		return p[2], true
	}
	return "", false
}

const genieKey authScheme = "GenieKey "

func (o *opsgenie) fetch(ctx context.Context, c *client, id string, _ Query) (Ticket, error) {
	typ := "id"
	if ogTiny.MatchString(id) {
		typ = "tiny"
	}
	var body json.RawMessage
	if err := c.getJSON(ctx, "/v2/alerts/"+url.PathEscape(id), url.Values{"identifierType": {typ}}, genieKey, nil, c.now(), &body); err != nil {
		return Ticket{}, err
	}
	al, err := decodeOpsgenieAlert(body, &o.cfg)
	if err != nil {
		return Ticket{}, c.unavailable("unreadable alert", err)
	}
	if id != al.id && id != al.tinyID {
		return Ticket{}, c.unavailable(fmt.Sprintf("asked for alert %s, got %s", id, truncate(al.id)), nil)
	}
	if len(al.userIDs) > maxOGUsers {
		return Ticket{}, &UnavailableError{System: c.system, Cause: fmt.Sprintf("more than %d responders to look up", maxOGUsers), OnlyThisTicket: true}
	}
	t := al.ticket
	for _, uid := range al.userIDs {
		var ub json.RawMessage
		if err := c.getJSON(ctx, "/v2/users/"+url.PathEscape(uid), nil, genieKey, nil, c.now(), &ub); err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // a deleted user involves nobody
			}
			return Ticket{}, err
		}
		name, err := decodeOpsgenieUser(ub)
		if err != nil {
			return Ticket{}, c.unavailable("unreadable user", err)
		}
		t.Involved = appendUnique(t.Involved, emailOrEmpty(name))
	}
	t.URL = o.browse(al.id)
	if typ == "tiny" {
		t.Pin = al.id // tiny IDs are reused once an alert is gone
	}
	return t, nil
}

type ogAlert struct {
	ticket  Ticket
	id      string
	tinyID  string
	userIDs []string
}

var ogUserID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// decodeOpsgenieAlert reads a "Get alert" answer.
func decodeOpsgenieAlert(b []byte, cfg *OpsgenieConfig) (ogAlert, error) {
	var r struct {
		Data *struct {
			ID           string   `json:"id"`
			TinyID       string   `json:"tinyId"`
			Status       string   `json:"status"`
			Acknowledged bool     `json:"acknowledged"`
			Owner        string   `json:"owner"`
			Tags         []string `json:"tags"`
			Responders   []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"responders"`
			Details map[string]string `json:"details"`
		} `json:"data"`
	}
	if err := decodeJSON(b, &r, false); err != nil {
		return ogAlert{}, err
	}
	d := r.Data
	if d == nil || d.ID == "" {
		return ogAlert{}, errors.New("expected data with an id, got none")
	}
	out := ogAlert{id: strings.ToLower(d.ID), tinyID: d.TinyID}
	switch d.Status {
	case "open":
		out.ticket.Open = true
		out.ticket.Status = "open"
		if d.Acknowledged {
			out.ticket.Status = "open (acknowledged)"
		}
	case "closed":
		out.ticket.Status = "closed"
	default:
		return ogAlert{}, fmt.Errorf("expected status open or closed, got %q", truncate(d.Status))
	}
	for _, role := range cfg.Involved {
		switch role {
		case "owner":
			out.ticket.Involved = appendUnique(out.ticket.Involved, emailOrEmpty(d.Owner))
		case "responders":
			for _, rs := range d.Responders {
				if rs.Type != "user" {
					continue
				}
				if !ogUserID.MatchString(rs.ID) {
					return ogAlert{}, fmt.Errorf("expected a user ID, got %q", truncate(rs.ID))
				}
				out.userIDs = appendUnique(out.userIDs, rs.ID)
			}
		}
	}
	if cfg.CustomerTagPrefix != "" {
		out.ticket.Resources = labelResources(d.Tags, cfg.CustomerTagPrefix)
	}
	if cfg.CustomerDetail != "" {
		out.ticket.Resources = appendUnique(out.ticket.Resources, strings.TrimSpace(d.Details[cfg.CustomerDetail]))
	}
	return out, nil
}

// decodeOpsgenieUser reads a "Get user" answer: the username, an email
// address.
func decodeOpsgenieUser(b []byte) (string, error) {
	var r struct {
		Data *struct {
			Username string `json:"username"`
		} `json:"data"`
	}
	if err := decodeJSON(b, &r, false); err != nil {
		return "", err
	}
	if r.Data == nil {
		return "", errors.New("expected data, got none")
	}
	return r.Data.Username, nil
}
