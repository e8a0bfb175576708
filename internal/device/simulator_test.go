package device

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/requirement"
	"github.com/accessgateway/gateway/internal/store"
)

// The TPM simulator's fixed seed is public (gateway-agent --tpm simulator,
// the quickstart's device): anyone can run it and be the device whose EK
// it gives. An inventory that lists that EK is refused outside gateway dev
// — at start and reload, and by gateway check for an inline inventory.
func TestSimulatorEKOnlyInDev(t *testing.T) {
	section := &Config{Inventory: []InventoryDevice{{ID: "lt-1", Serial: "S1", EKPubSHA256: strings.ToUpper(SimulatorEKSHA256), Status: StatusActive}}}
	env := func(dev bool) requirement.Env {
		return requirement.Env{Store: store.NewMemory(), Logger: slog.New(slog.DiscardHandler), Now: time.Now, Dev: dev}
	}
	if _, err := (Kind{}).NewService(section, env(false)); err == nil || !strings.Contains(err.Error(), "TPM simulator") {
		t.Fatalf("serve: expected the simulator's EK refused, got %v", err)
	}
	if _, err := (Kind{}).NewService(section, env(true)); err != nil {
		t.Fatalf("dev: %v", err)
	}
	if p := (Kind{}).ProductionProblems(section); len(p) != 1 || !strings.Contains(p[0].Msg, "TPM simulator") || p[0].Path != ".inventory[0].ek_pub_sha256" {
		t.Fatalf("check: %+v", p)
	}
	other := &Config{Inventory: []InventoryDevice{{ID: "lt-1", Serial: "S1", EKPubSHA256: strings.Repeat("ab", 32), Status: StatusActive}}}
	if _, err := (Kind{}).NewService(other, env(false)); err != nil {
		t.Fatalf("another EK: %v", err)
	}
	if p := (Kind{}).ProductionProblems(other); len(p) != 0 {
		t.Fatalf("another EK: %+v", p)
	}
}
