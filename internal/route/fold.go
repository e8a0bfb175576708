package route

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// foldSegment appends seg, a segment of a normalized path, to dst in the
// form compared without regard to letter case: ASCII letters in lower case,
// a percent-escaped non-ASCII character whose upper case, lower case or
// simple case folding is an ASCII letter replaced by that letter in lower
// case, and a percent-escaped non-ASCII decimal digit replaced by its ASCII
// digit (Java's Long.parseLong and Python's int read "٤٢" and "４２" as 42,
// and Python's and .NET's \d match them: Spring with a long path variable
// and a Django re_path serve such a path as the record the digits name).
// Case-insensitive comparisons outside ASCII differ between platforms:
// .NET's OrdinalIgnoreCase and Java's equalsIgnoreCase read "admın" (dotless
// ı, %C4%B1) and "ſ" (long s) as "admin" and "s", and the Kelvin sign as
// "k"; so must the gateway. Other escapes are kept (their hex lower-cased;
// route patterns never hold '%').
func foldSegment(dst []byte, seg string) []byte {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case 'A' <= c && c <= 'Z':
			dst = append(dst, c+('a'-'A'))
		case c == '%':
			if r, n := escapedRune(seg[i:]); n > 0 {
				a := asciiFold(r)
				if a == 0 {
					a = asciiDigit(r)
				}
				if a != 0 {
					dst = append(dst, a)
					i += n - 1
					continue
				}
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// escapedRune decodes the percent-escaped UTF-8 sequence of one non-ASCII
// rune at the start of s ("%C4%B1") and returns it with the number of bytes
// of s it takes, or 0, 0.
func escapedRune(s string) (rune, int) {
	var b [utf8.UTFMax]byte
	lead, ok := escapedByte(s)
	if !ok || lead < 0xC0 {
		return 0, 0
	}
	n := 2
	switch {
	case lead >= 0xF0:
		n = 4
	case lead >= 0xE0:
		n = 3
	}
	if n > len(b) || len(s) < 3*n {
		return 0, 0
	}
	for k := 0; k < n; k++ {
		c, ok := escapedByte(s[3*k:])
		if !ok {
			return 0, 0
		}
		b[k] = c
	}
	r, size := utf8.DecodeRune(b[:n])
	if r == utf8.RuneError || size != n {
		return 0, 0
	}
	return r, 3 * n
}

func escapedByte(s string) (byte, bool) {
	if len(s) < 3 || s[0] != '%' || !isHex(s[1]) || !isHex(s[2]) {
		return 0, false
	}
	return unhex(s[1])<<4 | unhex(s[2]), true
}

// asciiFold returns the lower-case ASCII letter that the non-ASCII rune r
// equals without regard to case on some platform, or 0.
func asciiFold(r rune) byte {
	if r < utf8.RuneSelf {
		return 0
	}
	for _, c := range [...]rune{unicode.ToLower(r), unicode.ToUpper(r)} {
		if a := asciiLetter(c); a != 0 {
			return a
		}
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if a := asciiLetter(f); a != 0 {
			return a
		}
	}
	return 0
}

func asciiLetter(c rune) byte {
	switch {
	case 'a' <= c && c <= 'z':
		return byte(c)
	case 'A' <= c && c <= 'Z':
		return byte(c) + ('a' - 'A')
	}
	return 0
}

// caseMatters reports whether re, matched without regard to case (as the
// folded reading and case-insensitive upstreams match it: Express compiles
// a route's expressions with its 'i' flag, ASP.NET Core's regex constraints
// ignore case), can accept a segment without upper-case ASCII letters that
// re refuses: a literal or class of re accepts a letter whose case folding
// reaches a lower-case ASCII letter that it does not accept itself
// ("[A-Z]", the Kelvin sign). Such a segment would otherwise not make the
// folded reading run (resolve).
func caseMatters(re *regexp.Regexp) bool {
	s, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return true // compiled before, so not expected: run the reading
	}
	return caseMattersIn(s)
}

func caseMattersIn(s *syntax.Regexp) bool {
	switch s.Op {
	case syntax.OpLiteral:
		if s.Flags&syntax.FoldCase == 0 {
			for _, r := range s.Rune {
				if a := asciiFold(r); a != 0 && rune(a) != r || 'A' <= r && r <= 'Z' {
					return true
				}
			}
		}
	case syntax.OpCharClass:
		for c := rune('a'); c <= 'z'; c++ {
			if inClass(s.Rune, c) {
				continue
			}
			for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
				if inClass(s.Rune, f) {
					return true
				}
			}
		}
	}
	for _, sub := range s.Sub {
		if caseMattersIn(sub) {
			return true
		}
	}
	return false
}

