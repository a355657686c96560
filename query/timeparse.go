package query

import (
	"fmt"
	"math"
	"time"
)

// Dates and times are compared as integers, like PostgreSQL stores them:
// timestamps as microseconds since 2000-01-01 00:00 (UTC for timestamptz,
// wall clock for timestamp), dates as days since 2000-01-01, with
// ±infinity as the extreme values. The calendar is the proleptic Gregorian
// one with astronomical years (1 BC = year 0), as in PostgreSQL.

const (
	microsPerSec = int64(1_000_000)
	microsPerDay = 86_400 * microsPerSec
	pgEpochUnix  = int64(946_684_800) // 2000-01-01 in Unix seconds
)

// daysFromCivil returns the day number of y-m-d counted from 2000-01-01.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468 - 10957
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468 + 10957
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// stamp is a parsed date or timestamp text.
type stamp struct {
	inf     int   // 0, +1 (infinity) or -1 (-infinity)
	days    int64 // date part
	micros  int64 // time of day
	off     int64 // zone offset in seconds east of UTC
	hasTime bool
	hasZone bool
}

// parseStamp reads dates and timestamps in the ISO 8601 forms PostgreSQL
// writes and RFC 3339: YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]][Z|±HH[:MM[:SS]]|±HHMM][ BC],
// and infinity / -infinity.
func parseStamp(s []byte) (stamp, bool) {
	var p stamp
	switch {
	case eqFold(s, "infinity"), eqFold(s, "+infinity"):
		p.inf = 1
		return p, true
	case eqFold(s, "-infinity"):
		p.inf = -1
		return p, true
	}
	bc := false
	if n := len(s); n > 3 && s[n-3] == ' ' && (s[n-2] == 'B' || s[n-2] == 'b') && (s[n-1] == 'C' || s[n-1] == 'c') {
		bc = true
		s = s[:n-3]
	}
	i := 0
	y, n := digits(s, i, 7)
	if n < 4 {
		return p, false
	}
	i += n
	if i >= len(s) || s[i] != '-' {
		return p, false
	}
	mo, n := digits(s, i+1, 2)
	if n != 2 {
		return p, false
	}
	i += 3
	if i >= len(s) || s[i] != '-' {
		return p, false
	}
	d, n := digits(s, i+1, 2)
	if n != 2 {
		return p, false
	}
	i += 3
	if bc {
		if y == 0 {
			return p, false
		}
		y = 1 - y
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return p, false
	}
	p.days = daysFromCivil(y, mo, d)
	if i < len(s) && (s[i] == 'T' || s[i] == 't' || s[i] == ' ') {
		us, next, ok := clock(s, i+1)
		if !ok || us >= microsPerDay {
			return p, false
		}
		i = next
		p.hasTime = true
		p.micros = us
		if i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) {
			switch s[i] {
			case 'Z', 'z':
				p.hasZone = true
				i++
			case '+', '-':
				sign := int64(1)
				if s[i] == '-' {
					sign = -1
				}
				oh, n := digits(s, i+1, 2)
				if n != 2 || oh > 15 {
					return p, false
				}
				i += 3
				var om, os int64
				if i < len(s) && s[i] == ':' {
					if om, n = digits(s, i+1, 2); n != 2 {
						return p, false
					}
					i += 3
					if i < len(s) && s[i] == ':' {
						if os, n = digits(s, i+1, 2); n != 2 {
							return p, false
						}
						i += 3
					}
				} else if om, n = digits(s, i, 2); n == 2 {
					i += 2
				}
				if om > 59 || os > 59 {
					return p, false
				}
				p.hasZone = true
				p.off = sign * (oh*3600 + om*60 + os)
			}
		}
	}
	return p, i == len(s)
}

