package justify_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
)

// parseSystems are configured but never contacted: Parse does no I/O.
func parseSystems() map[string]justify.SystemConfig {
	return map[string]justify.SystemConfig{
		"jira": {Type: "jira", BaseURL: "https://corp.atlassian.net",
			Auth: justify.AuthConfig{Username: "gw@corp.example", Password: "t"}},
		"ops": {Type: "jira", BaseURL: "https://jira.corp.example:8443/jira", IDPattern: "OPS-[0-9]+",
			Auth: justify.AuthConfig{Token: "t"}, Jira: &justify.JiraConfig{API: justify.JiraDataCenterV2}},
		"gh": {Type: "github", Auth: justify.AuthConfig{Token: "t"},
			GitHub: &justify.GitHubConfig{Repos: []string{"corp/support", "corp/infra"}}},
		"pd": {Type: "pagerduty", WebURL: "https://corp.pagerduty.com", Auth: justify.AuthConfig{Token: "t"}},
		"sn": {Type: "servicenow", BaseURL: "https://corp.service-now.com", Auth: justify.AuthConfig{Token: "t"}},
		"st": {Type: "static", Static: &justify.StaticConfig{Tickets: []justify.StaticTicket{{ID: "DEMO-1", State: "open"}}}},
		"hv": {Type: "http", BaseURL: "https://verify.corp.example/v1", Auth: justify.AuthConfig{Token: "t"},
			HTTP: &justify.HTTPConfig{Case: "upper"}},
	}
}

