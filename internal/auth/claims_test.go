package auth

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestClaimAt(t *testing.T) {
	claims := jsonMap(`{"groups":["a"],"realm_access":{"roles":["r"]},"resource_access":{"gateway":{"roles":["g"]}},
		"https://corp.example/groups":["ns"],"a.b":"literal","a":{"b":"nested"},"s":"x"}`)
	tests := []struct {
		path string
		want any // nil: absent
	}{
		{"groups", []any{"a"}},
		{"realm_access.roles", []any{"r"}},
		{"resource_access.gateway.roles", []any{"g"}},
		{"https://corp.example/groups", []any{"ns"}},
		{"a.b", "literal"}, // the whole name wins over the path
		{"realm_access.missing", nil},
		{"s.deeper", nil}, // through a string
		{"missing", nil},
		{"resource_access.gateway", map[string]any{"roles": []any{"g"}}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, ok := ClaimAt(claims, tc.path)
			if ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("expected %v (found %v), got %v (found %v)", tc.want, tc.want != nil, got, ok)
			}
		})
	}
}

func TestMergeClaims(t *testing.T) {
	tests := []struct {
		name   string
		id, ui string
		want   string
	}{
		{"UserInfo fills what the ID token lacks",
			`{"sub":"u","email":"a@x.example","email_verified":true}`, `{"sub":"u","groups":["g"],"name":"A"}`,
			`{"sub":"u","email":"a@x.example","email_verified":true,"groups":["g"],"name":"A"}`},
		{"the ID token wins on every claim it has",
			`{"sub":"u","email":"a@x.example","groups":["g"]}`, `{"sub":"v","email":"b@x.example","groups":["h"],"email_verified":true}`,
			`{"sub":"u","email":"a@x.example","groups":["g"]}`},
		{"email and email_verified travel together",
			`{"sub":"u","email_verified":true}`, `{"sub":"u","email":"a@x.example","email_verified":false}`,
			`{"sub":"u","email":"a@x.example","email_verified":false}`},
		{"an email from UserInfo without email_verified drops the ID token's",
			`{"sub":"u","email_verified":true}`, `{"sub":"u","email":"a@x.example"}`,
			`{"sub":"u","email":"a@x.example"}`},
		{"protocol claims never come from UserInfo",
			`{"sub":"u"}`, `{"sub":"u","iss":"https://evil.example","aud":"x","exp":1,"nonce":"n","_claim_names":{"groups":"s"}}`,
			`{"sub":"u"}`},
		{"a dotted UserInfo name does not shadow the ID token's nested claim",
			`{"sub":"u","realm_access":{"roles":["eng"]}}`, `{"sub":"u","realm_access.roles":["admins"],"a.b":"x"}`,
			`{"sub":"u","realm_access":{"roles":["eng"]},"a.b":"x"}`},
		{"a nested UserInfo claim does not shadow the ID token's dotted name",
			`{"sub":"u","realm_access.roles":["eng"]}`, `{"sub":"u","realm_access":{"roles":["admins"]}}`,
			`{"sub":"u","realm_access.roles":["eng"],"realm_access":{"roles":["admins"]}}`},
		{"a dotted UserInfo name fills a path the ID token lacks",
			`{"sub":"u","realm_access":{"other":1}}`, `{"sub":"u","realm_access.roles":["admins"]}`,
			`{"sub":"u","realm_access":{"other":1},"realm_access.roles":["admins"]}`},
		{"a null claim of the ID token is no value",
			`{"sub":"u","groups":null,"realm_access":null}`, `{"sub":"u","groups":["g"],"realm_access":{"roles":["r"]}}`,
			`{"sub":"u","groups":["g"],"realm_access":{"roles":["r"]}}`},
		{"nested objects are taken whole",
			`{"sub":"u","realm_access":{"roles":["a"]}}`, `{"sub":"u","realm_access":{"roles":["b"]},"resource_access":{"gw":{"roles":["c"]}}}`,
			`{"sub":"u","realm_access":{"roles":["a"]},"resource_access":{"gw":{"roles":["c"]}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ui := jsonMap(tc.id), jsonMap(tc.ui)
			got := MergeClaims(id, ui)
			if want := jsonMap(tc.want); !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("expected %s, got %s", tc.want, g)
			}
			// Whatever UserInfo sent, a path the ID token answers reads the
			// ID token's claim from the merge (but email_verified, which
			// comes with a UserInfo email: rule 3).
			for k := range ui {
				if k == "email_verified" {
					continue
				}
				for _, path := range []string{k, "realm_access.roles"} {
					if v, ok := ClaimAt(id, path); ok && v != nil {
						if m, _ := ClaimAt(got, path); !reflect.DeepEqual(m, v) {
							t.Errorf("ClaimAt(merged, %q): expected the ID token's %v, got %v", path, v, m)
						}
					}
				}
			}
		})
	}
}

// FuzzGroupsFrom: any claims JSON gives groups that are strings taken from
// the claim, or an error; never a panic.
func FuzzGroupsFrom(f *testing.F) {
	f.Add(`{"groups":["a","b"]}`, "groups")
	f.Add(`{"realm_access":{"roles":["a"]}}`, "realm_access.roles")
	f.Add(`{"groups":"a"}`, "groups")
	f.Add(`{"groups":[1,{"x":2}]}`, "groups")
	f.Add(`{"_claim_names":{"groups":"s"}}`, "groups")
	f.Add(`{"a":{"b":{"c":null}}}`, "a.b.c")
	f.Fuzz(func(t *testing.T, doc, path string) {
		var claims map[string]any
		if json.Unmarshal([]byte(doc), &claims) != nil {
			return
		}
		groups, err := groupsFrom(claims, path)
		if err != nil {
			if groups != nil {
				t.Fatalf("groups %v with error %v", groups, err)
			}
			return
		}
		if len(groups) > maxGroups {
			t.Fatalf("%d groups, limit %d", len(groups), maxGroups)
		}
	})
}

// TestIdentityClaims pins the claims an identity carries for `claims:`
// rules: a rule may name a claim as oidc.groups_claim does (a dotted path
// reads the same value ClaimAt reads), and nothing a rule can name is left
// out silently: an identity with more than the gateway keeps is refused.
func TestIdentityClaims(t *testing.T) {
	tests := []struct {
		name, claims string
		want         map[string][]string
		wantErr      string
	}{
		{name: "strings, booleans, whole numbers and lists of them",
			claims: `{"sub":"u","dept":"support","staff":true,"level":2,"big":9007199254740992,"tags":["a",7,false,{"x":1},null]}`,
			want: map[string][]string{"sub": {"u"}, "dept": {"support"}, "staff": {"true"}, "level": {"2"},
				"big": {"9007199254740992"}, "tags": {"a", "7", "false"}}},
		{name: "fractions, inexact numbers, nulls and empty lists are no value",
			claims: `{"sub":"u","ratio":0.5,"huge":9007199254740994,"none":null,"empty":[]}`,
			want:   map[string][]string{"sub": {"u"}}},
		{name: "protocol claims are never carried",
			claims: `{"sub":"u","iss":"https://login","aud":"gw","azp":"cli","sid":"s","auth_time":1,"nonce":"n","jti":"j","_claim_names":{"groups":"src1"}}`,
			want:   map[string][]string{"sub": {"u"}}},
		{name: "nested values by their dotted path, as groups_claim reads them",
			claims: `{"sub":"u","realm_access":{"roles":["contractor"]},"resource_access":{"gateway":{"roles":["admin"]},"acct":{"roles":[]}}}`,
			want: map[string][]string{"sub": {"u"}, "realm_access.roles": {"contractor"},
				"resource_access.gateway.roles": {"admin"}}},
		{name: "a claim whose whole name is the path wins, as in ClaimAt",
			claims: `{"sub":"u","a.b":"literal","a":{"b":"nested","c":"other"}}`,
			want:   map[string][]string{"sub": {"u"}, "a.b": {"literal"}, "a.c": {"other"}}},
		{name: "no path reaches a name with a dot below the top",
			claims: `{"sub":"u","https://corp.example/app":{"plan":"gold"},"x":{"y.z":"v"},"https://corp.example/type":"temp"}`,
			want:   map[string][]string{"sub": {"u"}, "https://corp.example/type": {"temp"}}},
		{name: "more claims than kept: refused, not cut",
			claims:  manyClaims(maxClaims + 1),
			wantErr: "auth: the identity provider sent more than 256 claims (nested values counted), more than the gateway keeps"},
		{name: "exactly as many as kept",
			claims: manyClaims(maxClaims)},
		{name: "a list longer than kept: refused, not cut",
			claims:  `{"sub":"u","roles":[` + strings.Repeat(`"r",`, maxGroups) + `"last"]}`,
			wantErr: `auth: claim "roles": expected at most 1024 values, got 1025`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := identityClaims(jsonMap(tc.claims))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("expected error %q, got %v (%d claims)", tc.wantErr, err, len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("expected %v, got %v", tc.want, got)
			}
			// Every value carried is the one ClaimAt reads at that name.
			all := jsonMap(tc.claims)
			for name, vals := range got {
				v, ok := ClaimAt(all, name)
				if !ok || !reflect.DeepEqual(claimValues(v), vals) {
					t.Errorf("claim %q: carried %q, ClaimAt reads %v", name, vals, v)
				}
			}
		})
	}
}

// manyClaims is an ID token's claims with n claims an identity carries
// (sub, and nested ones counted).
func manyClaims(n int) string {
	var b strings.Builder
	b.WriteString(`{"sub":"u","nested":{`)
	for i := 1; i < n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"c%d":"v"`, i)
	}
	b.WriteString(`}}`)
	return b.String()
}

// An identity read without the groups claim at all (absent or null) is
// reported through GroupsMissing — absent is no groups, so deny rules on
// groups cannot match it; an empty list is the provider saying "none" and is
// not reported.
func TestGroupsMissingIsReported(t *testing.T) {
	for _, tc := range []struct {
		name, claims string
		want         int
	}{
		{"claim absent", `,"email":"ann@corp.example","email_verified":true`, 1},
		{"claim null", `,"email":"ann@corp.example","email_verified":true,"groups":null`, 1},
		{"empty list", `,"email":"ann@corp.example","email_verified":true,"groups":[]`, 0},
		{"groups", `,"email":"ann@corp.example","email_verified":true,"groups":["eng"]`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProvider(t)
			p.set(func(p *fakeProvider) { p.idClaims = idClaims(tc.claims) })
			var n int
			a := newAuth(t, p, func(c *Config) { c.UserInfo = "never"; c.GroupsMissing = func() { n++ } })
			if _, _, err := signIn(t, a, p); err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Fatalf("GroupsMissing called %d times, want %d", n, tc.want)
			}
		})
	}
}
