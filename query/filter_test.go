package query

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

const rowFull = `{"a": [1, 2], "b": true, "c": "ab  ", "d": "2026-01-02", "i": 42, "j": {"k": [1, 2.50], "z": null}, "n": 123456789012345678901234567890.5, "s": "Hello, Wörld ΣΑΣ", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "v": "x\"y\\z", "x": "\\x0102", "f4": 1.1, "f8": 2.5, "id": 1, "jj": [1, "a"], "tl": "2026-01-02T03:04:05", "ts": "2026-01-02T05:04:05.5+02:00", "m": "Happy", "ma": ["ok", null, "é"], "p": 12.50, "tm": "09:30:15.25", "ci": "Straße ÉCLAIR"}`

const rowNulls = `{"a": null, "b": null, "c": null, "d": null, "i": null, "j": null, "n": null, "s": null, "u": null, "v": null, "x": null, "f4": null, "f8": null, "id": 2, "jj": null, "tl": null, "ts": null, "m": null, "ma": null, "p": null, "tm": null, "ci": null}`

const rowAbsent = `{"id": 3}`

const rowEmpty = `{"a": [], "c": "    ", "s": "", "v": "", "id": 4, "j": [], "n": -0.000, "f8": "NaN", "f4": "-Infinity", "ts": "infinity", "d": "0044-03-15 BC", "tl": "0044-03-15T10:00:00 BC"}`

