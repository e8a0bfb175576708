package auth

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/accessgateway/gateway/internal/policy"
)

// UserInfo modes (`oidc.userinfo`).
const (
	// UserInfoAuto fetches UserInfo when the ID token lacks the email or the
	// groups claim (OpenID Connect Core §5.4: with an access token issued,
	// profile claims may be served by UserInfo only).
	UserInfoAuto = "auto"
	// UserInfoAlways fetches UserInfo at every sign-in and refresh.
	UserInfoAlways = "always"
	// UserInfoNever reads the ID token only.
	UserInfoNever = "never"
)

// protocolClaims are never copied into a session's claims and never taken
// from UserInfo (nor is sub: it must equal the ID token's).
var protocolClaims = map[string]bool{
	"iss": true, "aud": true, "exp": true, "iat": true, "nbf": true, "nonce": true, "at_hash": true,
	"c_hash": true, "auth_time": true, "azp": true, "sid": true, "jti": true,
	"_claim_names": true, "_claim_sources": true,
}

// IsProtocolClaim reports whether name is a claim of the OpenID Connect
// protocol (iss, aud, azp, sid, auth_time, nonce, ...): the gateway verifies
// those and never keeps them in an identity, so a rule on one never matches.
func IsProtocolClaim(name string) bool { return protocolClaims[name] }

// Limits on what a session keeps. An identity beyond them is refused, not
// cut short: a rule on a claim or value left out would silently never match.
const (
	maxGroups = 1024
	// maxClaims counts the claims an identity carries, each value inside a
	// nested object (by its dotted path) included.
	maxClaims = 256
)

// ErrNoEmail means the provider sent no usable email address (in neither the
// ID token nor UserInfo).
var ErrNoEmail = errors.New("auth: the identity provider sent no email address")

// ErrGroupsOverage means the provider left the groups out of the token and
// pointed to another API instead (Entra ID's "groups overage": a user in
// more groups than fit in a token).
var ErrGroupsOverage = errors.New("auth: the identity provider sent a reference to the groups instead of the groups")

// needsUserInfo says whether, in auto mode, the ID token lacks what the
// gateway needs: the email or the groups claim.
func (a *Authenticator) needsUserInfo(idClaims map[string]any) bool {
	switch a.cfg.UserInfo {
	case UserInfoAlways:
		return true
	case UserInfoNever:
		return false
	}
	if e, _ := idClaims["email"].(string); e == "" {
		return true
	}
	if distributed(idClaims, a.cfg.GroupsClaim) {
		return false // a distributed claim (groups overage): UserInfo would not list them either
	}
	v, ok := ClaimAt(idClaims, a.cfg.GroupsClaim)
	return !ok || v == nil
}

// MergeClaims merges UserInfo claims into the ID token's claims, in this
// order (documented in docs/oidc-providers.md):
//
//  1. Every claim of the ID token stays as it is: it is signed and verified.
//  2. A UserInfo claim is added only where the ID token has no claim of that
//     name (or null, which is no value: a null groups claim is no groups,
//     and must not hide the groups UserInfo lists) by either spelling
//     ClaimAt reads: neither a top-level claim of
//     that name nor, for a dotted name, a nested claim at that path. A
//     UserInfo claim literally named "realm_access.roles" would otherwise be
//     added beside the ID token's {"realm_access":{"roles":…}}, and ClaimAt,
//     which prefers a whole-name match, would read the groups from UserInfo.
//     Protocol claims (iss, aud, exp, nonce, sub, ...) are never taken from
//     UserInfo.
//  3. email and email_verified travel together: when the email comes from
//     UserInfo, so does email_verified (the ID token's is dropped).
//
// The caller checks that UserInfo's sub equals the ID token's before.
func MergeClaims(idClaims, uiClaims map[string]any) map[string]any {
	out := maps.Clone(idClaims)
	if out == nil {
		out = map[string]any{}
	}
	emailFromUI := false
	if e, _ := idClaims["email"].(string); e == "" {
		if e, _ := uiClaims["email"].(string); e != "" {
			emailFromUI = true
			out["email"] = e
			delete(out, "email_verified")
			if v, ok := uiClaims["email_verified"]; ok {
				out["email_verified"] = v
			}
		}
	}
	for k, v := range uiClaims {
		if protocolClaims[k] || k == "sub" || k == "email" || (k == "email_verified" && !emailFromUI) {
			continue
		}
		if w, ok := out[k]; ok && w != nil {
			continue
		}
		if w, ok := ClaimAt(idClaims, k); !ok || w == nil {
			out[k] = v
		}
	}
	return out
}

// ClaimAt finds a claim by name or dotted path. A claim whose whole name
// matches is taken first (so namespaced claims such as
// "https://corp.example/groups" work); otherwise the path is walked through
// nested objects ("realm_access.roles", "resource_access.gateway.roles").
//
// On claims merged by MergeClaims it finds the ID token's claim whenever the
// ID token has one at path, by either spelling: UserInfo is read only where
// the ID token has nothing.
func ClaimAt(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// groupsFrom reads the groups claim: absent or null is no groups; a string is
// one group; a list of strings is the groups; an object's keys are the groups
// (sorted). Any other shape is an error
// (the gateway would otherwise decide on fewer groups than the user has,
// which could bypass a deny rule).
func groupsFrom(claims map[string]any, path string) ([]string, error) {
	if distributed(claims, path) {
		return nil, ErrGroupsOverage
	}
	v, ok := ClaimAt(claims, path)
	if !ok || v == nil {
		return nil, nil
	}
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil, nil
		}
		return []string{t}, nil
	case []any:
		if len(t) > maxGroups {
			return nil, fmt.Errorf("auth: groups claim %q: expected at most %d groups, got %d", path, maxGroups, len(t))
		}
		out := make([]string, 0, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("auth: groups claim %q: expected a list of strings, got a %s at [%d]", path, jsonType(e), i)
			}
			out = append(out, s)
		}
		return out, nil
	case map[string]any:
		// An object whose keys are the groups: Zitadel's roles claim
		// ("urn:zitadel:iam:org:project:roles": {"admin": {"<org id>": "<org domain>"}}).
		if len(t) > maxGroups {
			return nil, fmt.Errorf("auth: groups claim %q: expected at most %d groups, got %d", path, maxGroups, len(t))
		}
		return slices.Sorted(maps.Keys(t)), nil
	}
	return nil, fmt.Errorf("auth: groups claim %q: expected a string, a list of strings or an object keyed by group, got a %s", path, jsonType(v))
}

