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
//   - resource != "" and not among Resources: ReasonResourceMismatch. The
//     resource is compared byte for byte with each of the ticket's, spaces
//     and tabs around the ticket's trimmed: resource IDs may be
//     case-sensitive (cus_Ab12 and cus_aB12 are two customers), and the
//     request's spelling is the one the upstream acts on, so it is never
//     trimmed nor folded. CheckFoldCase is the opt-in for routes whose
//     resources are known to ignore case.
//
// Check does NOT look at time: the caller ends the grant at ExpiresAt and
// re-verifies on its interval. It does not know which route asked; a ticket
// justifies the user for any route that accepts its system.
func Check(t Ticket, user string, resource string) policy.Reason {
	return check(t, user, resource, false)
}

// CheckFoldCase is Check with the resource compared ignoring ASCII case
// (require.justification.bind_case: insensitive).
func CheckFoldCase(t Ticket, user string, resource string) policy.Reason {
	return check(t, user, resource, true)
}

func check(t Ticket, user string, resource string, fold bool) policy.Reason {
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
	if resource != "" {
		for _, r := range t.Resources {
			if sameResource(trimSpaceASCII(r), resource, fold) {
				return ""
			}
		}
		return ReasonResourceMismatch
	}
	return ""
}

// sameResource compares two resources exactly, or ignoring ASCII case when
// fold is set.
func sameResource(a, b string, fold bool) bool {
	if fold {
		return asciiEqualFold(a, b)
	}
	return a == b
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