// inClass reports whether r is in the ranges of a syntax.OpCharClass.
func inClass(ranges []rune, r rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= r && r <= ranges[i+1] {
			return true
		}
	}
	return false
}

// asciiDigit returns the ASCII digit of the non-ASCII decimal digit r
// (Unicode category Nd), or 0. Unicode encodes each set of decimal digits
// as a run of ten from zero, so a digit's value is its distance from the
// start of its range in unicode.Nd, modulo 10.
func asciiDigit(r rune) byte {
	if r < utf8.RuneSelf || !unicode.IsDigit(r) {
		return 0
	}
	for _, rg := range unicode.Nd.R16 {
		if lo, hi := rune(rg.Lo), rune(rg.Hi); lo <= r && r <= hi && rg.Stride == 1 {
			return byte('0' + (r-lo)%10)
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if lo, hi := rune(rg.Lo), rune(rg.Hi); lo <= r && r <= hi && rg.Stride == 1 {
			return byte('0' + (r-lo)%10)
		}
	}
	return 0
}

// numberReading appends to dst the decimal number that lenient parsers of
// record IDs read in seg, a folded segment (foldSegment), when that differs
// from seg: Ruby's String#to_i, which Rails' find applies ("42abc", "+42"
// and " 42" are 42), and Java's Long.decode after Spring trims whitespace
// ("0x2a", "#2a" and "+42" are 42). It returns dst unchanged when seg reads
// as no number, or as itself (all digits), or ends in a format suffix
// ("43.json").
func numberReading(dst, seg []byte) []byte {
	s := seg
	for len(s) >= 3 && string(s[:3]) == "%20" {
		s = s[3:]
	}
	for len(s) >= 3 && string(s[len(s)-3:]) == "%20" {
		s = s[:len(s)-3]
	}
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	var hex []byte
	switch {
	case len(s) > 2 && s[0] == '0' && s[1] == 'x':
		hex = s[2:]
	case len(s) > 3 && string(s[:3]) == "%23":
		hex = s[3:]
	}
	if hex != nil && len(hex) <= 15 {
		var v uint64
		ok := true
		for _, c := range hex {
			switch {
			case '0' <= c && c <= '9':
				v = v<<4 | uint64(c-'0')
			case 'a' <= c && c <= 'f':
				v = v<<4 | uint64(c-'a'+10)
			default:
				ok = false
			}
		}
		if ok {
			return strconv.AppendUint(dst, v, 10)
		}
	}
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	if n == 0 || n == len(seg) || n < len(s) && s[n] == '.' {
		// No number, or the segment itself; a '.' after the digits is a
		// format suffix, the business of Options.FormatSuffix.
		return dst
	}
	return append(dst, s[:n]...)
}

// lenientNumbers reports whether a segment of path may read as another
// number to a lenient parser (numberReading): it starts with a digit, '+'
// or '%' and is not all digits.
func lenientNumbers(path string) bool {
	for i := 0; i < len(path); i++ {
		if path[i] != '/' || i+1 >= len(path) {
			continue
		}
		switch c := path[i+1]; {
		case c == '+' || c == '%':
			return true
		case '0' <= c && c <= '9':
			j := i + 2
			for j < len(path) && '0' <= path[j] && path[j] <= '9' {
				j++
			}
			if j < len(path) && path[j] != '/' {
				return true
			}
		}
	}
	return false
}
