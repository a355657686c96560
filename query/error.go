package query

import (
	"fmt"
	"time"
)

// Error is a client error in a query: the protocol layer answers it with
// INVALID_QUERY. Field names the field at fault ("" if none).
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Message)
}

func errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Env carries the values filters may reference.
type Env struct {
	CurrentUser string    // $CURRENT_USER: the token's subject; "" when anonymous
	Now         time.Time // $NOW
}

// Limits bound what a client may ask for. Zero fields take the defaults.
type Limits struct {
	MaxDepth     int // nesting of _and/_or (default 10)
	MaxNodes     int // conditions and logical nodes in a filter (default 200)
	MaxLimit     int // largest snapshot limit (default 1000)
	DefaultLimit int // snapshot limit when none is given (default 100)
	MaxList      int // values in one _in/_nin list (default 1000)
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 10
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = 200
	}
	if l.MaxLimit <= 0 {
		l.MaxLimit = 1000
	}
	if l.DefaultLimit <= 0 {
		l.DefaultLimit = 100
	}
	if l.DefaultLimit > l.MaxLimit {
		l.DefaultLimit = l.MaxLimit
	}
	if l.MaxList <= 0 {
		l.MaxList = 1000
	}
	return l
}
