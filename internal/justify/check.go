package justify

import "github.com/accessgateway/gateway/internal/policy"

// Check judges a looked-up ticket for one user and one bound resource. It is
// pure and does not allocate. It returns "" when the ticket justifies the
// access, else the first unmet condition:
//
//   - a zero Ticket (nothing was looked up): ReasonRequired;
//   - the system's own verdict (http verifier), as it is;
//   - not open: ReasonClosed;
//   - user not among Involved (compared ignoring ASCII case): ReasonNotAssigned;
//   - resource != "" and not among Resources (ignoring ASCII case, after
//     trimming spaces): ReasonResourceMismatch.
//
// Check does NOT look at time: the caller ends the grant at ExpiresAt and
// re-verifies on its interval. It does not know which route asked; a ticket
// justifies the user for any route that accepts its system.
func Check(t Ticket, user string, resource string) policy.Reason {
	switch {
	case t.System == "" || t.ID == "":
		return ReasonRequired
	case t.Verdict != "":
		return t.Verdict
	case !t.Open:
		return ReasonClosed
	}
	user = trimSpaceASCII(user)
	ok := false
	for _, p := range t.Involved {
		if user != "" && asciiEqualFold(p, user) {
			ok = true
			break
		}
	}
	if !ok {
		return ReasonNotAssigned
	}
	if resource = trimSpaceASCII(resource); resource != "" {
		for _, r := range t.Resources {
			if asciiEqualFold(trimSpaceASCII(r), resource) {
				return ""
			}
		}
		return ReasonResourceMismatch
	}
	return ""
}

// asciiEqualFold compares a and b folding only ASCII letters: non-ASCII
// bytes must be equal. (strings.EqualFold folds "K" with the Kelvin sign,
// which would let one spelling stand for another.)
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func trimSpaceASCII(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
