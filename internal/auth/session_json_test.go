package auth

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSessionJSONLeavesOutRepeatedClaims: the claims that repeat the
// subject, the email or the groups are not stored twice, and come back.
func TestSessionJSONLeavesOutRepeatedClaims(t *testing.T) {
	groups := []string{"engineering", "support", "on-call", "customer-data-readers"}
	s := &Session{Subject: "u-1", Email: "sam@corp.example", Groups: groups, CSRF: "c",
		CreatedAt: time.Unix(1, 0).UTC(), ExpiresAt: time.Unix(2, 0).UTC(),
		Claims: map[string][]string{"sub": {"u-1"}, "email": {"sam@corp.example"}, "groups": groups,
			"roles": groups, "email_verified": {"true"}, "dept": {"support"}, "alias": {"u-1"}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "customer-data-readers"); n != 1 {
		t.Errorf("the groups are stored %d times: %s", n, b)
	}
	var got Session
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, *s)
	}
	// A session written before (every claim in "claims") reads the same.
	old, _ := json.Marshal(struct {
		Sub    string              `json:"sub"`
		Email  string              `json:"email"`
		Claims map[string][]string `json:"claims"`
	}{"u-1", "sam@corp.example", map[string][]string{"sub": {"u-1"}, "groups": {"a"}}})
	var o Session
	if err := json.Unmarshal(old, &o); err != nil || !reflect.DeepEqual(o.Claims, map[string][]string{"sub": {"u-1"}, "groups": {"a"}}) {
		t.Errorf("an older session: %+v, %v", o, err)
	}
	if err := json.Unmarshal([]byte(`{"sub":"x","cf":{"k":"password"}}`), &o); err == nil {
		t.Error("an unknown copy source was accepted")
	}
}
