package test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	gtsim "github.com/google/go-tpm-tools/simulator"

	"github.com/accessgateway/gateway/internal/device/agent"
)

const deviceConfig = `
  - name: secure
    host: {{.Host}}
    path: /secure
    upstream: {{.Upstream}}
    allow_bearer: true
    rules:
      allow:
        - domains: [example.com]
    require:
      device: {trust: tpm-attested, max_age: 1h}
devices:
  inventory:
    - {id: lt-0042, serial: SN-42, owner: jane@example.com, ek_pub_sha256: "{{.EKHash}}", status: {{.DeviceStatus}}}
`

// deviceFileConfig keeps the inventory in its own file (inventory.yaml
// beside the config), as IT would.
const deviceFileConfig = `
  - name: secure
    host: {{.Host}}
    path: /secure
    upstream: {{.Upstream}}
    rules:
      allow:
        - domains: [example.com]
    require:
      device: {trust: tpm-attested, max_age: 1h}
devices:
  inventory_file: inventory.yaml
`

func writeInventory(t *testing.T, g *gateway, ekHash, status string) {
	t.Helper()
	writeInventoryAt(t, filepath.Dir(g.cfgPath), ekHash, status)
}

func writeInventoryAt(t *testing.T, dir, ekHash, status string) {
	t.Helper()
	p := filepath.Join(dir, "inventory.yaml")
	b := []byte("devices:\n  - {id: lt-0042, serial: SN-42, owner: jane@example.com, ek_pub_sha256: \"" + ekHash + "\", status: " + status + "}\n")
	if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
}

var (
	enrollCmd = regexp.MustCompile(`id="enroll-command">[^<]*enroll ([A-Za-z0-9-]+)<`)
	verifyCmd = regexp.MustCompile(`id="verify-command">[^<]*verify ([A-Za-z0-9-]+)<`)
)

// The whole device flow through the gateway: a route requiring a device
// shows the page with codes; the agent (on the TPM simulator) enrolls and
// verifies; the browser reaches the route; the token carries the device; a
// revoked device is denied on its next request.
func TestDeviceTrustEndToEnd(t *testing.T) {
	tpm, id := newSimTPM(t)
	m := newIdP(t)
	up := newUpstream(t)
	vars := idpVars(m, up)
	g := startGatewayAfter(t, vars, baseConfig+deviceFileConfig, func(dir string) {
		writeInventoryAt(t, dir, id.EKHash, "active")
	})
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if err := g.srv.Watch(watchCtx); err != nil {
		t.Fatal(err)
	}

	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/secure/data")
	mustStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "device-not-verified") {
		t.Fatalf("device page lacks its reason: %.600s", body)
	}
	body = html.UnescapeString(body)
	ec, vc := enrollCmd.FindStringSubmatch(body), verifyCmd.FindStringSubmatch(body)
	if ec == nil || vc == nil {
		t.Fatalf("device page lacks the agent commands: %.2000s", body)
	}

	cl := &agent.Client{Gateway: g.URL, TPM: tpm}
	ctx := context.Background()
	if _, err := cl.Enroll(ctx, ec[1]); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	// A code is single use.
	if _, err := cl.Enroll(ctx, ec[1]); err == nil {
		t.Fatal("enrollment code accepted twice")
	}
	res, err := cl.Verify(ctx, vc[1])
	if err != nil || !res.SessionBound || res.DeviceID != "lt-0042" {
		t.Fatalf("verify: %+v %v", res, err)
	}
	// The page's poll sees the code used.
	resp, body = get(t, c, g.URL+"/.gateway/device/status?code="+vc[1], "Accept", "application/json")
	mustStatus(t, resp, body, 200)
	if jsonField(t, body, "state") != "done" {
		t.Errorf("code status = %s", body)
	}
	// Another browser cannot read this session's code.
	other, resp2, body2 := signIn(t, g, m, user("ann@example.com"), "/")
	mustStatus(t, resp2, body2, 200)
	resp2, body2 = get(t, other, g.URL+"/.gateway/device/status?code="+vc[1], "Accept", "application/json")
	if resp2.StatusCode == 200 && strings.Contains(body2, "done") {
		t.Errorf("another session read the code's state: %s", body2)
	}

	resp, body = get(t, c, g.URL+"/secure/data")
	mustStatus(t, resp, body, 200)
	tok := up.lastRequest().Header.Get("X-Gateway-Context")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("no context token upstream: %q", tok)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Device struct{ ID, Trust string } `json:"device"`
	}
	_ = json.Unmarshal(payload, &claims)
	if claims.Device.ID != "lt-0042" || claims.Device.Trust != "tpm-attested" {
		t.Errorf("token device claim = %s", payload)
	}

	// IT revokes the device in the inventory file: once the gateway has
	// reloaded it, the very next request is denied.
	writeInventory(t, g, id.EKHash, "revoked")
	eventually(t, "the revoked inventory to apply", func() bool {
		resp, body = get(t, c, g.URL+"/secure/data")
		return resp.StatusCode == http.StatusForbidden
	})
	if !strings.Contains(body, "device-revoked") {
		t.Errorf("revoked device page: %.500s", body)
	}
	var sawRevoked, sawEnroll bool
	for _, r := range g.audit() {
		if r.Kind == "decision" && r.Route == "secure" && len(r.Reasons) > 0 && r.Reasons[0] == "device-revoked" {
			sawRevoked = true
		}
		if r.Kind == "device" && r.DeviceID == "lt-0042" && strings.Contains(r.Event, "enroll") {
			sawEnroll = true
		}
	}
	if !sawRevoked || !sawEnroll {
		t.Errorf("audit lacks device records (revoked %v, enroll %v)", sawRevoked, sawEnroll)
	}
}

// newSimTPM is a fresh TPM simulator (random seeds: a new machine) for one
// test; one simulator per process at a time.
func newSimTPM(t *testing.T) (*agent.TPM, *agent.Identity) {
	t.Helper()
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
	return tpm, id
}
