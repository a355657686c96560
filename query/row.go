package query

import (
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// Row is one row of a table as a JSON object (as PostgreSQL's row_to_json
// writes it), indexed by the table's columns, with each value decoded once
// for comparison. Reuse a Row across changes: once its buffers have grown,
// Reset allocates nothing. A Row is read-only after Reset, so several
// goroutines may match it at once; Reset must not run concurrently with them.
// The Row refers to obj until the next Reset.
type Row struct {
	t       *Table
	ncols   int
	kinds   []kind
	keyCols []int
	obj     []byte
	cells   []cell
	order   []int // column of the i-th key of the previous row: jsonb writes keys in a fixed order
	scratch []byte
}

type cellState uint8

const (
	cellAbsent cellState = iota // the column is not in the row
	cellNull                    // SQL NULL (or JSON null in a json/jsonb column)
	cellOK
	cellBad // a value query could not decode for the column's type
)

// cell is one column's value in a Row.
type cell struct {
	st        cellState
	inScratch bool  // the decoded text lives in Row.scratch
	a, b      int32 // raw JSON value: obj[a:b]
	sa, sb    int32 // decoded text (text kinds)
	i         int64 // integers, booleans, timestamps (µs), dates (days), array emptiness
	u, w      uint64
	f         float64
}

var errRowNotObject = errors.New("row is not a JSON object")

// Reset points r at obj, a JSON object holding one row of t.
func (r *Row) Reset(t *Table, obj []byte) error {
	if r.t != t || r.ncols != len(t.Columns) {
		r.setTable(t)
	}
	r.obj = obj
	for i := range r.cells {
		r.cells[i] = cell{}
	}
	r.scratch = r.scratch[:0]
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errRowNotObject
	}
	i = skipWS(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for k := 0; ; k++ {
		if i >= len(obj) || obj[i] != '"' {
			return errRowNotObject
		}
		end, esc, ok := scanString(obj, i)
		if !ok {
			return errRowNotObject
		}
		col := r.lookup(k, obj[i+1:end-1], esc)
		i = skipWS(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return errRowNotObject
		}
		i = skipWS(obj, i+1)
		ve, ok := skipValue(obj, i)
		if !ok {
			return errRowNotObject
		}
		if col >= 0 {
			r.decode(col, i, ve)
		}
		i = skipWS(obj, ve)
		if i >= len(obj) {
			return errRowNotObject
		}
		if obj[i] == '}' {
			return nil
		}
		if obj[i] != ',' {
			return errRowNotObject
		}
		i = skipWS(obj, i+1)
	}
}

func (r *Row) setTable(t *Table) {
	r.t = t
	r.ncols = len(t.Columns)
	r.kinds = r.kinds[:0]
	for _, c := range t.Columns {
		r.kinds = append(r.kinds, kindOf(c.compareType()))
	}
	r.keyCols = r.keyCols[:0]
	for _, k := range t.Key {
		c, _ := t.Column(k)
		r.keyCols = append(r.keyCols, c)
	}
	if cap(r.cells) < len(t.Columns) {
		r.cells = make([]cell, len(t.Columns))
	}
	r.cells = r.cells[:len(t.Columns)]
	r.order = r.order[:0]
}

// lookup finds the column of the k-th key, trying the previous row's
// column at that position first.
func (r *Row) lookup(k int, name []byte, esc bool) int {
	cols := r.t.Columns
	if k < len(r.order) {
		if c := r.order[k]; c >= 0 && nameEq(name, esc, cols[c].Name) {
			return c
		}
	}
	c := -1
	for j := range cols {
		if nameEq(name, esc, cols[j].Name) {
			c = j
			break
		}
	}
	for len(r.order) <= k {
		r.order = append(r.order, -1)
	}
	r.order[k] = c
	return c
}

func nameEq(raw []byte, esc bool, name string) bool {
	if !esc {
		return string(raw) == name
	}
	return strEq(raw, name)
}

// decode reads the value obj[a:b] of column col.
func (r *Row) decode(col, a, b int) {
	c := &r.cells[col]
	*c = cell{a: int32(a), b: int32(b)} // a key given twice keeps its last value, as in jsonb
	v := r.obj[a:b]
	if string(v) == "null" {
		c.st = cellNull
		return
	}
	c.st = cellBad
	k := r.kinds[col]
	str := len(v) >= 2 && v[0] == '"'
	var in []byte // inside of a string value, still escaped
	if str {
		in = v[1 : len(v)-1]
	}
	switch k {
	case kInt:
		n, ok := parseInt(v)
		if ok {
			c.i, c.st = n, cellOK
		}
	case kNumeric:
		if _, ok := parseDec(v); ok {
			c.st = cellOK
		}
	case kFloat4, kFloat8:
		if f, ok := parseFloat(v, k); ok {
			c.f, c.st = f, cellOK
		}
	case kText, kTextCast, kCitext, kBpchar, kEnum:
		if !str {
			return
		}
		if hasByte(in, '\\') {
			sa := len(r.scratch)
			r.scratch = appendUnescaped(r.scratch, in)
			c.sa, c.sb, c.inScratch = int32(sa), int32(len(r.scratch)), true
		} else {
			c.sa, c.sb = int32(a+1), int32(b-1)
		}
		if k == kBpchar {
			s := r.text(c)
			n := len(s)
			for n > 0 && s[n-1] == ' ' {
				n--
			}
			c.sb = c.sa + int32(n)
		}
		c.st = cellOK
	case kBool:
		switch string(v) {
		case "true":
			c.i, c.st = 1, cellOK
		case "false":
			c.i, c.st = 0, cellOK
		}
	case kTime:
		if us, ok := parseClock(in); str && ok {
			c.i, c.st = us, cellOK
		}
	case kTimestamptz, kTimestamp, kDate:
		if !str {
			return
		}
		p, ok := parseStamp(in)
		if !ok {
			return
		}
		switch {
		case k == kDate && !p.hasTime:
			c.i, c.st = p.dayNumber(), cellOK
		case k == kTimestamptz && (p.hasZone || p.inf != 0):
			c.i, c.st = p.instant(), cellOK
		case k == kTimestamp && !p.hasZone:
			c.i, c.st = p.instant(), cellOK
		}
	case kUUID:
		if hi, lo, ok := parseUUID(in); str && ok {
			c.u, c.w, c.st = hi, lo, cellOK
		}
	case kArray:
		if v[0] == '[' {
			if skipWS(v, 1) < len(v) && v[skipWS(v, 1)] == ']' {
				c.i = 1
			}
			c.st = cellOK
		}
	default:
		c.st = cellOK
	}
}

// text is the decoded text of a text-kind cell.
func (r *Row) text(c *cell) []byte {
	if c.inScratch {
		return r.scratch[c.sa:c.sb]
	}
	return r.obj[c.sa:c.sb]
}

// Value returns the raw JSON of column col, or nil if the row lacks it.
func (r *Row) Value(col int) []byte {
	if col < 0 || col >= len(r.cells) || r.cells[col].st == cellAbsent {
		return nil
	}
	c := &r.cells[col]
	return r.obj[c.a:c.b]
}

// AppendKey appends the row's primary key as JSON: the value for a
// one-column key, an object {"a":..,"b":..} in key order for a composite
// one. A key column missing from the row is written as null.
func (r *Row) AppendKey(dst []byte) []byte {
	if r.t == nil {
		return append(dst, "null"...)
	}
	if len(r.keyCols) == 1 {
		return appendOrNull(dst, r.Value(r.keyCols[0]))
	}
	dst = append(dst, '{')
	for i, c := range r.keyCols {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, r.t.Key[i]) // column names are valid UTF-8 without control characters
		dst = append(dst, ':')
		dst = appendOrNull(dst, r.Value(c))
	}
	return append(dst, '}')
}

