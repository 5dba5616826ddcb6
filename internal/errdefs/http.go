package errdefs

import "net/http"

// HTTPStatus is the one mapping of error kinds to the Engine API's status
// codes (500 for an error of no kind), used by the API server and by
// hull-buildkit's routes that the daemon relays.
func HTTPStatus(err error) int {
	switch {
	case IsNotModified(err):
		return http.StatusNotModified
	case IsNotFound(err):
		return http.StatusNotFound
	case IsInvalidArgument(err), IsDataLoss(err):
		// DataLoss reaches the API from content the client sent (an
		// archive whose digests do not match).
		return http.StatusBadRequest
	case IsConflict(err), IsAlreadyExists(err):
		return http.StatusConflict
	case IsUnauthorized(err):
		return http.StatusUnauthorized
	case IsForbidden(err):
		return http.StatusForbidden
	case IsNotImplemented(err):
		return http.StatusNotImplemented
	case IsUnavailable(err):
		return http.StatusServiceUnavailable
	case IsLimit(err):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}
