package justify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// github looks issues up with the GitHub REST API, "Get an issue":
// GET /repos/{owner}/{repo}/issues/{issue_number}, API version 2022-11-28
// (docs.github.com/en/rest/issues/issues#get-an-issue). The same endpoint
// answers for pull requests, which count as tickets too. Token as Bearer.
//
// Closed: state is "closed". Involved: the assignees (and, when configured,
// the author), by login, mapped to email addresses through github.users;
// an unmapped login involves the caller whose github.login_claim names it.
// Customers: labels with the configured prefix. Rate limits: 429, or 403
// with x-ratelimit-remaining: 0, wait for Retry-After or x-ratelimit-reset.
// A transferred issue answers 301, which is not followed: the system is
// unavailable for that ID (without counting against its circuit breaker)
// and the user should give the new one.
type github struct {
	cfg   GitHubConfig
	repos map[string]bool // lowercase owner/name
	users map[string]string
	web   string
}

func newGitHub(sc SystemConfig) (*github, error) {
	g := &github{cfg: *sc.GitHub, repos: map[string]bool{}, users: map[string]string{},
		web: strings.TrimSuffix(sc.WebURL, "/")}
	for _, r := range g.cfg.Repos {
		g.repos[strings.ToLower(r)] = true
	}
	for l, e := range g.cfg.Users {
		n, err := normalizeEmail(e)
		if err != nil {
			return nil, fmt.Errorf("github.users.%s: %w", l, err)
		}
		g.users[strings.ToLower(l)] = n
	}
	return g, nil
}

var ghRef = regexp.MustCompile(`^(?:([A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}))?#?([1-9][0-9]{0,9})$`)

// normalize accepts owner/repo#N, and #N or N when exactly one repository
// is configured. The repository must be configured.
func (g *github) normalize(id string) (string, bool) {
	m := ghRef.FindStringSubmatch(id)
	if m == nil {
		return "", false
	}
	repo := strings.ToLower(m[1])
	if repo == "" {
		if len(g.cfg.Repos) != 1 {
			return "", false
		}
		repo = strings.ToLower(g.cfg.Repos[0])
	} else if !strings.Contains(id, "#") {
		return "", false
	}
	if !g.repos[repo] {
		return "", false
	}
	return repo + "#" + m[2], true
}

func (g *github) syntax() string {
	if len(g.cfg.Repos) == 1 {
		return "an issue number such as 123, or " + g.cfg.Repos[0] + "#123"
	}
	return "owner/repo#123 of one of " + strings.Join(g.cfg.Repos, ", ")
}

func (g *github) browse(id string) string {
	repo, n, _ := strings.Cut(id, "#")
	return g.web + "/" + repo + "/issues/" + n
}

func (g *github) perQuery() bool { return false }

// fromURL accepts /owner/repo/issues/N and /owner/repo/pull/N.
func (g *github) fromURL(path string, _ url.Values) (string, bool) {
	p := strings.Split(strings.Trim(path, "/"), "/")
	if len(p) != 4 || p[2] != "issues" && p[2] != "pull" {
		return "", false
	}
	return p[0] + "/" + p[1] + "#" + p[3], true
}