func appendOrNull(dst, v []byte) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	return append(dst, v...)
}

// parseInt parses a JSON integer (or a string holding one).
func parseInt(v []byte) (int64, bool) {
	if len(v) >= 2 && v[0] == '"' {
		v = v[1 : len(v)-1]
	}
	neg := false
	if len(v) > 0 && (v[0] == '-' || v[0] == '+') {
		neg = v[0] == '-'
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseFloat parses a float4 (rounded to float32) or float8 value: a JSON
// number or one of the strings NaN, Infinity, -Infinity.
func parseFloat(v []byte, k kind) (float64, bool) {
	if len(v) >= 2 && v[0] == '"' {
		v = v[1 : len(v)-1]
		switch {
		case eqFold(v, "nan"):
			return math.NaN(), true
		case eqFold(v, "infinity"), eqFold(v, "+infinity"):
			return math.Inf(1), true
		case eqFold(v, "-infinity"):
			return math.Inf(-1), true
		}
	}
	if _, ok := parseDec(v); !ok || len(v) == 0 {
		return 0, false
	}
	bits := 64
	if k == kFloat4 {
		bits = 32
	}
	// The string does not outlive the call (the error, which would hold
	// it, is only tested against nil).
	f, err := strconv.ParseFloat(unsafe.String(&v[0], len(v)), bits)
	if err != nil {
		return 0, false
	}
	return f, true
}

// parseUUID parses the 36-character hyphenated or the 32-digit form.
func parseUUID(s []byte) (hi, lo uint64, ok bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' && len(s) == 36 && (i == 8 || i == 13 || i == 18 || i == 23) {
			continue
		}
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, 0, false
		}
		if n < 16 {
			hi = hi<<4 | d
		} else if n < 32 {
			lo = lo<<4 | d
		}
		n++
	}
	return hi, lo, n == 32 && (len(s) == 32 || len(s) == 36)
}
