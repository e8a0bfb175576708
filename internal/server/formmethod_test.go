package server

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/policy"
)

// The _method a body names, as Rails (Rack), Laravel and Symfony read it.
// twoBoundaries is one part "x" at boundary BB whose content is, at
// boundary AA, a _method part naming DELETE.
const twoBoundaries = "--BB\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n" +
	"--AA\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--AA--\r\n" +
	"\r\n--BB--\r\n"

func TestBodyOverrides(t *testing.T) {
	form := func(fields ...string) (string, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for i := 0; i+1 < len(fields); i += 2 {
			mw.WriteField(fields[i], fields[i+1])
		}
		mw.Close()
		return mw.FormDataContentType(), b.String()
	}
	mpCT, mpBody := form("title", "x", "_method", "delete")
	mpCT2, mpBody2 := form("title", "x")
	mpCT3, mpBody3 := form("_method", "PUT", "_method", "PATCH")
	any := []string{policy.AnyMethod}
	for _, tc := range []struct {
		name, ct, body string
		want           []string
	}{
		{"form", "application/x-www-form-urlencoded", "a=1&_method=DELETE", []string{"DELETE"}},
		{"form with a charset", "Application/X-WWW-Form-Urlencoded; charset=UTF-8", "_method=put", []string{"put"}},
		{"no type: Rack reads a form", "", "_method=DELETE", []string{"DELETE"}},
		{"escaped name", "application/x-www-form-urlencoded", "%5Fmethod=DELETE", []string{"DELETE"}},
		{"PHP's name mangling: dot", "application/x-www-form-urlencoded", ".method=DELETE", []string{"DELETE"}},
		{"PHP drops leading spaces", "application/x-www-form-urlencoded", "+%20_method=DELETE&+_method=PATCH&++method=PUT", []string{"DELETE", "PATCH"}},
		{"PHP's name mangling: array", "application/x-www-form-urlencoded", "_method[]=DELETE&_method%00x=PUT", []string{"DELETE", "PUT"}},
		{"Rack 2 separates with ;", "application/x-www-form-urlencoded", "a=1;_method=DELETE", []string{"DELETE"}},
		{"several", "application/x-www-form-urlencoded", "_method=PUT&x=1&_method=DELETE", []string{"PUT", "DELETE"}},
		{"empty names no method", "application/x-www-form-urlencoded", "_method=&a=1", nil},
		{"other name", "application/x-www-form-urlencoded", "method=DELETE&_methods=PUT", nil},
		{"bad escape kept as PHP keeps it", "application/x-www-form-urlencoded", "a=%zz&_method=GET%z", []string{"GET%z"}},
		{"multipart", mpCT, mpBody, []string{"delete"}},
		{"multipart without", mpCT2, mpBody2, nil},
		{"multipart, several", mpCT3, mpBody3, []string{"PUT", "PATCH"}},
		{"multipart, another disposition", "multipart/form-data; boundary=XX",
			"--XX\r\nContent-Disposition: attachment; name=\"_method\"\r\n\r\nDELETE\r\n--XX--\r\n", []string{"DELETE"}},
		{"multipart, cut off", "multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx", any},
		{"multipart without boundary", "multipart/form-data", mpBody, any},
		{"json", "application/json", `{"a":[1,{"_method":"PUT"}],"_method":"DELETE"}`, []string{"DELETE"}},
		{"json type variant", "application/vnd.api+json; charset=utf-8", `{"\u005fmethod":"PATCH"}`, []string{"PATCH"}},
		{"json, not a string", "application/json", `{"_method":["DELETE"]}`, nil},
		{"json, not an object", "application/json", `["_method","DELETE"]`, nil},
		{"json, malformed", "application/json", `{"_method":"DELETE"`, any},
		{"json, trailing data", "application/json", `{"a":1} {"_method":"DELETE"}`, any},
		{"a type that does not parse", "application/x-www-form-urlencoded; charset", "_method=DELETE", any},
		{"another type", "text/plain", "_method=DELETE", nil},
		// A boundary Rack (the last "boundary=", greedy) or PHP (the
		// first "boundary") reads otherwise than the parameter: the tool
		// would split the body elsewhere — here at AA, finding _method.
		{"a boundary Rack reads elsewhere", `multipart/form-data; boundary=BB; x="boundary=AA"`, twoBoundaries, any},
		{"a boundary PHP reads elsewhere", "multipart/form-data; xboundary=AA; boundary=BB", twoBoundaries, any},
		{"a browser's boundary", "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
			"------WebKitFormBoundary7MA4YWxkTrZu0gW\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n", []string{"DELETE"}},
		{"a quoted boundary", `multipart/form-data; boundary="BB"`, twoBoundaries, nil},
		// Laravel's isJson() looks for /json or +json in the whole
		// Content-Type, its parameters included.
		{"another type naming /json", `text/plain; profile="/json"`, `{"_method":"DELETE"}`, []string{"DELETE"}},
		{"another type naming +json", "text/plain; x=a+json", `{"_method":"PATCH"}`, []string{"PATCH"}},
		{"a form naming /json", `application/x-www-form-urlencoded; x="/json"`, "_method=PUT", any},
		{"multipart naming +json", `multipart/form-data; boundary=BB; x="a+json"`, twoBoundaries, any},
		// Rack parses these as forms too (PARSEABLE_DATA_MEDIA_TYPES).
		{"multipart/mixed", "multipart/mixed; boundary=XX",
			"--XX\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--XX--\r\n", []string{"DELETE"}},
		{"multipart/related", "Multipart/Related; boundary=XX",
			"--XX\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n--XX--\r\n", []string{"PUT"}},
	} {
		r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(tc.body))
		if tc.ct != "" {
			r.Header.Set("Content-Type", tc.ct)
		}
		if !bodyMayOverride(r, modeProxy) {
			if tc.want != nil {
				t.Errorf("%s: bodyMayOverride = false, want %q", tc.name, tc.want)
			}
			continue
		}
		got, err := readBodyOverrides(httptest.NewRecorder(), r, 1<<20)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
		// The upstream receives the body as sent.
		if b, _ := io.ReadAll(r.Body); string(b) != tc.body {
			t.Errorf("%s: body after reading: %q", tc.name, b)
		}
	}
}

