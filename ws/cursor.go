package ws

import (
	"errors"
	"strconv"
	"strings"

	"github.com/pgfeed/pgfeed/cdc"
)

// Cursors are opaque to clients. Most are a change's position P and the
// change's tag (see cdc.Change.Tag), "P:tag": the client has everything up
// to and including P. One change can give a subscription two messages: an
// update for the rows still matching its filter and a leave delete for the
// rows that stopped matching. The first of the two carries P + partCursor,
// "P.1:tag", so that a client that got only the update and then lost its
// connection resumes with the leave delete of P, not after it. The tag
// tells whether the change at P is still the one the client saw: after the
// database went back to an earlier state, P may name another change. A
// cursor at a position with no change (the head of an empty journal) has
// no tag, nor have cursors that pgfeed gave before it had tags: those are
// taken on trust.
const (
	partCursor = ".1"
	tagMark    = ':'
)

// tagDigits spell a tag, 5 bits a digit, most significant first.
const tagDigits = "0123456789abcdefghjkmnpqrstvwxyz"

// tagLen is the number of digits of a 30-bit tag.
const tagLen = 6

var errCursor = errors.New("not a cursor")

// cursor is a parsed cursor.
type cursor struct {
	after int64 // position to resume after
	// skipUpdate is the position of the change whose update message the
	// client has (a cursor with partCursor), 0 when none.
	skipUpdate int64
	tag        uint32 // tag of the change the cursor names, 0 when none
}

// marked is the change the cursor names, with its tag: after, or for a
// cursor with partCursor, the change whose update the client has.
func (c cursor) marked() cdc.Mark {
	if c.skipUpdate > 0 {
		return cdc.Mark{Pos: c.skipUpdate, Tag: c.tag}
	}
	return cdc.Mark{Pos: c.after, Tag: c.tag}
}

// String is the cursor as clients get it: the inverse of parseCursor.
func (c cursor) String() string {
	m := c.marked()
	return string(appendCursor(nil, m.Pos, c.skipUpdate > 0, m.Tag))
}

// markCursor is the cursor of the change marked.
func markCursor(m cdc.Mark) string { return string(appendCursor(nil, m.Pos, false, m.Tag)) }

// appendCursor appends the cursor of the change at pos with tag (0: none),
// or with part, of its update message.
func appendCursor(b []byte, pos int64, part bool, tag uint32) []byte {
	b = strconv.AppendInt(b, pos, 10)
	if part {
		b = append(b, partCursor...)
	}
	if tag != 0 {
		b = append(b, tagMark)
		for shift := 5 * (tagLen - 1); shift >= 0; shift -= 5 {
			b = append(b, tagDigits[tag>>shift&31])
		}
	}
	return b
}

// parseCursor reads a cursor that a client sent back.
func parseCursor(s string) (cursor, error) {
	var c cursor
	if i := strings.IndexByte(s, tagMark); i >= 0 {
		digits := s[i+1:]
		if len(digits) != tagLen {
			return c, errCursor
		}
		for j := 0; j < len(digits); j++ {
			d := strings.IndexByte(tagDigits, digits[j])
			if d < 0 {
				return c, errCursor
			}
			c.tag = c.tag<<5 | uint32(d)
		}
		if c.tag == 0 {
			return c, errCursor
		}
		s = s[:i]
	}
	pos, part := strings.CutSuffix(s, partCursor)
	v, err := strconv.ParseInt(pos, 10, 64)
	switch {
	case err != nil || v < 0:
		return c, errCursor
	case part && v < 1:
		return c, errCursor
	case part:
		c.after, c.skipUpdate = v-1, v
	default:
		c.after = v
	}
	return c, nil
}