func TestParse(t *testing.T) {
	v := newVerifier(t, nil, parseSystems())
	all := []string{"jira", "ops", "gh", "pd", "sn", "st", "hv"}
	for _, c := range []struct {
		name    string
		input   string
		allowed []string
		want    justify.Ref
		err     error
	}{
		{name: "bare key", input: "SUP-123", allowed: []string{"jira"}, want: justify.Ref{System: "jira", ID: "SUP-123"}},
		{name: "trimmed and upper-cased", input: " \tsup-123\n", allowed: []string{"jira"}, want: justify.Ref{System: "jira", ID: "SUP-123"}},
		{name: "prefix", input: "jira:SUP-123", allowed: []string{"jira", "ops"}, want: justify.Ref{System: "jira", ID: "SUP-123"}},
		{name: "prefix case", input: "JIRA:sup-1", allowed: []string{"jira"}, want: justify.Ref{System: "jira", ID: "SUP-1"}},
		{name: "prefix of a system not allowed", input: "ops:OPS-1", allowed: []string{"jira"}, err: justify.ErrSystemNotAllowed},
		{name: "prefix of an unknown system", input: "bugzilla:1", allowed: all, err: justify.ErrUnknownSystem},
		{name: "prefix with a bad ID", input: "jira:123", allowed: all, err: justify.ErrBadID},
		{name: "ambiguous", input: "OPS-1", allowed: []string{"jira", "ops"}, err: justify.ErrAmbiguous},
		{name: "id_pattern disambiguates", input: "SUP-1", allowed: []string{"jira", "ops"}, want: justify.Ref{System: "jira", ID: "SUP-1"}},
		{name: "id_pattern refuses", input: "ops:SUP-1", allowed: []string{"ops"}, err: justify.ErrBadID},
		{name: "leading zero refused", input: "SUP-0123", allowed: []string{"jira"}, err: justify.ErrBadID},
		{name: "no number", input: "SUP-", allowed: []string{"jira"}, err: justify.ErrBadID},
		{name: "empty", input: "  ", allowed: all, err: justify.ErrEmpty},
		{name: "only systems of the route", input: "INC0010001", allowed: []string{"jira"}, err: justify.ErrBadID},
		{name: "servicenow", input: "inc0010001", allowed: []string{"jira", "sn"}, want: justify.Ref{System: "sn", ID: "INC0010001"}},
		{name: "pagerduty number", input: "1234", allowed: []string{"pd"}, want: justify.Ref{System: "pd", ID: "1234"}},
		{name: "github full", input: "corp/infra#12", allowed: []string{"gh", "jira"}, want: justify.Ref{System: "gh", ID: "corp/infra#12"}},
		{name: "github number needs one repo", input: "12", allowed: []string{"gh"}, err: justify.ErrBadID},
		{name: "github unknown repo", input: "evil/support#12", allowed: []string{"gh"}, err: justify.ErrBadID},
		{name: "static", input: "demo-1", allowed: []string{"st"}, want: justify.Ref{System: "st", ID: "DEMO-1"}},
		{name: "http case upper", input: "ab-1", allowed: []string{"hv"}, want: justify.Ref{System: "hv", ID: "AB-1"}},
		{name: "route names an unknown system", input: "SUP-1", allowed: []string{"nope"}, err: justify.ErrUnknownSystem},

		// URLs.
		{name: "jira browse URL", input: "https://corp.atlassian.net/browse/SUP-7", allowed: []string{"jira"}, want: justify.Ref{System: "jira", ID: "SUP-7"}},
		{name: "jira URL host case", input: "https://CORP.atlassian.net/browse/sup-7?focusedCommentId=1#x", allowed: []string{"jira"}, want: justify.Ref{System: "jira", ID: "SUP-7"}},
		{name: "jira portal URL", input: "https://corp.atlassian.net/servicedesk/customer/portal/3/SUP-7", allowed: []string{"jira"}, want: justify.Ref{System: "jira", ID: "SUP-7"}},
		{name: "jira project URL", input: "https://corp.atlassian.net/projects/SUP/issues/SUP-7", allowed: []string{"jira"}, want: justify.Ref{System: "jira", ID: "SUP-7"}},
		{name: "data center URL under a path and port", input: "https://jira.corp.example:8443/jira/browse/OPS-3", allowed: []string{"jira", "ops"}, want: justify.Ref{System: "ops", ID: "OPS-3"}},
		{name: "data center URL without the port", input: "https://jira.corp.example/jira/browse/OPS-3", allowed: []string{"ops"}, err: justify.ErrWrongHost},
		{name: "data center URL outside the path", input: "https://jira.corp.example:8443/browse/OPS-3", allowed: []string{"ops"}, err: justify.ErrBadURL},
		{name: "wrong host", input: "https://evil.example/browse/SUP-7", allowed: []string{"jira"}, err: justify.ErrWrongHost},
		{name: "look-alike host suffix", input: "https://corp.atlassian.net.evil.example/browse/SUP-7", allowed: []string{"jira"}, err: justify.ErrWrongHost},
		{name: "host of a system the route does not accept", input: "https://corp.atlassian.net/browse/SUP-7", allowed: []string{"ops"}, err: justify.ErrWrongHost},
		{name: "user information", input: "https://corp.atlassian.net@evil.example/browse/SUP-7", allowed: []string{"jira"}, err: justify.ErrBadURL},
		{name: "plain http", input: "http://corp.atlassian.net/browse/SUP-7", allowed: []string{"jira"}, err: justify.ErrWrongHost},
		{name: "not a ticket page", input: "https://corp.atlassian.net/secure/Dashboard.jspa", allowed: []string{"jira"}, err: justify.ErrBadURL},
		{name: "extra path segment", input: "https://corp.atlassian.net/browse/SUP-7/x", allowed: []string{"jira"}, err: justify.ErrBadURL},
		{name: "bad key in a URL", input: "https://corp.atlassian.net/browse/SUP-07", allowed: []string{"jira"}, err: justify.ErrBadID},
		{name: "github URL", input: "https://github.com/corp/support/issues/5", allowed: []string{"gh"}, want: justify.Ref{System: "gh", ID: "corp/support#5"}},
		{name: "github URL of another repo", input: "https://github.com/evil/support/issues/5", allowed: []string{"gh"}, err: justify.ErrBadID},
		{name: "github API host is not the web host", input: "https://api.github.com/repos/corp/support/issues/5", allowed: []string{"gh"}, err: justify.ErrWrongHost},
		{name: "pagerduty URL", input: "https://corp.pagerduty.com/incidents/PT4KHLK", allowed: []string{"pd"}, want: justify.Ref{System: "pd", ID: "PT4KHLK"}},
		{name: "servicenow URL", input: "https://corp.service-now.com/incident.do?sysparm_query=number%3DINC0010001", allowed: []string{"sn"}, want: justify.Ref{System: "sn", ID: "INC0010001"}},
		{name: "URL for a system without one", input: "https://verify.corp.example/v1/AB-1", allowed: []string{"hv"}, err: justify.ErrBadURL},
		{name: "other scheme", input: "javascript://corp.atlassian.net/browse/SUP-7", allowed: []string{"jira"}, err: justify.ErrWrongHost},

		// Look-alikes and lengths.
		{name: "Arabic-Indic digits", input: "SUP-\u0661\u0662\u0663", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "Extended Arabic-Indic digits", input: "SUP-\u06f1\u06f2", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "fullwidth digits", input: "SUP-\uff11\uff12\uff13", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "Devanagari digit", input: "1\u0967", allowed: []string{"pd"}, err: justify.ErrLookalike},
		{name: "mathematical bold digit", input: "SUP-\U0001D7CF", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "Cyrillic letter", input: "\u0405UP-1", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "fullwidth letters", input: "\uff33\uff35\uff30-1", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "Kelvin sign", input: "\u212aEY-1", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "zero-width space", input: "SUP-1\u200b23", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "right-to-left override", input: "SUP-\u202e321", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "NUL", input: "SUP-1\x00", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "invalid UTF-8", input: "SUP-\xff1", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "look-alike in a prefixed ID", input: "jira:SUP-\uff11", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "look-alike in a URL", input: "https://corp.atlassian.net/browse/SUP-\u0661", allowed: []string{"jira"}, err: justify.ErrLookalike},
		{name: "inner space", input: "SUP- 1", allowed: []string{"jira"}, err: justify.ErrBadID},
		{name: "longest key", input: "A" + strings.Repeat("B", 110) + "-1", allowed: []string{"jira"}, want: justify.Ref{System: "jira", ID: "A" + strings.Repeat("B", 110) + "-1"}},
		{name: "key too long", input: "A" + strings.Repeat("B", 130) + "-1", allowed: []string{"jira"}, err: justify.ErrTooLong},
		{name: "input too long", input: strings.Repeat(" ", justify.MaxInputLength) + "SUP-1", allowed: []string{"jira"}, err: justify.ErrTooLong},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := v.Parse(c.input, c.allowed)
			if c.err != nil {
				var pe *justify.ParseError
				if !errors.Is(err, c.err) || !errors.As(err, &pe) || justify.ReasonFor(err) != justify.ReasonRequired {
					t.Fatalf("expected a ParseError %q, got %v (%v)", c.err, err, got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("expected %v, got %v (%v)", c.want, got, err)
			}
			// Every spelling parses back to itself.
			again, err := v.Parse(got.String(), c.allowed)
			if err != nil || again != got {
				t.Fatalf("expected %v to parse back to itself, got %v (%v)", got, again, err)
			}
		})
	}
}

func TestParseErrorMessages(t *testing.T) {
	v := newVerifier(t, nil, parseSystems())
	for _, c := range []struct{ input, want string }{
		{"SUP-\u0661", "U+0661 is a digit of another script; type the digits 0-9"},
		{"OPS-1", `type it as jira:OPS-1`},
		{"https://evil.example/browse/SUP-1", "evil.example (accepted here: corp.atlassian.net, jira.corp.example:8443)"},
	} {
		_, err := v.Parse(c.input, []string{"jira", "ops"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q): expected an error containing %q, got %v", c.input, c.want, err)
		}
	}
}
