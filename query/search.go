package query

import (
	"encoding/json"
	"regexp"
	"strings"
)

// searchNumber is a number as Directus's search takes one: written as
// JavaScript prints it back, with no plus sign, no leading zeros, no
// trailing zeros in a fraction and no exponent ("-0" is printed "0").
var searchNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$`)

// parseSearch reads query.search: a string, or a number taken as its text.
// Empty means no search.
func parseSearch(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	s, ok := textValue(v)
	if !ok {
		return "", errorf("", "query.search must be a string")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", errorf("", "query.search cannot contain NUL characters")
	}
	return s, nil
}

// SearchFilter compiles Directus's query.search for table t over the
// columns readable says may be read (nil: every column): a row matches
// when a string column contains the text ignoring case (as _icontains), a
// numeric column equals it (when it is a number the column can hold), or a
// uuid column equals it (when it is a uuid). It is nil when s is empty, and
// matches nothing when no column qualifies.
func SearchFilter(t *Table, s string, readable func(field string) bool) *Filter {
	if s == "" {
		return nil
	}
	p := &parser{t: t, lim: Limits{}.withDefaults()}
	var kids []*Filter
	for i, c := range t.Columns {
		if readable != nil && !readable(c.Name) {
			continue
		}
		var (
			f   *Filter
			err error
		)
		switch kindOf(c.compareType()) {
		case kText, kTextCast, kBpchar, kCitext:
			f, err = p.condition(i, "_icontains", s)
		case kInt, kNumeric, kFloat4, kFloat8:
			if !searchNumber.MatchString(s) {
				continue
			}
			f, err = p.condition(i, "_eq", json.Number(s))
		case kUUID:
			f, err = p.condition(i, "_eq", s)
		default:
			continue
		}
		// A value the column cannot hold (too large an integer, not a
		// uuid) leaves the column out, as Directus does.
		if err != nil || f.op == opFalse {
			continue
		}
		kids = append(kids, f)
	}
	switch len(kids) {
	case 0:
		return &Filter{op: opFalse}
	case 1:
		return kids[0]
	}
	return &Filter{op: opOr, kids: kids}
}
