package contexttoken

import (
	"encoding/json"
	"testing"
)

func TestNumericDateJSON(t *testing.T) {
	tests := []struct {
		in   string
		want NumericDate
		ok   bool
	}{
		{in: `1700000000`, want: 1700000000, ok: true},
		{in: ` 1700000000 `, want: 1700000000, ok: true},
		{in: `1700000000.9`, want: 1700000000, ok: true},
		{in: `1.7e9`, want: 1700000000, ok: true},
		{in: `-1`, want: -1, ok: true},
		{in: `"1700000000"`},
		{in: `" 1700000000"`},
		{in: `"1.7e9"`},
		{in: `null`},
		{in: `true`},
		{in: `[1]`},
		{in: `{}`},
		{in: `1e400`},
		{in: `9.3e18`},
		{in: `-9.3e18`},
		{in: ``},
	}
	for _, tc := range tests {
		var d NumericDate
		err := d.UnmarshalJSON([]byte(tc.in))
		if tc.ok != (err == nil) || tc.ok && d != tc.want {
			t.Errorf("UnmarshalJSON(%s) = %d, %v; want %d ok %v", tc.in, d, err, tc.want, tc.ok)
		}
	}
	// Through encoding/json, as Verify decodes claims.
	for _, in := range []string{`{"exp":"1"}`, `{"nbf":"1"}`, `{"iat":"1"}`, `{"device":{"attested_at":"1"}}`,
		`{"justification":{"verified_at":"1"}}`, `{"break_glass":{"expires_at":"1"}}`} {
		var c Claims
		if err := json.Unmarshal([]byte(in), &c); err == nil {
			t.Errorf("json.Unmarshal(%s) accepted a NumericDate string", in)
		}
	}
}
