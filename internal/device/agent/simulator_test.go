package agent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/accessgateway/gateway/internal/device"
)

// clockOf reads the TPM clock of a fresh simulator run.
func clockOf(t *testing.T, state string) (uint64, uint32, string) {
	t.Helper()
	tpm, err := OpenSimulator(state)
	skipWithoutCgo(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	rsp, err := tpm2.ReadClock{}.Execute(tpm.Transport())
	if err != nil {
		t.Fatal(err)
	}
	id, err := tpm.Identity()
	if err != nil {
		t.Fatal(err)
	}
	return rsp.CurrentTime.ClockInfo.Clock, rsp.CurrentTime.ClockInfo.ResetCount, id.EKHash + id.AKName
}

// TestSimulatorRunsAreOneMachine: successive agent runs see the same EK and
// AK, a reset count that does not go back, and a clock that moved forward by
// at least the wall time between runs; without the state file the clock
// starts over. (Across processes the reset count stays 1; re-opening the
// simulator inside one process, as here, counts as a reboot.)
func TestSimulatorRunsAreOneMachine(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	c1, r1, id1 := clockOf(t, state)
	time.Sleep(20 * time.Millisecond) // the wall time between two runs
	c2, r2, id2 := clockOf(t, state)
	if id1 != id2 {
		t.Fatal("expected the same EK and AK in every run")
	}
	if r2 < r1 {
		t.Fatalf("expected the reset count not to go back, got %d then %d", r1, r2)
	}
	if c2 < c1+20 {
		t.Fatalf("expected the clock to advance by the wall time between runs, got %d then %d", c1, c2)
	}
	c3, _, _ := clockOf(t, "")
	if c3 >= c2 {
		t.Fatalf("expected a run without state to start its clock over (the case the state file fixes), got %d after %d", c3, c2)
	}
}

// skipWithoutCgo skips when the simulator was built without cgo.
func skipWithoutCgo(t testing.TB, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "requires building with CGO") {
		t.Skip("skipping: the TPM simulator needs cgo (CGO_ENABLED=1, gcc, libssl-dev)")
	}
}

// device.SimulatorEKSHA256 is the EK of OpenSimulator's fixed seed, the
// one the gateway refuses outside gateway dev.
func TestSimulatorEKIsTheOneTheGatewayRefuses(t *testing.T) {
	tpm, err := OpenSimulator("")
	skipWithoutCgo(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	id, err := tpm.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if id.EKHash != device.SimulatorEKSHA256 {
		t.Fatalf("the fixed-seed simulator's EK is %s, device.SimulatorEKSHA256 says %s", id.EKHash, device.SimulatorEKSHA256)
	}
}
