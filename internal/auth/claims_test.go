package auth

import (
	"encoding/json"
	"reflect"
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
					if v, ok := ClaimAt(id, path); ok {
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
