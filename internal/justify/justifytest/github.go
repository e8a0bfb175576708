package justifytest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
)

// GitHub is a fake GitHub REST API, "Get an issue"
// (GET /repos/{owner}/{repo}/issues/{issue_number}, API version 2022-11-28,
// docs.github.com/en/rest/issues/issues#get-an-issue). Requests must carry
// "Authorization: Bearer <Token>".
type GitHub struct {
	*server
	Token string

	mu     sync.Mutex
	issues map[string]GitHubIssue
}

// GitHubIssue is one issue (or pull request) of the fake.
type GitHubIssue struct {
	// Repo is owner/name.
	Repo   string
	Number int
	// State is open or closed.
	State       string
	Assignees   []string // logins
	Author      string   // login
	Labels      []string
	PullRequest bool
	// MovedTo, when set ("owner/repo#N"), answers as GitHub does for an
	// issue transferred to another repository: 301 with the new location.
	MovedTo string
}

// NewGitHub starts a fake GitHub; it stops when the test ends.
func NewGitHub(t testing.TB) *GitHub {
	g := &GitHub{Token: "ghp_fake", issues: map[string]GitHubIssue{}}
	g.server = newServer(t, http.HandlerFunc(g.serve), nil)
	return g
}

// SetIssue adds or replaces an issue.
func (g *GitHub) SetIssue(is GitHubIssue) {
	g.mu.Lock()
	g.issues[strings.ToLower(is.Repo)+"#"+strconv.Itoa(is.Number)] = is
	g.mu.Unlock()
}

// SystemConfig returns a system of type github pointing at the fake
// (base_url and web_url both the fake's URL).
func (g *GitHub) SystemConfig(repos ...string) justify.SystemConfig {
	return justify.SystemConfig{Type: justify.TypeGitHub, BaseURL: g.URL(), WebURL: g.URL(),
		Auth: justify.AuthConfig{Token: justify.Secret(g.Token)}, TLS: justify.TLSConfig{CAFile: g.CAFile()},
		GitHub: &justify.GitHubConfig{Repos: repos}}
}

func (g *GitHub) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+g.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials",
			"documentation_url": "https://docs.github.com/rest", "status": "401"})
		return
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	notFound := map[string]any{"message": "Not Found",
		"documentation_url": "https://docs.github.com/rest/issues/issues#get-an-issue", "status": "404"}
	if len(p) != 5 || p[0] != "repos" || p[3] != "issues" || r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	g.mu.Lock()
	is, ok := g.issues[strings.ToLower(p[1]+"/"+p[2])+"#"+p[4]]
	g.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, notFound)
		return
	}
	if is.MovedTo != "" {
		repo, n, _ := strings.Cut(is.MovedTo, "#")
		loc := g.URL() + "/repos/" + repo + "/issues/" + n
		w.Header().Set("Location", loc)
		writeJSON(w, http.StatusMovedPermanently, map[string]any{"message": "Moved Permanently", "url": loc,
			"documentation_url": "https://docs.github.com/rest/issues/issues#get-an-issue"})
		return
	}
	api := g.URL() + "/repos/" + is.Repo
	user := func(login string) map[string]any {
		return map[string]any{"login": login, "id": len(login) * 1000, "node_id": "MDQ6VXNlcjE=",
			"avatar_url": "https://github.com/images/error/" + login + ".gif", "type": "User", "site_admin": false,
			"url": g.URL() + "/users/" + login, "html_url": g.URL() + "/" + login}
	}
	assignees := []any{}
	var assignee any
	for i, a := range is.Assignees {
		assignees = append(assignees, user(a))
		if i == 0 {
			assignee = user(a)
		}
	}
	labels := []any{}
	for i, l := range is.Labels {
		labels = append(labels, map[string]any{"id": 208045946 + i, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
			"url": api + "/labels/" + l, "name": l, "description": "", "color": "f29513", "default": false})
	}
	body := map[string]any{
		"id": 1, "node_id": "MDU6SXNzdWUx", "url": api + "/issues/" + p[4],
		"repository_url": api, "html_url": g.URL() + "/" + is.Repo + "/issues/" + p[4],
		"number": is.Number, "state": is.State, "title": "Found a bug", "body": "I'm having a problem with this.",
		"user": user(is.Author), "labels": labels, "assignee": assignee, "assignees": assignees,
		"locked": false, "comments": 0, "created_at": "2026-04-22T13:33:48Z", "updated_at": "2026-04-22T13:33:48Z",
		"author_association": "COLLABORATOR",
	}
	if is.State == "closed" {
		body["state_reason"], body["closed_at"] = "completed", "2026-04-23T10:00:00Z"
	}
	if is.PullRequest {
		body["pull_request"] = map[string]any{"url": api + "/pulls/" + p[4], "html_url": fmt.Sprintf("%s/%s/pull/%d", g.URL(), is.Repo, is.Number)}
	}
	writeJSON(w, http.StatusOK, body)
}
