package policy

import (
	"strings"
	"testing"
)

type emailTest struct {
	name string
	in   string
	want Email
	// wantErr is a substring of the expected error; "" means success.
	wantErr string
}

func (tc emailTest) run(t *testing.T) {
	t.Helper()
	got, err := ParseEmail(tc.in)
	if tc.wantErr != "" {
		if err == nil {
			t.Fatalf("ParseEmail(%q) = %+v, want error containing %q", tc.in, got, tc.wantErr)
		}
		if !strings.HasPrefix(err.Error(), "policy: ") || !strings.Contains(err.Error(), tc.wantErr) {
			t.Fatalf("ParseEmail(%q) error = %q, want policy: ...%q...", tc.in, err, tc.wantErr)
		}
		if got != (Email{}) {
			t.Fatalf("ParseEmail(%q) returned %+v with its error", tc.in, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("ParseEmail(%q): %v", tc.in, err)
	}
	if got != tc.want {
		t.Fatalf("ParseEmail(%q) = %+v, want %+v", tc.in, got, tc.want)
	}
	// The parsed form parses to itself.
	again, err := ParseEmail(got.String())
	if err != nil || again != got {
		t.Fatalf("ParseEmail(%q) = %+v, %v; want %+v", got.String(), again, err, got)
	}
}

func TestParseEmail(t *testing.T) {
	const oneAt = "exactly one '@'"
	const bare = "bare email address"
	tests := []emailTest{
		{name: "plain", in: "alice@corp.example", want: Email{"alice", "corp.example"}},
		{name: "dots and plus", in: "a.b+tag@corp.example", want: Email{"a.b+tag", "corp.example"}},
		{name: "uppercase domain lowercased", in: "alice@CORP.Example", want: Email{"alice", "corp.example"}},
		{name: "uppercase local lowercased", in: "Alice@corp.example", want: Email{"alice", "corp.example"}},
		{name: "localhost", in: "root@localhost", want: Email{"root", "localhost"}},
		{name: "punycode domain", in: "a@xn--bcher-kva.example", want: Email{"a", "xn--bcher-kva.example"}},
		{name: "subdomain", in: "a@eu.corp.example", want: Email{"a", "eu.corp.example"}},

		{name: "empty", in: "", wantErr: oneAt},
		{name: "no @", in: "alice", wantErr: oneAt},
		{name: "two @", in: "a@evil.example@corp.example", wantErr: oneAt},
		{name: "quoted local part with @", in: `"a@evil.example"@corp.example`, wantErr: oneAt},
		{name: "display name", in: "Alice <alice@corp.example>", wantErr: bare},
		{name: "angle brackets only", in: "<alice@corp.example>", wantErr: bare},
		{name: "quoted display name", in: `"alice@corp.example" <x@evil.example>`, wantErr: oneAt},
		{name: "comment after", in: "alice@corp.example (Alice)", wantErr: bare},
		{name: "comment in local part", in: "alice(x)@corp.example", wantErr: bare},
		{name: "quoted local part", in: `"alice"@corp.example`, wantErr: bare},
		{name: "quoted local part with space", in: `"a b"@corp.example`, wantErr: bare},
		{name: "leading space", in: " alice@corp.example", wantErr: bare},
		{name: "trailing newline", in: "alice@corp.example\n", wantErr: bare},
		{name: "empty local part", in: "@corp.example", wantErr: bare},
		{name: "empty domain", in: "alice@", wantErr: bare},
		{name: "double dot local", in: "a..b@corp.example", wantErr: bare},
		{name: "trailing dot domain", in: "a@corp.example.", wantErr: bare},
		{name: "single-label domain", in: "a@corp", wantErr: "DNS domain"},
		{name: "domain literal", in: "a@[10.0.0.1]", wantErr: "DNS domain"},
		{name: "underscore in domain", in: "a@corp_x.example", wantErr: "DNS domain"},
		{name: "hyphen-leading label", in: "a@-corp.example", wantErr: "DNS domain"},
		{name: "unicode domain", in: "a@bücher.example", wantErr: "DNS domain"},
		{name: "fullwidth dot in domain", in: "a@corp\uff0eexample", wantErr: "DNS domain"},
		{name: "unicode local part", in: "ålice@corp.example", wantErr: "ASCII local part"},
		{name: "Kelvin sign folds to k", in: "\u212Aen@corp.example", wantErr: "ASCII local part"},
		{name: "Cyrillic look-alike", in: "\u0430lice@corp.example", wantErr: "ASCII local part"},
		{name: "Kelvin sign in the domain folds to k", in: "ann@\u212Aorp.example", wantErr: "DNS domain"},
		{name: "Kelvin sign in a domain label's middle", in: "ann@bac\u212A.example", wantErr: "DNS domain"},
		{name: "label too long", in: "a@" + strings.Repeat("x", 64) + ".example", wantErr: "DNS domain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{"alice@corp.example", "a@evil.example@corp.example", `"a"@b.example`, "A <a@b.example>", "\u212A@corp.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEmail(s)
		if err != nil {
			return
		}
		if strings.Count(e.String(), "@") != 1 || e.Local == "" || !validDomain(e.Domain) {
			t.Fatalf("ParseEmail(%q) = %+v: not a single plain address", s, e)
		}
		for i := 0; i < len(e.Local); i++ {
			if c := e.Local[i]; c >= 0x80 || c <= ' ' || 'A' <= c && c <= 'Z' {
				t.Fatalf("ParseEmail(%q) = %+v: local part byte %#x", s, e, c)
			}
		}
		if !strings.EqualFold(e.String(), s) {
			t.Fatalf("ParseEmail(%q) = %+v: not the input up to letter case", s, e)
		}
	})
}
