package query

import (
	"bytes"
	"cmp"
	"unicode"
	"unicode/utf8"
)

// op is a filter node's operation.
type op uint8

const (
	opTrue op = iota
	opFalse
	opAnd
	opOr
	opEq
	opNeq
	opLt
	opLte
	opGt
	opGte
	opIn
	opNin
	opBetween
	opNbetween
	opNull
	opNnull
	opEmpty
	opNempty
	opContains
	opNcontains
	opIcontains
	opNicontains
	opStarts
	opNstarts
	opIstarts
	opNistarts
	opEnds
	opNends
	opIends
	opNiends
	opIeq
	opNieq
)

// Filter is a compiled row filter: a tree of _and/_or nodes over
// comparisons of one column with constants. A nil *Filter matches every row.
// A Filter is immutable and safe for concurrent use; it applies to Rows
// reset with the Table it was compiled for.
type Filter struct {
	op    op
	kind  kind
	col   int
	field string
	elem  kind // element kind of an array column (_contains)
	ascii bool // case folding (the _i... operators, citext) is of ASCII letters only (Table.FoldASCII)
	kids  []*Filter
	vals  []value
}

// value is a filter constant, decoded for the column's kind.
type value struct {
	i    int64  // integers, booleans, timestamps (µs), dates (days)
	u, w uint64 // uuid
	f    float64
	s    string // text; the lower-cased pattern for case-insensitive operators
	d    dec    // numeric
	j    *jnode // json
	arg  string // the bind parameter's text
}

// And combines filters: a row matches when it matches all of them. Nil
// operands are ignored; And() of nothing (or only nils) is nil.
func And(fs ...*Filter) *Filter {
	var kids []*Filter
	for _, f := range fs {
		if f != nil {
			kids = append(kids, f)
		}
	}
	switch len(kids) {
	case 0:
		return nil
	case 1:
		return kids[0]
	}
	return &Filter{op: opAnd, kids: kids}
}

// Fields lists the columns the filter reads, each once, in first use order.
func (f *Filter) Fields() []string {
	var out []string
	var walk func(*Filter)
	walk = func(f *Filter) {
		if f == nil {
			return
		}
		if f.op == opAnd || f.op == opOr {
			for _, k := range f.kids {
				walk(k)
			}
			return
		}
		if f.field == "" {
			return
		}
		for _, s := range out {
			if s == f.field {
				return
			}
		}
		out = append(out, f.field)
	}
	walk(f)
	return out
}