// clock reads a time of day, HH:MM[:SS[.fraction]], from s[i:] as
// microseconds since midnight (digits past microseconds are dropped), and
// returns where it ends. 24:00:00 is the end of the day, as in PostgreSQL.
func clock(s []byte, i int) (us int64, next int, ok bool) {
	h, n := digits(s, i, 2)
	if n != 2 || i+2 >= len(s) || s[i+2] != ':' {
		return 0, 0, false
	}
	mi, n := digits(s, i+3, 2)
	if n != 2 {
		return 0, 0, false
	}
	i += 5
	var sec, frac int64
	if i < len(s) && s[i] == ':' {
		if sec, n = digits(s, i+1, 2); n != 2 {
			return 0, 0, false
		}
		i += 3
		if i < len(s) && s[i] == '.' {
			i++
			start := i
			scale := int64(100_000)
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				frac += int64(s[i]-'0') * scale
				scale /= 10
				i++
			}
			if i == start || i-start > 9 {
				return 0, 0, false
			}
		}
	}
	us = (h*3600+mi*60+sec)*microsPerSec + frac
	if h > 24 || mi > 59 || sec > 59 || us > microsPerDay {
		return 0, 0, false
	}
	return us, i, true
}

// parseClock reads a whole time of day (see clock).
func parseClock(s []byte) (int64, bool) {
	us, next, ok := clock(s, 0)
	return us, ok && next == len(s)
}

// formatClock writes a time of day as PostgreSQL reads it back exactly.
func formatClock(us int64) string {
	sec := us / microsPerSec
	return fmt.Sprintf("%02d:%02d:%02d.%06d", sec/3600, sec/60%60, sec%60, us%microsPerSec)
}

// digits reads up to max decimal digits at s[i].
func digits(s []byte, i, max int) (int64, int) {
	var v int64
	n := 0
	for i+n < len(s) && n < max && s[i+n] >= '0' && s[i+n] <= '9' {
		v = v*10 + int64(s[i+n]-'0')
		n++
	}
	return v, n
}

// instant is a stamp as microseconds since 2000-01-01 00:00 UTC; a stamp
// without a zone is taken as UTC.
func (p *stamp) instant() int64 {
	switch p.inf {
	case 1:
		return math.MaxInt64
	case -1:
		return math.MinInt64
	}
	return p.days*microsPerDay + p.micros - p.off*microsPerSec
}

// dayNumber is a date stamp as days since 2000-01-01.
func (p *stamp) dayNumber() int64 {
	switch p.inf {
	case 1:
		return math.MaxInt64
	case -1:
		return math.MinInt64
	}
	return p.days
}

// timeMicros converts t to microseconds since 2000-01-01 00:00 UTC.
func timeMicros(t time.Time) int64 {
	return t.UnixMicro() - pgEpochUnix*microsPerSec
}

// formatMicros writes microseconds since 2000-01-01 in a form PostgreSQL
// reads back exactly whatever its DateStyle and TimeZone.
func formatMicros(us int64, zone bool) string {
	switch us {
	case math.MaxInt64:
		return "infinity"
	case math.MinInt64:
		return "-infinity"
	}
	days := floorDiv(us, microsPerDay)
	rem := us - days*microsPerDay
	s := formatDays(days)
	bc := ""
	if len(s) > 3 && s[len(s)-3:] == " BC" {
		s, bc = s[:len(s)-3], " BC"
	}
	z := ""
	if zone {
		z = "+00"
	}
	sec := rem / microsPerSec
	return fmt.Sprintf("%s %02d:%02d:%02d.%06d%s%s", s, sec/3600, sec/60%60, sec%60, rem%microsPerSec, z, bc)
}

// formatDays writes a day number as an ISO date (with " BC" before year 1).
func formatDays(days int64) string {
	switch days {
	case math.MaxInt64:
		return "infinity"
	case math.MinInt64:
		return "-infinity"
	}
	y, m, d := civilFromDays(days)
	if y <= 0 {
		return fmt.Sprintf("%04d-%02d-%02d BC", 1-y, m, d)
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
}
