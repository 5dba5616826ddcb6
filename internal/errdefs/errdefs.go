// Package errdefs holds the kinds of error hull code classifies where an
// error is born. Code wraps one of the sentinel errors with %w, and callers
// test the kind with errors.Is or the Is* helpers. Only internal/server turns
// a kind into an HTTP status; everything else only classifies.
package errdefs

import "errors"

// The error kinds. Wrap them: fmt.Errorf("layer %q: %w", id, ErrNotFound).
var (
	// ErrNotFound: the named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidArgument: the caller's input is wrong and retrying it as is
	// cannot succeed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrConflict: the object exists, or is in a state that forbids the
	// operation (a mounted layer asked to be removed, a name in use).
	ErrConflict = errors.New("conflict")
	// ErrAlreadyExists: a create named an object that is already there.
	ErrAlreadyExists = errors.New("already exists")
	// ErrNotImplemented: this platform or build lacks the feature.
	ErrNotImplemented = errors.New("not implemented")
	// ErrUnavailable: a resource (a lock, a registry) cannot be had now;
	// retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthorized: credentials are missing or refused.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDataLoss: stored or received data does not match what it claims to
	// be (a digest or size mismatch).
	ErrDataLoss = errors.New("data loss")
	// ErrLimit: the input exceeds a configured limit (a tar bigger than the
	// byte limit).
	ErrLimit = errors.New("limit exceeded")
	// ErrNotModified: the request asked for a state that already holds
	// (stopping a stopped container).
	ErrNotModified = errors.New("not modified")
	// ErrForbidden: the operation is never allowed on this object as it is
	// (removing a predefined network, or one with endpoints).
	ErrForbidden = errors.New("forbidden")
)

// IsNotFound reports whether err is of kind ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsInvalidArgument reports whether err is of kind ErrInvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsConflict reports whether err is of kind ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsAlreadyExists reports whether err is of kind ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsNotImplemented reports whether err is of kind ErrNotImplemented.
func IsNotImplemented(err error) bool { return errors.Is(err, ErrNotImplemented) }

// IsUnavailable reports whether err is of kind ErrUnavailable.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// IsUnauthorized reports whether err is of kind ErrUnauthorized.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsDataLoss reports whether err is of kind ErrDataLoss.
func IsDataLoss(err error) bool { return errors.Is(err, ErrDataLoss) }

// IsLimit reports whether err is of kind ErrLimit.
func IsLimit(err error) bool { return errors.Is(err, ErrLimit) }

// IsNotModified reports whether err is, or wraps, ErrNotModified.
func IsNotModified(err error) bool { return errors.Is(err, ErrNotModified) }

// IsForbidden reports whether err is of kind ErrForbidden.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }
