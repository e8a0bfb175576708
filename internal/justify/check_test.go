package justify_test

import (
	"testing"

	"github.com/accessgateway/gateway/internal/justify"
	"github.com/accessgateway/gateway/internal/policy"
)

func TestCheck(t *testing.T) {
	open := justify.Ticket{System: "jira", ID: "SUP-1", Open: true, Involved: []string{ana, "cy@corp.example"}, Resources: []string{"Acme", "42"}}
	with := func(f func(*justify.Ticket)) justify.Ticket {
		t := open
		f(&t)
		return t
	}
	for _, c := range []struct {
		name     string
		ticket   justify.Ticket
		user     string
		resource string
		want     policy.Reason
	}{
		{"open, involved, no resource", open, ana, "", ""},
		{"second involved person", open, "cy@corp.example", "", ""},
		{"user case", open, "ANA@Corp.Example", "", ""},
		{"resource match", open, ana, "42", ""},
		{"resource match, case as the ticket's", open, ana, "Acme", ""},
		// cus_Ab12 and cus_aB12 are two customers: only bind_case:
		// insensitive folds (CheckFoldCase).
		{"resource of another case", open, ana, "acme", justify.ReasonResourceMismatch},
		{"resource of another case, base62", with(func(t *justify.Ticket) { t.Resources = []string{"cus_Ab12"} }), ana, "cus_aB12", justify.ReasonResourceMismatch},
		// The request's resource is what the upstream acts on: as it is.
		{"request's resource is not trimmed", open, ana, " 42 ", justify.ReasonResourceMismatch},
		{"ticket's resource is trimmed", with(func(t *justify.Ticket) { t.Resources = []string{" 42\t"} }), ana, "42", ""},
		{"resource mismatch", open, ana, "43", justify.ReasonResourceMismatch},
		{"resource prefix is not a match", open, ana, "4", justify.ReasonResourceMismatch},
		{"resource Kelvin sign is not K", with(func(t *justify.Ticket) { t.Resources = []string{"kontoso"} }), ana, "\u212aontoso", justify.ReasonResourceMismatch},
		{"no resources named", with(func(t *justify.Ticket) { t.Resources = nil }), ana, "42", justify.ReasonResourceMismatch},
		{"not involved", open, bob, "", justify.ReasonNotAssigned},
		{"not involved beats resource", open, bob, "43", justify.ReasonNotAssigned},
		{"nobody involved", with(func(t *justify.Ticket) { t.Involved = nil }), ana, "", justify.ReasonNotAssigned},
		{"empty user", with(func(t *justify.Ticket) { t.Involved = []string{""} }), "", "", justify.ReasonNotAssigned},
		{"closed", with(func(t *justify.Ticket) { t.Open = false }), ana, "42", justify.ReasonClosed},
		{"closed beats not involved", with(func(t *justify.Ticket) { t.Open = false }), bob, "", justify.ReasonClosed},
		{"system verdict", with(func(t *justify.Ticket) { t.Verdict = justify.ReasonNotAssigned }), ana, "", justify.ReasonNotAssigned},
		{"zero ticket", justify.Ticket{}, ana, "", justify.ReasonRequired},
		{"ticket without ID", with(func(t *justify.Ticket) { t.ID = "" }), ana, "", justify.ReasonRequired},
		{"user with a non-ASCII fold", with(func(t *justify.Ticket) { t.Involved = []string{"k@corp.example"} }), "\u212a@corp.example", "", justify.ReasonNotAssigned},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := justify.Check(c.ticket, c.user, c.resource); got != c.want {
				t.Fatalf("expected %q, got %q", c.want, got)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	want := []policy.Reason{"justification-required", "ticket-not-found", "ticket-closed", "ticket-not-assigned",
		"ticket-resource-mismatch", "justification-system-unavailable", "justification-rate-limited"}
	if len(justify.Reasons) != len(want) {
		t.Fatalf("expected %d reasons, got %v", len(want), justify.Reasons)
	}
	for i, r := range want {
		if justify.Reasons[i] != r {
			t.Errorf("Reasons[%d]: expected %q, got %q", i, r, justify.Reasons[i])
		}
	}
	if justify.ReasonFor(nil) != "" {
		t.Error("expected no reason for no error")
	}
}
