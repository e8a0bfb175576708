package token

import (
	"reflect"
	"testing"
	"time"

	"github.com/accessgateway/gateway/contexttoken"
)

// TestCacheKeyCoversEveryClaim changes each claim field in turn (walking into
// the device, justification and break-glass objects) and requires the cache
// key to change, except for the fields Mint fills itself. A field added to
// contexttoken.Claims but not to cacheKey would otherwise let the cache hand
// out a token with stale claims.
func TestCacheKeyCoversEveryClaim(t *testing.T) {
	base := contexttoken.Claims{
		Audience: contexttoken.Audience{"a"}, Subject: "s", Email: "e@x.example", Groups: []string{"g"},
		Route: "r", SourceIP: "192.0.2.1",
		Device:        &contexttoken.Device{ID: "d", Trust: "t", AttestedAt: 1},
		Justification: &contexttoken.Justification{System: "jira", ID: "J-1", VerifiedAt: 1, Resource: "c1"},
		BreakGlass:    &contexttoken.BreakGlass{ID: "b", Reason: "why", ExpiresAt: 1},
	}
	notAfter := time.Unix(1000, 0)
	key := func(c contexttoken.Claims) [32]byte {
		k, err := cacheKey(c, notAfter)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	want := key(base)
	mintFills := map[string]bool{"Issuer": true, "IssuedAt": true, "NotBefore": true, "Expiry": true, "ID": true}

	var visit func(path string, v reflect.Value, top bool)
	visit = func(path string, v reflect.Value, top bool) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			fv := v.Field(i)
			name := path + f.Name
			if fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct {
				visit(name+".", fv.Elem(), false)
				// The object's presence is part of the key too.
				saved := reflect.ValueOf(fv.Interface())
				fv.Set(reflect.Zero(fv.Type()))
				if key(base) == want {
					t.Errorf("removing %s does not change the cache key", name)
				}
				fv.Set(saved)
				continue
			}
			saved := reflect.New(fv.Type()).Elem()
			saved.Set(fv)
			switch fv.Kind() {
			case reflect.String:
				fv.SetString(fv.String() + "x")
			case reflect.Int64:
				fv.SetInt(fv.Int() + 1)
			case reflect.Slice:
				fv.Set(reflect.Append(fv, reflect.ValueOf("x").Convert(fv.Type().Elem())))
			default:
				t.Fatalf("%s: kind %s not handled by this test; extend it and cacheKey", name, fv.Kind())
			}
			changed := key(base) != want
			fv.Set(saved)
			switch {
			case top && mintFills[f.Name] && changed:
				t.Errorf("%s is filled by Mint but changes the cache key", name)
			case !(top && mintFills[f.Name]) && !changed:
				t.Errorf("changing %s does not change the cache key", name)
			}
		}
	}
	visit("", reflect.ValueOf(&base).Elem(), true)
	if key(base) != want {
		t.Fatal("the test did not restore the claims")
	}
	if k2, _ := cacheKey(base, notAfter.Add(time.Second)); k2 == want {
		t.Error("notAfter does not change the cache key")
	}
}
