package query

import "cmp"

// dec is an exact decimal number as PostgreSQL's numeric holds it, compared
// without rounding through float64. It points into the text it was parsed
// from, so parsing allocates nothing.
type dec struct {
	special int8 // decFinite, decPosInf, decNegInf, decNaN
	neg     bool
	a, b    []byte // significant digits: a then b, no leading or trailing zeros
	exp     int    // value = 0.(a b) × 10^exp; zero when a and b are empty
}

const (
	decFinite int8 = iota
	decPosInf
	decNegInf
	decNaN
)

// maxExp bounds exponents (PostgreSQL's numeric input allows ±1000).
const maxExp = 1000

// parseDec parses a JSON number, or a JSON string or bare text holding a
// number, NaN, Infinity or -Infinity (case-insensitive).
func parseDec(s []byte) (dec, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	var d dec
	switch {
	case eqFold(s, "nan"):
		d.special = decNaN
		return d, true
	case eqFold(s, "infinity"), eqFold(s, "+infinity"):
		d.special = decPosInf
		return d, true
	case eqFold(s, "-infinity"):
		d.special = decNegInf
		return d, true
	}
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		d.neg = s[i] == '-'
		i++
	}
	is := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intp := s[is:i]
	var frac []byte
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
	}
	if len(intp)+len(frac) == 0 {
		return d, false
	}
	e := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if e > maxExp {
				return d, false
			}
			e = e*10 + int(s[i]-'0')
			i++
		}
		if i == es || e > maxExp {
			return d, false
		}
		if eneg {
			e = -e
		}
	}
	if i != len(s) {
		return d, false
	}
	z := 0
	for z < len(intp) && intp[z] == '0' {
		z++
	}
	intp = intp[z:]
	if len(intp) == 0 {
		z = 0
		for z < len(frac) && frac[z] == '0' {
			z++
		}
		d.b = frac[z:]
		d.exp = e - z
	} else {
		d.a, d.b = intp, frac
		d.exp = len(intp) + e
	}
	for len(d.b) > 0 && d.b[len(d.b)-1] == '0' {
		d.b = d.b[:len(d.b)-1]
	}
	if len(d.b) == 0 {
		for len(d.a) > 0 && d.a[len(d.a)-1] == '0' {
			d.a = d.a[:len(d.a)-1]
		}
	}
	if len(d.a)+len(d.b) == 0 {
		d.neg, d.exp = false, 0
	}
	return d, true
}

func (d *dec) rank() int {
	switch d.special {
	case decNegInf:
		return 0
	case decPosInf:
		return 2
	case decNaN:
		return 3
	}
	return 1
}

func (d *dec) sign() int {
	switch {
	case len(d.a)+len(d.b) == 0:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

func (d *dec) digit(i int) byte {
	if i < len(d.a) {
		return d.a[i]
	}
	return d.b[i-len(d.a)]
}

// cmpDec orders numerics as PostgreSQL does: -Infinity < finite < Infinity
// < NaN, and NaN equals NaN.
func cmpDec(x, y *dec) int {
	if rx, ry := x.rank(), y.rank(); rx != ry || rx != 1 {
		return cmp.Compare(rx, ry)
	}
	sx, sy := x.sign(), y.sign()
	if sx != sy {
		return cmp.Compare(sx, sy)
	}
	if sx == 0 {
		return 0
	}
	m := 0
	if x.exp != y.exp {
		m = cmp.Compare(x.exp, y.exp)
	} else {
		nx, ny := len(x.a)+len(x.b), len(y.a)+len(y.b)
		for i := 0; i < nx && i < ny && m == 0; i++ {
			m = cmp.Compare(x.digit(i), y.digit(i))
		}
		if m == 0 {
			m = cmp.Compare(nx, ny)
		}
	}
	return m * sx
}

// eqFold reports whether s equals the lower-case ASCII word w, ignoring
// ASCII case.
func eqFold(s []byte, w string) bool {
	if len(s) != len(w) {
		return false
	}
	for i := range s {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}
