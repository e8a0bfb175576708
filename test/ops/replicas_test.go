package ops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gtsim "github.com/google/go-tpm-tools/simulator"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/accessgateway/gateway/internal/auth"
	"github.com/accessgateway/gateway/internal/device/agent"
	"github.com/accessgateway/gateway/internal/store/redistest"
	"github.com/accessgateway/gateway/internal/token"
)

// replicaBase is what every replica's config starts with (startReplicas
// fills it; RedisOptions, when set, adds to session.redis).
const replicaBase = `public_url: {{.Front}}
listen: {address: "{{.Addr}}", shutdown_grace: 5s}
admin: {address: "{{.Admin}}"}
oidc:
  issuer: {{.Issuer}}
  client_id: {{.ClientID}}
  client_secret: {{.ClientSecret}}
  scopes: [openid, email, profile, groups]
session:
  store: redis
  lifetime: 1h
  redis: {addrs: ["{{.Redis}}"]{{with .RedisOptions}}, {{.}}{{end}}}
  encryption_keys: [{file: ../shared/session.key, state: active}]
token:
  keys: [{file: ../shared/token.pem, state: active}]
audit: {file: audit.log}
log: {level: warn}
`

const replicaConfig = replicaBase + `devices:
  inventory:
    - {id: lt-0042, serial: SN-42, owner: jane@example.com, ek_pub_sha256: "{{.EKHash}}", status: active}
  certificates: {ca_cert_file: ../shared/device-ca.crt, ca_key_file: ../shared/device-ca.key}
routes:
  - name: tool
    host: 127.0.0.1
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
  - name: secure
    host: 127.0.0.1
    path: /secure
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
    require:
      device: {trust: tpm-attested, max_age: 1h}
  - name: records
    host: 127.0.0.1
    path: /records/{customer_id}
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
    require:
      justification: {systems: [tickets], bind: {customer: "{customer_id}"}}
  - name: console
    host: 127.0.0.1
    path: /console
    upstream: {{.Upstream}}
    rules: {allow: [{domains: [example.com]}]}
    require:
      time_window: {schedules: [closed]}
      break_glass: {policy: oncall}
justification:
  systems:
    tickets:
      type: static
      static:
        tickets:
          - {id: SUP-1, state: open, assignees: [jane@example.com], customers: ["42"]}
schedules:
  closed:
    time_zone: UTC
    windows: [{days: mon-sun}]
    until: 2020-01-01
break_glass:
  policies:
    oncall: {groups: [oncall], lifts: [time_window], max_duration: 30m, provider: rota, daily_limit: 5}
  providers:
    rota:
      type: static
      rota:
        time_zone: UTC
        weekly: [{days: mon-sun, from: "00:00", to: "24:00", users: [jane@example.com]}]
        incidents: [{id: INC-1, title: "Checkout errors", status: active}]
  reviewers: [security]
  notifications:
    ops: {type: webhook, url: "{{.Hooks}}/break-glass"}
`