// Match reports whether the row matches. It allocates nothing. As in SQL,
// a NULL (or absent) column matches only _null, _empty and their _n forms'
// complements: every comparison with NULL is false.
func (f *Filter) Match(r *Row) bool {
	if f == nil {
		return true
	}
	switch f.op {
	case opTrue:
		return true
	case opFalse:
		return false
	case opAnd:
		for _, k := range f.kids {
			if !k.Match(r) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range f.kids {
			if k.Match(r) {
				return true
			}
		}
		return false
	}
	if f.col >= len(r.cells) {
		return f.op == opNull || f.op == opEmpty
	}
	c := &r.cells[f.col]
	switch c.st {
	case cellAbsent, cellNull:
		return f.op == opNull || f.op == opEmpty
	}
	switch f.op {
	case opNull:
		return false
	case opNnull:
		return true
	case opEmpty, opNempty:
		empty := false
		if f.kind == kArray {
			empty = c.st == cellOK && c.i == 1
		} else if c.st == cellOK {
			empty = c.sa == c.sb
		}
		return empty == (f.op == opEmpty)
	}
	if c.st != cellOK {
		return false
	}
	switch f.op {
	case opEq:
		return r.cmp(c, f, &f.vals[0]) == 0
	case opNeq:
		return r.cmp(c, f, &f.vals[0]) != 0
	case opLt:
		return r.cmp(c, f, &f.vals[0]) < 0
	case opLte:
		return r.cmp(c, f, &f.vals[0]) <= 0
	case opGt:
		return r.cmp(c, f, &f.vals[0]) > 0
	case opGte:
		return r.cmp(c, f, &f.vals[0]) >= 0
	case opIn, opNin:
		for i := range f.vals {
			if r.cmp(c, f, &f.vals[i]) == 0 {
				return f.op == opIn
			}
		}
		return f.op == opNin
	case opBetween:
		return r.cmp(c, f, &f.vals[0]) >= 0 && r.cmp(c, f, &f.vals[1]) <= 0
	case opNbetween:
		return r.cmp(c, f, &f.vals[0]) < 0 || r.cmp(c, f, &f.vals[1]) > 0
	}
	if f.kind == kArray {
		// As SQL's v = ANY(array): true if an element equals v, else
		// unknown (so neither matches) if an element is NULL.
		_, has := arrayHas(r.obj, int(c.a), f.elem, &f.vals[0])
		if f.op == opContains {
			return has == 1
		}
		return has == 0
	}
	s := r.text(c)
	p := f.vals[0].s
	switch f.op {
	case opContains:
		return bytesContains(s, p)
	case opNcontains:
		return !bytesContains(s, p)
	case opIcontains, opNicontains:
		return foldContains(s, p, f.ascii) == (f.op == opIcontains)
	case opStarts:
		return len(s) >= len(p) && string(s[:len(p)]) == p
	case opNstarts:
		return !(len(s) >= len(p) && string(s[:len(p)]) == p)
	case opIstarts, opNistarts:
		return (foldPrefix(s, p, f.ascii) >= 0) == (f.op == opIstarts)
	case opEnds:
		return len(s) >= len(p) && string(s[len(s)-len(p):]) == p
	case opNends:
		return !(len(s) >= len(p) && string(s[len(s)-len(p):]) == p)
	case opIends, opNiends:
		return foldSuffix(s, p, f.ascii) == (f.op == opIends)
	case opIeq, opNieq:
		return (foldCompare(s, p, f.ascii) == 0) == (f.op == opIeq)
	}
	return false
}

// cmp compares a cell with a constant of the same kind. For kinds without
// an order (bool, json) it returns 0 for equal and 1 otherwise.
func (r *Row) cmp(c *cell, f *Filter, v *value) int {
	switch k := f.kind; k {
	case kInt, kBool, kTimestamptz, kTimestamp, kDate, kTime:
		return cmp.Compare(c.i, v.i)
	case kNumeric:
		d, _ := parseDec(r.obj[c.a:c.b])
		return cmpDec(&d, &v.d)
	case kFloat4, kFloat8:
		return cmpFloat(c.f, v.f)
	case kText, kTextCast, kBpchar, kEnum:
		return bytesCompare(r.text(c), v.s)
	case kCitext:
		return foldCompare(r.text(c), v.s, f.ascii)
	case kUUID:
		if c.u != v.u {
			return cmp.Compare(c.u, v.u)
		}
		return cmp.Compare(c.w, v.w)
	case kJSONB, kJSON:
		if _, ok := jsonEq(r.obj, int(c.a), v.j); ok {
			return 0
		}
		return 1
	}
	return 1
}

// cmpFloat orders floats as PostgreSQL does: NaN equals NaN and sorts
// above every other value; -0 equals 0.
func cmpFloat(a, b float64) int {
	an, bn := a != a, b != b
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func bytesCompare(a []byte, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return cmp.Compare(len(a), len(b))
}

func bytesContains(s []byte, p string) bool {
	if len(p) == 0 {
		return true
	}
	for {
		i := bytes.IndexByte(s, p[0])
		if i < 0 || len(s)-i < len(p) {
			return false
		}
		if string(s[i:i+len(p)]) == p {
			return true
		}
		s = s[i+1:]
	}
}

// Case-insensitive operators compare text lower-cased character by
// character with Go's unicode.ToLower (Unicode simple case mapping). The SQL
// side uses lower(... COLLATE "C.utf8"), which applies glibc's towlower, the
// same one-to-one mapping, so both agree whatever the database's own locale
// (lower() under the C locale folds ASCII only); TestLowerAgreesWithPostgres
// compares the two over every code point. Mappings are one character to one
// (final sigma is not special, ß does not become ss). The database needs the
// "C.utf8" collation (glibc 2.35+ and Debian systems have it); where it has
// none (Table.FoldASCII), both sides fold ASCII letters only: lower() under
// COLLATE "C", and with ascii set here. Patterns are lower-cased once at parse time.

// foldPrefix returns the length of the prefix of s matching the lower-cased
// pattern p, or -1.
func foldPrefix(s []byte, p string, ascii bool) int {
	if j, c := foldWalk(s, p, ascii); c == 0 {
		return j
	}
	return -1
}

// foldWalk compares s, lower-cased as lowerString(s, ascii) would (without
// the copy), with the lower-cased p, character by character, until p ends or
// they differ. It returns where in s it stopped, and how the two compare
// there: 0 where all of p matched, else as the differing characters (code
// points, so byte order), -1 where s ended first.
func foldWalk(s []byte, p string, ascii bool) (int, int) {
	j := 0
	for _, pr := range p {
		if j >= len(s) {
			return j, -1
		}
		r, n := rune(s[j]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(s[j:])
		}
		if !ascii || r < utf8.RuneSelf { // as lowerString folds
			r = lower(r)
		}
		if r != pr {
			return j, cmp.Compare(r, pr)
		}
		j += n
	}
	return j, 0
}

func foldContains(s []byte, p string, ascii bool) bool {
	if len(p) == 0 {
		return true
	}
	p0 := p[0]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// An ASCII byte can only start a match if it folds to the
			// pattern's first byte; non-ASCII runes are checked in full
			// (some, like U+212A KELVIN SIGN, fold to ASCII).
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c == p0 && foldPrefix(s[i:], p, ascii) >= 0 {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if (p0 >= utf8.RuneSelf || (!ascii && foldsToASCII(r))) && foldPrefix(s[i:], p, ascii) >= 0 {
			return true
		}
		i += n
	}
	return false
}

// foldsToASCII reports whether the non-ASCII rune r lower-cases to ASCII
// (TestFoldsToASCII checks the list against the whole Unicode table).
func foldsToASCII(r rune) bool { return r == '\u0130' || r == '\u212A' }

func foldSuffix(s []byte, p string, ascii bool) bool {
	n := utf8.RuneCountInString(p)
	i := len(s)
	for ; n > 0 && i > 0; n-- {
		_, w := utf8.DecodeLastRune(s[:i])
		i -= w
	}
	if n > 0 {
		return false
	}
	return foldPrefix(s[i:], p, ascii) == len(s)-i
}

func lower(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(r)
}

// lowerString lower-cases s, or only its ASCII letters when ascii is set.
func lowerString(s string, ascii bool) string {
	var b []byte
	for _, r := range s {
		if !ascii || r < utf8.RuneSelf {
			r = lower(r)
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// foldCompare compares s, lower-cased as lowerString(s, ascii) would, with
// the lower-cased p, in byte order.
func foldCompare(s []byte, p string, ascii bool) int {
	j, c := foldWalk(s, p, ascii)
	if c == 0 && j < len(s) {
		return 1
	}
	return c
}
