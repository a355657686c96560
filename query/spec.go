package query

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Spec is a parsed, validated subscription query for one table.
type Spec struct {
	// Projection is built from query.fields ("*" or absent: all columns);
	// the primary key is always included.
	Projection *Projection
	// AllFields reports that the client asked for every field ("*" or no
	// fields), so a role's field restriction narrows it silently.
	AllFields bool
	// Filter is nil when every row matches.
	Filter *Filter
	// Search is query.search, "" when absent. Parse leaves it out of
	// Filter: SearchFilter compiles it over the fields the reader may read.
	Search string

	// For the initial snapshot only:

	// OrderBy is an SQL ORDER BY list over the table aliased as t, e.g.
	// `t."id" DESC`, ending with the primary key columns not sorted on so
	// that the order is total; "" when the client gave no sort (then order
	// by primary key).
	OrderBy string
	// Sort lists the fields the client sorts on, in its order.
	Sort   []string
	Limit  int
	Offset int
}

// Parse reads the Directus `query` value of a subscribe message for table t
// (nil or JSON null allowed): fields (array of names or comma-separated
// string), filter (object or JSON string), search (a string, kept as
// Spec.Search), sort (array or comma-separated
// string; "-name" sorts descending), limit (default lim.DefaultLimit,
// capped at lim.MaxLimit; -1 means the cap), offset, page. Bad input gives
// an *Error.
func Parse(t *Table, raw []byte, env Env, lim Limits) (*Spec, error) {
	lim = lim.withDefaults()
	s := &Spec{Limit: lim.DefaultLimit}
	v, err := decodeJSON(raw, false)
	if err != nil {
		return nil, &Error{Message: "query is not valid JSON: " + err.Error()}
	}
	var q map[string]any
	switch v := v.(type) {
	case nil:
	case map[string]any:
		q = v
	default:
		return nil, &Error{Message: "query must be an object"}
	}
	for _, k := range []string{"deep", "alias", "aggregate", "groupBy"} {
		if _, ok := q[k]; ok {
			return nil, errorf("", "query.%s is not supported", k)
		}
	}

	fields, err := names(q["fields"], "fields")
	if err != nil {
		return nil, err
	}
	s.AllFields = len(fields) == 0 || contains(fields, "*")
	if s.Projection, err = NewProjection(t, fields); err != nil {
		return nil, err
	}

	switch fv := q["filter"].(type) {
	case string:
		var fj any
		if strings.TrimSpace(fv) != "" {
			if fj, err = decodeOne([]byte(fv)); err != nil {
				return nil, &Error{Message: "filter is not valid JSON: " + err.Error()}
			}
		}
		f, err := parseFilterValue(t, fj, env, lim)
		if err != nil {
			return nil, err
		}
		s.Filter = f
	default:
		f, err := parseFilterValue(t, fv, env, lim)
		if err != nil {
			return nil, err
		}
		s.Filter = f
	}

	if s.Search, err = parseSearch(q["search"]); err != nil {
		return nil, err
	}

	sorts, err := names(q["sort"], "sort")
	if err != nil {
		return nil, err
	}
	if len(sorts) > 0 {
		var parts, used []string
		for _, name := range sorts {
			dir := " ASC"
			if strings.HasPrefix(name, "-") {
				name, dir = name[1:], " DESC"
			} else {
				name = strings.TrimPrefix(name, "+")
			}
			if _, ok := t.Column(name); !ok {
				return nil, errorf(name, "cannot sort: no such field in %q", t.Collection)
			}
			if contains(used, name) {
				continue
			}
			used = append(used, name)
			parts = append(parts, "t."+quoteIdent(name)+dir)
		}
		for _, k := range t.Key {
			if !contains(used, k) {
				parts = append(parts, "t."+quoteIdent(k)+" ASC")
			}
		}
		s.OrderBy = strings.Join(parts, ", ")
		s.Sort = used
	}

	if lv, ok := q["limit"]; ok && lv != nil {
		n, ok := intValue(lv)
		if !ok || n < -1 {
			return nil, errorf("", "query.limit must be a non-negative integer or -1")
		}
		if n == -1 || n > lim.MaxLimit {
			n = lim.MaxLimit
		}
		s.Limit = n
	}
	if ov, ok := q["offset"]; ok && ov != nil {
		n, ok := intValue(ov)
		if !ok || n < 0 {
			return nil, errorf("", "query.offset must be a non-negative integer")
		}
		s.Offset = n
	} else if pv, ok := q["page"]; ok && pv != nil {
		n, ok := intValue(pv)
		if !ok || n < 1 {
			return nil, errorf("", "query.page must be a positive integer")
		}
		s.Offset = (n - 1) * s.Limit
	}
	return s, nil
}

// names reads a list of names: an array of strings or a comma-separated
// string.
func names(v any, what string) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errorf("", "query.%s must be an array of field names", what)
			}
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return nil, errorf("", "query.%s must be an array of field names or a comma-separated string", what)
}

func intValue(v any) (int, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 1<<31 {
		return 0, false
	}
	return n, true
}
