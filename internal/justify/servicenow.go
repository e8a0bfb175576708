package justify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// servicenow looks records up with the ServiceNow Table API, "Retrieve
// records from a table": GET /api/now/table/{tableName} with
// sysparm_query=number=ID, sysparm_fields (dot-walked: assigned_to.email,
// account.number), sysparm_display_value=false, sysparm_limit
// (docs.servicenow.com, REST API reference, Table API, release-independent
// since Eureka). Basic auth, or an OAuth access token as Bearer.
//
// Open: active is "true" and state is not one of closed_states; a record
// without active or state (null, or left out) is an unreadable answer. Involved:
// the email of each configured sys_user reference field. Customer: the
// configured (dot-walked) field, by default account.number on
// sn_customerservice_case.
type servicenow struct {
	cfg    ServiceNowConfig
	web    string
	fields string
}

func newServiceNow(sc SystemConfig) *servicenow {
	n := &servicenow{cfg: *sc.ServiceNow, web: strings.TrimSuffix(sc.WebURL, "/")}
	f := []string{"number", "state", "active"}
	for _, r := range n.cfg.Involved {
		f = append(f, r+".email")
	}
	if n.cfg.CustomerField != "" {
		f = append(f, n.cfg.CustomerField)
	}
	n.fields = strings.Join(f, ",")
	return n
}

var snNumber = regexp.MustCompile(`^[A-Z]{2,8}[0-9]{5,12}$`)

func (n *servicenow) normalize(id string) (string, bool) {
	id = strings.ToUpper(id)
	return id, snNumber.MatchString(id)
}

func (n *servicenow) syntax() string { return "a record number such as INC0010001 or CS0001234" }

func (n *servicenow) browse(id string) string {
	return n.web + "/" + n.cfg.Table + ".do?sysparm_query=number%3D" + id
}

func (n *servicenow) perQuery() bool { return false }

// fromURL accepts /{table}.do?sysparm_query=number=ID (the links browse
// builds). Links by sys_id are not accepted: type the number.
func (n *servicenow) fromURL(path string, q url.Values) (string, bool) {
	if path != "/"+n.cfg.Table+".do" {
		return "", false
	}
	return strings.CutPrefix(q.Get("sysparm_query"), "number=")
}

func (n *servicenow) fetch(ctx context.Context, c *client, id string, _ Query) (Ticket, error) {
	q := url.Values{
		"sysparm_query":                  {"number=" + id},
		"sysparm_fields":                 {n.fields},
		"sysparm_display_value":          {"false"},
		"sysparm_exclude_reference_link": {"true"},
		"sysparm_limit":                  {"2"},
	}
	var body json.RawMessage
	if err := c.getJSON(ctx, "/api/now/table/"+n.cfg.Table, q, bearer, nil, c.now(), &body); err != nil {
		return Ticket{}, err
	}
	t, err := decodeServiceNow(body, id, &n.cfg)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Ticket{}, err
		}
		return Ticket{}, c.unavailable("unreadable record", err)
	}
	t.URL = n.browse(id)
	return t, nil
}

// decodeServiceNow reads a Table API answer for number=id.
func decodeServiceNow(b []byte, id string, cfg *ServiceNowConfig) (Ticket, error) {
	var r struct {
		Result *[]map[string]json.RawMessage `json:"result"`
	}
	if err := decodeJSON(b, &r, false); err != nil {
		return Ticket{}, err
	}
	if r.Result == nil {
		return Ticket{}, errors.New("expected result, got none")
	}
	switch len(*r.Result) {
	case 0:
		return Ticket{}, ErrNotFound
	case 1:
	default:
		return Ticket{}, fmt.Errorf("expected one record numbered %s, got %d", id, len(*r.Result))
	}
	rec := (*r.Result)[0]
	str := func(k string) (string, error) {
		raw, ok := rec[k]
		if !ok {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("expected %s as a string (sysparm_display_value=false), got %s", k, jsonErr(err))
		}
		return s, nil
	}
	num, err := str("number")
	if err != nil {
		return Ticket{}, err
	}
	if !strings.EqualFold(num, id) {
		return Ticket{}, fmt.Errorf("asked for %s, got %q", id, truncate(num))
	}
	state, err := str("state")
	if err != nil {
		return Ticket{}, err
	}
	// A resolved record stays active until it closes: without its state
	// (a field the integration account may not read is left out, or null)
	// an active record could be resolved. That is no answer, not "open".
	if state = strings.TrimSpace(state); state == "" {
		return Ticket{}, errors.New("expected state, got none (may the integration account read it?)")
	}
	active, err := str("active")
	if err != nil {
		return Ticket{}, err
	}
	if active != "true" && active != "false" {
		return Ticket{}, fmt.Errorf("expected active true or false, got %q", truncate(active))
	}
	t := Ticket{Open: active == "true" && !slices.Contains(cfg.ClosedStates, state), Status: "state " + state}
	if active == "false" {
		t.Status += " (inactive)"
	}
	for _, f := range cfg.Involved {
		e, err := str(f + ".email")
		if err != nil {
			return Ticket{}, err
		}
		t.Involved = appendUnique(t.Involved, emailOrEmpty(e))
	}
	if cfg.CustomerField != "" {
		c, err := str(cfg.CustomerField)
		if err != nil {
			return Ticket{}, err
		}
		t.Resources = appendUnique(t.Resources, strings.TrimSpace(c))
	}
	return t, nil
}
