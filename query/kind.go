package query

import "strings"

// kind is how query compares the values of a column: by its PostgreSQL type.
type kind uint8

const (
	kOther       kind = iota // only _null/_nnull
	kInt                     // int2, int4, int8
	kNumeric                 // numeric, exact
	kFloat4                  // float4
	kFloat8                  // float8
	kText                    // text
	kTextCast                // varchar, name: compared as text
	kCitext                  // citext: compared as text with case folded, as citext does
	kBpchar                  // bpchar: compared as text without trailing spaces
	kEnum                    // an enum: compared as its label, never by order
	kBool                    // bool
	kTimestamptz             // timestamptz: instants
	kTimestamp               // timestamp: wall-clock times
	kDate                    // date
	kTime                    // time: times of day
	kUUID                    // uuid
	kJSONB                   // jsonb
	kJSON                    // json: compared as jsonb
	kArray                   // any array type
)

func kindOf(typ string) kind {
	switch typ {
	case "int2", "int4", "int8":
		return kInt
	case "numeric":
		return kNumeric
	case "float4":
		return kFloat4
	case "float8":
		return kFloat8
	case "text":
		return kText
	case "varchar", "name":
		return kTextCast
	case "citext":
		return kCitext
	case "bpchar":
		return kBpchar
	case "anyenum":
		return kEnum
	case "bool":
		return kBool
	case "timestamptz":
		return kTimestamptz
	case "timestamp":
		return kTimestamp
	case "date":
		return kDate
	case "time":
		return kTime
	case "uuid":
		return kUUID
	case "jsonb":
		return kJSONB
	case "json":
		return kJSON
	}
	if strings.HasPrefix(typ, "_") {
		return kArray
	}
	return kOther
}

// isText reports whether the string operators apply. An enum's label is a
// string too: equality and the string operators hold as for text, but its
// order (the labels' order of declaration) is not the strings' order, so an
// enum is not ordered.
func (k kind) isText() bool {
	return k == kText || k == kTextCast || k == kCitext || k == kBpchar || k == kEnum
}
func (k kind) isJSON() bool { return k == kJSONB || k == kJSON }

// ordered reports whether _lt, _gt, _between and friends apply.
func (k kind) ordered() bool {
	switch k {
	case kInt, kNumeric, kFloat4, kFloat8, kText, kTextCast, kCitext, kBpchar, kTimestamptz, kTimestamp, kDate, kTime, kUUID:
		return true
	}
	return false
}

// equatable reports whether _eq, _neq, _in and _nin apply.
func (k kind) equatable() bool { return k.ordered() || k == kBool || k == kEnum || k.isJSON() }

// describe names the kind in error messages.
func (k kind) describe() string {
	switch k {
	case kInt:
		return "an integer"
	case kNumeric, kFloat4, kFloat8:
		return "a number"
	case kText, kTextCast, kCitext, kBpchar:
		return "a string"
	case kEnum:
		return "a string (one of the enum's labels)"
	case kBool:
		return "a boolean"
	case kTimestamptz, kTimestamp:
		return "a timestamp (RFC 3339, e.g. 2026-01-02T03:04:05Z, or $NOW)"
	case kDate:
		return "a date (YYYY-MM-DD or $NOW)"
	case kTime:
		return "a time of day (HH:MM, HH:MM:SS or HH:MM:SS.ffffff)"
	case kUUID:
		return "a UUID"
	case kJSONB, kJSON:
		return "a JSON value"
	}
	return "a value"
}

// sqlType is the type bind parameters are cast to for a kind.
func (k kind) sqlType() string {
	switch k {
	case kInt:
		return "int8"
	case kNumeric:
		return "numeric"
	case kFloat4:
		return "float4"
	case kFloat8:
		return "float8"
	case kText, kTextCast, kCitext, kBpchar, kEnum:
		return "text"
	case kBool:
		return "boolean"
	case kTimestamptz:
		return "timestamptz"
	case kTimestamp:
		return "timestamp"
	case kDate:
		return "date"
	case kTime:
		return "time"
	case kUUID:
		return "uuid"
	case kJSONB, kJSON:
		return "jsonb"
	}
	return "text"
}

// elementOK reports whether _contains applies to arrays of this kind.
func (k kind) elementOK() bool {
	switch k {
	case kInt, kNumeric, kFloat4, kFloat8, kText, kTextCast, kEnum, kBool, kTimestamptz, kTimestamp, kDate, kTime, kUUID:
		return true
	}
	return false
}
