package device

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// A browser session holds at most one code of each purpose: reloading the
// device page shows the same code while it has at least half its time left;
// a new one (later, after the code was used, or for another tool) replaces
// it, and the replaced code stops working. Other sessions have their own.
func TestIssueCodeOnePerSession(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	mem := store.NewMemory(store.WithClock(clock))
	t.Cleanup(func() { mem.Close() })
	svc, err := NewService(Config{}, mem, nil, Options{Now: clock, Inventory: &Inventory{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	issue := func(purpose, session, tool string) string {
		t.Helper()
		c, exp, err := svc.IssueCode(ctx, CodeRequest{Purpose: purpose, SessionID: session, Email: "a@example.com", Tool: tool})
		if err != nil {
			t.Fatal(err)
		}
		if !exp.After(clock()) {
			t.Fatalf("code %s already expired at %v", c, exp)
		}
		return c
	}
	// usable reports whether code still works, without using it up.
	usable := func(code string) bool {
		t.Helper()
		_, err := mem.Get(ctx, keyCode+hashKey(normalizeCode(code)))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	state := func(session, code string) string {
		t.Helper()
		st, err := svc.CodeStatus(ctx, session, code)
		if err != nil {
			t.Fatal(err)
		}
		return st.State
	}

	verify, enroll := issue(PurposeVerify, "s1", "Payroll"), issue(PurposeEnroll, "s1", "Payroll")
	if verify == enroll {
		t.Fatal("the verify and the enroll code are the same")
	}
	for range 20 { // reloads
		if c := issue(PurposeVerify, "s1", "Payroll"); c != verify {
			t.Fatalf("a reload issued another verify code: %s, then %s", verify, c)
		}
		if c := issue(PurposeEnroll, "s1", "Payroll"); c != enroll {
			t.Fatalf("a reload issued another enroll code: %s, then %s", enroll, c)
		}
	}
	other := issue(PurposeVerify, "s2", "Payroll")
	if other == verify || !usable(other) || !usable(verify) {
		t.Fatal("another session's code is not its own")
	}

	// Less than half of its time left: replaced.
	advance(DefaultCodeTTL/2 + time.Second)
	v2 := issue(PurposeVerify, "s1", "Payroll")
	if v2 == verify || usable(verify) || !usable(v2) {
		t.Fatalf("late reload: old %s usable %v, new %s usable %v", verify, usable(verify), v2, usable(v2))
	}
	if st := state("s1", verify); st != CodeExpired {
		t.Fatalf("the replaced code reads %q, want %q", st, CodeExpired)
	}
	if !usable(other) {
		t.Fatal("replacing s1's code ended s2's")
	}

	// Another tool's page: replaced (the agent names the tool).
	v3 := issue(PurposeVerify, "s1", "Wiki")
	if v3 == v2 || usable(v2) || !usable(v3) {
		t.Fatal("another tool's page kept the previous tool's code")
	}

	// Used by the agent: the next page shows a new one; the used code keeps
	// its state for the page that showed it.
	if _, _, err := svc.takeCode(ctx, v3, PurposeVerify); err != nil {
		t.Fatal(err)
	}
	if err := svc.setCodeState(ctx, hashKey(normalizeCode(v3)), CodeState{State: CodeDone, DeviceID: "d1", sessionHash: hashKey("s1")}); err != nil {
		t.Fatal(err)
	}
	v4 := issue(PurposeVerify, "s1", "Wiki")
	if v4 == v3 || !usable(v4) || state("s1", v3) != CodeDone {
		t.Fatalf("after use: new %s usable %v, used code state %q", v4, usable(v4), state("s1", v3))
	}

	// Page loads at the same time (one session, several replicas or tabs)
	// agree on one code.
	advance(DefaultCodeTTL)
	codes := make([]string, 8)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			c, _, err := svc.IssueCode(ctx, CodeRequest{Purpose: PurposeVerify, SessionID: "s3", Email: "a@example.com", Tool: "Payroll"})
			if err != nil {
				t.Error(err)
			}
			codes[i] = c
		})
	}
	wg.Wait()
	for _, c := range codes {
		if c != codes[0] {
			t.Fatalf("concurrent page loads got different codes: %v", codes)
		}
	}
	if !usable(codes[0]) {
		t.Fatal("the code of concurrent page loads does not work")
	}
}
