package cdc

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/pgfeed/pgfeed/store"
)

// Op is what a change did.
type Op byte

// The operations a Change can carry.
const (
	OpCreate Op = 'c'
	OpUpdate Op = 'u'
	OpDelete Op = 'd'
	// OpDrop means the collection stopped being tracked: its subscribers
	// must be told and removed.
	OpDrop Op = 'x'
)

func (o Op) String() string {
	switch o {
	case OpCreate:
		return "create"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	case OpDrop:
		return "drop"
	}
	return fmt.Sprintf("Op(%q)", byte(o))
}

// Change is what one statement did to one collection (at most 100 rows; a
// larger statement becomes several consecutive Changes), at one stream
// position. Rows are JSON objects as PostgreSQL's row_to_json encodes them:
// keys in table order, numbers exact, timestamps RFC 3339, bytea as
// "\\x..." hex, jsonb values as PostgreSQL prints them.
type Change struct {
	Pos        int64  // stream position: the cursor clients resume from
	XID        uint64 // writer's transaction id
	Collection string
	Op         Op
	New        [][]byte  // rows after the statement (create, update)
	Old        [][]byte  // rows before it (update, delete); Old[i] pairs with New[i] on update
	At         time.Time // when the writer's statement began
	Stamped    time.Time // when the sequencer's step that gave Pos began
}

// Tag names the change at a position within one history of the database:
// a hash of its store.Stamp (its writer's transaction id and the time its
// position was given), 30 bits, never 0. Cursors carry it, so that a
// cursor from a history the database left (restored to an earlier state,
// its positions given again to other changes) is told apart: see
// Journal.Resumable.
func (c *Change) Tag() uint32 { return tag(store.Stamp{XID: c.XID, At: c.Stamped}) }

func tag(st store.Stamp) uint32 {
	// Two multiply-xorshift rounds (as in splitmix64's finalizer) mix
	// every bit of both numbers into the top 30.
	h := st.XID*0x9e3779b97f4a7c15 ^ uint64(st.At.UnixMicro())
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	h ^= h >> 31
	return max(uint32(h>>34), 1)
}

// Sink receives changes in stream order, in batches. Publish is called from
// one goroutine, must not block for long, and may keep the slice.
type Sink interface {
	Publish(batch []Change)
}

// Decode turns a journal entry into a Change.
func Decode(e store.Entry) (Change, error) {
	c := Change{Pos: e.Pos, XID: e.XID, Collection: e.Collection, Op: Op(e.Op), At: e.At, Stamped: e.Stamped}
	var err error
	if c.New, err = splitArray(e.Data); err != nil {
		return c, fmt.Errorf("decode change %d: %w", e.Pos, err)
	}
	if c.Old, err = splitArray(e.Old); err != nil {
		return c, fmt.Errorf("decode change %d: %w", e.Pos, err)
	}
	return c, nil
}

var errBadArray = errors.New("journal data is not a JSON array of objects")

// splitArray returns the elements of a JSON array as sub-slices of b,
// without copying.
func splitArray(b []byte) ([][]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errBadArray
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil, nil
	}
	var out [][]byte
	for i < len(b) {
		end, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		if out == nil {
			// The rows of one statement are alike: size the slice from the
			// first one.
			out = make([][]byte, 0, max(1, len(b)/(end-i+1)))
		}
		out = append(out, b[i:end:end])
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, errBadArray
		}
		if b[i] == ']' {
			return out, nil
		}
		if b[i] != ',' {
			return nil, errBadArray
		}
		i = skipSpace(b, i+1)
	}
	return nil, errBadArray
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// structural marks the bytes skipValue stops at inside an object or array.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipValue returns the index just past the JSON value starting at b[i]: an
// object or array through its closing bracket, a string through its closing
// quote, anything else up to the next comma, bracket or space. It checks
// only as much as it needs to find the end: PostgreSQL wrote the JSON.
func skipValue(b []byte, i int) (int, error) {
	switch {
	case i >= len(b):
		return 0, errBadArray
	case b[i] == '"':
		return skipString(b, i)
	case b[i] != '{' && b[i] != '[':
		j := i
		for j < len(b) && b[j] != ',' && b[j] != ']' && b[j] != '}' && !isSpace(b[j]) {
			j++
		}
		if j == i {
			return 0, errBadArray
		}
		return j, nil
	}
	depth := 0
	for i < len(b) {
		for i < len(b) && !structural[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		switch b[i] {
		case '"':
			end, err := skipString(b, i)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case '{', '[':
			depth++
		default:
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return 0, errBadArray
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; ; j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, errBadArray
		}
		j += k
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, nil
		}
	}
}