func (g *github) fetch(ctx context.Context, c *client, id string, _ Query) (Ticket, error) {
	repo, n, _ := strings.Cut(id, "#")
	owner, name, _ := strings.Cut(repo, "/")
	r, err := c.do(ctx, http.MethodGet, "/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name)+"/issues/"+n, nil, nil, bearer,
		map[string]string{"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})
	if err != nil {
		return Ticket{}, err
	}
	now := c.now()
	if r.status != http.StatusOK {
		// Secondary and primary rate limits (docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
		if r.status == http.StatusForbidden || r.status == http.StatusTooManyRequests {
			if ra := r.header.Get("Retry-After"); ra != "" {
				return Ticket{}, &UnavailableError{System: c.system, Cause: fmt.Sprintf("rate limited (%d)", r.status), RetryAt: now.Add(retryAfter(ra, now))}
			}
			if r.header.Get("X-RateLimit-Remaining") == "0" {
				at := now.Add(DefaultRetryAfter)
				if s, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
					at = time.Unix(s, 0)
					if at.After(now.Add(MaxRetryAfter)) {
						at = now.Add(MaxRetryAfter)
					} else if !at.After(now) {
						at = now.Add(time.Second)
					}
				}
				return Ticket{}, &UnavailableError{System: c.system, Cause: fmt.Sprintf("rate limited (%d)", r.status), RetryAt: at}
			}
		}
		if r.status == http.StatusMovedPermanently {
			// The issue was transferred to another repository (or its
			// repository renamed): an answer about this issue, not a
			// failing system. Not followed: the person gives the new ID.
			return Ticket{}, &UnavailableError{System: c.system, Cause: "issue moved (301): give its new ID", OnlyThisTicket: true}
		}
		return Ticket{}, c.statusError(r, now)
	}
	t, num, err := decodeGitHubIssue(r.body, &g.cfg)
	if err != nil {
		return Ticket{}, c.unavailable("unreadable issue", err)
	}
	if strconv.FormatInt(num, 10) != n {
		return Ticket{}, c.unavailable(fmt.Sprintf("asked for issue %s, got %d", n, num), nil)
	}
	// A mapped login stands for its email and nothing else; only unmapped
	// logins are left for a login the session vouches for (finish).
	var unmapped []string
	for _, l := range t.Logins {
		if e, ok := g.users[l]; ok {
			t.Involved = appendUnique(t.Involved, e)
		} else if l != "" {
			unmapped = append(unmapped, l)
		}
	}
	t.Logins = unmapped
	t.URL = g.browse(id)
	return t, nil
}

type ghUser struct {
	Login string `json:"login"`
}

// decodeGitHubIssue reads a "Get an issue" answer. Involved is left for the
// caller (the login map); Logins holds the lowercase logins.
func decodeGitHubIssue(b []byte, cfg *GitHubConfig) (Ticket, int64, error) {
	var is struct {
		Number    *int64            `json:"number"`
		State     string            `json:"state"`
		Assignees []ghUser          `json:"assignees"`
		User      *ghUser           `json:"user"`
		Labels    []json.RawMessage `json:"labels"`
	}
	if err := decodeJSON(b, &is, false); err != nil {
		return Ticket{}, 0, err
	}
	if is.Number == nil {
		return Ticket{}, 0, errors.New("expected number, got none")
	}
	var t Ticket
	switch is.State {
	case "open":
		t.Open = true
	case "closed":
	default:
		return Ticket{}, 0, fmt.Errorf("expected state open or closed, got %q", truncate(is.State))
	}
	t.Status = is.State
	for _, role := range cfg.Involved {
		switch role {
		case "assignees":
			for _, a := range is.Assignees {
				t.Logins = appendUnique(t.Logins, loginOrEmpty(a.Login))
			}
		case "author":
			if is.User != nil {
				t.Logins = appendUnique(t.Logins, loginOrEmpty(is.User.Login))
			}
		}
	}
	if cfg.CustomerLabelPrefix != "" {
		var names []string
		for _, raw := range is.Labels {
			// A label is an object with a name, or (in the schema) a string.
			var l struct {
				Name string `json:"name"`
			}
			var s string
			if err := json.Unmarshal(raw, &l); err == nil {
				names = append(names, l.Name)
			} else if err := json.Unmarshal(raw, &s); err == nil {
				names = append(names, s)
			} else {
				return Ticket{}, 0, errors.New("expected labels as objects or strings")
			}
		}
		t.Resources = labelResources(names, cfg.CustomerLabelPrefix)
	}
	return t, *is.Number, nil
}

func loginOrEmpty(l string) string {
	if !ghLogin.MatchString(l) {
		return ""
	}
	return strings.ToLower(l)
}
