package query

import "time"

// Env carries the values filters may reference. They are read when the
// filter is compiled: $NOW(-1 day) is a fixed instant from then on, not a
// sliding window.
type Env struct {
	CurrentUser string    // $CURRENT_USER: the token's subject; "" when anonymous
	CurrentRole string    // $CURRENT_ROLE: the token's role; "" when it has none
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

// variable resolves s when it names a variable that stands for a string:
// ok reports that it does, null that the variable is unset (SQL NULL).
func (e *Env) variable(s string) (v string, null, ok bool) {
	switch s {
	case "$CURRENT_USER":
		v = e.CurrentUser
	case "$CURRENT_ROLE":
		v = e.CurrentRole
	default:
		return "", false, false
	}
	return v, v == "", true
}