// distributed reports whether claims name the claim at path as a
// distributed claim (OpenID Connect Core §5.6.2, "_claim_names": Entra ID's
// groups overage): the claim itself or, for a dotted path, an object on
// the way to it ("realm_access" for "realm_access.roles"), whose values are
// then held elsewhere.
func distributed(claims map[string]any, path string) bool {
	names, ok := claims["_claim_names"].(map[string]any)
	if !ok {
		return false
	}
	if _, ok := names[path]; ok {
		return true
	}
	for i := range len(path) {
		if path[i] == '.' {
			if _, ok := names[path[:i]]; ok {
				return true
			}
		}
	}
	return false
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64, int, int64:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// emailVerified reads email_verified as a boolean; some providers send the
// strings "true"/"false".
func emailVerified(claims map[string]any) bool {
	switch v := claims["email_verified"].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// fill copies identity claims (the ID token's, merged with UserInfo's) into
// sess. It fails with ErrNoEmail, ErrGroupsOverage, or an error naming the
// bad claim.
func (a *Authenticator) fill(subject string, all map[string]any, sess *Session) error {
	email, _ := all["email"].(string)
	if email == "" {
		return ErrNoEmail
	}
	if _, err := policy.ParseEmail(email); err != nil {
		return fmt.Errorf("the identity provider sent an email address the gateway cannot use: %w", err)
	}
	if a.cfg.RequireVerifiedEmail && !emailVerified(all) {
		return errors.New("the identity provider has not verified this email address")
	}
	groups, err := groupsFrom(all, a.cfg.GroupsClaim)
	if err != nil {
		return err
	}
	if v, ok := ClaimAt(all, a.cfg.GroupsClaim); (!ok || v == nil) && a.cfg.GroupsMissing != nil {
		a.cfg.GroupsMissing()
	}
	claims, err := identityClaims(all)
	if err != nil {
		return err
	}
	sess.Subject = subject
	sess.Email = email
	sess.Name, _ = all["name"].(string)
	sess.Groups = groups
	sess.Claims = claims
	return nil
}

// identityClaims returns the claims rules decide on (`claims:` in a rule):
// every claim but the protocol ones, by name, and every value inside a
// nested object by its dotted path ("realm_access.roles"), the way ClaimAt
// reads oidc.groups_claim — a claim whose whole name is the path wins, and
// a path runs only through names without a dot. A value is kept when it is
// a string, a boolean ("true", "false"), a whole number (decimal, up to
// 2^53) or a list of those (other items are left out); an empty list is
// no value. More than maxClaims claims, or a list of more than maxGroups
// values, is an error.
func identityClaims(all map[string]any) (map[string][]string, error) {
	out := map[string][]string{}
	var walk func(name string, v any, nested bool) error
	walk = func(name string, v any, nested bool) error {
		if nested {
			if _, whole := all[name]; whole {
				return nil // ClaimAt reads the claim of that whole name
			}
		}
		if m, ok := v.(map[string]any); ok {
			if !nested && strings.Contains(name, ".") {
				return nil // ClaimAt splits the path at every dot
			}
			for k, e := range m {
				if strings.Contains(k, ".") || k == "" {
					continue // no dotted path reaches it
				}
				if err := walk(name+"."+k, e, true); err != nil {
					return err
				}
			}
			return nil
		}
		l := claimValues(v)
		if len(l) == 0 {
			return nil
		}
		if len(l) > maxGroups {
			return fmt.Errorf("auth: claim %q: expected at most %d values, got %d", name, maxGroups, len(l))
		}
		if len(out) == maxClaims {
			return fmt.Errorf("auth: the identity provider sent more than %d claims (nested values counted), more than the gateway keeps", maxClaims)
		}
		out[name] = l
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if protocolClaims[k] {
			continue
		}
		if err := walk(k, all[k], false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// claimValues returns a claim's value as the strings a rule compares it
// with: a string, a boolean, a whole number or a list of those; nil for
// any other shape.
func claimValues(v any) []string {
	if s, ok := claimScalar(v); ok {
		return []string{s}
	}
	t, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(t))
	for _, e := range t {
		if s, ok := claimScalar(e); ok {
			out = append(out, s)
		}
	}
	return out
}

// claimScalar spells a string, boolean or whole number claim value the way
// a rule writes it ("true", "42"). JSON numbers are float64: beyond 2^53
// they are not exact, and fractions have no one spelling, so neither is
// taken.
func claimScalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case float64:
		if t == math.Trunc(t) && math.Abs(t) <= 1<<53 {
			return strconv.FormatInt(int64(t), 10), true
		}
	}
	return "", false
}
