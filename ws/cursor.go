package ws

import (
	"errors"
	"strconv"
	"strings"
)

// Cursors are opaque to clients. Most are a change's position P: the client
// has everything up to and including P. One change can give a subscription
// two messages: an update for the rows still matching its filter and a
// leave delete for the rows that stopped matching. The first of the two
// carries P + partCursor, so that a client that got only the update and then
// lost its connection resumes with the leave delete of P, not after it.
// Read as numbers, cursors still sort in stream order: P < P.1 < P+1.
const partCursor = ".1"

var errCursor = errors.New("not a cursor")

// parseCursor returns the position to resume after and, for a cursor that
// ends with partCursor, the position whose update message the client has.
func parseCursor(s string) (since, skipUpdate int64, err error) {
	pos, part := strings.CutSuffix(s, partCursor)
	v, err := strconv.ParseInt(pos, 10, 64)
	switch {
	case err != nil || v < 0:
		return 0, 0, errCursor
	case part && v < 1:
		return 0, 0, errCursor
	case part:
		return v - 1, v, nil
	}
	return v, 0, nil
}

// formatCursor is the cursor of position since, or, with skipUpdate, of
// the update message of that change: the inverse of parseCursor.
func formatCursor(since, skipUpdate int64) string {
	if skipUpdate > 0 {
		return strconv.FormatInt(skipUpdate, 10) + partCursor
	}
	return strconv.FormatInt(since, 10)
}
