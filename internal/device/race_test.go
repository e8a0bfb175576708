package device_test

// Enrollments of one device racing each other, on the TPM simulator.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/device"
	"github.com/accessgateway/gateway/internal/store"
)

// barrierStore holds back the first n reads of one key, once armed, until
// all n have arrived: n concurrent callers then all read the key before any
// of them goes on (the widest race window their code can have).
type barrierStore struct {
	store.Store
	key string

	mu      sync.Mutex
	waiting int
	all     chan struct{}
}

func (b *barrierStore) arm(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting, b.all = n, make(chan struct{})
}

func (b *barrierStore) Get(ctx context.Context, key string) ([]byte, error) {
	if key == b.key {
		b.mu.Lock()
		wait, all := b.waiting > 0, b.all
		if wait {
			b.waiting--
			if b.waiting == 0 {
				close(all)
			}
		}
		b.mu.Unlock()
		if wait {
			select {
			case <-all:
			case <-time.After(5 * time.Second):
			}
		}
	}
	return b.Store.Get(ctx, key)
}

// Two users enrolling the same device the inventory gives no owner, at the
// same time: both pass the owner check before either records an owner. The
// first to record it wins; the other is refused (device-owner-mismatch),
// audited, and its session is not bound.
func TestConcurrentEnrollmentsOneOwnerWins(t *testing.T) {
	e := newEnv(t, setup{inv: unowned})
	inv, err := device.BuildInventory(unowned(e.id.EKHash), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	bs := &barrierStore{Store: e.st, key: "device:enrolled:lt-0042"}
	svc, err := device.NewService(device.Config{}, bs, nil, device.Options{
		Now: e.clock.Now, Inventory: inv,
		Audit: func(_ context.Context, a device.AuditEvent) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.audits = append(e.audits, a)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	users := []struct{ email, session string }{{alice, "s-alice"}, {bob, "s-bob"}}
	reqs := make([]device.EnrollFinishRequest, len(users))
	for i, u := range users {
		code, _, err := svc.NewCode(e.ctx, device.PurposeEnroll, u.session, u.email)
		if err != nil {
			t.Fatal(err)
		}
		start, err := svc.EnrollStart(e.ctx, device.EnrollStartRequest{Code: code, EKPublic: e.id.EKPublic, EKCert: e.id.EKCert, AKPublic: e.id.AKPublic})
		if err != nil {
			t.Fatalf("enroll start for %s: %v", u.email, err)
		}
		secret, err := e.tpm.ActivateCredential(start.Credential, start.EncryptedSecret)
		if err != nil {
			t.Fatal(err)
		}
		q, err := e.tpm.Quote(start.Nonce, start.PCRs)
		if err != nil {
			t.Fatal(err)
		}
		reqs[i] = device.EnrollFinishRequest{ChallengeID: start.ChallengeID, Secret: secret, Quote: q}
	}

	bs.arm(len(reqs))
	results := make([]*device.Result, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() { results[i], errs[i] = svc.EnrollFinish(e.ctx, reqs[i]) })
	}
	wg.Wait()

	winner, loser := -1, -1
	for i := range reqs {
		if errs[i] == nil {
			if winner >= 0 {
				t.Fatalf("both enrollments succeeded: %s and %s (owners %q, %q)", users[winner].email, users[i].email, results[winner].Owner, results[i].Owner)
			}
			winner = i
		} else {
			loser = i
		}
	}
	if winner < 0 {
		t.Fatalf("no enrollment succeeded: %v", errs)
	}
	wantReason(t, errs[loser], device.ReasonOwnerMismatch)
	w, l := users[winner], users[loser]
	if results[winner].Owner != w.email {
		t.Fatalf("winner's result owner = %q, want %q", results[winner].Owner, w.email)
	}
	if got := string(e.storedEnrollment()["owner"]); got != `"`+w.email+`"` {
		t.Fatalf("stored owner = %s, want %s", got, w.email)
	}
	if ev, err := svc.SessionEvidence(e.ctx, w.session); err != nil || ev.Owner != w.email {
		t.Fatalf("winner's session: %+v, %v", ev, err)
	}
	if _, err := svc.SessionEvidence(e.ctx, l.session); err == nil {
		t.Fatal("the refused enrollment bound its session")
	}
	if n := e.auditCount(device.ActionEnroll, device.OutcomeOK); n != 1 {
		t.Fatalf("expected one audited enrollment, got %d", n)
	}
	if !e.hasAudit(device.ActionEnroll, device.OutcomeDenied, device.ReasonOwnerMismatch) {
		t.Fatalf("the refused enrollment was not audited: %+v", e.audits)
	}
}
