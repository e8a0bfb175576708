package policy

import (
	"fmt"
	"net/mail"
	"strings"
	"sync"
)

// Email is a strictly parsed address: exactly one '@', no display name, no
// comments, no quoted local part, a lowercase DNS domain. A value such as
// "a@evil.example@corp.example" is rejected rather than guessed at.
type Email struct {
	Local, Domain string
}

// String returns local@domain.
func (e Email) String() string { return e.Local + "@" + e.Domain }

// ParseEmail parses s strictly. It is used for rule values and for the
// email claim of every identity.
func ParseEmail(s string) (Email, error) {
	if strings.Count(s, "@") != 1 {
		return Email{}, fmt.Errorf("policy: expected an email address with exactly one '@', got %q", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return Email{}, fmt.Errorf("policy: expected a bare email address, got %q", s)
	}
	local, domain, _ := strings.Cut(s, "@")
	if local == "" || strings.ContainsAny(local, "\"\\ ()<>,;:[]") {
		return Email{}, fmt.Errorf("policy: expected a plain local part, got %q", s)
	}
	for i := 0; i < len(local); i++ {
		// Non-ASCII local parts are refused: strings.ToLower folds some of
		// them onto ASCII ("\u212Aen" becomes "ken"), which would let one
		// address match a rule written for another.
		if local[i] >= 0x80 {
			return Email{}, fmt.Errorf("policy: expected an ASCII local part, got %q", s)
		}
	}
	// The domain is checked as ASCII before it is lowercased, as the local
	// part is: strings.ToLower folds the Kelvin sign onto 'k', and
	// "ann@\u212Aorp.example" would otherwise be read as ann@korp.example.
	if !isASCII(domain) {
		return Email{}, fmt.Errorf("policy: expected a DNS domain after '@', got %q", s)
	}
	domain = strings.ToLower(domain)
	if !validDomain(domain) {
		return Email{}, fmt.Errorf("policy: expected a DNS domain after '@', got %q", s)
	}
	return Email{Local: strings.ToLower(local), Domain: domain}, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") && d != "localhost" {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// emailCache remembers ParseEmail's answers for the identities seen on the
// request path (the same few addresses over and over), so Decide does not
// run net/mail's parser per request. It is bounded: when full it starts over.
var emailCache struct {
	sync.RWMutex
	m map[string]emailResult
}

type emailResult struct {
	e   Email
	err error
}

const maxEmailCache = 10000

// parseEmailCached is ParseEmail with a cache; same results.
func parseEmailCached(s string) (Email, error) {
	emailCache.RLock()
	r, ok := emailCache.m[s]
	emailCache.RUnlock()
	if ok {
		return r.e, r.err
	}
	e, err := ParseEmail(s)
	emailCache.Lock()
	if emailCache.m == nil || len(emailCache.m) >= maxEmailCache {
		emailCache.m = make(map[string]emailResult)
	}
	emailCache.m[s] = emailResult{e, err}
	emailCache.Unlock()
	return e, err
}
