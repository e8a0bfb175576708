package device

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// countingStore records every call that changes the store.
type countingStore struct {
	store.Store
	mu     sync.Mutex
	writes []string
}

func (c *countingStore) note(op, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, op+" "+key)
}

func (c *countingStore) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	c.note("set", k)
	return c.Store.Set(ctx, k, v, ttl)
}

func (c *countingStore) SetNX(ctx context.Context, k string, v []byte, ttl time.Duration) (bool, error) {
	c.note("setnx", k)
	return c.Store.SetNX(ctx, k, v, ttl)
}

func (c *countingStore) SetXX(ctx context.Context, k string, v []byte, ttl time.Duration) (bool, error) {
	c.note("setxx", k)
	return c.Store.SetXX(ctx, k, v, ttl)
}

func (c *countingStore) Take(ctx context.Context, k string) ([]byte, error) {
	c.note("take", k)
	return c.Store.Take(ctx, k)
}

func (c *countingStore) Delete(ctx context.Context, ks ...string) error {
	c.note("delete", strings.Join(ks, ","))
	return c.Store.Delete(ctx, ks...)
}

func (c *countingStore) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

func newTestService(t *testing.T) (*Service, *countingStore) {
	t.Helper()
	mem := store.NewMemory()
	t.Cleanup(func() { mem.Close() })
	cs := &countingStore{Store: mem}
	inv, err := BuildInventory([]InventoryDevice{{ID: "d1", Serial: "S1", EKPubSHA256: strings.Repeat("ab", 32), Status: StatusActive}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(Config{}, cs, nil, Options{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	return svc, cs
}

func TestHandlerRejectsMalformedInput(t *testing.T) {
	svc, cs := newTestService(t)
	code, _, err := svc.NewCode(context.Background(), PurposeEnroll, "s", "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ak := newSoftAK(t)
	akJSON, _ := json.Marshal(tpmPublicBytes(ak))
	tests := []struct {
		name       string
		method     string
		path       string
		ctype      string
		body       string
		wantStatus int
		wantErr    string
	}{
		{"unknown path", "POST", "/.gateway/api/device/nope", "application/json", "{}", 404, "unknown API path"},
		{"GET", "GET", "/.gateway/api/device/enroll/start", "", "", 405, "expected POST"},
		{"not JSON", "POST", "/enroll/start", "text/plain", "{}", 415, "expected Content-Type"},
		{"too large", "POST", "/enroll/start", "application/json", `{"code":"` + strings.Repeat("A", MaxBodyBytes) + `"}`, 413, "larger than"},
		{"syntax", "POST", "/enroll/start", "application/json", `{"code":`, 400, "expected a JSON object"},
		{"unknown field", "POST", "/enroll/start", "application/json", `{"code":"` + code + `","extra":1}`, 400, "unknown field"},
		{"two objects", "POST", "/enroll/start", "application/json", `{} {}`, 400, "trailing data"},
		// A member named twice is read by one parser as its first value and
		// by another as its last: refused, also in another letter case or
		// in the spellings encoding/json folds onto a field's name.
		{"name twice", "POST", "/enroll/start", "application/json", `{"code":"ABCDE-FGHJK","code":"` + code + `"}`, 400, `"code" twice`},
		{"name twice, other case", "POST", "/attest/start", "application/json", `{"purpose":"check","Purpose":"verify","ak_public":` + string(akJSON) + `}`, 400, "twice"},
		{"name twice, long s", "POST", "/attest/start", "application/json", `{"purpose":"check","purpo\u017fe":"verify","ak_public":` + string(akJSON) + `}`, 400, "twice"},
		{"name twice, nested", "POST", "/attest/finish", "application/json", `{"challenge_id":"` + strings.Repeat("a", 32) + `","quote":{"attest":"AA==","signature":"AA==","attest":"AAAA"}}`, 400, `"attest" twice`},
		{"name twice, in a list", "POST", "/attest/finish", "application/json", `{"challenge_id":"` + strings.Repeat("a", 32) + `","quote":{"attest":"AA==","signature":"AA==","pcrs":[{"index":1,"index":2,"digest":"AA=="}]}}`, 400, `"index" twice`},
		{"bad code shape", "POST", "/enroll/start", "application/json", `{"code":"ABC"}`, 400, "code: expected 10 characters"},
		{"EK garbage", "POST", "/enroll/start", "application/json", `{"code":"` + code + `","ek_public":"AAEC"}`, 400, "ek_public"},
		{"EK is an AK", "POST", "/enroll/start", "application/json", `{"code":"` + code + `","ek_public":` + string(akJSON) + `,"ak_public":` + string(akJSON) + `}`, 400, "ek_public"},
		{"finish, bad challenge id", "POST", "/enroll/finish", "application/json", `{"challenge_id":"../x","secret":"AA=="}`, 400, "challenge_id"},
		{"finish, no quote", "POST", "/enroll/finish", "application/json", `{"challenge_id":"` + strings.Repeat("a", 32) + `","secret":"AAAA"}`, 400, "quote.attest"},
		{"attest, bad purpose", "POST", "/attest/start", "application/json", `{"purpose":"root","ak_public":` + string(akJSON) + `}`, 400, "purpose"},
		{"attest, code for check", "POST", "/attest/start", "application/json", `{"purpose":"check","code":"` + code + `","ak_public":` + string(akJSON) + `}`, 400, "only purpose"},
		{"attest, AK garbage", "POST", "/attest/start", "application/json", `{"purpose":"check","ak_public":"AAAA"}`, 400, "ak_public"},
		{"attest finish, PCR index", "POST", "/attest/finish", "application/json", `{"challenge_id":"` + strings.Repeat("a", 32) + `","quote":{"attest":"AA==","signature":"AA==","pcrs":[{"index":99,"digest":"AA=="}]}}`, 400, "quote.pcrs[0]"},
	}
	h := svc.Handler()
	before := cs.count()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var er ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil {
				t.Fatalf("expected a JSON error body, got %q", rec.Body.String())
			}
			if rec.Code != tt.wantStatus || !strings.Contains(er.Error, tt.wantErr) {
				t.Fatalf("expected %d %q, got %d %q", tt.wantStatus, tt.wantErr, rec.Code, er.Error)
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Fatal("expected application/json")
			}
		})
	}
	if n := cs.count(); n != before {
		t.Fatalf("expected malformed requests to store nothing, got %v", cs.writes[before:])
	}
	// The code survived all of that.
	if st, _ := svc.CodeStatus(context.Background(), "s", code); st.State != CodePending {
		t.Fatalf("code state: %+v", st)
	}
}

func TestHandlerDenials(t *testing.T) {
	svc, _ := newTestService(t)
	ak := newSoftAK(t)
	body, _ := json.Marshal(AttestStartRequest{Purpose: AttestCheck, AKPublic: tpmPublicBytes(ak)})
	req := httptest.NewRequest("POST", APIPrefix+"/attest/start", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, req)
	var er ErrorResponse
	json.Unmarshal(rec.Body.Bytes(), &er)
	if rec.Code != http.StatusForbidden || er.Reason != ReasonNotEnrolled {
		t.Fatalf("expected 403 %s, got %d %+v", ReasonNotEnrolled, rec.Code, er)
	}
}

func TestCodes(t *testing.T) {
	svc, _ := newTestService(t)
	ctx := context.Background()
	seen := map[string]bool{}
	for range 200 {
		c, exp, err := svc.NewCode(ctx, PurposeVerify, fmt.Sprint("s", len(seen)), "a@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 11 || c[5] != '-' || normalizeCode(c) == "" || seen[c] || exp.Sub(time.Now()) > DefaultCodeTTL {
			t.Fatalf("bad code %q (exp %v)", c, exp)
		}
		seen[c] = true
	}
	if _, _, err := svc.NewCode(ctx, "admin", "s", "a@example.com"); err == nil {
		t.Fatal("expected an unknown purpose to fail")
	}
	if _, _, err := svc.NewCode(ctx, PurposeVerify, "", "a@example.com"); err == nil {
		t.Fatal("expected a code without a session to fail")
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ABCDE-FGHJK", "ABCDEFGHJK"},
		{"abcde fghjk", "ABCDEFGHJK"},
		{"O1IL0-22222", "01110" + "22222"},
		{"ABCDE-FGHJ", ""},
		{"ABCDE-FGHJKU", ""},
		{"ABCDE-FGHJU", ""},
		{"ÄBCDE-FGHJK", ""},
		{strings.Repeat("-", 40) + "ABCDEFGHJK", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := normalizeCode(tt.in); got != tt.want {
				t.Fatalf("normalizeCode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// A body sent too slowly is answered 408 once BodyTimeout passes, and the
// connection closes: the agent API cannot be used to hold connections.
func TestHandlerSlowBody(t *testing.T) {
	svc, _ := newTestService(t)
	old := bodyTimeout
	bodyTimeout = 200 * time.Millisecond
	defer func() { bodyTimeout = old }()
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "POST "+APIPrefix+"/attest/start HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"purpose\":")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	rsp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var er ErrorResponse
	json.NewDecoder(rsp.Body).Decode(&er)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusRequestTimeout || !strings.Contains(er.Error, "not received within") {
		t.Fatalf("expected 408, got %d %+v", rsp.StatusCode, er)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("answered after %v", d)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("expected the connection to close, got %v", err)
	}
}

// Decoding errors name the member in the API's terms (its JSON name and
// path, the JSON type expected) and never the gateway's Go types.
func TestHandlerDecodeErrorsNameTheMember(t *testing.T) {
	svc, cs := newTestService(t)
	tests := []struct {
		name, path, body, wantErr string
	}{
		{"array body", "attest/start", `[]`, "device: expected a JSON object, got an array"},
		{"string body", "enroll/finish", `"x"`, "device: expected a JSON object, got a string"},
		{"empty body", "cancel", ``, "device: expected a JSON object, got an empty body"},
		{"cut short", "enroll/start", `{"code":`, "device: expected a JSON object, got JSON that ends early"},
		{"syntax", "enroll/start", `{"code":"a",}`, "device: expected a JSON object, got invalid JSON at byte 13"},
		{"string member", "attest/start", `{"purpose":1}`, "device: purpose: expected a string, got a number"},
		{"bytes member", "attest/start", `{"purpose":"check","ak_public":5}`, "device: ak_public: expected base64-encoded bytes (a string), got a number"},
		{"bad base64", "enroll/start", `{"ek_public":"!!"}`, "device: ek_public: expected base64-encoded bytes (a string), got a string that is not standard base64"},
		{"nested integer", "attest/finish", `{"quote":{"pcrs":[{"index":"a"}]}}`, "device: quote.pcrs[0].index: expected an integer, got a string"},
		{"integer too large", "attest/finish", `{"quote":{"pcrs":[{"index":1e99}]}}`, "device: quote.pcrs[0].index: expected an integer, got the number 1e99"},
		{"nested list", "enroll/finish", `{"quote":{"pcrs":{}}}`, "device: quote.pcrs: expected an array, got an object"},
		{"nested object", "attest/finish", `{"certify":[]}`, "device: certify: expected an object, got an array"},
		{"boolean", "cancel", `{"challenge_id":true}`, "device: challenge_id: expected a string, got a boolean"},
		{"unknown member", "attest/finish", `{"quote":{"extra":1}}`, `device: unknown field "extra"`},
	}
	h := svc.Handler()
	before := cs.count()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", APIPrefix+"/"+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var er ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil {
				t.Fatalf("expected a JSON error body, got %q", rec.Body.String())
			}
			if rec.Code != http.StatusBadRequest || er.Error != tt.wantErr {
				t.Fatalf("expected 400 %q, got %d %q", tt.wantErr, rec.Code, er.Error)
			}
			for _, internal := range []string{"Go ", "Request", "uint8", "struct", "json:", "device.", "main."} {
				if strings.Contains(er.Error, internal) {
					t.Fatalf("error %q names an internal (%q)", er.Error, internal)
				}
			}
		})
	}
	if n := cs.count(); n != before {
		t.Fatalf("expected malformed requests to store nothing, got %v", cs.writes[before:])
	}
}