func TestMatch(t *testing.T) {
	tests := []struct {
		desc   string
		filter string
		row    string
		want   bool
	}{
		// integers
		{"int _eq", `{"i":{"_eq":42}}`, rowFull, true},
		{"int _eq string value", `{"i":{"_eq":"42"}}`, rowFull, true},
		{"int _eq other", `{"i":{"_eq":41}}`, rowFull, false},
		{"int _neq", `{"i":{"_neq":41}}`, rowFull, true},
		{"int _lt", `{"i":{"_lt":43}}`, rowFull, true},
		{"int _lt equal", `{"i":{"_lt":42}}`, rowFull, false},
		{"int _lte", `{"i":{"_lte":42}}`, rowFull, true},
		{"int _gt", `{"i":{"_gt":41}}`, rowFull, true},
		{"int _gte", `{"i":{"_gte":43}}`, rowFull, false},
		{"int _in", `{"i":{"_in":[1,42,7]}}`, rowFull, true},
		{"int _in csv string", `{"i":{"_in":"1,42"}}`, rowFull, true},
		{"int _in miss", `{"i":{"_in":[1,7]}}`, rowFull, false},
		{"int _in empty", `{"i":{"_in":[]}}`, rowFull, false},
		{"int _nin", `{"i":{"_nin":[1,7]}}`, rowFull, true},
		{"int _nin hit", `{"i":{"_nin":[42]}}`, rowFull, false},
		{"int _nin empty", `{"i":{"_nin":[]}}`, rowFull, true},
		{"int _between", `{"i":{"_between":[42,50]}}`, rowFull, true},
		{"int _between upper bound inclusive", `{"i":{"_between":[0,42]}}`, rowFull, true},
		{"int _between outside", `{"i":{"_between":[43,50]}}`, rowFull, false},
		{"int _nbetween", `{"i":{"_nbetween":[43,50]}}`, rowFull, true},
		{"int8 max", `{"id":{"_lt":9223372036854775807}}`, rowFull, true},
		{"int8 min", `{"id":{"_gt":-9223372036854775808}}`, rowFull, true},
		{"int NULL _eq", `{"i":{"_eq":42}}`, rowNulls, false},
		{"int NULL _neq", `{"i":{"_neq":42}}`, rowNulls, false},
		{"int NULL _nin", `{"i":{"_nin":[1]}}`, rowNulls, false},
		{"int NULL _nin empty", `{"i":{"_nin":[]}}`, rowNulls, false},
		{"int NULL _nbetween", `{"i":{"_nbetween":[1,2]}}`, rowNulls, false},
		{"int NULL _null", `{"i":{"_null":true}}`, rowNulls, true},
		{"int absent _null", `{"i":{"_null":true}}`, rowAbsent, true},
		{"int _null false", `{"i":{"_null":false}}`, rowFull, true},
		{"int _nnull", `{"i":{"_nnull":true}}`, rowFull, true},
		{"int NULL _nnull", `{"i":{"_nnull":true}}`, rowNulls, false},
		{"int _nnull false on NULL", `{"i":{"_nnull":false}}`, rowNulls, true},

		// numeric
		{"numeric _eq beyond float64", `{"n":{"_eq":123456789012345678901234567890.5}}`, rowFull, true},
		{"numeric _eq string", `{"n":{"_eq":"123456789012345678901234567890.50"}}`, rowFull, true},
		{"numeric _eq differs in last digit", `{"n":{"_eq":123456789012345678901234567890.4}}`, rowFull, false},
		{"numeric _gt by 0.1", `{"n":{"_gt":123456789012345678901234567890.4}}`, rowFull, true},
		{"numeric _lt by 1e-30", `{"n":{"_lt":"123456789012345678901234567890.500000000000000000000000000001"}}`, rowFull, true},
		{"numeric _lt exponent", `{"n":{"_lt":1.3e29}}`, rowFull, true},
		{"numeric _gt exponent", `{"n":{"_gt":1.2e29}}`, rowFull, true},
		{"numeric negative zero equals zero", `{"n":{"_eq":0}}`, rowEmpty, true},
		{"numeric _in", `{"n":{"_in":[1, "123456789012345678901234567890.500"]}}`, rowFull, true},
		{"numeric _between", `{"n":{"_between":[-1e40, 1e40]}}`, rowFull, true},
		{"numeric NULL _lt", `{"n":{"_lt":1}}`, rowNulls, false},
		{"numeric NaN above everything", `{"n":{"_lt":"NaN"}}`, rowFull, true},

		// floats
		{"float4 _eq 1.1 as float4", `{"f4":{"_eq":1.1}}`, rowFull, true},
		{"float4 _gt 1.1 as float4", `{"f4":{"_gt":1.1}}`, rowFull, false},
		{"float8 _eq", `{"f8":{"_eq":2.5}}`, rowFull, true},
		{"float8 _lt", `{"f8":{"_lt":"2.6"}}`, rowFull, true},
		{"float8 NaN equals NaN", `{"f8":{"_eq":"NaN"}}`, rowEmpty, true},
		{"float8 NaN above infinity", `{"f8":{"_gt":"Infinity"}}`, rowEmpty, true},
		{"float4 -Infinity below all", `{"f4":{"_lt":-1e38}}`, rowEmpty, true},
		{"float NULL _neq", `{"f8":{"_neq":1}}`, rowNulls, false},

		// text
		{"text _eq", `{"s":{"_eq":"Hello, Wörld ΣΑΣ"}}`, rowFull, true},
		{"text _eq case differs", `{"s":{"_eq":"hello, wörld σας"}}`, rowFull, false},
		{"text _eq number value as text", `{"s":{"_eq":5}}`, rowFull, false},
		{"text _lt byte order", `{"s":{"_lt":"a"}}`, rowFull, true},
		{"text _gt byte order: non-ASCII sorts after ASCII", `{"s":{"_lt":"Hello, W~"}}`, rowFull, false},
		{"text _between", `{"s":{"_between":["H","I"]}}`, rowFull, true},
		{"text _in", `{"s":{"_in":["x","Hello, Wörld ΣΑΣ"]}}`, rowFull, true},
		{"text _contains", `{"s":{"_contains":"Wörld"}}`, rowFull, true},
		{"text _contains is case-sensitive", `{"s":{"_contains":"wörld"}}`, rowFull, false},
		{"text _contains empty pattern", `{"s":{"_contains":""}}`, rowFull, true},
		{"text _ncontains", `{"s":{"_ncontains":"xyz"}}`, rowFull, true},
		{"text _ncontains hit", `{"s":{"_ncontains":"llo"}}`, rowFull, false},
		{"text _icontains ASCII", `{"s":{"_icontains":"HELLO"}}`, rowFull, true},
		{"text _icontains unicode case folding", `{"s":{"_icontains":"WÖRLD"}}`, rowFull, true},
		{"text _icontains greek sigma", `{"s":{"_icontains":"σασ"}}`, rowFull, true},
		{"text _icontains: final sigma is its own letter (simple case mapping)", `{"s":{"_icontains":"σας"}}`, rowFull, false},
		{"text _icontains miss", `{"s":{"_icontains":"world"}}`, rowFull, false},
		{"text _nicontains", `{"s":{"_nicontains":"WÖRLD"}}`, rowFull, false},
		{"text _starts_with", `{"s":{"_starts_with":"Hell"}}`, rowFull, true},
		{"text _starts_with case", `{"s":{"_starts_with":"hell"}}`, rowFull, false},
		{"text _nstarts_with", `{"s":{"_nstarts_with":"hell"}}`, rowFull, true},
		{"text _istarts_with", `{"s":{"_istarts_with":"hELL"}}`, rowFull, true},
		{"text _ends_with", `{"s":{"_ends_with":"ΣΑΣ"}}`, rowFull, true},
		{"text _nends_with", `{"s":{"_nends_with":"ΣΑΣ"}}`, rowFull, false},
		{"text _iends_with", `{"s":{"_iends_with":"ld σασ"}}`, rowFull, true},
		{"text _niends_with", `{"s":{"_niends_with":"x"}}`, rowFull, true},
		{"text _ieq", `{"s":{"_ieq":"HELLO, WÖRLD σασ"}}`, rowFull, true},
		{"text _ieq: final sigma is its own letter", `{"s":{"_ieq":"HELLO, WÖRLD σας"}}`, rowFull, false},
		{"text _ieq is whole", `{"s":{"_ieq":"HELLO"}}`, rowFull, false},
		{"text _nieq", `{"s":{"_nieq":"hello, wörld σασ"}}`, rowFull, false},
		{"text _nieq other", `{"s":{"_nieq":"hello"}}`, rowFull, true},
		{"text NULL _nieq", `{"s":{"_nieq":"x"}}`, rowNulls, false},
		{"text escapes decoded", `{"v":{"_eq":"x\"y\\z"}}`, rowFull, true},
		{"text escapes _contains", `{"v":{"_contains":"\"y\\"}}`, rowFull, true},
		{"text NULL _ncontains", `{"s":{"_ncontains":"x"}}`, rowNulls, false},
		{"text NULL _nstarts_with", `{"s":{"_nstarts_with":"x"}}`, rowNulls, false},
		{"text NULL _empty", `{"s":{"_empty":true}}`, rowNulls, true},
		{"text empty string _empty", `{"s":{"_empty":true}}`, rowEmpty, true},
		{"text _empty false", `{"s":{"_empty":true}}`, rowFull, false},
		{"text _nempty", `{"s":{"_nempty":true}}`, rowFull, true},
		{"text NULL _nempty", `{"s":{"_nempty":true}}`, rowNulls, false},
		{"text empty _nempty", `{"v":{"_nempty":true}}`, rowEmpty, false},
		{"bpchar ignores trailing spaces", `{"c":{"_eq":"ab"}}`, rowFull, true},
		{"bpchar _ends_with", `{"c":{"_ends_with":"b"}}`, rowFull, true},
		{"bpchar blank is empty", `{"c":{"_empty":true}}`, rowEmpty, true},
		{"$CURRENT_USER", `{"s":{"_eq":"$CURRENT_USER"}}`, `{"id": 9, "s": "alice"}`, true},
		{"$CURRENT_USER other", `{"s":{"_eq":"$CURRENT_USER"}}`, `{"id": 9, "s": "bob"}`, false},
		{"$CURRENT_ROLE", `{"s":{"_eq":"$CURRENT_ROLE"}}`, `{"id": 9, "s": "editor"}`, true},
		{"$CURRENT_ROLE in a list", `{"s":{"_in":["x","$CURRENT_ROLE"]}}`, `{"id": 9, "s": "editor"}`, true},
		{"$CURRENT_ROLE in a string operator", `{"s":{"_starts_with":"$CURRENT_ROLE"}}`, `{"id": 9, "s": "editors"}`, true},
		{"$CURRENT_ROLE other", `{"s":{"_eq":"$CURRENT_ROLE"}}`, `{"id": 9, "s": "alice"}`, false},

		// bool
		{"bool _eq", `{"b":{"_eq":true}}`, rowFull, true},
		{"bool _eq string", `{"b":{"_eq":"false"}}`, rowFull, false},
		{"bool _neq", `{"b":{"_neq":false}}`, rowFull, true},
		{"bool _in", `{"b":{"_in":[true]}}`, rowFull, true},
		{"bool NULL _neq", `{"b":{"_neq":true}}`, rowNulls, false},

		// timestamptz
		{"timestamptz _eq across zones", `{"ts":{"_eq":"2026-01-02T03:04:05.5Z"}}`, rowFull, true},
		{"timestamptz _eq +01", `{"ts":{"_eq":"2026-01-02 04:04:05.5+01"}}`, rowFull, true},
		{"timestamptz _eq -05:30", `{"ts":{"_eq":"2026-01-01T21:34:05.500-05:30"}}`, rowFull, true},
		{"timestamptz zoneless is UTC", `{"ts":{"_eq":"2026-01-02 03:04:05.5"}}`, rowFull, true},
		{"timestamptz _lt", `{"ts":{"_lt":"2026-01-02T03:04:05.6Z"}}`, rowFull, true},
		{"timestamptz _gt $NOW", `{"ts":{"_gt":"$NOW"}}`, rowFull, true},
		{"timestamptz _gt $NOW(+1 second)", `{"ts":{"_gt":"$NOW(+1 second)"}}`, rowFull, false},
		{"timestamptz _gte $NOW(-1 day)", `{"ts":{"_gte":"$NOW(-1 day)"}}`, rowFull, true},
		{"timestamptz _between dates", `{"ts":{"_between":["2026-01-02","2026-01-03"]}}`, rowFull, true},
		{"timestamptz infinity above all", `{"ts":{"_gt":"9999-12-31T23:59:59Z"}}`, rowEmpty, true},
		{"timestamptz _eq infinity", `{"ts":{"_eq":"infinity"}}`, rowEmpty, true},
		{"timestamptz LMT offset with seconds", `{"ts":{"_eq":"1800-01-01T00:00:00Z"}}`, `{"id": 5, "ts": "1800-01-01T05:53:28+05:53:28"}`, true},
		{"timestamptz NULL _lt", `{"ts":{"_lt":"$NOW"}}`, rowNulls, false},

		// timestamp
		{"timestamp _eq", `{"tl":{"_eq":"2026-01-02T03:04:05"}}`, rowFull, true},
		{"timestamp _eq $NOW", `{"tl":{"_eq":"$NOW"}}`, rowFull, true},
		{"timestamp _lt", `{"tl":{"_lt":"2026-01-02T03:04:06"}}`, rowFull, true},
		{"timestamp BC", `{"tl":{"_lt":"0001-01-01 00:00:00"}}`, rowEmpty, true},

		// date
		{"date _eq", `{"d":{"_eq":"2026-01-02"}}`, rowFull, true},
		{"date _eq $NOW", `{"d":{"_eq":"$NOW"}}`, rowFull, true},
		{"date _gt $NOW(-1 week)", `{"d":{"_gt":"$NOW(-1 week)"}}`, rowFull, true},
		{"date BC", `{"d":{"_eq":"0044-03-15 BC"}}`, rowEmpty, true},
		{"date BC before AD", `{"d":{"_lt":"0001-01-01"}}`, rowEmpty, true},

		// uuid
		{"uuid _eq", `{"u":{"_eq":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}}`, rowFull, true},
		{"uuid _eq upper case", `{"u":{"_eq":"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}}`, rowFull, true},
		{"uuid _eq no hyphens", `{"u":{"_eq":"a0eebc999c0b4ef8bb6d6bb9bd380a11"}}`, rowFull, true},
		{"uuid _gt", `{"u":{"_gt":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a10"}}`, rowFull, true},
		{"uuid _in", `{"u":{"_in":["00000000-0000-0000-0000-000000000000","A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"]}}`, rowFull, true},

		// json
		{"jsonb _eq object, key order and number form ignored", `{"j":{"_eq":{"z":null,"k":[1.0,2.5]}}}`, rowFull, true},
		{"jsonb _eq array order matters", `{"j":{"_eq":{"z":null,"k":[2.5,1]}}}`, rowFull, false},
		{"jsonb _eq missing key", `{"j":{"_eq":{"k":[1,2.5]}}}`, rowFull, false},
		{"jsonb _neq", `{"j":{"_neq":{"k":[1,2.5]}}}`, rowFull, true},
		{"jsonb _eq empty array", `{"j":{"_eq":[]}}`, rowEmpty, true},
		{"json value with a repeated key: the last one counts", `{"j":{"_eq":{"a":2}}}`, `{"id": 7, "j": {"a": 1, "a": 2}}`, true},
		{"json value with a repeated key: an earlier one does not", `{"j":{"_eq":{"a":1}}}`, `{"id": 7, "j": {"a": 1, "a": 2}}`, false},
		{"jsonb NULL _neq", `{"j":{"_neq":1}}`, rowNulls, false},
		{"jsonb NULL _null", `{"j":{"_null":true}}`, rowNulls, true},
		{"jsonb JSON null is null", `{"j":{"_null":true}}`, `{"id": 6, "j": null}`, true},
		{"json _eq", `{"jj":{"_eq":[1,"a"]}}`, rowFull, true},
		{"json _in", `{"jj":{"_in":[[1],[1,"a"]]}}`, rowFull, true},
		{"jsonb string with escapes", `{"j":{"_eq":"a\"b\u00e9"}}`, `{"id": 7, "j": "a\"b\u00e9"}`, true},

		// arrays and other types
		{"array _empty", `{"a":{"_empty":true}}`, rowEmpty, true},
		{"array _empty on NULL", `{"a":{"_empty":true}}`, rowNulls, true},
		{"array _nempty", `{"a":{"_nempty":true}}`, rowFull, true},
		{"array _nempty on empty", `{"a":{"_nempty":true}}`, rowEmpty, false},
		{"array _contains", `{"a":{"_contains":2}}`, rowFull, true},
		{"array _contains miss", `{"a":{"_contains":3}}`, rowFull, false},
		{"array _ncontains", `{"a":{"_ncontains":3}}`, rowFull, true},
		{"array _ncontains hit", `{"a":{"_ncontains":1}}`, rowFull, false},
		{"array NULL _ncontains", `{"a":{"_ncontains":3}}`, rowNulls, false},
		{"array with NULL element _contains", `{"a":{"_contains":1}}`, `{"id": 8, "a": [null, 1]}`, true},
		{"array with NULL element _ncontains is unknown", `{"a":{"_ncontains":3}}`, `{"id": 8, "a": [null, 1]}`, false},
		{"multi-dimensional array _contains", `{"a":{"_contains":"4"}}`, `{"id": 8, "a": [[1, 2], [3, 4]]}`, true},
		{"empty array _ncontains", `{"a":{"_ncontains":4}}`, rowEmpty, true},
		{"bytea _nnull", `{"x":{"_nnull":true}}`, rowFull, true},
		{"bytea _null", `{"x":{"_null":true}}`, rowNulls, true},

		// enums compare as their labels; domains as their base types
		{"enum _eq", `{"m":{"_eq":"Happy"}}`, rowFull, true},
		{"enum _eq is case-sensitive", `{"m":{"_eq":"happy"}}`, rowFull, false},
		{"enum _eq not a label", `{"m":{"_eq":"angry"}}`, rowFull, false},
		{"enum _neq", `{"m":{"_neq":"ok"}}`, rowFull, true},
		{"enum _in", `{"m":{"_in":["ok","Happy"]}}`, rowFull, true},
		{"enum _nin", `{"m":{"_nin":["Happy"]}}`, rowFull, false},
		{"enum _starts_with", `{"m":{"_starts_with":"Ha"}}`, rowFull, true},
		{"enum _icontains", `{"m":{"_icontains":"APP"}}`, rowFull, true},
		{"enum NULL _neq", `{"m":{"_neq":"ok"}}`, rowNulls, false},
		{"enum NULL _null", `{"m":{"_null":true}}`, rowNulls, true},
		{"enum array _contains", `{"ma":{"_contains":"é"}}`, rowFull, true},
		{"enum array _ncontains", `{"ma":{"_ncontains":"Happy"}}`, rowFull, false},
		{"domain over numeric _gt", `{"p":{"_gt":12.4}}`, rowFull, true},
		{"domain over numeric _eq", `{"p":{"_eq":"12.5"}}`, rowFull, true},

		// citext ignores case, in every comparison
		{"citext _eq", `{"ci":{"_eq":"straße éclair"}}`, rowFull, true},
		{"citext _eq other", `{"ci":{"_eq":"strasse éclair"}}`, rowFull, false},
		{"citext _neq", `{"ci":{"_neq":"STRASSE ÉCLAIR"}}`, rowFull, true},
		{"citext _in", `{"ci":{"_in":["x","STRAßE éclair"]}}`, rowFull, true},
		{"citext _lt folded", `{"ci":{"_lt":"t"}}`, rowFull, true},
		{"citext _gt folded", `{"ci":{"_gt":"T"}}`, rowFull, false},
		{"citext _contains", `{"ci":{"_contains":"éCl"}}`, rowFull, true},
		{"citext _starts_with", `{"ci":{"_starts_with":"STR"}}`, rowFull, true},
		{"citext _nends_with", `{"ci":{"_nends_with":"Clair"}}`, rowFull, false},

		// times of day
		{"time _gt", `{"tm":{"_gt":"09:30"}}`, rowFull, true},
		{"time _lt", `{"tm":{"_lt":"09:30:15.26"}}`, rowFull, true},
		{"time _eq", `{"tm":{"_eq":"09:30:15.250000"}}`, rowFull, true},
		{"time _eq whole seconds", `{"tm":{"_eq":"09:30:15"}}`, rowFull, false},
		{"time _between", `{"tm":{"_between":["09:00","24:00:00"]}}`, rowFull, true},
		{"time NULL _lt", `{"tm":{"_lt":"23:00"}}`, rowNulls, false},

		// logic
		{"implicit AND of fields", `{"i":{"_eq":42},"b":{"_eq":true}}`, rowFull, true},
		{"implicit AND fails", `{"i":{"_eq":42},"b":{"_eq":false}}`, rowFull, false},
		{"implicit AND of operators", `{"i":{"_gt":40,"_lt":45}}`, rowFull, true},
		{"_or", `{"_or":[{"i":{"_eq":1}},{"i":{"_eq":42}}]}`, rowFull, true},
		{"_or none", `{"_or":[{"i":{"_eq":1}},{"i":{"_eq":2}}]}`, rowFull, false},
		{"_and", `{"_and":[{"i":{"_eq":42}},{"s":{"_icontains":"hello"}}]}`, rowFull, true},
		{"nested", `{"_or":[{"_and":[{"i":{"_eq":42}},{"b":{"_eq":false}}]},{"u":{"_nnull":true}}]}`, rowFull, true},
		{"empty _and", `{"_and":[]}`, rowFull, true},
		{"empty _or", `{"_or":[]}`, rowFull, true},
		{"filter as JSON string", `"{\"i\":{\"_eq\":42}}"`, rowFull, true},
		{"empty filter", `{}`, rowNulls, true},
		{"null filter", `null`, rowNulls, true},
		{"anonymous $CURRENT_USER matches nothing", `{"s":{"_neq":"$CURRENT_USER"}}`, rowFull, true},
		{"anonymous $CURRENT_ROLE matches nothing", `{"s":{"_neq":"$CURRENT_ROLE"}}`, rowFull, true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			env := testEnv
			if strings.HasPrefix(tc.desc, "anonymous") {
				env.CurrentUser, env.CurrentRole = "", ""
				tc.want = false
			}
			f, err := ParseFilter(testTable, []byte(tc.filter), env, Limits{})
			if err != nil {
				t.Fatalf("ParseFilter(%s): %v", tc.filter, err)
			}
			r := mustRow(t, testTable, tc.row)
			if got := f.Match(r); got != tc.want {
				t.Fatalf("Match(%s) on %s = %v, want %v", tc.filter, tc.row, got, tc.want)
			}
		})
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		desc   string
		filter string
		field  string
		msg    string // part of the message
	}{
		{"not JSON", `{"i":`, "", "not valid JSON"},
		{"not an object", `[1]`, "", "must be an object"},
		{"unknown field", `{"nope":{"_eq":1}}`, "nope", "no such field"},
		{"relational field", `{"author.name":{"_eq":1}}`, "author.name", "relational"},
		{"nested relational filter", `{"i":{"name":{"_eq":1}}}`, "i", "relational"},
		{"unknown operator", `{"i":{"_like":1}}`, "i", "unknown operator _like"},
		{"unsupported operator", `{"s":{"_regex":"a"}}`, "s", "_regex is not supported"},
		{"unknown logical operator", `{"_not":{}}`, "", "unknown logical operator"},
		{"operand not an object", `{"i":5}`, "i", "object of operators"},
		{"no operator", `{"i":{}}`, "i", "no operator"},
		{"_contains on int4", `{"i":{"_contains":"4"}}`, "i", "_contains is not supported for type int4"},
		{"_lt on bool", `{"b":{"_lt":true}}`, "b", "_lt is not supported for type bool"},
		{"_lt on jsonb", `{"j":{"_lt":1}}`, "j", "_lt is not supported for type jsonb"},
		{"_eq on array", `{"a":{"_eq":[1]}}`, "a", "_eq is not supported for type _int4"},
		{"_contains on array wrong element type", `{"a":{"_contains":"x"}}`, "a", "expects an integer"},
		{"_lt on array", `{"a":{"_lt":1}}`, "a", "_lt is not supported for type _int4"},
		{"_contains on jsonb", `{"j":{"_contains":"x"}}`, "j", "_contains is not supported for type jsonb"},
		{"_eq on bytea", `{"x":{"_eq":"a"}}`, "x", "not supported for type bytea"},
		{"_empty on int", `{"i":{"_empty":true}}`, "i", "_empty is not supported for type int4"},
		{"time not a time", `{"tm":{"_lt":"9am"}}`, "tm", "expects a time of day (HH:MM, HH:MM:SS or HH:MM:SS.ffffff)"},
		{"time past the day", `{"tm":{"_lt":"24:00:01"}}`, "tm", "expects a time of day"},
		{"_lt on enum", `{"m":{"_lt":"ok"}}`, "m", "_lt is not supported for type mood (an enum's labels compare as strings for equality and the string operators, not by order)"},
		{"_between on enum", `{"m":{"_between":["a","b"]}}`, "m", "_between is not supported for type mood"},
		{"enum _eq a boolean", `{"m":{"_eq":true}}`, "m", "expects a string (one of the enum's labels)"},
		{"_contains on domain over numeric", `{"p":{"_contains":"1"}}`, "p", "_contains is not supported for type price"},
		{"string for int4", `{"i":{"_eq":"abc"}}`, "i", `expects an integer, got "abc"`},
		{"fraction for int4", `{"i":{"_eq":1.5}}`, "i", "expects an integer"},
		{"int8 overflow", `{"id":{"_eq":9223372036854775808}}`, "id", "expects an integer"},
		{"bad numeric", `{"n":{"_eq":"1.2.3"}}`, "n", "expects a number"},
		{"numeric exponent too large", `{"n":{"_eq":1e1001}}`, "n", "expects a number"},
		{"float4 overflow", `{"f4":{"_eq":1e39}}`, "f4", "out of range for type float4"},
		{"float8 underflow", `{"f8":{"_eq":1e-400}}`, "f8", "out of range for type float8"},
		{"bool from number", `{"b":{"_eq":1}}`, "b", "expects a boolean"},
		{"bad timestamp", `{"ts":{"_eq":"yesterday"}}`, "ts", "expects a timestamp"},
		{"bad date day", `{"d":{"_eq":"2026-02-30"}}`, "d", "expects a date"},
		{"date with time", `{"d":{"_eq":"2026-02-03T00:00:00Z"}}`, "d", "expects a date"},
		{"bad $NOW", `{"ts":{"_eq":"$NOW(-1 fortnight)"}}`, "ts", "bad $NOW"},
		{"bad uuid", `{"u":{"_eq":"a0eebc99"}}`, "u", "expects a UUID"},
		{"_eq null", `{"i":{"_eq":null}}`, "i", "use {\"_null\": true}"},
		{"_neq null", `{"s":{"_neq":null}}`, "s", "_null"},
		{"_lt null", `{"i":{"_lt":null}}`, "i", "cannot compare with null"},
		{"_in null element", `{"i":{"_in":[1,null]}}`, "i", "cannot hold null"},
		{"_in not a list", `{"i":{"_in":{"a":1}}}`, "i", "takes an array"},
		{"_between one value", `{"i":{"_between":[1]}}`, "i", "two values"},
		{"_null not boolean", `{"i":{"_null":1}}`, "i", "true or false"},
		{"_contains number", `{"s":{"_contains":true}}`, "s", "takes a string"},
		{"NUL in string", `{"s":{"_eq":"a\u0000b"}}`, "s", "NUL"},
		{"_and not an array", `{"_and":{"i":{"_eq":1}}}`, "", "_and takes an array"},
		{"_or of non-objects", `{"_or":[1]}`, "", "_or takes an array"},
		{"too deep", strings.Repeat(`{"_and":[`, 12) + `{}` + strings.Repeat(`]}`, 12), "", "nested deeper"},
		{"too many nodes", `{"_or":[` + strings.Repeat(`{"i":{"_eq":1}},`, 250) + `{}]}`, "", "more than 200 conditions"},
		{"too long _in", `{"i":{"_in":[` + strings.Repeat(`1,`, 1000) + `1]}}`, "i", "more than 1000 values"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseFilter(testTable, []byte(tc.filter), testEnv, Limits{})
			qe, ok := err.(*Error)
			if !ok {
				t.Fatalf("ParseFilter(%s) = %v, want *Error", tc.filter, err)
			}
			if qe.Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", qe.Field, tc.field, err)
			}
			if !strings.Contains(qe.Message, tc.msg) {
				t.Errorf("message = %q, want it to contain %q", qe.Message, tc.msg)
			}
		})
	}
}

func TestFoldsToASCII(t *testing.T) {
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if got, want := foldsToASCII(r), lower(r) < utf8.RuneSelf; got != want {
			t.Errorf("foldsToASCII(%U) = %v, want %v", r, got, want)
		}
	}
}
