package breakglasstest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("expected JSON, got %q", b)
	}
	return resp.StatusCode, body
}

func TestPagerDutyFake(t *testing.T) {
	pd := NewPagerDuty(t, "tok")
	pd.AddUser("PU1", "Ann", "ann@corp.example")
	start := time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)
	pd.SetOnCall(OnCall{UserID: "PU1", EscalationPolicyID: "PEP1", Start: start, End: start.Add(8 * time.Hour)})
	pd.SetIncident("PI1", 7, "triggered", "Down", "PEP1")
	auth := map[string]string{"Authorization": "Token token=tok", "Accept": "application/vnd.pagerduty+json;version=2"}

	if status, body := get(t, pd.URL+"/users", map[string]string{"Authorization": "Token token=nope", "Accept": auth["Accept"]}); status != 401 ||
		body["error"].(map[string]any)["code"] != float64(2006) {
		t.Fatalf("wrong token: %d %v", status, body)
	}
	if status, _ := get(t, pd.URL+"/users", map[string]string{"Authorization": auth["Authorization"]}); status != 406 {
		t.Fatalf("missing Accept: %d", status)
	}
	_, body := get(t, pd.URL+"/users?query=ANN@", auth)
	if users := body["users"].([]any); len(users) != 1 || users[0].(map[string]any)["id"] != "PU1" || body["more"] != false {
		t.Fatalf("users: %v", body)
	}
	in := "since=2026-11-04T09:00:00Z&until=2026-11-04T09:00:01Z"
	_, body = get(t, pd.URL+"/oncalls?user_ids[]=PU1&"+in, auth)
	if oc := body["oncalls"].([]any); len(oc) != 1 || oc[0].(map[string]any)["schedule"] != nil {
		t.Fatalf("oncalls: %v", body)
	}
	_, body = get(t, pd.URL+"/oncalls?user_ids[]=PU1&since=2026-11-04T16:00:00Z&until=2026-11-04T17:00:00Z", auth)
	if oc := body["oncalls"].([]any); len(oc) != 0 {
		t.Fatalf("expected no on-call after the end, got %v", body)
	}
	if status, _ := get(t, pd.URL+"/oncalls?since=2026-11-04T16:00:00Z", auth); status != 400 {
		t.Fatalf("since without until: %d", status)
	}
	if _, body = get(t, pd.URL+"/incidents/7", auth); body["incident"].(map[string]any)["id"] != "PI1" {
		t.Fatalf("incident by number: %v", body)
	}
	if status, body := get(t, pd.URL+"/incidents/PX", auth); status != 404 || body["error"].(map[string]any)["code"] != float64(2100) {
		t.Fatalf("unknown incident: %d %v", status, body)
	}
	pd.RateLimit(1, 3*time.Second)
	req, _ := http.NewRequest(http.MethodGet, pd.URL+"/incidents/PI1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("rate limit: %v %v", resp, err)
	}
	resp.Body.Close()
	if n := len(pd.Requests()); n != 9 {
		t.Fatalf("expected 9 requests logged, got %d", n)
	}
}

func TestOpsgenieFake(t *testing.T) {
	og := NewOpsgenie(t, "key")
	og.AddSchedule("s1", "Primary")
	og.SetOnCall("Primary", "ann@corp.example", time.Time{}, time.Time{})
	og.SetAlert(Alert{ID: "a1", TinyID: "5", Alias: "al", Message: "Down", Status: "open"})
	auth := map[string]string{"Authorization": "GenieKey key"}
	if status, body := get(t, og.URL+"/v2/alerts/a1", nil); status != 401 || body["message"] == nil {
		t.Fatalf("no key: %d %v", status, body)
	}
	_, body := get(t, og.URL+"/v2/schedules/Primary/on-calls?scheduleIdentifierType=name&flat=true", auth)
	if r := body["data"].(map[string]any)["onCallRecipients"].([]any); len(r) != 1 || r[0] != "ann@corp.example" {
		t.Fatalf("flat on-calls: %v", body)
	}
	_, body = get(t, og.URL+"/v2/schedules/s1/on-calls", auth)
	if p := body["data"].(map[string]any)["onCallParticipants"].([]any); len(p) != 1 {
		t.Fatalf("on-call participants: %v", body)
	}
	if status, _ := get(t, og.URL+"/v2/schedules/Primary/on-calls", auth); status != 404 {
		t.Fatalf("schedule by name without the type: %d", status)
	}
	for _, q := range []string{"a1", "5?identifierType=tiny", "al?identifierType=alias"} {
		if _, body := get(t, og.URL+"/v2/alerts/"+q, auth); body["data"].(map[string]any)["id"] != "a1" {
			t.Fatalf("alert %s: %v", q, body)
		}
	}
}

func TestReceiver(t *testing.T) {
	rc := NewReceiver(t, 2, http.StatusBadGateway, nil)
	for i := 1; i <= 3; i++ {
		resp, err := http.Post(rc.URL, "application/json", strings.NewReader(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		d := rc.Next(t, 5*time.Second)
		if d.Attempt != i || d.Accepted != (i == 3) || (resp.StatusCode == 200) != (i == 3) || string(d.Body) != `{"n":1}` {
			t.Fatalf("delivery %d: %+v, status %d", i, d, resp.StatusCode)
		}
	}
}
