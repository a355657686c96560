package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Filter values outside these years are refused (PostgreSQL's own range is
// 4713 BC to 294276 AD for timestamps).
var (
	minDay = daysFromCivil(-4712, 1, 1)
	maxDay = daysFromCivil(99999, 12, 31)
)

// scalar decodes one constant for a column of kind k. null reports an
// unset variable (an anonymous $CURRENT_USER), which stands for SQL NULL.
func (p *parser) scalar(field, name, typ string, k kind, v any) (val value, null bool, err error) {
	bad := func() (value, bool, error) {
		return value{}, false, errorf(field, "%s expects %s, got %s", name, k.describe(), describe(v))
	}
	if s, ok := v.(string); ok && p.vars {
		switch val, null, isVar := p.env.variable(s); {
		case isVar && null:
			return value{}, true, nil
		case isVar:
			v = val
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
		s, d, ok := decValue(v)
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
		s, d, ok := decValue(v)
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
	case kText, kTextCast, kCitext, kBpchar, kEnum:
		s, ok := textValue(v)
		if !ok {
			return bad()
		}
		if strings.IndexByte(s, 0) >= 0 {
			return value{}, false, errorf(field, "%s: strings cannot contain NUL characters", name)
		}
		if k == kCitext { // compared lower-cased, here and in SQL
			s = lowerString(s, p.t.FoldASCII)
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
	case kTime:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		us, ok := parseClock([]byte(strings.TrimSpace(s)))
		if !ok {
			return bad()
		}
		return value{i: us, arg: formatClock(us)}, false, nil
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

// decValue reads a filter value given as a JSON number or string as an
// exact decimal, with its text.
func decValue(v any) (string, dec, bool) {
	s, ok := textValue(v)
	if !ok || len(s) > 1000 {
		return "", dec{}, false
	}
	d, ok := parseDec([]byte(s))
	return s, d, ok
}
