package query

import (
	"strconv"
	"strings"
)

// Projection is the set of fields a subscriber receives. It writes a row's
// projected object by copying the raw JSON values, without re-encoding.
// A Projection is immutable and safe for concurrent use.
type Projection struct {
	t     *Table
	cols  []int    // in table order
	names []string // in table order
	heads [][]byte // `"name":` for each of cols
	key   string
}

// NewProjection projects t to fields. No fields, or "*" among them, means
// every column. The primary key is always included. An unknown or
// relational field gives an *Error.
func NewProjection(t *Table, fields []string) (*Projection, error) {
	want := make([]bool, len(t.Columns))
	all := len(fields) == 0
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "*" {
			all = true
			continue
		}
		c, ok := t.Column(f)
		if !ok {
			if strings.Contains(f, ".") || strings.Contains(f, "*") {
				return nil, errorf(f, "relational fields are not supported")
			}
			return nil, errorf(f, "no such field in %q", t.Collection)
		}
		want[c] = true
	}
	for _, k := range t.Key {
		if c, ok := t.Column(k); ok {
			want[c] = true
		}
	}
	if all {
		for i := range want {
			want[i] = true
		}
	}
	return newProjection(t, want), nil
}

func newProjection(t *Table, want []bool) *Projection {
	p := &Projection{t: t}
	for i, ok := range want {
		if ok {
			name := t.Columns[i].Name
			p.cols = append(p.cols, i)
			p.names = append(p.names, name)
			p.heads = append(p.heads, append(strconv.AppendQuote(nil, name), ':'))
		}
	}
	p.key = strings.Join(p.names, "\x00")
	return p
}

// Key is equal for projections of one table with equal field sets, so that
// subscribers sharing one can share its encoding.
func (p *Projection) Key() string { return p.key }

// Fields lists the projected fields in table order.
func (p *Projection) Fields() []string { return append([]string(nil), p.names...) }

// Has reports whether the projection includes the named field.
func (p *Projection) Has(field string) bool {
	for _, n := range p.names {
		if n == field {
			return true
		}
	}
	return false
}

// Restrict returns the projection limited to the allowed fields (and the
// primary key), for a role that may read only those. A nil allowed list
// allows everything.
func (p *Projection) Restrict(allowed []string) *Projection {
	if allowed == nil {
		return p
	}
	want := make([]bool, len(p.t.Columns))
	for _, c := range p.cols {
		name := p.t.Columns[c].Name
		want[c] = contains(allowed, name) || contains(p.t.Key, name)
	}
	return newProjection(p.t, want)
}

// Append appends r's projected object to dst: {"id":1,"text":"hi"}, fields
// in table order, values copied as they are in the row; fields missing from
// the row are omitted.
func (p *Projection) Append(dst []byte, r *Row) []byte {
	dst = append(dst, '{')
	first := true
	for i, c := range p.cols {
		v := r.Value(c)
		if v == nil {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, p.heads[i]...)
		dst = append(dst, v...)
	}
	return append(dst, '}')
}
