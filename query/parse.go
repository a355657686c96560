package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
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
	vars  bool // substitute $CURRENT_USER and $NOW
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

// condition compiles one operator applied to column col.
func (p *parser) condition(col int, name string, v any) (*Filter, error) {
	c := p.t.Columns[col]
	k := kindOf(c.Type)
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
	f := &Filter{op: o, kind: k, col: col, field: field}
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
		if !k.ordered() {
			return nil, errorf(field, "%s is not supported for type %s", name, c.Type)
		}
	default: // string operators
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
		if p.vars && s == "$CURRENT_USER" {
			if p.env.CurrentUser == "" {
				return &Filter{op: opFalse, field: field}, nil
			}
			s = p.env.CurrentUser
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, errorf(field, "%s: strings cannot contain NUL characters", name)
		}
		val := value{s: s, arg: s}
		switch o {
		case opIcontains, opNicontains, opIstarts, opNistarts, opIends, opNiends:
			val.s = lowerString(s)
		}
		f.vals = []value{val}
		return f, nil
	}
	val, null, err := p.scalar(field, name, c.Type, k, v)
	if err != nil {
		return nil, err
	}
	if null {
		return &Filter{op: opFalse, field: field}, nil
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

// Filter values outside these years are refused (PostgreSQL's own range is
// 4713 BC to 294276 AD for timestamps).
var (
	minDay = daysFromCivil(-4712, 1, 1)
	maxDay = daysFromCivil(99999, 12, 31)
)

// scalar decodes one constant for a column of kind k. null reports an
// anonymous $CURRENT_USER, which stands for SQL NULL.
func (p *parser) scalar(field, name, typ string, k kind, v any) (val value, null bool, err error) {
	bad := func() (value, bool, error) {
		return value{}, false, errorf(field, "%s expects %s, got %s", name, k.describe(), describe(v))
	}
	if s, ok := v.(string); ok && p.vars {
		switch {
		case s == "$CURRENT_USER":
			if p.env.CurrentUser == "" {
				return value{}, true, nil
			}
			v = p.env.CurrentUser
		case strings.HasPrefix(s, "$NOW") && (k == kTimestamptz || k == kTimestamp || k == kDate):
			t, ok := nowValue(s, p.env.Now)
			if !ok {
				return value{}, false, errorf(field, "%s: bad $NOW expression %q (e.g. $NOW or $NOW(-1 day))", name, s)
			}
			us := timeMicros(t)
			if k == kDate {
				d := floorDiv(us, microsPerDay)
				return value{i: d, arg: formatDays(d)}, false, nil
			}
			return value{i: us, arg: formatMicros(us, k == kTimestamptz)}, false, nil
		}
	}
	switch k {
	case kInt:
		s, ok := textValue(v)
		if !ok {
			return bad()
		}
		n, ok := parseInt([]byte(s))
		if !ok || strings.HasPrefix(s, "+") {
			return bad()
		}
		return value{i: n, arg: strconv.FormatInt(n, 10)}, false, nil
	case kNumeric:
		s, ok := textValue(v)
		if !ok || len(s) > 1000 {
			return bad()
		}
		b := []byte(s)
		d, ok := parseDec(b)
		if !ok {
			return bad()
		}
		arg := s
		switch d.special {
		case decNaN:
			arg = "NaN"
		case decPosInf:
			arg = "Infinity"
		case decNegInf:
			arg = "-Infinity"
		}
		return value{d: d, arg: arg}, false, nil
	case kFloat4, kFloat8:
		s, ok := textValue(v)
		if !ok || len(s) > 1000 {
			return bad()
		}
		b := []byte(s)
		d, ok := parseDec(b)
		if !ok {
			return bad()
		}
		bits := 64
		if k == kFloat4 {
			bits = 32
		}
		var f float64
		switch d.special {
		case decNaN:
			f = math.NaN()
		case decPosInf:
			f = math.Inf(1)
		case decNegInf:
			f = math.Inf(-1)
		default:
			f, err = strconv.ParseFloat(s, bits)
			if err != nil || math.IsInf(f, 0) || (f == 0 && d.sign() != 0) {
				return value{}, false, errorf(field, "%s: %s is out of range for type %s", name, s, typ)
			}
		}
		arg := strconv.FormatFloat(f, 'g', -1, bits)
		switch {
		case math.IsInf(f, 1):
			arg = "Infinity"
		case math.IsInf(f, -1):
			arg = "-Infinity"
		}
		return value{f: f, arg: arg}, false, nil
	case kText, kTextCast, kBpchar:
		s, ok := textValue(v)
		if !ok {
			return bad()
		}
		if strings.IndexByte(s, 0) >= 0 {
			return value{}, false, errorf(field, "%s: strings cannot contain NUL characters", name)
		}
		return value{s: s, arg: s}, false, nil
	case kBool:
		b, ok := boolValue(v)
		if !ok {
			return bad()
		}
		if b {
			return value{i: 1, arg: "true"}, false, nil
		}
		return value{i: 0, arg: "false"}, false, nil
	case kTimestamptz, kTimestamp, kDate:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		st, ok := parseStamp([]byte(strings.TrimSpace(s)))
		if !ok || (k == kDate && st.hasTime) || (st.inf == 0 && (st.days < minDay || st.days > maxDay)) {
			return bad()
		}
		if k == kDate {
			d := st.dayNumber()
			return value{i: d, arg: formatDays(d)}, false, nil
		}
		us := st.instant()
		return value{i: us, arg: formatMicros(us, k == kTimestamptz)}, false, nil
	case kUUID:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		hi, lo, ok := parseUUID([]byte(s))
		if !ok {
			return bad()
		}
		arg := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
		return value{u: hi, w: lo, arg: arg}, false, nil
	case kJSONB, kJSON:
		n, ok := newJnode(v)
		if !ok {
			return bad()
		}
		b, err := json.Marshal(v)
		if err != nil || bytes.Contains(b, []byte(`\u0000`)) {
			return bad()
		}
		return value{j: &n, arg: string(b)}, false, nil
	}
	return bad()
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return string(v)
	case string:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// nowValue evaluates $NOW or $NOW(<±n> <unit>), e.g. $NOW(-1 day).
func nowValue(s string, now time.Time) (time.Time, bool) {
	now = now.UTC()
	if s == "$NOW" {
		return now, true
	}
	if !strings.HasPrefix(s, "$NOW(") || !strings.HasSuffix(s, ")") {
		return time.Time{}, false
	}
	expr := strings.TrimSpace(s[5 : len(s)-1])
	i := 0
	if i < len(expr) && (expr[i] == '-' || expr[i] == '+') {
		i++
	}
	for i < len(expr) && expr[i] >= '0' && expr[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(strings.TrimPrefix(expr[:i], "+"))
	if err != nil || n > 100000 || n < -100000 {
		return time.Time{}, false
	}
	unit := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(expr[i:])), "s")
	switch unit {
	case "year", "y":
		return now.AddDate(n, 0, 0), true
	case "month":
		return now.AddDate(0, n, 0), true
	case "week", "w":
		return now.AddDate(0, 0, 7*n), true
	case "day", "d":
		return now.AddDate(0, 0, n), true
	case "hour", "h":
		return now.Add(time.Duration(n) * time.Hour), true
	case "minute", "min", "m":
		return now.Add(time.Duration(n) * time.Minute), true
	case "second", "sec", "":
		if unit == "" && expr[i:] == "" {
			return time.Time{}, false
		}
		return now.Add(time.Duration(n) * time.Second), true
	}
	return time.Time{}, false
}

// KeyFilter matches the row whose primary key equals item: a JSON scalar
// for a one-column key, an object {"a":1,"b":2} or an array in key order
// for a composite key. A value invalid for the key's type gives an *Error.
func KeyFilter(t *Table, item []byte) (*Filter, error) {
	if len(t.Key) == 0 {
		return nil, errorf("", "collection %q has no primary key", t.Collection)
	}
	v, err := decodeJSON(item, false)
	if err != nil {
		return nil, &Error{Message: "item is not valid JSON: " + err.Error()}
	}
	p := &parser{t: t, lim: Limits{}.withDefaults()}
	one := func(name string, v any) (*Filter, error) {
		col, ok := t.Column(name)
		if !ok {
			return nil, errorf(name, "primary key column missing from the table")
		}
		switch v.(type) {
		case nil:
			return nil, errorf(name, "item cannot be null")
		case []any, map[string]any:
			if k := kindOf(t.Columns[col].Type); !k.isJSON() {
				return nil, errorf(name, "item expects %s, got %s", k.describe(), describe(v))
			}
		}
		return p.condition(col, "_eq", v)
	}
	if len(t.Key) == 1 {
		return one(t.Key[0], v)
	}
	var fs []*Filter
	switch v := v.(type) {
	case map[string]any:
		for k := range v {
			if !contains(t.Key, k) {
				return nil, errorf(k, "not a primary key column (the key is %s)", strings.Join(t.Key, ", "))
			}
		}
		for _, k := range t.Key {
			e, ok := v[k]
			if !ok {
				return nil, errorf(k, "item lacks this primary key column")
			}
			f, err := one(k, e)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
	case []any:
		if len(v) != len(t.Key) {
			return nil, errorf("", "item must hold %d key values (%s)", len(t.Key), strings.Join(t.Key, ", "))
		}
		for i, k := range t.Key {
			f, err := one(k, v[i])
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
	default:
		return nil, errorf("", "item must be an object or array of the key columns %s", strings.Join(t.Key, ", "))
	}
	return &Filter{op: opAnd, kids: fs}, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