// sharedKeys makes a test directory with shared/token.pem (the context
// token's key) and shared/session.key, the files every replica names.
func sharedKeys(t *testing.T) (root, shared string) {
	t.Helper()
	root = t.TempDir()
	shared = filepath.Join(root, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := token.WriteKeyFile(filepath.Join(shared, "token.pem"), "ES256"); err != nil {
		t.Fatal(err)
	}
	writeFileAtomic(t, filepath.Join(shared, "session.key"), []byte(auth.NewKey()))
	return root, shared
}

// replicaSet is n `gateway serve` processes behind a round-robin front.
type replicaSet struct {
	front      *front
	url        string // the front's
	procs      []*proc
	auditFiles []string
}

// startReplicas starts n replicas, each in root/replica-<i> with tmpl
// rendered with Front, Addr, Admin, the provider's Issuer, ClientID and
// ClientSecret, and vars; and the front before them.
func startReplicas(t *testing.T, root string, n int, tmpl string, idp *mockoidc.MockOIDC, vars map[string]string) *replicaSet {
	t.Helper()
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &replicaSet{url: "http://" + fl.Addr().String(), front: &front{client: &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}}
	c := idp.Config()
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("replica-%d", i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		addr, admin := freeAddr(t), freeAddr(t)
		v := map[string]string{"Front": rs.url, "Addr": addr, "Admin": admin,
			"Issuer": c.Issuer, "ClientID": c.ClientID, "ClientSecret": c.ClientSecret}
		for k, x := range vars {
			v[k] = x
		}
		cfgPath := filepath.Join(dir, "gateway.yaml")
		writeTemplate(t, cfgPath, tmpl, v)
		rs.front.backends = append(rs.front.backends, addr)
		rs.auditFiles = append(rs.auditFiles, filepath.Join(dir, "audit.log"))
		rs.procs = append(rs.procs, startProc(t, fmt.Sprintf("replica-%d", i), cfgPath, addr, admin))
	}
	fs := &http.Server{Handler: rs.front}
	go fs.Serve(fl)
	t.Cleanup(func() { fs.Close() })
	return rs
}

// front is a round-robin load balancer in front of the replicas, like a
// Kubernetes Service: each request goes to the next backend; a backend that
// refuses the connection (a dead process) is skipped, as health checks
// would. It records which backend answered each request.
type front struct {
	backends []string
	next     atomic.Uint64
	client   *http.Client
	mu       sync.Mutex
	log      []hop
}

// hop is one request as the front saw it.
type hop struct {
	backend   int
	status    int
	err       error
	requestID string // the gateway's request ID, echoed by the upstream
	at        time.Time
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := int(f.next.Add(1))
	for i := range f.backends {
		b := (start + i) % len(f.backends)
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+f.backends[b]+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		out.Host = r.Host
		resp, err := f.client.Do(out)
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			continue // not reached: try the next replica
		}
		h := hop{backend: b, err: err, at: time.Now()}
		if err != nil {
			f.record(h)
			http.Error(w, "front: "+err.Error(), http.StatusBadGateway)
			return
		}
		h.status, h.requestID = resp.StatusCode, resp.Header.Get("X-Seen-Request-Id")
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, err = io.Copy(w, resp.Body)
		resp.Body.Close()
		if err != nil {
			h.err = err
		}
		f.record(h)
		return
	}
	f.record(hop{backend: -1, err: errors.New("no replica accepted the connection"), at: time.Now()})
	http.Error(w, "front: no replica", http.StatusBadGateway)
}

func (f *front) record(h hop) {
	f.mu.Lock()
	f.log = append(f.log, h)
	f.mu.Unlock()
}

func (f *front) hops() []hop {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]hop(nil), f.log...)
}

var (
	formCSRF   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	formReturn = regexp.MustCompile(`name="return" value="([^"]+)"`)
	offerLink  = regexp.MustCompile(`href="(/\.gateway/break-glass\?return=[^"]+)"`)
)

// mustGet fetches url and checks the status.
func mustGet(t *testing.T, c *http.Client, url string, want int) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s: expected %d, got %d: %.600s", url, want, resp.StatusCode, b)
	}
	return string(b)
}

// postForm submits the form of page (its csrf and return fields, plus
// fields) to path and checks the final status (redirects followed).
func postForm(t *testing.T, c *http.Client, base, path, page string, fields url.Values, want int) {
	t.Helper()
	csrf, ret := formCSRF.FindStringSubmatch(page), formReturn.FindStringSubmatch(page)
	if csrf == nil || ret == nil {
		t.Fatalf("no form with csrf and return in: %.800s", page)
	}
	fields.Set("csrf", html.UnescapeString(csrf[1]))
	fields.Set("return", html.UnescapeString(ret[1]))
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("POST %s: expected %d, got %d: %.800s", path, want, resp.StatusCode, b)
	}
}

