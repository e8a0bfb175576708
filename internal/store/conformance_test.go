package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accessgateway/gateway/internal/store"
)

// subject is one fresh, empty store under test plus the means to make time
// pass for it.
type subject struct {
	st store.Store
	// ttl is the TTL the expiry cases use.
	ttl time.Duration
	// pass makes d elapse as far as the store's expiry is concerned.
	pass func(d time.Duration)
	// exact says pass is exact (an injected clock), so instants right before
	// expiry can be checked; with real time only "well after" can.
	exact bool
	// pttl returns the remaining TTL of key as the store reports it, or is
	// nil when the store cannot tell.
	pttl func(t *testing.T, key string) time.Duration
}

type factory func(t *testing.T) subject

// conformance is the behaviour every store.Store must have. Each case gets a
// fresh store.
var conformance = []struct {
	name string
	run  func(t *testing.T, s subject)
}{
	{"get missing is ErrNotFound", func(t *testing.T, s subject) {
		_, err := s.st.Get(ctx(t), "missing")
		wantNotFound(t, err)
	}},
	{"set then get", func(t *testing.T, s subject) {
		mustSet(t, s.st, "k", "v1", time.Hour)
		wantValue(t, s.st, "k", "v1")
		mustSet(t, s.st, "k", "v2", time.Hour)
		wantValue(t, s.st, "k", "v2")
	}},
	{"binary and empty values round-trip", func(t *testing.T, s subject) {
		bin := []byte{0, 1, 2, 0xff, '\r', '\n', 0}
		if err := s.st.Set(ctx(t), "bin", bin, time.Hour); err != nil {
			t.Fatal(err)
		}
		wantValue(t, s.st, "bin", string(bin))
		if err := s.st.Set(ctx(t), "empty", nil, time.Hour); err != nil {
			t.Fatal(err)
		}
		got, err := s.st.Get(ctx(t), "empty")
		if err != nil || len(got) != 0 {
			t.Fatalf("Get(empty) = %q, %v; want empty value, nil", got, err)
		}
	}},
	{"mget reads many keys aligned, nil for absent ones", func(t *testing.T, s subject) {
		mustSet(t, s.st, "session:a", "sess", time.Hour)
		mustSet(t, s.st, "device:b", "dev", time.Hour)
		if err := s.st.Set(ctx(t), "empty", nil, time.Hour); err != nil {
			t.Fatal(err)
		}
		keys := []string{"session:a", "missing", "device:b", "empty", "session:a"}
		want := [][]byte{[]byte("sess"), nil, []byte("dev"), {}, []byte("sess")}
		// Through the store's own MGet, and through the fallback of one Get
		// per key (a store that is only a Store): the same answer.
		for name, st := range map[string]store.Store{"MGet": s.st, "fallback": onlyStore{s.st}} {
			got, err := store.MGet(ctx(t), st, keys...)
			if err != nil {
				t.Fatalf("%s: MGet = %v", name, err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: MGet returned %d values; want %d", name, len(got), len(want))
			}
			for i := range want {
				if (got[i] == nil) != (want[i] == nil) || !bytes.Equal(got[i], want[i]) {
					t.Errorf("%s: MGet[%d] (%q) = %q (nil %v); want %q (nil %v)", name, i, keys[i], got[i], got[i] == nil, want[i], want[i] == nil)
				}
			}
		}
		if _, ok := s.st.(store.MultiGetter); !ok {
			t.Errorf("%T does not implement store.MultiGetter", s.st)
		}
		got, err := store.MGet(ctx(t), s.st)
		if err != nil || len(got) != 0 {
			t.Fatalf("MGet() = %q, %v; want no values, nil", got, err)
		}
		if _, err := store.MGet(ctx(t), s.st, "session:a", ""); err == nil {
			t.Fatal("MGet with an empty key = nil error; want an error")
		}
	}},
	{"view lends the value without a copy, or ErrNotFound", func(t *testing.T, s subject) {
		v, ok := s.st.(store.Viewer)
		if !ok {
			t.Skip("the store does not implement store.Viewer")
		}
		mustSet(t, s.st, "k", "value", s.ttl)
		var seen string
		if err := v.View(ctx(t), "k", func(b []byte) error { seen = string(b); return nil }); err != nil || seen != "value" {
			t.Fatalf("View(k) saw %q, %v; want \"value\", nil", seen, err)
		}
		errStop := errors.New("stop")
		if err := v.View(ctx(t), "k", func([]byte) error { return errStop }); !errors.Is(err, errStop) {
			t.Fatalf("View returned %v; want fn's error", err)
		}
		called := false
		err := v.View(ctx(t), "missing", func([]byte) error { called = true; return nil })
		wantNotFound(t, err)
		s.pass(s.ttl)
		err = v.View(ctx(t), "k", func([]byte) error { called = true; return nil })
		wantNotFound(t, err)
		if called {
			t.Fatal("View called fn for an absent key")
		}
		if err := v.View(ctx(t), "", func([]byte) error { return nil }); err == nil {
			t.Fatal("View with an empty key = nil; want an error")
		}
	}},
	{"mget does not return expired values", func(t *testing.T, s subject) {
		mustSet(t, s.st, "short", "v", s.ttl)
		mustSet(t, s.st, "long", "w", 100*s.ttl)
		s.pass(s.ttl)
		got, err := store.MGet(ctx(t), s.st, "short", "long")
		if err != nil || got[0] != nil || string(got[1]) != "w" {
			t.Fatalf("MGet after expiry = %q, %v; want [nil w], nil", got, err)
		}
	}},
	{"mget does not return values read before they expired", func(t *testing.T, s subject) {
		mustSet(t, s.st, "short", "v", 10*s.ttl)
		mustSet(t, s.st, "long", "w", 100*s.ttl)
		if got, err := store.MGet(ctx(t), s.st, "short", "long"); err != nil || string(got[0]) != "v" {
			t.Fatalf("MGet before expiry = %q, %v; want [v w], nil", got, err)
		}
		s.pass(10 * s.ttl)
		got, err := store.MGet(ctx(t), s.st, "short", "long")
		if err != nil || got[0] != nil || string(got[1]) != "w" {
			t.Fatalf("MGet after expiry = %q, %v; want [nil w], nil", got, err)
		}
	}},
	{"mget values outlive later writes", func(t *testing.T, s subject) {
		// MGet's values are read-only (a store may lend its own bytes) and
		// a caller may keep them: no later write may change them.
		mustSet(t, s.st, "k", "value", time.Hour)
		got, err := store.MGet(ctx(t), s.st, "k")
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, s.st, "k", "other", time.Hour)
		if _, err := s.st.Take(ctx(t), "k"); err != nil {
			t.Fatal(err)
		}
		mustSet(t, s.st, "k", "XXXXX", time.Hour)
		if string(got[0]) != "value" {
			t.Fatalf("a value MGet returned changed to %q after later writes", got[0])
		}
	}},
	{"keys are distinct", func(t *testing.T, s subject) {
		mustSet(t, s.st, "a", "1", time.Hour)
		mustSet(t, s.st, "A", "2", time.Hour)
		mustSet(t, s.st, "a ", "3", time.Hour)
		wantValue(t, s.st, "a", "1")
		wantValue(t, s.st, "A", "2")
		wantValue(t, s.st, "a ", "3")
	}},
	{"value expires after ttl", func(t *testing.T, s subject) {
		mustSet(t, s.st, "k", "v", s.ttl)
		if s.exact {
			s.pass(s.ttl - time.Nanosecond)
			wantValue(t, s.st, "k", "v")
			s.pass(time.Nanosecond)
		} else {
			s.pass(s.ttl)
		}
		_, err := s.st.Get(ctx(t), "k")
		wantNotFound(t, err)
		_, err = s.st.Take(ctx(t), "k")
		wantNotFound(t, err)
		ok, err := s.st.SetNX(ctx(t), "k", []byte("again"), time.Hour)
		if err != nil || !ok {
			t.Fatalf("SetNX after expiry = %v, %v; want true, nil", ok, err)
		}
		wantValue(t, s.st, "k", "again")
	}},
	{"set replaces the ttl", func(t *testing.T, s subject) {
		mustSet(t, s.st, "k", "v", s.ttl)
		if s.exact {
			s.pass(s.ttl / 2)
			mustSet(t, s.st, "k", "v2", s.ttl)
			s.pass(s.ttl - time.Nanosecond) // past the first ttl, within the second
			wantValue(t, s.st, "k", "v2")
			s.pass(time.Nanosecond)
			_, err := s.st.Get(ctx(t), "k")
			wantNotFound(t, err)
		}
		mustSet(t, s.st, "long", "v", time.Second)
		mustSet(t, s.st, "long", "v", time.Hour)
		if s.pttl != nil {
			if got := s.pttl(t, "long"); got <= 59*time.Minute || got > time.Hour {
				t.Fatalf("remaining ttl after re-Set = %v; want in (59m, 1h]", got)
			}
		}
	}},
	{"ttl is stored", func(t *testing.T, s subject) {
		if s.pttl == nil {
			t.Skip("the store cannot report a remaining ttl; covered by the expiry case")
		}
		mustSet(t, s.st, "k", "v", time.Minute)
		if got := s.pttl(t, "k"); got <= 59*time.Second || got > time.Minute {
			t.Fatalf("remaining ttl = %v; want in (59s, 1m]", got)
		}
		if ok, err := s.st.SetNX(ctx(t), "nx", []byte("v"), 90*time.Second); err != nil || !ok {
			t.Fatalf("SetNX = %v, %v", ok, err)
		}
		if got := s.pttl(t, "nx"); got <= 89*time.Second || got > 90*time.Second {
			t.Fatalf("remaining ttl after SetNX = %v; want in (89s, 90s]", got)
		}
	}},
	{"ttl under a millisecond is accepted", func(t *testing.T, s subject) {
		if err := s.st.Set(ctx(t), "k", []byte("v"), time.Nanosecond); err != nil {
			t.Fatalf("Set(ttl 1ns) = %v; want nil", err)
		}
		if _, err := s.st.SetNX(ctx(t), "nx", []byte("v"), time.Microsecond); err != nil {
			t.Fatalf("SetNX(ttl 1µs) = %v; want nil", err)
		}
		mustSet(t, s.st, "xx", "v", time.Hour)
		if _, err := s.st.SetXX(ctx(t), "xx", []byte("v"), time.Microsecond); err != nil {
			t.Fatalf("SetXX(ttl 1µs) = %v; want nil", err)
		}
	}},
	{"the longest ttl still expires", func(t *testing.T, s subject) {
		// time.Until of a far instant saturates at the largest Duration
		// (an ID token's exp, a grant's end): such a value still gets a
		// TTL, never none.
		for _, ttl := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Millisecond + 1, math.MaxInt64 - time.Second} {
			mustSet(t, s.st, "set", "v", ttl)
			if ok, err := s.st.SetNX(ctx(t), "nx", []byte("v"), ttl); err != nil || !ok {
				t.Fatalf("SetNX(ttl %d) = %v, %v; want true, nil", ttl, ok, err)
			}
			mustSet(t, s.st, "xx", "v", time.Hour)
			if ok, err := s.st.SetXX(ctx(t), "xx", []byte("w"), ttl); err != nil || !ok {
				t.Fatalf("SetXX(ttl %d) = %v, %v; want true, nil", ttl, ok, err)
			}
			for _, k := range []string{"set", "nx", "xx"} {
				if s.pttl != nil {
					if got := s.pttl(t, k); got < 290*365*24*time.Hour {
						t.Errorf("after ttl %d: remaining ttl of %s = %v; want about 292 years (negative: none, the key never expires)", ttl, k, got)
					}
				}
			}
			if err := s.st.Delete(ctx(t), "set", "nx", "xx"); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{"non-positive ttl is rejected and changes nothing", func(t *testing.T, s subject) {
		mustSet(t, s.st, "k", "kept", time.Hour)
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := s.st.Set(ctx(t), "k", []byte("new"), ttl); err == nil {
				t.Errorf("Set(ttl %v) = nil; want an error", ttl)
			}
			if ok, err := s.st.SetNX(ctx(t), "absent", []byte("new"), ttl); err == nil || ok {
				t.Errorf("SetNX(ttl %v) = %v, %v; want false and an error", ttl, ok, err)
			}
			if ok, err := s.st.SetXX(ctx(t), "k", []byte("new"), ttl); err == nil || ok {
				t.Errorf("SetXX(ttl %v) = %v, %v; want false and an error", ttl, ok, err)
			}
		}
		wantValue(t, s.st, "k", "kept")
		_, err := s.st.Get(ctx(t), "absent")
		wantNotFound(t, err)
	}},
	{"empty key is rejected", func(t *testing.T, s subject) {
		c := ctx(t)
		errs := map[string]error{}
		_, errs["Get"] = s.st.Get(c, "")
		errs["Set"] = s.st.Set(c, "", []byte("v"), time.Hour)
		_, errs["SetNX"] = s.st.SetNX(c, "", []byte("v"), time.Hour)
		_, errs["SetXX"] = s.st.SetXX(c, "", []byte("v"), time.Hour)
		_, errs["Take"] = s.st.Take(c, "")
		errs["Delete"] = s.st.Delete(c, "ok", "")
		for op, err := range errs {
			if err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(\"\") = %v; want an error other than ErrNotFound", op, err)
			}
		}
	}},
	{"setnx sets only when absent", func(t *testing.T, s subject) {
		ok, err := s.st.SetNX(ctx(t), "k", []byte("first"), time.Hour)
		if err != nil || !ok {
			t.Fatalf("SetNX(absent) = %v, %v; want true, nil", ok, err)
		}
		ok, err = s.st.SetNX(ctx(t), "k", []byte("second"), time.Hour)
		if err != nil || ok {
			t.Fatalf("SetNX(present) = %v, %v; want false, nil", ok, err)
		}
		wantValue(t, s.st, "k", "first")
		if err := s.st.Delete(ctx(t), "k"); err != nil {
			t.Fatal(err)
		}
		ok, err = s.st.SetNX(ctx(t), "k", []byte("third"), time.Hour)
		if err != nil || !ok {
			t.Fatalf("SetNX(after delete) = %v, %v; want true, nil", ok, err)
		}
		wantValue(t, s.st, "k", "third")
	}},
	{"setnx has one winner under concurrency", func(t *testing.T, s subject) {
		for round := range 20 {
			key := fmt.Sprintf("lock-%d", round)
			wins := race(t, 16, func(i int) bool {
				ok, err := s.st.SetNX(context.Background(), key, fmt.Appendf(nil, "%d", i), time.Hour)
				if err != nil {
					t.Errorf("SetNX: %v", err)
				}
				return ok
			})
			if len(wins) != 1 {
				t.Fatalf("round %d: %d SetNX calls won (%v); want exactly 1", round, len(wins), wins)
			}
			wantValue(t, s.st, key, fmt.Sprint(wins[0]))
		}
	}},
	{"setxx replaces only a value that is there", func(t *testing.T, s subject) {
		ok, err := s.st.SetXX(ctx(t), "k", []byte("v"), time.Hour)
		if err != nil || ok {
			t.Fatalf("SetXX(absent) = %v, %v; want false, nil", ok, err)
		}
		_, err = s.st.Get(ctx(t), "k")
		wantNotFound(t, err)
		mustSet(t, s.st, "k", "first", time.Hour)
		ok, err = s.st.SetXX(ctx(t), "k", []byte("second"), time.Hour)
		if err != nil || !ok {
			t.Fatalf("SetXX(present) = %v, %v; want true, nil", ok, err)
		}
		wantValue(t, s.st, "k", "second")
		// What Delete and Take removed stays removed.
		if err := s.st.Delete(ctx(t), "k"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.st.SetXX(ctx(t), "k", []byte("back"), time.Hour); err != nil || ok {
			t.Fatalf("SetXX(after delete) = %v, %v; want false, nil", ok, err)
		}
		_, err = s.st.Get(ctx(t), "k")
		wantNotFound(t, err)
		mustSet(t, s.st, "t", "once", time.Hour)
		if _, err := s.st.Take(ctx(t), "t"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.st.SetXX(ctx(t), "t", []byte("back"), time.Hour); err != nil || ok {
			t.Fatalf("SetXX(after take) = %v, %v; want false, nil", ok, err)
		}
		_, err = s.st.Get(ctx(t), "t")
		wantNotFound(t, err)
	}},
	{"setxx does not revive an expired value, and replaces the ttl", func(t *testing.T, s subject) {
		mustSet(t, s.st, "k", "v", s.ttl)
		s.pass(s.ttl)
		if ok, err := s.st.SetXX(ctx(t), "k", []byte("back"), time.Hour); err != nil || ok {
			t.Fatalf("SetXX(expired) = %v, %v; want false, nil", ok, err)
		}
		_, err := s.st.Get(ctx(t), "k")
		wantNotFound(t, err)
		mustSet(t, s.st, "long", "v", time.Second)
		if ok, err := s.st.SetXX(ctx(t), "long", []byte("w"), time.Hour); err != nil || !ok {
			t.Fatalf("SetXX(present) = %v, %v; want true, nil", ok, err)
		}
		if s.pttl != nil {
			if got := s.pttl(t, "long"); got <= 59*time.Minute || got > time.Hour {
				t.Fatalf("remaining ttl after SetXX = %v; want in (59m, 1h]", got)
			}
		}
		if s.exact {
			mustSet(t, s.st, "short", "v", time.Hour)
			if ok, err := s.st.SetXX(ctx(t), "short", []byte("w"), s.ttl); err != nil || !ok {
				t.Fatalf("SetXX(present) = %v, %v; want true, nil", ok, err)
			}
			s.pass(s.ttl)
			_, err := s.st.Get(ctx(t), "short")
			wantNotFound(t, err)
		}
	}},
	{"setxx never revives a value deleted concurrently", func(t *testing.T, s subject) {
		// A refresh writing back (SetXX) races a sign-out (Delete): whatever
		// the order, the key ends absent once the Delete has returned.
		for round := range 20 {
			key := fmt.Sprintf("session-%d", round)
			mustSet(t, s.st, key, "v0", time.Hour)
			race(t, 16, func(i int) bool {
				if i == 0 {
					if err := s.st.Delete(context.Background(), key); err != nil {
						t.Errorf("Delete: %v", err)
					}
					return true
				}
				if _, err := s.st.SetXX(context.Background(), key, fmt.Appendf(nil, "v%d", i), time.Hour); err != nil {
					t.Errorf("SetXX: %v", err)
				}
				return false
			})
			_, err := s.st.Get(ctx(t), key)
			wantNotFound(t, err)
		}
	}},
	{"take returns the value once", func(t *testing.T, s subject) {
		mustSet(t, s.st, "nonce", "n1", time.Hour)
		got, err := s.st.Take(ctx(t), "nonce")
		if err != nil || string(got) != "n1" {
			t.Fatalf("Take = %q, %v; want \"n1\", nil", got, err)
		}
		_, err = s.st.Take(ctx(t), "nonce")
		wantNotFound(t, err)
		_, err = s.st.Get(ctx(t), "nonce")
		wantNotFound(t, err)
		_, err = s.st.Take(ctx(t), "never-set")
		wantNotFound(t, err)
	}},
	{"take has one winner under concurrency", func(t *testing.T, s subject) {
		for round := range 20 {
			key := fmt.Sprintf("nonce-%d", round)
			mustSet(t, s.st, key, "secret", time.Hour)
			wins := race(t, 16, func(int) bool {
				v, err := s.st.Take(context.Background(), key)
				switch {
				case err == nil && string(v) == "secret":
					return true
				case errors.Is(err, store.ErrNotFound):
					return false
				default:
					t.Errorf("Take = %q, %v; want \"secret\" or ErrNotFound", v, err)
					return false
				}
			})
			if len(wins) != 1 {
				t.Fatalf("round %d: %d Take calls got the value; want exactly 1", round, len(wins))
			}
		}
	}},
	{"compare-and-delete removes only the value it names", func(t *testing.T, s subject) {
		if ok, err := s.st.CompareAndDelete(ctx(t), "k", []byte("v")); err != nil || ok {
			t.Fatalf("CompareAndDelete(absent) = %v, %v; want false, nil", ok, err)
		}
		mustSet(t, s.st, "k", "first", time.Hour)
		// Another value, a prefix of it, a longer one, an empty one: kept.
		for _, v := range []string{"second", "firs", "first\x00", ""} {
			if ok, err := s.st.CompareAndDelete(ctx(t), "k", []byte(v)); err != nil || ok {
				t.Fatalf("CompareAndDelete(k, %q) with %q stored = %v, %v; want false, nil", v, "first", ok, err)
			}
			wantValue(t, s.st, "k", "first")
		}
		if ok, err := s.st.CompareAndDelete(ctx(t), "k", []byte("first")); err != nil || !ok {
			t.Fatalf("CompareAndDelete(k, first) = %v, %v; want true, nil", ok, err)
		}
		_, err := s.st.Get(ctx(t), "k")
		wantNotFound(t, err)
		// Binary and empty values compare byte for byte.
		bin := []byte{0, 0xff, '\r', '\n', 0}
		if err := s.st.Set(ctx(t), "bin", bin, time.Hour); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.st.CompareAndDelete(ctx(t), "bin", bin[:4]); err != nil || ok {
			t.Fatalf("CompareAndDelete(bin, prefix) = %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.st.CompareAndDelete(ctx(t), "bin", bin); err != nil || !ok {
			t.Fatalf("CompareAndDelete(bin) = %v, %v; want true, nil", ok, err)
		}
		if err := s.st.Set(ctx(t), "empty", nil, time.Hour); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.st.CompareAndDelete(ctx(t), "empty", []byte{}); err != nil || !ok {
			t.Fatalf("CompareAndDelete(empty) = %v, %v; want true, nil", ok, err)
		}
		if _, err := s.st.CompareAndDelete(ctx(t), "", []byte("v")); err == nil {
			t.Fatal("CompareAndDelete with an empty key = nil error; want an error")
		}
		// An expired value is not there to delete.
		mustSet(t, s.st, "short", "v", s.ttl)
		s.pass(s.ttl)
		if ok, err := s.st.CompareAndDelete(ctx(t), "short", []byte("v")); err != nil || ok {
			t.Fatalf("CompareAndDelete(expired) = %v, %v; want false, nil", ok, err)
		}
	}},
	{"compare-and-delete never deletes a value written concurrently", func(t *testing.T, s subject) {
		// Each round: the old value is being replaced by a new one while
		// a caller deletes the old one. Whatever the order, the new value
		// survives: either the delete came first (and the Set wrote the
		// new value after it), or it found the new value and kept it.
		for round := range 20 {
			mustSet(t, s.st, "k", "old", time.Hour)
			race(t, 2, func(i int) bool {
				if i == 0 {
					if err := s.st.Set(ctx(t), "k", []byte(fmt.Sprintf("new%d", round)), time.Hour); err != nil {
						t.Error(err)
					}
					return false
				}
				if _, err := s.st.CompareAndDelete(ctx(t), "k", []byte("old")); err != nil {
					t.Error(err)
				}
				return false
			})
			wantValue(t, s.st, "k", fmt.Sprintf("new%d", round))
		}
	}},
	{"compare-and-swap replaces only the value it names", func(t *testing.T, s subject) {
		if ok, err := s.st.CompareAndSwap(ctx(t), "k", []byte("v"), []byte("w"), time.Hour); err != nil || ok {
			t.Fatalf("CompareAndSwap(absent) = %v, %v; want false, nil", ok, err)
		}
		_, err := s.st.Get(ctx(t), "k")
		wantNotFound(t, err) // an absent key is not created
		mustSet(t, s.st, "k", "first", time.Hour)
		for _, v := range []string{"second", "firs", "first\x00", ""} {
			if ok, err := s.st.CompareAndSwap(ctx(t), "k", []byte(v), []byte("x"), time.Hour); err != nil || ok {
				t.Fatalf("CompareAndSwap(k, %q) with %q stored = %v, %v; want false, nil", v, "first", ok, err)
			}
			wantValue(t, s.st, "k", "first")
		}
		if ok, err := s.st.CompareAndSwap(ctx(t), "k", []byte("first"), []byte("second"), s.ttl); err != nil || !ok {
			t.Fatalf("CompareAndSwap(k, first, second) = %v, %v; want true, nil", ok, err)
		}
		wantValue(t, s.st, "k", "second")
		// The new value has the new TTL.
		s.pass(s.ttl)
		_, err = s.st.Get(ctx(t), "k")
		wantNotFound(t, err)
		if _, err := s.st.CompareAndSwap(ctx(t), "", []byte("v"), []byte("w"), time.Hour); err == nil {
			t.Fatal("CompareAndSwap with an empty key = nil error; want an error")
		}
		// An expired value is not there to replace.
		mustSet(t, s.st, "short", "v", s.ttl)
		s.pass(s.ttl)
		if ok, err := s.st.CompareAndSwap(ctx(t), "short", []byte("v"), []byte("w"), time.Hour); err != nil || ok {
			t.Fatalf("CompareAndSwap(expired) = %v, %v; want false, nil", ok, err)
		}
	}},
	{"compare-and-swap: of concurrent swaps from one value, exactly one wins", func(t *testing.T, s subject) {
		for round := range 20 {
			mustSet(t, s.st, "k", "old", time.Hour)
			wins := race(t, 8, func(i int) bool {
				ok, err := s.st.CompareAndSwap(ctx(t), "k", []byte("old"), []byte(fmt.Sprintf("new%d", i)), time.Hour)
				if err != nil {
					t.Error(err)
				}
				return ok
			})
			if len(wins) != 1 {
				t.Fatalf("round %d: %d swaps won; want exactly 1", round, len(wins))
			}
			wantValue(t, s.st, "k", fmt.Sprintf("new%d", wins[0]))
		}
	}},
	{"delete removes keys and ignores absent ones", func(t *testing.T, s subject) {
		for _, k := range []string{"a", "b", "c", "keep"} {
			mustSet(t, s.st, k, k, time.Hour)
		}
		if err := s.st.Delete(ctx(t), "a"); err != nil {
			t.Fatalf("Delete(a) = %v", err)
		}
		if err := s.st.Delete(ctx(t), "b", "c", "absent", "b"); err != nil {
			t.Fatalf("Delete(b, c, absent, b) = %v", err)
		}
		if err := s.st.Delete(ctx(t)); err != nil {
			t.Fatalf("Delete() = %v", err)
		}
		for _, k := range []string{"a", "b", "c"} {
			_, err := s.st.Get(ctx(t), k)
			wantNotFound(t, err)
		}
		wantValue(t, s.st, "keep", "keep")
	}},
	{"values are copied in and out", func(t *testing.T, s subject) {
		in := []byte("original")
		if err := s.st.Set(ctx(t), "k", in, time.Hour); err != nil {
			t.Fatal(err)
		}
		copy(in, "XXXXXXXX")
		out, err := s.st.Get(ctx(t), "k")
		if err != nil || string(out) != "original" {
			t.Fatalf("Get after changing Set's slice = %q, %v; want \"original\"", out, err)
		}
		copy(out, "YYYYYYYY")
		wantValue(t, s.st, "k", "original")

		nx := []byte("nx-value")
		if _, err := s.st.SetNX(ctx(t), "nx", nx, time.Hour); err != nil {
			t.Fatal(err)
		}
		copy(nx, "ZZZZZZZZ")
		wantValue(t, s.st, "nx", "nx-value")

		xx := []byte("xx-value")
		if _, err := s.st.SetXX(ctx(t), "nx", xx, time.Hour); err != nil {
			t.Fatal(err)
		}
		copy(xx, "WWWWWWWW")
		wantValue(t, s.st, "nx", "xx-value")
	}},
	{"done context is an error, not ErrNotFound", func(t *testing.T, s subject) {
		mustSet(t, s.st, "k", "v", time.Hour)
		c, cancel := context.WithCancel(context.Background())
		cancel()
		errs := map[string]error{}
		_, errs["Get"] = s.st.Get(c, "k")
		errs["Set"] = s.st.Set(c, "k", []byte("changed"), time.Hour)
		_, errs["SetNX"] = s.st.SetNX(c, "nx", []byte("v"), time.Hour)
		_, errs["SetXX"] = s.st.SetXX(c, "k", []byte("changed"), time.Hour)
		_, errs["Take"] = s.st.Take(c, "k")
		errs["Delete"] = s.st.Delete(c, "k")
		_, errs["CompareAndDelete"] = s.st.CompareAndDelete(c, "k", []byte("v"))
		errs["Ping"] = s.st.Ping(c)
		for op, err := range errs {
			if !errors.Is(err, context.Canceled) || store.IsUnavailable(err) {
				t.Errorf("%s(cancelled) = %v; want context.Canceled, not unavailable", op, err)
			}
		}
		wantValue(t, s.st, "k", "v")
	}},
	{"ping", func(t *testing.T, s subject) {
		if err := s.st.Ping(ctx(t)); err != nil {
			t.Fatalf("Ping = %v", err)
		}
	}},
	{"closed store fails every call", func(t *testing.T, s subject) {
		mustSet(t, s.st, "k", "v", time.Hour)
		if err := s.st.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if err := s.st.Close(); err != nil {
			t.Fatalf("second Close = %v; want nil", err)
		}
		errs := map[string]error{}
		_, errs["Get"] = s.st.Get(ctx(t), "k")
		errs["Set"] = s.st.Set(ctx(t), "k", []byte("v"), time.Hour)
		_, errs["SetNX"] = s.st.SetNX(ctx(t), "nx", []byte("v"), time.Hour)
		_, errs["SetXX"] = s.st.SetXX(ctx(t), "k", []byte("v"), time.Hour)
		_, errs["Take"] = s.st.Take(ctx(t), "k")
		_, errs["MGet"] = store.MGet(ctx(t), s.st, "k", "nx")
		errs["Delete"] = s.st.Delete(ctx(t), "k")
		_, errs["CompareAndDelete"] = s.st.CompareAndDelete(ctx(t), "k", []byte("v"))
		errs["Ping"] = s.st.Ping(ctx(t))
		for op, err := range errs {
			if !store.IsUnavailable(err) {
				t.Errorf("%s after Close = %v; want an unavailable error", op, err)
			}
		}
	}},
}

func runConformance(t *testing.T, open factory) {
	for _, tc := range conformance {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// race runs f(0..n-1) in n goroutines released together and returns the
// indexes for which f returned true.
func race(t *testing.T, n int, f func(i int) bool) []int {
	t.Helper()
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  []int
		ready atomic.Int32
	)
	for i := range n {
		wg.Go(func() {
			ready.Add(1)
			<-start
			if f(i) {
				mu.Lock()
				wins = append(wins, i)
				mu.Unlock()
			}
		})
	}
	for ready.Load() < int32(n) {
		time.Sleep(time.Microsecond)
	}
	close(start)
	wg.Wait()
	return wins
}

func ctx(t *testing.T) context.Context { return t.Context() }

// onlyStore hides every method but the Store interface's (MGet's fallback).
type onlyStore struct{ store.Store }

func mustSet(t *testing.T, st store.Store, key, value string, ttl time.Duration) {
	t.Helper()
	if err := st.Set(ctx(t), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q) = %v", key, err)
	}
}

func wantValue(t *testing.T, st store.Store, key, want string) {
	t.Helper()
	got, err := st.Get(ctx(t), key)
	if err != nil || !bytes.Equal(got, []byte(want)) {
		t.Fatalf("Get(%q) = %q, %v; want %q, nil", key, got, err, want)
	}
}

func wantNotFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v; want ErrNotFound", err)
	}
	if store.IsUnavailable(err) {
		t.Fatalf("IsUnavailable(%v) = true; want false", err)
	}
}
