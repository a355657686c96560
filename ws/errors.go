package ws

import (
	"errors"
	"fmt"

	"github.com/pgfeed/pgfeed/query"
)

// Error codes on the wire (PROTOCOL.md "Errors").
const (
	codeInvalidPayload     = "INVALID_PAYLOAD"
	codeInvalidCollection  = "INVALID_COLLECTION"
	codeInvalidQuery       = "INVALID_QUERY"
	codeForbidden          = "FORBIDDEN"
	codeAuthFailed         = "AUTH_FAILED"
	codeAuthTimeout        = "AUTH_TIMEOUT"
	codeTokenExpired       = "TOKEN_EXPIRED"
	codeRequestsExceeded   = "REQUESTS_EXCEEDED"
	codeLimitExceeded      = "LIMIT_EXCEEDED"
	codeServiceUnavailable = "SERVICE_UNAVAILABLE"
	codeInternal           = "INTERNAL_SERVER_ERROR"
)

// ErrorCodes are the codes of error replies, in the order of Stats.Errors.
var ErrorCodes = [...]string{codeInvalidPayload, codeInvalidCollection, codeInvalidQuery, codeForbidden,
	codeAuthFailed, codeAuthTimeout, codeTokenExpired, codeRequestsExceeded, codeLimitExceeded,
	codeServiceUnavailable, codeInternal}

// codeIndex is the index of code in ErrorCodes.
func codeIndex(code string) int {
	for i, c := range ErrorCodes {
		if c == code {
			return i
		}
	}
	return len(ErrorCodes) - 1 // not reached: every code is listed
}

// Close codes (PROTOCOL.md "Close codes").
const (
	closeNormal        = 1000
	closeGoingAway     = 1001
	closeProtocol      = 1002
	closePolicy        = 1008
	closeTooBig        = 1009
	closeInternal      = 1011
	closeTryAgainLater = 1013
)

// protoError is an error a client caused or must be told about: it carries
// its wire code. Handlers return these; reply formats them.
type protoError struct {
	code string
	msg  string
}

func (e *protoError) Error() string { return e.code + ": " + e.msg }

func newError(code, format string, args ...any) *protoError {
	return &protoError{code: code, msg: fmt.Sprintf(format, args...)}
}

func errInvalidPayload(format string, args ...any) *protoError {
	return newError(codeInvalidPayload, format, args...)
}

func errInvalidCollection(name string) *protoError {
	return newError(codeInvalidCollection, "collection %q does not exist or is not tracked", name)
}

// wireError maps any error to the code and message sent to the client. Errors
// that are not the client's doing are reported without internal detail.
func wireError(err error) (code, msg string) {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.code, pe.msg
	}
	var qe *query.Error
	if errors.As(err, &qe) {
		return codeInvalidQuery, qe.Error()
	}
	if isUnavailable(err) {
		return codeServiceUnavailable, "the database is not reachable right now; try again shortly"
	}
	return codeInternal, "the server could not complete the request"
}
