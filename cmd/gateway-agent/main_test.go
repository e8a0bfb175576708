package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/device/agent"
	"github.com/accessgateway/gateway/internal/store"
)

// TestAgentCommands runs the agent's commands against a real device API, with
// the built-in simulator, as an employee would in the quickstart: each
// command is a new run of the agent, hence a fresh simulator whose identity
// comes from the fixed seed and whose clock comes from the state file.
func TestAgentCommands(t *testing.T) {
	tpm, err := agent.OpenSimulator("")
	if err != nil && strings.Contains(err.Error(), "requires building with CGO") {
		t.Skip("skipping: the TPM simulator needs cgo (CGO_ENABLED=1, gcc, libssl-dev)")
	}
	if err != nil {
		t.Fatal(err)
	}
	id, err := tpm.Identity()
	tpm.Close()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := device.BuildInventory([]device.InventoryDevice{{ID: "lt-7", Serial: "S7", Owner: "alice@example.com",
		EKPubSHA256: id.EKHash, Status: device.StatusActive}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	defer st.Close()
	svc, err := device.NewService(device.Config{}, st, nil, device.Options{Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	state := t.TempDir()
	ctx := context.Background()
	agentRun := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"--gateway", srv.URL, "--tpm", "simulator", "--state", state}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	newCode := func(purpose string) string {
		c, _, err := svc.NewCode(ctx, purpose, "sess-1", "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"status before enrollment", []string{"status"}, exitDenied, id.EKHash, "ask IT to register it"},
		{"enroll", []string{"enroll", newCode(device.PurposeEnroll)}, exitOK, "Enrolled: device lt-7", ""},
		{"code is single use", []string{"verify", "AAAAA-AAAAA"}, exitDenied, "", "get a new one"},
		{"verify", []string{"verify", strings.ToLower(newCode(device.PurposeVerify))}, exitOK, "Verified", ""},
		{"verify again, a later run", []string{"verify", newCode(device.PurposeVerify)}, exitOK, "Verified", ""},
		{"status after enrollment", []string{"status"}, exitOK, "Gateway:          OK", ""},
		{"cert", []string{"cert"}, exitOK, "Certificate for device lt-7", ""},
		{"bad code shape", []string{"verify", "nope"}, exitDenied, "", "update gateway-agent"},
		{"usage", []string{"enroll"}, exitUsage, "", "usage: gateway-agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := agentRun(tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
		})
	}
	if ev, err := svc.SessionEvidence(ctx, "sess-1"); err != nil || ev.DeviceID != "lt-7" {
		t.Fatalf("session evidence: %+v, %v", ev, err)
	}
	if b, err := os.ReadFile(filepath.Join(state, "device.crt")); err != nil || !bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("device.crt: %v", err)
	}
}
