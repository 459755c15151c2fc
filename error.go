package tocsin

import (
	"errors"
	"fmt"
)

// ErrorCode classifies an Error. The HTTP layer maps each code to one status in one
// place; codes are also the "code" field of the JSON error body, so they are part of
// the public API and must not be renamed.
type ErrorCode string

const (
	EInvalid      ErrorCode = "invalid_request"        // 400: malformed or invalid input
	EUnauthorized ErrorCode = "unauthorized"           // 401: missing or bad credentials
	EForbidden    ErrorCode = "forbidden"              // 403: credentials valid, action not allowed
	ENotFound     ErrorCode = "not_found"              // 404
	EMethod       ErrorCode = "method_not_allowed"     // 405
	EConflict     ErrorCode = "conflict"               // 409: e.g. an Idempotency-Key reused with another body
	EGone         ErrorCode = "gone"                   // 410: a resume point no longer (or never) held by the store
	ETooLarge     ErrorCode = "payload_too_large"      // 413
	EUnsupported  ErrorCode = "unsupported_media_type" // 415
	ETooMany      ErrorCode = "rate_limited"           // 429: rate limit or stream slots exhausted
	EInternal     ErrorCode = "internal"               // 500: never shown with details
	EUnavailable  ErrorCode = "unavailable"            // 503: store down, shutting down
)

// Error is the one error type of tocsin that carries a message safe to show to a
// client. Anything that is not an *Error (after errors.As) is an internal error: it is
// logged and the client sees only "internal error".
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCodeOf returns the code of err's *Error, or EInternal when it has none.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessageOf returns the client-safe message of err, or "internal error".
func ErrorMessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
