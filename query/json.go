package query

import (
	"unicode/utf8"
)

// A small allocation-free JSON scanner for rows as PostgreSQL's row_to_json
// writes them. It validates enough to never loop or index out of range; it
// does not need to reject every malformed document, since rows come from the
// database.

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString scans the string starting at b[i] == '"' and returns the index
// after its closing quote and whether it holds escapes.
func scanString(b []byte, i int) (end int, esc bool, ok bool) {
	i++
	for i < len(b) {
		switch b[i] {
		case '"':
			return i + 1, esc, true
		case '\\':
			esc = true
			i += 2
		default:
			i++
		}
	}
	return 0, false, false
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		end, _, ok := scanString(b, i)
		return end, ok
	case c == '{' || c == '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '{', '[':
				depth++
				i++
			case '}', ']':
				depth--
				i++
				if depth == 0 {
					return i, true
				}
			case '"':
				end, _, ok := scanString(b, i)
				if !ok {
					return 0, false
				}
				i = end
			default:
				i++
			}
		}
		return 0, false
	default:
		start := i
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i, i > start
			}
			i++
		}
		return i, i > start
	}
}

// nextRune decodes one character of the inside of a JSON string at s[i],
// handling escapes, and returns it with the index after it.
func nextRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf && c != '\\' {
		return rune(c), i + 1
	}
	if c != '\\' {
		r, n := utf8.DecodeRune(s[i:])
		return r, i + n
	}
	if i+1 >= len(s) {
		return utf8.RuneError, len(s)
	}
	switch s[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r, ok := hex4(s, i+2)
		if !ok {
			return utf8.RuneError, len(s)
		}
		i += 6
		if r >= 0xD800 && r < 0xDC00 {
			if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if r2, ok := hex4(s, i+2); ok && r2 >= 0xDC00 && r2 < 0xE000 {
					return (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000, i + 6
				}
			}
			return utf8.RuneError, i
		}
		if r >= 0xDC00 && r < 0xE000 {
			return utf8.RuneError, i
		}
		return r, i
	default: // '"', '\\', '/'
		return rune(s[i+1]), i + 2
	}
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// appendUnescaped appends the decoded inside of a JSON string to dst.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			j := i
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		var r rune
		r, i = nextRune(s, i)
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// strEq reports whether the inside of a JSON string s (escaped or not) is
// the text t.
func strEq(s []byte, t string) bool {
	j := 0
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			if j >= len(t) || s[i] != t[j] {
				return false
			}
			i++
			j++
			continue
		}
		var r rune
		r, i = nextRune(s, i)
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], r)
		if j+n > len(t) || string(buf[:n]) != t[j:j+n] {
			return false
		}
		j += n
	}
	return j == len(t)
}

func hasByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}
