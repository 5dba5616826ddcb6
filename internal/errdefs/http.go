package errdefs

// HTTPStatus is the one mapping of error kinds to the Engine API's status
// codes (500 for an error of no kind), used by the API server and by
// hull-buildkit's routes that the daemon relays. The codes are numbers
// (net/http's names beside them): errdefs is in hull-monitor, which must
// not link net/http (TestShimMemory, TestMonitorStaysSmall).
func HTTPStatus(err error) int {
	switch {
	case IsNotModified(err):
		return 304 // StatusNotModified
	case IsNotFound(err):
		return 404 // StatusNotFound
	case IsInvalidArgument(err), IsDataLoss(err):
		// DataLoss reaches the API from content the client sent (an
		// archive whose digests do not match).
		return 400 // StatusBadRequest
	case IsConflict(err), IsAlreadyExists(err):
		return 409 // StatusConflict
	case IsUnauthorized(err):
		return 401 // StatusUnauthorized
	case IsForbidden(err):
		return 403 // StatusForbidden
	case IsNotImplemented(err):
		return 501 // StatusNotImplemented
	case IsUnavailable(err):
		return 503 // StatusServiceUnavailable
	case IsLimit(err):
		return 413 // StatusRequestEntityTooLarge
	}
	return 500 // StatusInternalServerError
}
