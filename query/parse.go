package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The filter language is Directus's: {"field": {"_op": value, ...}, "_and":
// [...], "_or": [...]}; several entries in one object must all hold.

var opNames = map[string]op{
	"_eq": opEq, "_neq": opNeq, "_lt": opLt, "_lte": opLte, "_gt": opGt, "_gte": opGte,
	"_in": opIn, "_nin": opNin, "_between": opBetween, "_nbetween": opNbetween,
	"_null": opNull, "_nnull": opNnull, "_empty": opEmpty, "_nempty": opNempty,
	"_contains": opContains, "_ncontains": opNcontains, "_icontains": opIcontains, "_nicontains": opNicontains,
	"_starts_with": opStarts, "_nstarts_with": opNstarts, "_istarts_with": opIstarts, "_nistarts_with": opNistarts,
	"_ends_with": opEnds, "_nends_with": opNends, "_iends_with": opIends, "_niends_with": opNiends,
	"_ieq": opIeq, "_nieq": opNieq,
}

// Directus operators pgfeed does not evaluate.
var unsupportedOps = map[string]bool{
	"_regex": true, "_some": true, "_none": true, "_intersects": true, "_nintersects": true,
	"_intersects_bbox": true, "_nintersects_bbox": true, "_submitted": true,
}

type parser struct {
	t     *Table
	env   Env
	lim   Limits
	vars  bool // substitute $CURRENT_USER, $CURRENT_ROLE and $NOW
	nodes int
}

// ParseFilter compiles a filter object, or a JSON string holding one (as the
// Directus SDK sends it), for table t. An absent, null or empty filter gives
// a nil *Filter, which matches every row. Bad input gives an *Error.
func ParseFilter(t *Table, raw []byte, env Env, lim Limits) (*Filter, error) {
	v, err := decodeJSON(raw, true)
	if err != nil {
		return nil, &Error{Message: "filter is not valid JSON: " + err.Error()}
	}
	return parseFilterValue(t, v, env, lim)
}

func parseFilterValue(t *Table, v any, env Env, lim Limits) (*Filter, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &Error{Message: "filter must be an object"}
	}
	if len(m) == 0 {
		return nil, nil
	}
	p := &parser{t: t, env: env, lim: lim.withDefaults(), vars: true}
	f, err := p.object(m, 1)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// decodeJSON decodes one JSON value with numbers kept as text. When
// unquote is set, a JSON string is decoded once more as JSON.
func decodeJSON(raw []byte, unquote bool) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	v, err := decodeOne(raw)
	if err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok && unquote {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		return decodeOne([]byte(s))
	}
	return v, nil
}

func decodeOne(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, fmt.Errorf("unexpected data after the value")
	}
	return v, nil
}

