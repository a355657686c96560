package query

import (
	"strings"
)

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
			if k := kindOf(t.Columns[col].compareType()); !k.isJSON() {
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
