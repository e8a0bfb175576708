package test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/accessgateway/gateway/contexttoken"
	"github.com/accessgateway/gateway/internal/token"
)

func tokenSection(active, other, otherState string, until time.Time) string {
	s := "token:\n  keys:\n    - {file: " + active + ", state: active}\n    - {file: " + other + ", state: " + otherState
	if !until.IsZero() {
		s += ", until: " + until.UTC().Format(time.RFC3339)
	}
	return s + "}\n"
}

// Key rotation through hot reload: next → active, active → retired with an
// overlap. Old tokens verify during the overlap and are refused after it.
func TestKeyRotationThroughReload(t *testing.T) {
	m := newIdP(t)
	up := newUpstream(t)
	clock := newFakeClock()
	vars := idpVars(m, up)
	vars.Now = clock.Now
	vars.Extra = tokenSection("a.pem", "b.pem", "next", time.Time{})
	var kidA, kidB string
	g := startGatewayAfter(t, vars, baseConfig, func(dir string) {
		var err error
		if kidA, err = token.WriteKeyFile(filepath.Join(dir, "a.pem"), "ES256"); err != nil {
			t.Fatal(err)
		}
		if kidB, err = token.WriteKeyFile(filepath.Join(dir, "b.pem"), "ES256"); err != nil {
			t.Fatal(err)
		}
	})
	verifier := func(now time.Time) *contexttoken.Verifier {
		v, err := contexttoken.NewVerifier(context.Background(), contexttoken.Config{
			JWKSURL: g.URL + "/.well-known/gateway/jwks.json", Issuer: g.URL, Audiences: []string{up.URL},
			Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	kids := func() []string {
		resp, body := get(t, browser(t), g.URL+"/.well-known/gateway/jwks.json")
		mustStatus(t, resp, body, 200)
		var set jose.JSONWebKeySet
		_ = json.Unmarshal([]byte(body), &set)
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.KeyID)
		}
		return out
	}
	if got := strings.Join(kids(), ","); got != kidA+","+kidB {
		t.Fatalf("JWKS kids = %s, want active then next", got)
	}

	c, resp, body := signIn(t, g, m, user("jane@example.com"), "/one")
	mustStatus(t, resp, body, 200)
	t1 := up.lastRequest().Header.Get("X-Gateway-Context")
	t0 := clock.Now()
	if _, err := verifier(t0).Verify(context.Background(), t1); err != nil {
		t.Fatalf("token of the active key: %v", err)
	}

	// Promote b; retire a with a 10 minute overlap.
	vars.Extra = tokenSection("b.pem", "a.pem", "retired", t0.Add(10*time.Minute))
	g.writeConfig(withAddrs(vars, g), baseConfig)
	if err := g.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, body = get(t, c, g.URL+"/two")
	mustStatus(t, resp, body, 200)
	t2 := up.lastRequest().Header.Get("X-Gateway-Context")
	if t2 == t1 {
		t.Fatal("the token was not re-signed with the new key")
	}
	v := verifier(t0)
	for name, tok := range map[string]string{"old (retired key, overlap)": t1, "new (promoted key)": t2} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// After the overlap the retired key leaves the key set: a tool that
	// fetches it then refuses tokens of the old key, even unexpired ones.
	clock.Add(11 * time.Minute)
	if got := strings.Join(kids(), ","); got != kidB {
		t.Fatalf("JWKS kids after the overlap = %s, want only %s", got, kidB)
	}
	_, err := verifier(t0).Verify(context.Background(), t1)
	if !errors.Is(err, contexttoken.ErrUnknownKey) {
		t.Fatalf("old token after the overlap: err = %v, want ErrUnknownKey", err)
	}
}
