package cdc

import (
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
	New        [][]byte // rows after the statement (create, update)
	Old        [][]byte // rows before it (update, delete); Old[i] pairs with New[i] on update
	At         time.Time
}

// Sink receives changes in stream order, in batches. Publish is called from
// one goroutine, must not block for long, and may keep the slice.
type Sink interface {
	Publish(batch []Change)
}

// Decode turns a journal entry into a Change.
func Decode(e store.Entry) (Change, error) {
	c := Change{Pos: e.Pos, XID: e.XID, Collection: e.Collection, Op: Op(e.Op), At: e.At}
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

// splitArray returns the elements of a JSON array of objects as sub-slices
// of b, without copying.
func splitArray(b []byte) ([][]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errBadArray
	}
	var out [][]byte
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, nil
	}
	for i < len(b) {
		start := i
		end, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, b[start:end:end])
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
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(b) {
				return 0, errBadArray
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, nil
			}
			depth--
			if depth < 0 {
				return 0, errBadArray
			}
		case ',':
			if depth == 0 {
				return i, nil
			}
		}
		i++
		if depth == 0 && (b[i-1] == '}' || b[i-1] == ']' || b[i-1] == '"') {
			return i, nil
		}
	}
	if depth == 0 {
		return i, nil
	}
	return 0, errBadArray
}
