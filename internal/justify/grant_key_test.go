package justify

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestGrantKeys: the grant's store key is the hash of its parts, each
// ended by a NUL, the same whichever way it is computed (keys written by
// earlier releases keep being found).
func TestGrantKeys(t *testing.T) {
	for _, tc := range []struct{ sid, route, res string }{
		{"sid-1", "customers", "42"}, {"", "", ""}, {strings.Repeat("x", 600), "r", "res"},
	} {
		h := sha256.Sum256([]byte("justify-grant\x00" + "s\x00" + tc.sid + "\x00" + tc.route + "\x00" + tc.res + "\x00"))
		want := keyGrant + hex.EncodeToString(h[:])
		if got := sessionGrantKey(tc.sid, tc.route, tc.res); got != want {
			t.Errorf("sessionGrantKey(%.20q) = %s, want %s", tc.sid, got, want)
		}
		if got := grantKey(sessionHolder(tc.sid), tc.route, tc.res); got != want {
			t.Errorf("grantKey(sessionHolder(%.20q)) = %s, want %s", tc.sid, got, want)
		}
	}
}

func BenchmarkSessionGrantKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = sessionGrantKey("2b9c6f0e6c5b4a7e8d1f0a3b4c5d6e7f8091a2b3c4d5e6f7", "customers", "42")
	}
}