func (p *parser) node(f *Filter) (*Filter, error) {
	p.nodes++
	if p.nodes > p.lim.MaxNodes {
		return nil, errorf("", "filter has more than %d conditions", p.lim.MaxNodes)
	}
	return f, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// object compiles one filter object: the AND of its entries.
func (p *parser) object(m map[string]any, depth int) (*Filter, error) {
	if depth > p.lim.MaxDepth {
		return nil, errorf("", "filter is nested deeper than %d levels", p.lim.MaxDepth)
	}
	var kids []*Filter
	for _, key := range sortedKeys(m) {
		v := m[key]
		if key == "_and" || key == "_or" {
			list, ok := v.([]any)
			if !ok {
				return nil, errorf("", "%s takes an array of filter objects", key)
			}
			var sub []*Filter
			for _, e := range list {
				em, ok := e.(map[string]any)
				if !ok {
					return nil, errorf("", "%s takes an array of filter objects", key)
				}
				f, err := p.object(em, depth+1)
				if err != nil {
					return nil, err
				}
				sub = append(sub, f)
			}
			var f *Filter
			switch {
			case len(sub) == 0:
				f = &Filter{op: opTrue} // as in Directus, an empty group constrains nothing
			case len(sub) == 1:
				f = sub[0]
			case key == "_and":
				f = &Filter{op: opAnd, kids: sub}
			default:
				f = &Filter{op: opOr, kids: sub}
			}
			if _, err := p.node(f); err != nil {
				return nil, err
			}
			kids = append(kids, f)
			continue
		}
		col, ok := p.t.Column(key)
		if !ok {
			if strings.HasPrefix(key, "_") {
				return nil, errorf("", "unknown logical operator %q (use _and or _or)", key)
			}
			if strings.Contains(key, ".") {
				return nil, errorf(key, "nested relational filters are not supported")
			}
			return nil, errorf(key, "no such field in %q", p.t.Collection)
		}
		ops, ok := v.(map[string]any)
		if !ok {
			return nil, errorf(key, `expected an object of operators, e.g. {"_eq": value}`)
		}
		if len(ops) == 0 {
			return nil, errorf(key, "no operator given")
		}
		for _, name := range sortedKeys(ops) {
			f, err := p.condition(col, name, ops[name])
			if err != nil {
				return nil, err
			}
			if _, err := p.node(f); err != nil {
				return nil, err
			}
			kids = append(kids, f)
		}
	}
	switch len(kids) {
	case 0:
		return &Filter{op: opTrue}, nil
	case 1:
		return kids[0], nil
	}
	return &Filter{op: opAnd, kids: kids}, nil
}

// caseless gives the case-insensitive string operators, which citext's
// string operators are.
var caseless = map[op]op{opContains: opIcontains, opNcontains: opNicontains, opStarts: opIstarts,
	opNstarts: opNistarts, opEnds: opIends, opNends: opNiends}

// condition compiles one operator applied to column col.
func (p *parser) condition(col int, name string, v any) (*Filter, error) {
	c := p.t.Columns[col]
	k := kindOf(c.compareType())
	field := c.Name
	o, ok := opNames[name]
	if !ok {
		switch {
		case unsupportedOps[name]:
			return nil, errorf(field, "operator %s is not supported", name)
		case strings.HasPrefix(name, "_"):
			return nil, errorf(field, "unknown operator %s", name)
		}
		return nil, errorf(field, "nested relational filters are not supported (%q is not an operator)", name)
	}
	if ci, ok := caseless[o]; ok && k == kCitext { // citext's LIKE ignores case, as its = does
		o = ci
	}
	f := &Filter{op: o, kind: k, col: col, field: field, ascii: p.t.FoldASCII}
	switch o {
	case opNull, opNnull, opEmpty, opNempty:
		b, ok := boolValue(v)
		if !ok {
			return nil, errorf(field, "%s takes true or false", name)
		}
		if (o == opEmpty || o == opNempty) && !k.isText() && k != kArray {
			return nil, errorf(field, "%s is not supported for type %s (only strings and arrays)", name, c.Type)
		}
		if !b {
			f.op = map[op]op{opNull: opNnull, opNnull: opNull, opEmpty: opNempty, opNempty: opEmpty}[o]
		}
		return f, nil
	case opEq, opNeq, opIn, opNin:
		if !k.equatable() {
			return nil, errorf(field, "%s is not supported for type %s", name, c.Type)
		}
	case opLt, opLte, opGt, opGte, opBetween, opNbetween:
		if k == kEnum {
			return nil, errorf(field, "%s is not supported for type %s (an enum's labels compare as strings for equality and the string operators, not by order)", name, c.Type)
		}
		if !k.ordered() {
			return nil, errorf(field, "%s is not supported for type %s", name, c.Type)
		}
	default: // string operators, and _contains/_ncontains of array elements
		if k == kArray && (o == opContains || o == opNcontains) {
			elem := c.compareType()[1:] // also a domain's over an array
			f.elem = kindOf(elem)
			if !f.elem.elementOK() {
				return nil, errorf(field, "%s is not supported for arrays of type %s", name, elem)
			}
			return p.single(f, name, elem, f.elem, v)
		}
		if !k.isText() {
			return nil, errorf(field, "%s is not supported for type %s (only strings)", name, c.Type)
		}
	}
	switch o {
	case opIn, opNin, opBetween, opNbetween:
		list, err := p.list(field, name, k, v)
		if err != nil {
			return nil, err
		}
		if (o == opBetween || o == opNbetween) && len(list) != 2 {
			return nil, errorf(field, "%s takes two values [from, to]", name)
		}
		var vals []value
		for _, e := range list {
			val, null, err := p.scalar(field, name, c.Type, k, e)
			if err != nil {
				return nil, err
			}
			if null {
				// An anonymous $CURRENT_USER is NULL: it never equals
				// anything, and NOT IN or BETWEEN with NULL never holds.
				if o == opIn {
					continue
				}
				return &Filter{op: opFalse, field: field}, nil
			}
			vals = append(vals, val)
		}
		if len(vals) == 0 {
			if o == opIn {
				return &Filter{op: opFalse, field: field}, nil
			}
			return &Filter{op: opNnull, kind: k, col: col, field: field}, nil
		}
		f.vals = vals
		return f, nil
	}
	if v == nil {
		if o == opEq || o == opNeq {
			return nil, errorf(field, `%s cannot compare with null; use {"_null": true} or {"_nnull": true}`, name)
		}
		return nil, errorf(field, "%s cannot compare with null", name)
	}
	if o >= opContains {
		s, ok := textValue(v)
		if !ok {
			return nil, errorf(field, "%s takes a string", name)
		}
		if val, null, isVar := p.env.variable(s); p.vars && isVar {
			if null {
				return &Filter{op: opFalse, field: field}, nil
			}
			s = val
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, errorf(field, "%s: strings cannot contain NUL characters", name)
		}
		val := value{s: s, arg: s}
		switch o {
		case opIcontains, opNicontains, opIstarts, opNistarts, opIends, opNiends, opIeq, opNieq:
			val.s = lowerString(s, p.t.FoldASCII)
		}
		f.vals = []value{val}
		return f, nil
	}
	return p.single(f, name, c.Type, k, v)
}

// single completes f with its one value v, of type typ; a NULL value (an
// anonymous $CURRENT_USER) makes a filter that matches nothing.
func (p *parser) single(f *Filter, name, typ string, k kind, v any) (*Filter, error) {
	val, null, err := p.scalar(f.field, name, typ, k, v)
	if err != nil {
		return nil, err
	}
	if null {
		return &Filter{op: opFalse, field: f.field}, nil
	}
	f.vals = []value{val}
	return f, nil
}

func boolValue(v any) (bool, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		switch v {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

func textValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	}
	return "", false
}

// list reads the operand of _in/_nin/_between: an array, or a
// comma-separated string as Directus also accepts.
func (p *parser) list(field, name string, k kind, v any) ([]any, error) {
	var list []any
	switch v := v.(type) {
	case []any:
		list = v
	case string:
		if k.isJSON() {
			return nil, errorf(field, "%s takes an array", name)
		}
		if v != "" {
			for _, s := range strings.Split(v, ",") {
				list = append(list, s)
			}
		}
	default:
		return nil, errorf(field, "%s takes an array", name)
	}
	if len(list) > p.lim.MaxList {
		return nil, errorf(field, "%s has more than %d values", name, p.lim.MaxList)
	}
	for _, e := range list {
		if e == nil {
			return nil, errorf(field, `%s cannot hold null; use {"_null": true}`, name)
		}
	}
	return list, nil
}