// A body larger than the limit is judged as naming any method, and reaches
// the upstream whole; a compressed one too.
func TestBodyOverridesBeyondTheLimit(t *testing.T) {
	body := "a=" + strings.Repeat("x", 100) + "&_method=DELETE"
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	got, err := readBodyOverrides(httptest.NewRecorder(), r, 50)
	if err != nil || !slices.Equal(got, []string{policy.AnyMethod}) {
		t.Fatalf("got %q, %v", got, err)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != body {
		t.Fatalf("body after reading: %q", b)
	}
	r = httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("a=1"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Content-Encoding", "gzip")
	if got, err := readBodyOverrides(httptest.NewRecorder(), r, 50); err != nil || !slices.Equal(got, []string{policy.AnyMethod}) {
		t.Fatalf("compressed: got %q, %v", got, err)
	}
}

// Through the gateway: a POST whose form body names DELETE is a DELETE to
// Rails, Laravel and Symfony, and a deny on DELETE refuses it before it
// reaches the tool; other forms reach it whole. Routes without method
// rules do not read bodies.
func TestBodyMethodOverrideThroughTheGateway(t *testing.T) {
	var mu sync.Mutex
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
	}))
	defer up.Close()
	g := newFwdGateway(t, "203.0.113.0/24", `  - name: records
    host: tool.example
    path: /records
    upstream: `+up.URL+`
    method_override_body_limit: 64
    rules:
      allow: [{domains: [corp.example]}]
      deny: [{methods: [DELETE]}]
  - name: notes
    host: tool.example
    path: /notes
    upstream: `+up.URL+`
    method_override_body_limit: 0
    rules: {allow: [{domains: [corp.example]}]}
  - name: files
    host: tool.example
    path: /files
    upstream: `+up.URL+`
    body_method_override: false
    rules:
      allow: [{domains: [corp.example]}]
      deny: [{methods: [DELETE]}]
`)
	cookie := g.session("ann@corp.example")
	gw := httptest.NewServer(g.srv.Handler())
	defer gw.Close()
	post := func(path, ct, body string) int {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+path, strings.NewReader(body))
		req.Host = "tool.example"
		req.Header.Set("Content-Type", ct)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const form = "application/x-www-form-urlencoded"
	long := "a=" + strings.Repeat("x", 100)
	for _, tc := range []struct {
		path, ct, body string
		want           int
	}{
		{"/records/1", form, "title=x&_method=DELETE", http.StatusForbidden},
		{"/records/2", "application/json", `{"_method":"delete"}`, http.StatusForbidden},
		{"/records/3", form, long, http.StatusForbidden}, // beyond the limit: may name DELETE
		{"/records/4", form, "title=x&_method=PATCH", http.StatusOK},
		{"/records/5", form, "title=x", http.StatusOK},
		{"/notes/1", form, "_method=DELETE&" + long, http.StatusOK}, // no method rules: not read
		{"/files/1", form, "_method=DELETE", http.StatusOK},         // the tool does not honour it: not read
	} {
		if s := post(tc.path, tc.ct, tc.body); s != tc.want {
			t.Errorf("POST %s %q: status %d, want %d", tc.path, tc.body, s, tc.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/records/4 title=x&_method=PATCH", "/records/5 title=x", "/notes/1 _method=DELETE&" + long, "/files/1 _method=DELETE"}
	if !slices.Equal(got, want) {
		t.Errorf("the upstream received\n  %q\nwant\n  %q", got, want)
	}
	// The records name the methods judged.
	overrides := map[string][]string{}
	for _, rec := range g.records() {
		if rec.Method == http.MethodPost {
			overrides[rec.Path+" "+rec.Decision] = rec.MethodOverrides
		}
	}
	for k, want := range map[string][]string{"/records/1 deny": {"DELETE"}, "/records/2 deny": {"delete"},
		"/records/3 deny": {policy.AnyMethod}, "/records/4 allow": {"PATCH"}, "/records/5 allow": nil, "/files/1 allow": nil} {
		if got, ok := overrides[k]; !ok || !slices.Equal(got, want) {
			t.Errorf("record %s: method_overrides %q (present %v), want %q", k, got, ok, want)
		}
	}
}

// In forward-auth mode the ingress keeps the body: a form POST on a route
// with method rules is judged as naming any method, an untyped one too
// (Rack reads it as a form), one of another type as the POST it is. The
// Content-Length an HTTP check endpoint receives is the question's, never
// the original's (nginx removes it, Caddy and Traefik send a GET's, Envoy's
// HTTP service its own 0): it says nothing about the body.
func TestBodyMethodOverrideForwardAuth(t *testing.T) {
	g := newFwdGateway(t, "203.0.113.0/24")
	cookie := g.session("ann@corp.example")
	check := func(ct, cl string) int {
		r := httptest.NewRequest(http.MethodGet, "/.gateway/auth", nil)
		r.RemoteAddr = "203.0.113.5:4000"
		r.Host = "gw.example"
		r.Header.Set("X-Forwarded-Method", "POST")
		r.Header.Set("X-Forwarded-Proto", "http")
		r.Header.Set("X-Forwarded-Host", "tool.example")
		r.Header.Set("X-Forwarded-Uri", "/reports")
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if cl != "" {
			r.Header.Set("Content-Length", cl)
		}
		r.AddCookie(cookie)
		w := httptest.NewRecorder()
		g.srv.Handler().ServeHTTP(w, r)
		return w.Code
	}
	for _, tc := range []struct {
		ct, cl string
		want   int
	}{
		{"application/x-www-form-urlencoded", "12", http.StatusForbidden},
		{"", "12", http.StatusForbidden},
		{"", "", http.StatusForbidden},  // untyped, no length (nginx, Caddy, Traefik drop it): may have a body
		{"", "0", http.StatusForbidden}, // the question's length (Envoy's HTTP service)
		{"application/json", "", http.StatusForbidden},
		{"application/x-www-form-urlencoded", "0", http.StatusForbidden},
		{"text/plain", "12", http.StatusOK},
	} {
		if got := check(tc.ct, tc.cl); got != tc.want {
			t.Errorf("forward-auth POST, Content-Type %q, Content-Length %q: %d, want %d", tc.ct, tc.cl, got, tc.want)
		}
	}
}

// Envoy's gRPC service sends the original request's headers: there a POST
// whose Content-Length says 0 has no body, and is the POST it is; one
// without a length (an HTTP/2 client need send none) may have a body.
func TestBodyMethodOverrideExtAuthzGRPC(t *testing.T) {
	g := newFwdGateway(t, "127.0.0.0/8")
	client := grpcClient(t, g)
	cookie := "_gateway_session=" + g.session("ann@corp.example").Value
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		ct, cl string
		ok     bool
	}{
		{"application/x-www-form-urlencoded", "12", false},
		{"application/x-www-form-urlencoded", "", false},
		{"application/x-www-form-urlencoded", "0", true},
		{"", "", false},
		{"", "0", true},
		{"text/plain", "12", true},
	} {
		h := map[string]string{"cookie": cookie}
		if tc.ct != "" {
			h["content-type"] = tc.ct
		}
		if tc.cl != "" {
			h["content-length"] = tc.cl
		}
		resp, err := client.Check(ctx, checkRequest("198.51.100.7:5555", "POST", "tool.example", "/reports", h))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetOkResponse() != nil; got != tc.ok {
			t.Errorf("gRPC POST, content-type %q, content-length %q: allowed %v, want %v", tc.ct, tc.cl, got, tc.ok)
		}
	}
}

// Symfony upper-cases the method before it reads _method: a "post" sent
// with a form body may name another method too.
func TestBodyMayOverrideLowerCasePost(t *testing.T) {
	r := httptest.NewRequest("post", "/x", strings.NewReader("_method=DELETE"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if !bodyMayOverride(r, modeProxy) || !bodyMayOverride(r, modeNginx) {
		t.Fatal(`a "post" with a form body: bodyMayOverride = false`)
	}
}