// spansReplicas requests url six times (twice per replica, round-robin)
// and checks every answer is 200 and the three replicas answered.
func spansReplicas(t *testing.T, fr *front, c *http.Client, url string) {
	t.Helper()
	for range 6 {
		mustGet(t, c, url, http.StatusOK)
	}
	hops := fr.hops()
	by := map[int]int{}
	for _, h := range hops[len(hops)-6:] {
		by[h.backend]++
	}
	if len(by) != 3 {
		t.Errorf("%s: expected the 3 replicas to answer, got %v", url, by)
	}
}

var (
	enrollCmd = regexp.MustCompile(`id="enroll-command">[^<]*enroll ([A-Za-z0-9-]+)<`)
	verifyCmd = regexp.MustCompile(`id="verify-command">[^<]*verify ([A-Za-z0-9-]+)<`)
)

// auditRecords reads an audit file's allow decisions by request ID.
func auditRecords(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Kind      string `json:"kind"`
			Decision  string `json:"decision"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			continue // a line cut by SIGKILL
		}
		if rec.Kind == "decision" && rec.Decision == "allow" {
			out[rec.RequestID] = true
		}
	}
	return out
}

// Three `gateway serve` processes share one real redis-server behind a
// round-robin front. What one replica makes holds on the others: the
// sign-in's single-use state, sessions, device enrollment and the device
// binding; single-use codes are refused on another replica. One replica is
// killed with SIGKILL while clients keep requesting: no request that
// reached a live replica fails, and every request that reached the
// upstream — from any replica, the killed one too — has its decision record.
func TestReplicasSurviveLosingOne(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes, redis-server and the TPM simulator")
	}
	rds := redistest.Start(t)
	idp := newIdP(t)
	up := newUpstream(t)
	sim, err := gtsim.Get()
	if err != nil {
		t.Fatal(err)
	}
	tpm := agent.NewSimulatorTPM(sim)
	t.Cleanup(func() { tpm.Close() })
	id, err := tpm.Identity()
	if err != nil {
		t.Fatal(err)
	}

	root, shared := sharedKeys(t)
	dca := newTestCA(t, "device CA", 30*24*time.Hour)
	writeFileAtomic(t, filepath.Join(shared, "device-ca.crt"), dca.pem)
	writeFileAtomic(t, filepath.Join(shared, "device-ca.key"), dca.keyPEM(t))
	// Where grants are announced (a webhook that takes everything).
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(hooks.Close)
	rs := startReplicas(t, root, 3, replicaConfig, idp, map[string]string{"Redis": rds.Addr(), "Upstream": up.URL, "EKHash": id.EKHash, "Hooks": hooks.URL})
	fr, frontURL, replicas, auditFiles := rs.front, rs.url, rs.procs, rs.auditFiles

	// Sign-in: the login starts on one replica, the IdP's callback lands on
	// the next (its single-use state is in Redis), the session is then
	// served by every replica.
	b := browser(nil)
	signIn(t, b, idp, user("jane@example.com", "oncall"), frontURL+"/")
	for range 3 {
		resp, err := b.Get(frontURL + "/after-sign-in")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("session on another replica: expected 200, got %v %v", resp, err)
		}
		resp.Body.Close()
	}
	served := map[int]bool{}
	for _, h := range fr.hops() {
		served[h.backend] = true
	}
	if len(served) != 3 {
		t.Fatalf("expected the sign-in and session to span the 3 replicas, got %v", served)
	}

	t.Run("device enrollment and binding made on one replica hold on the others; codes are single use across replicas", func(t *testing.T) {
		ctx := context.Background()
		resp, err := b.Get(frontURL + "/secure/data")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("device page: expected 403, got %d", resp.StatusCode)
		}
		body := html.UnescapeString(string(page))
		ec, vc := enrollCmd.FindStringSubmatch(body), verifyCmd.FindStringSubmatch(body)
		if ec == nil || vc == nil {
			t.Fatalf("device page lacks the agent commands: %.1500s", body)
		}
		cl := &agent.Client{Gateway: frontURL, TPM: tpm}
		if _, err := cl.Enroll(ctx, ec[1]); err != nil {
			t.Fatalf("enroll: %v", err)
		}
		if _, err := cl.Enroll(ctx, ec[1]); err == nil {
			t.Error("enrollment code: expected it refused the second time (another replica), got accepted")
		}
		res, err := cl.Verify(ctx, vc[1])
		if err != nil || !res.SessionBound {
			t.Fatalf("verify: %+v %v", res, err)
		}
		if _, err := cl.Verify(ctx, vc[1]); err == nil {
			t.Error("verification code: expected it refused the second time (another replica), got accepted")
		}
		byReplica := map[int]int{}
		for range 6 {
			resp, err := b.Get(frontURL + "/secure/data")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("bound device: expected 200 on every replica, got %d", resp.StatusCode)
			}
		}
		for _, h := range fr.hops()[len(fr.hops())-6:] {
			byReplica[h.backend]++
		}
		if len(byReplica) != 3 {
			t.Errorf("expected the bound session served by the 3 replicas, got %v", byReplica)
		}
	})

	t.Run("justification and break-glass grants made on one replica hold on the others", func(t *testing.T) {
		// The justification form, then the ticket; the grant is in Redis.
		page := mustGet(t, b, frontURL+"/records/42", http.StatusForbidden)
		if !strings.Contains(page, "justification-required") {
			t.Fatalf("expected the justification form, got %.600s", page)
		}
		postForm(t, b, frontURL, "/.gateway/justify", page, url.Values{"ticket": {"SUP-1"}}, http.StatusOK)
		spansReplicas(t, fr, b, frontURL+"/records/42")

		// Outside the (always closed) window the on-call engineer breaks
		// glass with an active incident; the grant is in Redis.
		page = mustGet(t, b, frontURL+"/console", http.StatusForbidden)
		link := offerLink.FindStringSubmatch(page)
		if link == nil {
			t.Fatalf("expected a break-glass offer on the window page, got %.800s", page)
		}
		form := mustGet(t, b, frontURL+html.UnescapeString(link[1]), http.StatusOK)
		postForm(t, b, frontURL, "/.gateway/break-glass", form, url.Values{"incident": {"INC-1"},
			"reason": {"checkout is failing for every customer"}, "duration": {"30m"}}, http.StatusOK)
		spansReplicas(t, fr, b, frontURL+"/console")
		var grants float64
		for _, r := range replicas {
			v, _ := strconv.ParseFloat(r.metric(`gateway_grants_total{kind="break-glass",route="console"}`), 64)
			grants += v
		}
		if grants != 1 {
			t.Errorf("gateway_grants_total{kind=\"break-glass\"} over the replicas: expected 1, got %v", grants)
		}
	})

	// Redis sizing (docs/operations.md): what one signed-in user with a
	// bound device, a justification and a break-glass grant leaves in
	// Redis, measured with MEMORY USAGE.
	t.Run("keys and bytes per user in Redis", func(t *testing.T) {
		keys, err := rds.Do("KEYS", "gw:*")
		if err != nil {
			t.Fatal(err)
		}
		byKind := map[string][2]int{} // kind -> count, bytes
		for _, k := range strings.Fields(keys) {
			n, err := rds.Do("MEMORY", "USAGE", k)
			if err != nil {
				t.Fatal(err)
			}
			bytes, _ := strconv.Atoi(n)
			kind := strings.TrimPrefix(k, "gw:")
			if i := strings.IndexByte(kind, ':'); i > 0 {
				if j := strings.IndexByte(kind[i+1:], ':'); j > 0 && strings.HasPrefix(kind, "device:") {
					i += 1 + j
				}
				kind = kind[:i]
			}
			c := byKind[kind]
			byKind[kind] = [2]int{c[0] + 1, c[1] + bytes}
		}
		sess, ok := byKind["session"]
		if !ok || sess[0] != 1 {
			t.Fatalf("expected one session key for the one signed-in browser, got %v", byKind)
		}
		t.Logf("Redis keys after one sign-in, one device enrollment and binding, one justification and one break-glass grant (kind: keys, bytes by MEMORY USAGE): %v", byKind)
	})

	t.Run("one replica killed with SIGKILL mid-run", func(t *testing.T) {
		before := len(fr.hops())
		const clients = 4
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var sent atomic.Int64
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := b.Get(frontURL + "/work")
					sent.Add(1)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}()
		}
		eventually(t, 10*time.Second, "load on every replica", func() bool { return sent.Load() > 150 })
		killed := replicas[1]
		killedAt := time.Now()
		killed.signal(syscall.SIGKILL)
		_ = killed.wait(5 * time.Second)
		after := sent.Load()
		eventually(t, 10*time.Second, "load on the survivors", func() bool { return sent.Load() > after+300 })
		close(stop)
		wg.Wait()

		// Flush the survivors' audit logs: graceful stop.
		for _, i := range []int{0, 2} {
			replicas[i].signal(syscall.SIGTERM)
			if err := replicas[i].wait(10 * time.Second); err != nil {
				t.Errorf("replica-%d: expected a clean exit on SIGTERM, got %v", i, err)
			}
		}
		hops := fr.hops()[before:]
		perReplica := map[int]int{}
		var failedLive, failedKilled int
		for _, h := range hops {
			perReplica[h.backend]++
			ok := h.err == nil && h.status == 200
			switch {
			case ok:
			case h.backend == 1 && !h.at.Before(killedAt):
				failedKilled++ // in flight on the killed replica
			default:
				failedLive++
				t.Errorf("request on replica-%d failed: status %d, %v", h.backend, h.status, h.err)
			}
		}
		t.Logf("%d requests: per replica %v; failed on the killed replica while in flight: %d; failed on a live replica: %d",
			len(hops), perReplica, failedKilled, failedLive)
		if perReplica[0] == 0 || perReplica[1] == 0 || perReplica[2] == 0 {
			t.Errorf("expected every replica to serve part of the load, got %v", perReplica)
		}

		audits := make([]map[string]bool, 3)
		for i, f := range auditFiles {
			audits[i] = auditRecords(t, f)
		}
		ids := up.requestIDs()
		missing := map[int]int{}
		forwarded := map[int]int{}
		for _, h := range hops {
			if h.requestID == "" {
				continue
			}
			if _, ok := ids[h.requestID]; !ok {
				t.Errorf("replica-%d: the front saw request %s that the upstream did not", h.backend, h.requestID)
			}
			forwarded[h.backend]++
			if !audits[h.backend][h.requestID] {
				missing[h.backend]++
			}
		}
		t.Logf("forwarded with a response, per replica: %v; without an audit record: %v", forwarded, missing)
		if missing[0] > 0 || missing[2] > 0 {
			t.Errorf("expected every request a live replica forwarded to have its audit record, missing: %v", missing)
		}
		if missing[1] > 0 {
			t.Errorf("replica-1 (killed): %d answered requests have no audit record", missing[1])
		}
		// Requests the killed replica forwarded without answering them.
		answered := map[string]bool{}
		for _, h := range hops {
			answered[h.requestID] = true
		}
		var unrecorded int
		for rid := range ids {
			if !answered[rid] && !audits[0][rid] && !audits[1][rid] && !audits[2][rid] {
				unrecorded++
			}
		}
		// The decision record is written before the request goes upstream
		// (server.forward commits it), so not even the killed replica
		// forwarded a request without its record.
		t.Logf("requests the upstream got that no audit file records: %d", unrecorded)
		if unrecorded > 0 {
			t.Errorf("expected every request the upstream got to have its decision record, %d have none", unrecorded)
		}
	})
}
