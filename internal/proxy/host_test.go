package proxy

import "testing"

func TestValidHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"tool.example", true},
		{"Tool.Example", true},
		{"tool.example.", true},
		{"tool.example:8443", true},
		{"tool.example:", true}, // RFC 9110: port = *DIGIT
		{"under_score.example", true},
		{"10.0.0.1:80", true},
		{"[2001:db8::1]", true},
		{"[2001:db8::1]:443", true},
		{"[::ffff:10.0.0.1]", true},
		{"", false},
		{":80", false},
		// Go's server accepts each of these; net.SplitHostPort reads
		// "tool.example" in the first ones, an upstream may read another host.
		{"tool.example:1,admin.example", false},
		{"tool.example:80;admin.example", false},
		{"tool.example:x'", false},
		{"tool.example:80:81", false},
		{"tool.example:123456", false},
		{"tool.example,admin.example", false},
		{"admin.example=tool.example", false},
		{"tool%2eexample", false},
		{"tool.example]", false},
		{"[tool.example]", false},
		{"[2001:db8::1%25eth0]", false},
		{"[2001:db8::1]x", false},
		{"[2001:db8::1", false},
		{"[]", false},
	}
	for _, tc := range tests {
		if got := ValidHost(tc.host); got != tc.want {
			t.Errorf("ValidHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
