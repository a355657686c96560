package query

// arrayHas looks for v among the elements of the JSON array at b[i]
// (nested for multi-dimensional arrays). It returns the index after the
// array and 1 if an element equals v, -1 if none does but one is null, 0
// otherwise.
func arrayHas(b []byte, i int, k kind, v *value) (int, int8) {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '[' {
		return 0, 0
	}
	var res int8
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, 0
	}
	for i < len(b) {
		var end int
		switch {
		case b[i] == '[':
			var sub int8
			end, sub = arrayHas(b, i, k, v)
			if sub == 1 || end == 0 {
				return end, sub
			}
			if sub < 0 {
				res = -1
			}
		default:
			var ok bool
			if end, ok = skipValue(b, i); !ok {
				return 0, 0
			}
			e := b[i:end]
			if string(e) == "null" {
				res = -1
			} else if elemEq(e, k, v) {
				return 0, 1
			}
		}
		i = skipWS(b, end)
		if i >= len(b) {
			return 0, 0
		}
		if b[i] == ']' {
			return i + 1, res
		}
		if b[i] != ',' {
			return 0, 0
		}
		i = skipWS(b, i+1)
	}
	return 0, 0
}

// elemEq compares one array element (raw JSON) with v.
func elemEq(e []byte, k kind, v *value) bool {
	str := len(e) >= 2 && e[0] == '"'
	var in []byte
	if str {
		in = e[1 : len(e)-1]
	}
	switch k {
	case kInt:
		n, ok := parseInt(e)
		return ok && !str && n == v.i
	case kNumeric:
		d, ok := parseDec(e)
		return ok && cmpDec(&d, &v.d) == 0
	case kFloat4, kFloat8:
		f, ok := parseFloat(e, k)
		return ok && cmpFloat(f, v.f) == 0
	case kText, kTextCast, kEnum:
		return str && strEq(in, v.s)
	case kBool:
		return (string(e) == "true" && v.i == 1) || (string(e) == "false" && v.i == 0)
	case kUUID:
		hi, lo, ok := parseUUID(in)
		return str && ok && hi == v.u && lo == v.w
	case kTime:
		us, ok := parseClock(in)
		return str && ok && us == v.i
	case kTimestamptz, kTimestamp, kDate:
		if !str {
			return false
		}
		p, ok := parseStamp(in)
		switch {
		case !ok:
			return false
		case k == kDate:
			return !p.hasTime && p.dayNumber() == v.i
		case k == kTimestamptz:
			return (p.hasZone || p.inf != 0) && p.instant() == v.i
		}
		return !p.hasZone && p.instant() == v.i
	}
	return false
}
