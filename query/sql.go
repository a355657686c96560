package query

import (
	"strconv"
	"strings"
)

// SQL renders the filter as a WHERE condition over the table aliased as t,
// equivalent to Match row for row. Constants become bind parameters $n
// numbered from len(args)+1 and appended to args (as text, cast to the
// column's type in the SQL); identifiers are quoted. A nil Filter renders
// as TRUE.
//
// Agreement with Match rests on: text compared under COLLATE "C" (byte
// order, as Go compares); bpchar, varchar and name compared as text, citext
// as text lower-cased;
// json compared as jsonb, and a JSON null in a json/jsonb column taken as
// NULL (row_to_json cannot tell the two apart); case-insensitive operators
// lower-casing under COLLATE "C.utf8", or "C" to fold ASCII letters only
// (see foldPrefix); every constant sent in a form PostgreSQL reads back
// exactly (timestamps with an explicit zone, floats in shortest round-trip
// form).
func (f *Filter) SQL(args []any) (string, []any) {
	if f == nil {
		return "TRUE", args
	}
	var b strings.Builder
	args = f.sql(&b, args)
	return b.String(), args
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), `"`, `""`) + `"`
}

func (f *Filter) sql(b *strings.Builder, args []any) []any {
	switch f.op {
	case opTrue:
		b.WriteString("TRUE")
		return args
	case opFalse:
		b.WriteString("FALSE")
		return args
	case opAnd, opOr:
		sep := " AND "
		if f.op == opOr {
			sep = " OR "
		}
		b.WriteByte('(')
		for i, k := range f.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			args = k.sql(b, args)
		}
		b.WriteByte(')')
		return args
	}
	ref := "t." + quoteIdent(f.field)
	raw := ref // the column as text or jsonb
	switch f.kind {
	case kTextCast, kCitext, kBpchar, kEnum:
		raw = "(" + ref + ")::text"
	case kJSON:
		raw = "(" + ref + ")::jsonb"
	}
	foldCollation := `"C.utf8"`
	if f.ascii {
		foldCollation = `"C"`
	}
	folded := func(s string) string { return "lower(" + s + " COLLATE " + foldCollation + ")" }
	col := raw // the column as compared
	switch {
	case f.kind == kCitext: // lower-cased, as its constants are
		col = folded(raw) + ` COLLATE "C"`
	case f.kind.isText():
		col = raw + ` COLLATE "C"`
	}
	jsonNull := ""
	switch f.kind {
	case kJSONB:
		jsonNull = "jsonb_typeof(" + ref + ")"
	case kJSON:
		jsonNull = "json_typeof(" + ref + ")"
	}
	param := func(v *value) string {
		args = append(args, v.arg)
		return "$" + strconv.Itoa(len(args)) + "::" + f.kind.sqlType()
	}
	list := func() string {
		var l strings.Builder
		for i := range f.vals {
			if i > 0 {
				l.WriteString(", ")
			}
			l.WriteString(param(&f.vals[i]))
		}
		return l.String()
	}
	notJSONNull := func(s string) string {
		if jsonNull == "" {
			return s
		}
		return "(" + s + " AND " + jsonNull + " <> 'null')"
	}
	cmp := func(o string) string { return col + " " + o + " " + param(&f.vals[0]) }
	var s string
	switch f.op {
	case opNull:
		s = ref + " IS NULL"
		if jsonNull != "" {
			s = "(" + s + " OR " + jsonNull + " = 'null')"
		}
	case opNnull:
		s = notJSONNull(ref + " IS NOT NULL")
	case opEmpty:
		if f.kind == kArray {
			s = "(" + ref + " IS NULL OR cardinality(" + ref + ") = 0)"
		} else {
			s = "(" + ref + " IS NULL OR " + col + " = '')"
		}
	case opNempty:
		if f.kind == kArray {
			s = "cardinality(" + ref + ") > 0"
		} else {
			s = col + " <> ''"
		}
	case opEq:
		s = cmp("=")
	case opNeq:
		s = notJSONNull(cmp("<>"))
	case opLt:
		s = cmp("<")
	case opLte:
		s = cmp("<=")
	case opGt:
		s = cmp(">")
	case opGte:
		s = cmp(">=")
	case opIn:
		s = col + " IN (" + list() + ")"
	case opNin:
		s = notJSONNull(col + " NOT IN (" + list() + ")")
	case opBetween:
		s = col + " BETWEEN " + param(&f.vals[0]) + " AND " + param(&f.vals[1])
	case opNbetween:
		s = col + " NOT BETWEEN " + param(&f.vals[0]) + " AND " + param(&f.vals[1])
	case opContains, opNcontains:
		if f.kind == kArray {
			arr := ref
			p := "$" + strconv.Itoa(len(args)+1) + "::" + f.elem.sqlType()
			args = append(args, f.vals[0].arg)
			if f.elem.isText() {
				arr, p = "("+ref+")::text[]", p+` COLLATE "C"`
			}
			s = p + " = ANY(" + arr + ")"
			if f.op == opNcontains {
				s = "NOT (" + s + ")"
			}
			break
		}
		if f.op == opNcontains {
			s = "strpos(" + col + ", " + param(&f.vals[0]) + ") = 0"
			break
		}
		s = "strpos(" + col + ", " + param(&f.vals[0]) + ") > 0"
	case opIcontains:
		s = "strpos(" + folded(raw) + ", " + folded(param(&f.vals[0])) + ") > 0"
	case opNicontains:
		s = "strpos(" + folded(raw) + ", " + folded(param(&f.vals[0])) + ") = 0"
	case opStarts:
		s = "starts_with(" + col + ", " + param(&f.vals[0]) + ")"
	case opNstarts:
		s = "NOT starts_with(" + col + ", " + param(&f.vals[0]) + ")"
	case opIstarts:
		s = "starts_with(" + folded(raw) + ", " + folded(param(&f.vals[0])) + ")"
	case opNistarts:
		s = "NOT starts_with(" + folded(raw) + ", " + folded(param(&f.vals[0])) + ")"
	case opEnds, opNends:
		p := param(&f.vals[0])
		s = "right(" + col + ", length(" + p + ")) = " + p
		if f.op == opNends {
			s = "right(" + col + ", length(" + p + ")) <> " + p
		}
	case opIends, opNiends:
		p := param(&f.vals[0])
		o := " = "
		if f.op == opNiends {
			o = " <> "
		}
		// lower() maps character for character, so lengths agree.
		s = "right(" + folded(raw) + ", length(" + p + "))" + o + folded(p)
	case opIeq:
		s = folded(raw) + " = " + folded(param(&f.vals[0]))
	case opNieq:
		s = folded(raw) + " <> " + folded(param(&f.vals[0]))
	default:
		s = "FALSE"
	}
	b.WriteString(s)
	return args
}
