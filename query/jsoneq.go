package query

import (
	"encoding/json"
	"sort"
)

// jnode is a JSON constant compared with jsonb values the way PostgreSQL's
// jsonb equality does: objects by their set of keys and values, arrays in
// order, numbers by numeric value (1.0 equals 1), strings by their text.
type jnode struct {
	kind byte // 'z' null, 't' true, 'f' false, 's' string, 'd' number, 'a' array, 'o' object
	s    string
	d    dec
	kids []jnode
	keys []string // object keys, paired with kids
}

// newJnode builds a jnode from a value decoded by encoding/json with
// UseNumber; duplicate object keys have already collapsed (last wins), as in
// jsonb.
func newJnode(v any) (jnode, bool) {
	switch v := v.(type) {
	case nil:
		return jnode{kind: 'z'}, true
	case bool:
		if v {
			return jnode{kind: 't'}, true
		}
		return jnode{kind: 'f'}, true
	case string:
		return jnode{kind: 's', s: v}, true
	case json.Number:
		d, ok := parseDec([]byte(v))
		if !ok || d.special != decFinite {
			return jnode{}, false
		}
		return jnode{kind: 'd', s: string(v), d: d}, true
	case []any:
		n := jnode{kind: 'a', kids: make([]jnode, len(v))}
		for i, e := range v {
			k, ok := newJnode(e)
			if !ok {
				return jnode{}, false
			}
			n.kids[i] = k
		}
		return n, true
	case map[string]any:
		n := jnode{kind: 'o'}
		for k := range v {
			n.keys = append(n.keys, k)
		}
		sort.Strings(n.keys)
		for _, k := range n.keys {
			c, ok := newJnode(v[k])
			if !ok {
				return jnode{}, false
			}
			n.kids = append(n.kids, c)
		}
		return n, true
	}
	return jnode{}, false
}

// jsonEq compares the JSON value at b[i] with n; when equal it also returns
// the index after the value.
func jsonEq(b []byte, i int, n *jnode) (int, bool) {
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, false
	}
	switch n.kind {
	case 'z', 't', 'f':
		lit := "null"
		switch n.kind {
		case 't':
			lit = "true"
		case 'f':
			lit = "false"
		}
		if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
			return i + len(lit), true
		}
		return 0, false
	case 's':
		if b[i] != '"' {
			return 0, false
		}
		end, _, ok := scanString(b, i)
		if !ok || !strEq(b[i+1:end-1], n.s) {
			return 0, false
		}
		return end, true
	case 'd':
		if b[i] != '-' && (b[i] < '0' || b[i] > '9') {
			return 0, false
		}
		end, ok := skipValue(b, i)
		if !ok {
			return 0, false
		}
		d, ok := parseDec(b[i:end])
		if !ok || cmpDec(&d, &n.d) != 0 {
			return 0, false
		}
		return end, true
	case 'a':
		if b[i] != '[' {
			return 0, false
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, len(n.kids) == 0
		}
		for k := 0; ; k++ {
			if k >= len(n.kids) {
				return 0, false
			}
			end, ok := jsonEq(b, i, &n.kids[k])
			if !ok {
				return 0, false
			}
			i = skipWS(b, end)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == ']' {
				return i + 1, k+1 == len(n.kids)
			}
			if b[i] != ',' {
				return 0, false
			}
			i++
		}
	case 'o':
		// Values of json columns arrive as written, so an object may repeat
		// a key; as in jsonb, the last occurrence is the one that counts.
		if b[i] != '{' {
			return 0, false
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, len(n.keys) == 0
		}
		var eqBuf [16]bool
		var eq []bool // whether the last occurrence of each key matched
		if len(n.keys) <= len(eqBuf) {
			eq = eqBuf[:len(n.keys)]
		} else {
			eq = make([]bool, len(n.keys))
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return 0, false
			}
			end, _, ok := scanString(b, i)
			if !ok {
				return 0, false
			}
			key := b[i+1 : end-1]
			kid := -1
			for j := range n.keys {
				if strEq(key, n.keys[j]) {
					kid = j
					break
				}
			}
			if kid < 0 {
				return 0, false // a key the constant lacks
			}
			i = skipWS(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			vend, ok := skipValue(b, skipWS(b, i+1))
			if !ok {
				return 0, false
			}
			_, eq[kid] = jsonEq(b, i+1, &n.kids[kid])
			i = skipWS(b, vend)
			if i >= len(b) {
				return 0, false
			}
			if b[i] == '}' {
				break
			}
			if b[i] != ',' {
				return 0, false
			}
			i = skipWS(b, i+1)
		}
		for _, ok := range eq {
			if !ok {
				return 0, false
			}
		}
		return i + 1, true
	}
	return 0, false
}
