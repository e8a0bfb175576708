package test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var endForm = regexp.MustCompile(`action="/\.gateway/break-glass/end"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)">\s*<input type="hidden" name="id" value="([^"]+)">`)

// TestBreakGlassHolderEndsGrant: the holder of a grant sees it on the
// break-glass page with a button that ends it; another user's post of the
// grant's ID (with their own valid token) is refused; the holder's post
// ends it at once — the route refuses the next request, the end is audited
// and the grant is reviewable — and a second request for the route, once
// refused as already granted, now offers the button too.
func TestBreakGlassHolderEndsGrant(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	clock := &clockAt{t: time.Date(2026, 12, 5, 3, 0, 0, 0, berlin)} // Saturday 03:00: outside the window
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	vars.Data = map[string]string{"Hook": hook.URL, "Inc1": "active"}
	vars.Now = clock.Now
	g := startGateway(t, vars, baseConfig+windowConfig)

	c, resp, body := signIn(t, g, m, user("olive@example.com", "oncall"), "/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	link := offerLink.FindStringSubmatch(body)[1]
	resp, body = breakGlass(t, c, g, link, "INC-1")
	mustStatus(t, resp, body, http.StatusOK)

	// A second request: refused, with the grant in force and its end form.
	resp, body = breakGlass(t, c, g, link, "INC-2")
	mustStatus(t, resp, body, http.StatusConflict)
	if !strings.Contains(htmlUnescape(body), "end it with the button below") {
		t.Fatalf("the refusal does not offer to end the grant: %s", pageSummary(body))
	}
	f := endForm.FindStringSubmatch(body)
	if f == nil {
		t.Fatalf("no end form on the refusal: %s", body)
	}
	id := f[2]

	// Another user, signed in with a token of their own, posts the ID.
	ci, _, _ := signIn(t, g, m, user("ivy@example.com", "oncall"), "/console")
	resp, page := get(t, ci, g.URL+htmlUnescape(link))
	mustStatus(t, resp, page, http.StatusOK)
	resp, body = postForm(t, ci, g, "/.gateway/break-glass/end", url.Values{
		"csrf": {htmlUnescape(bgCSRF.FindStringSubmatch(page)[1])}, "id": {id}, "return": {"/console"}})
	mustStatus(t, resp, body, http.StatusForbidden)
	resp, body = get(t, c, g.URL+"/console")
	mustStatus(t, resp, body, http.StatusOK)

	// The holder ends it.
	resp, body = postForm(t, c, g, "/.gateway/break-glass/end", url.Values{
		"csrf": {htmlUnescape(f[1])}, "id": {id}, "return": {"/console"}})
	mustStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(body, "Break-glass grant ended") {
		t.Fatalf("end page: %s", pageSummary(body))
	}
	resp, body = get(t, c, g.URL+"/console")
	mustStatus(t, resp, body, http.StatusForbidden)
	resp, body = postForm(t, c, g, "/.gateway/break-glass/end", url.Values{
		"csrf": {htmlUnescape(f[1])}, "id": {id}, "return": {"/console"}})
	mustStatus(t, resp, body, http.StatusConflict)

	var ended, refused int
	for _, r := range g.audit() {
		switch {
		case r.Event == "break-glass.ended" && r.Decision == "ended-by-holder" && r.User == "olive@example.com":
			ended++
		case r.Event == "break-glass.end" && r.Decision == "refused":
			refused++
		}
	}
	if ended != 1 || refused != 2 {
		t.Fatalf("audit: %d ended-by-holder (want 1), %d refused ends (want 2: another user, ended twice)", ended, refused)
	}

	// Reviewable at once.
	cl, _, _ := signIn(t, g, m, user("lee@example.com", "security"), "/")
	resp, body = get(t, cl, g.URL+"/.gateway/break-glass/review")
	mustStatus(t, resp, body, http.StatusOK)
	if !strings.Contains(body, "ended-by-holder") {
		t.Fatalf("review list does not show the end: %s", pageSummary(body))
	}
	resp, body = postForm(t, cl, g, "/.gateway/break-glass/review", url.Values{
		"csrf": {htmlUnescape(bgCSRF.FindStringSubmatch(body)[1])}, "id": {id}, "action": {"reviewed"}})
	mustStatus(t, resp, body, http.StatusOK)
	if strings.Contains(body, id) {
		t.Fatalf("the ended grant is still on the review list: %s", pageSummary(body))
	}
}
